"""Fault injection: rates + seed -> a deterministic fault per custom_id, and what it does.

A fault spec is a comma-separated list of ``kind=rate`` pairs, e.g.
``"http_429=0.02,invalid_json=0.01"``. Per-request kinds share one uniform draw per custom_id
(seeded), so their rates add up (at most 1) and a request gets at most one fault; the same
custom_id, seed, rates and batch always get the same fault, which makes failures
reproducible, while a resubmission in a new batch draws again, like a transient failure.
``batch_failed`` is drawn once per batch instead.

Each per-request kind produces exactly what the batch library must classify:

========================  ==================================================  ===============
kind                      line written                                        parsed reason
========================  ==================================================  ===============
``http_429``/``http_500``  error file, ``response.status_code`` 429 / 500        http_error
``request_error``         error file, ``response: null`` + ``error`` object    request_error
``invalid_json``          output, content is prose around the JSON            invalid_json
``schema_mismatch``       output, valid JSON with a wrongly typed field        schema_mismatch
``refusal``               output, ``message.refusal`` set, content null        refusal
``truncated``             output, half the content, finish_reason ``length``   truncated
``content_filter``        output, finish_reason ``content_filter``             content_filter
``missing``               no line at all                                      missing
``duplicate``             the answer twice in the output                      duplicate
========================  ==================================================  ===============
"""

import hashlib
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from pydantic_core import from_json, to_json


class FaultKind(StrEnum):
    """Every fault the server can inject."""

    HTTP_429 = "http_429"
    HTTP_500 = "http_500"
    REQUEST_ERROR = "request_error"
    INVALID_JSON = "invalid_json"
    SCHEMA_MISMATCH = "schema_mismatch"
    REFUSAL = "refusal"
    TRUNCATED = "truncated"
    CONTENT_FILTER = "content_filter"
    MISSING = "missing"
    DUPLICATE = "duplicate"
    BATCH_FAILED = "batch_failed"


# Faults decided before any model is asked: the request is never sent (so never paid for).
NO_ANSWER = frozenset(
    {FaultKind.HTTP_429, FaultKind.HTTP_500, FaultKind.REQUEST_ERROR, FaultKind.MISSING}
)
# Faults that rewrite a real answer's body.
CONTENT_FAULTS = frozenset(
    {
        FaultKind.INVALID_JSON,
        FaultKind.SCHEMA_MISMATCH,
        FaultKind.REFUSAL,
        FaultKind.TRUNCATED,
        FaultKind.CONTENT_FILTER,
    }
)
REFUSAL_TEXT = "I'm sorry, but I can't help with that request."


class FaultSpecError(ValueError):
    """A fault spec that cannot be parsed; the message names the bad part."""


@dataclass(frozen=True, slots=True)
class Faults:
    """Fault rates (probabilities in [0, 1]) and the seed that makes the draws repeatable."""

    rates: tuple[tuple[FaultKind, float], ...] = ()
    seed: int = 0

    @classmethod
    def parse(cls, spec: str | None, seed: int = 0) -> "Faults":
        """Parse ``"kind=rate,..."``; raise :class:`FaultSpecError` naming what is wrong."""
        rates: dict[FaultKind, float] = {}
        for part in (spec or "").split(","):
            part = part.strip()
            if not part:
                continue
            name, sep, value = part.partition("=")
            try:
                kind = FaultKind(name.strip())
            except ValueError:
                known = ", ".join(k.value for k in FaultKind)
                raise FaultSpecError(
                    f"unknown fault {name.strip()!r}; use one of: {known}"
                ) from None
            try:
                rate = float(value) if sep else 1.0
            except ValueError:
                raise FaultSpecError(f"fault {kind} has rate {value!r}, not a number") from None
            if not 0.0 <= rate <= 1.0:
                raise FaultSpecError(f"fault {kind} has rate {rate}, outside [0, 1]")
            rates[kind] = rate
        per_request = sum(r for k, r in rates.items() if k is not FaultKind.BATCH_FAILED)
        if per_request > 1.0 + 1e-9:
            raise FaultSpecError(f"per-request fault rates add up to {per_request:g}, over 1")
        return cls(rates=tuple(sorted(rates.items())), seed=seed)

    @property
    def spec(self) -> str:
        """The canonical spec string (round-trips through :meth:`parse`)."""
        return ",".join(f"{kind}={rate:g}" for kind, rate in self.rates)

    @property
    def any_request_faults(self) -> bool:
        """True when some per-request fault has a non-zero rate."""
        return any(rate > 0 for kind, rate in self.rates if kind is not FaultKind.BATCH_FAILED)

    def for_request(self, custom_id: str, batch_key: str = "") -> FaultKind | None:
        """Return the fault for ``custom_id`` in the batch ``batch_key`` names (None for a
        clean answer); the key is ``Store.fault_key``: the client's identity in the batch's
        metadata and its ordinal, or else the batch id.

        Deterministic per (seed, batch key, custom_id): a restarted batch gets the same
        faults, and so does the same submission in another run with the same seed, while a
        resubmission (another batch) draws again, as real transient failures do.
        """
        if not self.any_request_faults:
            return None
        draw = unit_draw(f"{self.seed}\x00{batch_key}\x00{custom_id}")
        edge = 0.0
        for kind, rate in self.rates:
            if kind is FaultKind.BATCH_FAILED:
                continue
            edge += rate
            if draw < edge:
                return kind
        return None

    def batch_fails(self, batch_key: str) -> bool:
        """True when the ``batch_failed`` draw for this batch says it fails validation."""
        rate = dict(self.rates).get(FaultKind.BATCH_FAILED, 0.0)
        return rate > 0 and unit_draw(f"{self.seed}\x00batch\x00{batch_key}") < rate


