"""The ``forward`` responder: each request goes to a real OpenAI-compatible server.

Pointed at vLLM, llama.cpp's server, Ollama or OpenAI itself (any base URL ending in
``/v1``), the local server becomes a Batch API in front of it. Requests are sent with bounded
concurrency through one long-lived ``openai.AsyncOpenAI`` client, whose own retry rules apply
(408, 409, 429, 5xx and connection failures, exponential backoff with jitter, honouring
``Retry-After`` in seconds or as an HTTP date, and ``retry-after-ms``); what finally comes back
is recorded as the line's answer, so a request the model server keeps refusing ends in the
error file with that server's status and body.

The runner thread that calls :meth:`ForwardResponder.answer` has no event loop: the client
lives on one loop of its own, in one thread, for as long as the responder; :meth:`close`
(the runner calls it when it stops) closes the client and its connections.
"""

import asyncio
import threading
from collections.abc import Coroutine
from typing import Any, Self

import httpx
import openai
from pydantic_core import from_json

from .answers import Reply, Request


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
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.concurrency = concurrency
        self.retries = retries
        self.timeout_s = timeout_s
        self._api_key = api_key
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._client: openai.AsyncOpenAI | None = None

    def answer(self, endpoint: str, requests: list[Request]) -> list[Reply]:
        """Forward every request (at most ``concurrency`` at once); one reply each, in order."""
        if not requests:
            return []
        return self._run(self._answer_all(endpoint.removeprefix("/v1"), requests))

    def close(self) -> None:
        """Close the client (and its connection pool) and stop its loop; idempotent."""
        with self._lock:
            loop, thread, client = self._loop, self._thread, self._client
            self._loop = self._thread = self._client = None
        if loop is None or thread is None or client is None:
            return
        try:
            asyncio.run_coroutine_threadsafe(client.close(), loop).result(timeout=10)
        finally:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(10)
            loop.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _run(self, coroutine: Coroutine[Any, Any, list[Reply]]) -> list[Reply]:
        with self._lock:
            if self._loop is None:
                loop = asyncio.new_event_loop()
                thread = threading.Thread(
                    target=loop.run_forever, name="localbatch-forward", daemon=True
                )
                thread.start()
                self._loop, self._thread, self._client = loop, thread, self._make_client()
            loop = self._loop
        return asyncio.run_coroutine_threadsafe(coroutine, loop).result()

    def _make_client(self) -> openai.AsyncOpenAI:
        # The key is explicit, never OPENAI_API_KEY from the environment (that key is not
        # this server's to hand to another).
        return openai.AsyncOpenAI(
            base_url=self.base_url,
            api_key=self._api_key or "unused",
            max_retries=self.retries,
            timeout=self.timeout_s,
            http_client=openai.DefaultAsyncHttpxClient(
                limits=httpx.Limits(max_connections=self.concurrency)
            ),
        )

    async def _answer_all(self, path: str, requests: list[Request]) -> list[Reply]:
        gate = asyncio.Semaphore(self.concurrency)

        async def one(request: Request) -> Reply:
            async with gate:
                return await self._send(path, request)

        return list(await asyncio.gather(*(one(r) for r in requests)))

    async def _send(self, path: str, request: Request) -> Reply:
        assert self._client is not None
        body = request.body
        if self.model:
            body = {**body, "model": self.model}
        # Without a key, no Authorization header at all (openai.Omit removes the client's).
        headers = {} if self._api_key else {"Authorization": openai.Omit()}
        try:
            answer = await self._client.post(
                path, body=body, cast_to=httpx.Response, options={"headers": headers}
            )
        except openai.APIStatusError as exc:  # the last answer, after the client's retries
            return _reply(exc.response)
        except openai.APIConnectionError as exc:
            return Reply(
                error={
                    "code": "forward_unreachable",
                    "message": f"the model server at {self.base_url} could not be reached "
                    f"after {self.retries + 1} attempts: {type(exc).__name__}",
                }
            )
        return _reply(answer)


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
