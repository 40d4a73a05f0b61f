"""What flows through a responder, and the output/error file lines it becomes.

A :class:`Request` is one input line; a responder turns a list of them into one
:class:`Reply` each: an HTTP status with a body, or (when no HTTP answer was had at all)
an ``error`` object. :func:`output_line` and :func:`error_line` write the Batch API's line
formats exactly.
"""

from dataclasses import dataclass
from typing import Any, Protocol

from pydantic_core import to_json

from .ids import batch_request_id, request_id
from .shapes import ChatAnswer


@dataclass(frozen=True, slots=True)
class Request:
    """One request of a batch: its id, body and size (the size stands in for prompt tokens)."""

    custom_id: str
    body: dict[str, Any]
    size: int


@dataclass(frozen=True, slots=True)
class Reply:
    """The answer to one request: ``status`` + ``body``, or ``error`` with no HTTP answer.

    A synthetic chat answer's body is a :class:`~.shapes.ChatAnswer` (its dict on demand).
    """

    status: int = 200
    body: Any = None
    error: dict[str, Any] | None = None

    @property
    def ok(self) -> bool:
        """True for a 200 answer (it goes to the output file; anything else to the error file)."""
        return self.error is None and self.status == 200


class Responder(Protocol):
    """Something that answers requests: the synthetic generator or a forwarding client."""

    def answer(self, endpoint: str, requests: list[Request]) -> list[Reply]:
        """One reply per request, in the same order."""
        ...


def output_line(custom_id: str, reply: Reply) -> bytes:
    """A line of the output or error file for an HTTP answer (any status)."""
    if isinstance(reply.body, ChatAnswer):
        # The same bytes as the dict below would give, without building the body's dicts.
        return b"".join(
            (
                b'{"id":"',
                batch_request_id().encode(),
                b'","custom_id":',
                to_json(custom_id),
                b',"response":{"status_code":%d,"request_id":"' % reply.status,
                request_id().encode(),
                b'","body":',
                reply.body.to_json(),
                b'},"error":null}\n',
            )
        )
    return (
        to_json(
            {
                "id": batch_request_id(),
                "custom_id": custom_id,
                "response": {
                    "status_code": reply.status,
                    "request_id": request_id(),
                    "body": reply.body,
                },
                "error": None,
            }
        )
        + b"\n"
    )


def error_line(custom_id: str, error: dict[str, Any]) -> bytes:
    """A line of the error file for a request that got no HTTP answer (``response: null``)."""
    return (
        to_json(
            {"id": batch_request_id(), "custom_id": custom_id, "response": None, "error": error}
        )
        + b"\n"
    )


def line_for(custom_id: str, reply: Reply) -> bytes:
    """The file line for ``reply``, whichever kind it is."""
    if reply.error is not None:
        return error_line(custom_id, reply.error)
    return output_line(custom_id, reply)


EXPIRED = {
    "code": "batch_expired",
    "message": "This request could not be executed before the completion window expired.",
}
CANCELLED = {
    "code": "batch_cancelled",
    "message": "This request was not executed because the batch was cancelled.",
}