def unit_draw(key: str) -> float:
    """A uniform number in [0, 1) derived from ``key`` alone (blake2b, fast and stable)."""
    digest = hashlib.blake2b(key.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 18446744073709551616.0


def http_error_body(kind: FaultKind) -> tuple[int, dict[str, Any]]:
    """The status code and OpenAI-shaped error body of an injected HTTP error."""
    if kind is FaultKind.HTTP_429:
        return 429, {
            "error": {
                "message": "Rate limit reached for requests (injected by localbatch).",
                "type": "requests",
                "param": None,
                "code": "rate_limit_exceeded",
            }
        }
    return 500, {
        "error": {
            "message": "The server had an error while processing your request "
            "(injected by localbatch).",
            "type": "server_error",
            "param": None,
            "code": None,
        }
    }


def request_error() -> dict[str, Any]:
    """The ``error`` object of an injected request error (a line with ``response: null``)."""
    return {"code": "server_error", "message": "The request failed (injected by localbatch)."}


def apply_content_fault(kind: FaultKind, body: dict[str, Any], endpoint: str) -> None:
    """Rewrite a successful answer ``body`` in place so that it carries fault ``kind``.

    Works on any real-shaped body (ours or a forwarded model server's); a body whose shape
    is not recognised is left alone rather than guessed at.
    """
    if endpoint.endswith("/responses"):
        _fault_response(kind, body)
    else:
        _fault_chat(kind, body)


def _fault_chat(kind: FaultKind, body: dict[str, Any]) -> None:
    choices = body.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        return
    choice = choices[0]
    message = choice.get("message")
    if not isinstance(message, dict):
        return
    if kind in (FaultKind.REFUSAL, FaultKind.CONTENT_FILTER):
        message["content"] = None
        message.pop("tool_calls", None)
        if kind is FaultKind.REFUSAL:
            message["refusal"] = REFUSAL_TEXT
            choice["finish_reason"] = "stop"
        else:
            choice["finish_reason"] = "content_filter"
        return
    calls = message.get("tool_calls")
    if isinstance(calls, list) and calls and isinstance(calls[0].get("function"), dict):
        holder, key = calls[0]["function"], "arguments"
    else:
        holder, key = message, "content"
    text = holder.get(key)
    if not isinstance(text, str):
        return
    holder[key] = _rewrite(kind, text)
    if kind is FaultKind.TRUNCATED:
        choice["finish_reason"] = "length"


def _fault_response(kind: FaultKind, body: dict[str, Any]) -> None:
    output = body.get("output")
    if not isinstance(output, list):
        return
    if kind is FaultKind.REFUSAL:
        body["output"] = [
            {
                "type": "message",
                "id": _item_id(output, "msg_refusal"),
                "status": "completed",
                "role": "assistant",
                "content": [{"type": "refusal", "refusal": REFUSAL_TEXT}],
            }
        ]
        return
    if kind is FaultKind.CONTENT_FILTER:
        body["status"] = "incomplete"
        body["incomplete_details"] = {"reason": "content_filter"}
        body["output"] = []
        return
    for item in output:
        if not isinstance(item, dict):
            continue
        if item.get("type") == "function_call" and isinstance(item.get("arguments"), str):
            holder, key = item, "arguments"
        elif item.get("type") == "message" and isinstance(item.get("content"), list):
            parts = [p for p in item["content"] if isinstance(p, dict)]
            texts = [p for p in parts if p.get("type") == "output_text"]
            if not texts or not isinstance(texts[0].get("text"), str):
                continue
            holder, key = texts[0], "text"
        else:
            continue
        holder[key] = _rewrite(kind, holder[key])
        if kind is FaultKind.TRUNCATED:
            item["status"] = "incomplete"
            body["status"] = "incomplete"
            body["incomplete_details"] = {"reason": "max_output_tokens"}
        return


def _item_id(output: list[Any], default: str) -> str:
    for item in output:
        if isinstance(item, dict) and isinstance(item.get("id"), str):
            return item["id"]
    return default


def _rewrite(kind: FaultKind, text: str) -> str:
    if kind is FaultKind.INVALID_JSON:
        # What models really do: chatter around the JSON, which no JSON parser accepts.
        return "Sure! Here is the JSON you asked for:\n" + text
    if kind is FaultKind.TRUNCATED:
        return text[: len(text) // 2]
    if kind is FaultKind.SCHEMA_MISMATCH:
        return _mismatch(text)
    return text


def _mismatch(text: str) -> str:
    """Valid JSON that no response model accepts: the first field gets a nested empty list.

    ``[[]]`` is rejected by strings, numbers, booleans, enums, models and lists of any of
    those, so the answer stays JSON while failing the schema.
    """
    try:
        value = from_json(text)
    except ValueError:
        value = None
    if isinstance(value, dict) and value:
        first = next(iter(value))
        value[first] = [[]]
    else:
        value = [[]]
    return to_json(value).decode()
