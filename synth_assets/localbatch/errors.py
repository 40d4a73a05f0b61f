"""Errors in OpenAI's shape: ``{"error": {"message", "type", "param", "code"}}``.

Handlers raise :class:`ApiError`; the app turns it (and routing's own 404/405, and any bug)
into a JSON response with the matching status, so a client never sees an HTML or plain-text
error page.
"""

from typing import Any

from pydantic_core import to_json
from starlette.responses import Response


class JSONResponse(Response):
    """A JSON response serialised by pydantic-core (fast, and handles bytes/str alike)."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        """Serialise ``content`` to JSON bytes."""
        return to_json(content)


class ApiError(Exception):
    """An error to send to the client, with its HTTP status."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = "invalid_request_error",
        param: str | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type
        self.param = param
        self.code = code

    def response(self) -> JSONResponse:
        """The JSON response for this error."""
        return error_response(
            self.status, self.message, type=self.type, param=self.param, code=self.code
        )


def error_response(
    status: int,
    message: str,
    *,
    type: str = "invalid_request_error",
    param: str | None = None,
    code: str | None = None,
) -> JSONResponse:
    """An OpenAI-shaped error response."""
    body = {"error": {"message": message, "type": type, "param": param, "code": code}}
    return JSONResponse(body, status_code=status)


def bad_request(message: str, *, param: str | None = None, code: str | None = None) -> ApiError:
    """A 400 ``invalid_request_error``."""
    return ApiError(400, message, param=param, code=code)


def not_found(kind: str, object_id: str, *, param: str | None = None) -> ApiError:
    """A 404 naming the missing object the way OpenAI does ("No such File object: …")."""
    shown = object_id if len(object_id) <= 80 else object_id[:80] + "…"
    return ApiError(404, f"No such {kind} object: {shown}", param=param, code=None)
