"""The ``forward`` responder: each request goes to a real OpenAI-compatible server.

Pointed at vLLM, llama.cpp's server, Ollama or OpenAI itself (any base URL ending in
``/v1``), the local server becomes a Batch API in front of it. Requests are sent with bounded
concurrency; 429s, 5xx and connection failures are retried with exponential backoff (honouring
``Retry-After``); what finally comes back is recorded as the line's answer, so a request the
model server keeps refusing ends in the error file with that server's status and body.
"""

import asyncio
import logging
import random
from typing import Any

import httpx
from pydantic_core import from_json

from .answers import Reply, Request

log = logging.getLogger(__name__)

_RETRY_STATUS = frozenset({408, 409, 429, 500, 502, 503, 504})
_MAX_BACKOFF_S = 20.0


class ForwardResponder:
    """Sends request bodies to ``base_url`` + the batch's endpoint path."""

    def __init__(
        self,
        base_url: str,
        *,
        api_key: str | None = None,
        model: str | None = None,
        concurrency: int = 8,
        retries: int = 4,
        timeout_s: float = 300.0,
        backoff_s: float = 0.5,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.concurrency = concurrency
        self.retries = retries
        self.timeout_s = timeout_s
        self.backoff_s = backoff_s
        self._headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}

    def answer(self, endpoint: str, requests: list[Request]) -> list[Reply]:
        """Forward every request (at most ``concurrency`` at once); one reply each, in order."""
        if not requests:
            return []
        # The runner thread has no event loop of its own; one per chunk keeps this simple
        # and costs nothing next to a model's latency.
        return asyncio.run(self._answer_all(self._url(endpoint), requests))

    def _url(self, endpoint: str) -> str:
        # "/v1/chat/completions" -> base_url + "/chat/completions" (base_url ends in /v1).
        path = endpoint.removeprefix("/v1")
        return self.base_url + path

    async def _answer_all(self, url: str, requests: list[Request]) -> list[Reply]:
        gate = asyncio.Semaphore(self.concurrency)
        limits = httpx.Limits(max_connections=self.concurrency)
        async with httpx.AsyncClient(
            timeout=self.timeout_s, limits=limits, headers=self._headers
        ) as client:

            async def one(request: Request) -> Reply:
                async with gate:
                    return await self._send(client, url, request)

            return list(await asyncio.gather(*(one(r) for r in requests)))

    async def _send(self, client: httpx.AsyncClient, url: str, request: Request) -> Reply:
        body = request.body
        if self.model:
            body = {**body, "model": self.model}
        attempt = 0
        while True:
            try:
                answer = await client.post(url, json=body)
            except httpx.HTTPError as exc:
                if attempt >= self.retries:
                    return Reply(
                        error={
                            "code": "forward_unreachable",
                            "message": f"the model server at {self.base_url} could not be "
                            f"reached after {attempt + 1} attempts: {type(exc).__name__}",
                        }
                    )
                await asyncio.sleep(self._delay(attempt, None))
                attempt += 1
                continue
            if answer.status_code in _RETRY_STATUS and attempt < self.retries:
                await asyncio.sleep(self._delay(attempt, answer.headers.get("retry-after")))
                attempt += 1
                continue
            return _reply(answer)

    def _delay(self, attempt: int, retry_after: str | None) -> float:
        if retry_after:
            try:
                return min(float(retry_after), _MAX_BACKOFF_S)
            except ValueError:
                pass
        base = min(self.backoff_s * (2**attempt), _MAX_BACKOFF_S)
        return base * (0.5 + random.random() / 2)  # jitter: retries of a chunk spread out


def _reply(answer: httpx.Response) -> Reply:
    """The model server's answer as a line reply; a non-JSON 200 is not an answer."""
    try:
        body: Any = from_json(answer.content)
    except ValueError:
        if answer.status_code == 200:
            return Reply(
                error={
                    "code": "forward_invalid_response",
                    "message": "the model server answered 200 with a body that is not JSON",
                }
            )
        body = {
            "error": {
                "message": answer.text[:500],
                "type": "forward_error",
                "param": None,
                "code": None,
            }
        }
    return Reply(answer.status_code, body)
