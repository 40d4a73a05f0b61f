"""The HTTP API: OpenAI's Files and Batches endpoints, as a Starlette app.

Routes (all JSON except file content, which streams):

=======  ==============================  =============================================
POST     /v1/files                       upload (multipart ``file`` + ``purpose``)
GET      /v1/files                       list (``after``, ``limit``, ``order``, ``purpose``)
GET      /v1/files/{id}                  retrieve
DELETE   /v1/files/{id}                  delete
GET      /v1/files/{id}/content          download (streamed)
POST     /v1/batches                     create
GET      /v1/batches                     list, newest first (``after``, ``limit``)
GET      /v1/batches/{id}                retrieve
POST     /v1/batches/{id}/cancel         cancel (empty body)
GET      /health                         liveness, never needs a key
=======  ==============================  =============================================

Per-batch ``metadata`` keys prefixed ``localbatch_`` override server settings for that batch
(see :mod:`synth_assets.localbatch` for the list). Database calls run in worker threads so a
busy SQLite lock never stalls the event loop.

Hostile or broken clients cost nothing lasting: a request body that stalls for
``body_timeout_s`` is answered 408 and its connection closed, a client that leaves mid-body
is one log line, and an upload that fails at any point leaves no file behind.
"""

import hmac
import logging
import os
import re
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import anyio
from anyio import to_thread
from pydantic_core import from_json
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from synth_assets.batch import ENDPOINTS, MAX_METADATA_KEY, MAX_METADATA_PAIRS, MAX_METADATA_VALUE

from .config import OverrideError, ServerSettings, batch_settings
from .errors import ApiError, JSONResponse, bad_request, error_response, not_found
from .records import FileRecord
from .runner import Runner
from .store import BatchStateError, Store, UnknownCursorError
from .upload import receive_upload

log = logging.getLogger(__name__)

T = TypeVar("T")

# The endpoints the openai SDK lets a batch target; only ENDPOINTS are answered here.
SDK_ENDPOINTS = (
    "/v1/responses",
    "/v1/chat/completions",
    "/v1/embeddings",
    "/v1/completions",
    "/v1/moderations",
    "/v1/images/generations",
    "/v1/images/edits",
    "/v1/videos",
)
FILE_PURPOSES = ("assistants", "batch", "fine-tune", "vision", "user_data", "evals")
# OpenAI's range for a file's expires_after.seconds: one hour to 30 days.
EXPIRES_AFTER_S = (3600, 30 * 24 * 3600)
_MAX_JSON_BODY = 1 << 20
_DOWNLOAD_BLOCK = 1 << 20
_DIGITS = re.compile(r"[+-]?[0-9]{1,30}")


async def _db(function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    return await to_thread.run_sync(lambda: function(*args, **kwargs))


def create_app(settings: ServerSettings, *, run_batches: bool = True) -> Starlette:
    """The Starlette app serving ``settings.data_dir``; starts the batch runner on startup."""
    store = Store(settings.data_dir)
    runner = Runner(store, settings)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if run_batches:
            runner.start()
        try:
            yield
        finally:
            await to_thread.run_sync(runner.stop)

    api = _Api(store, runner, settings)
    routes = [
        Route("/health", api.health, methods=["GET"]),
        Route("/v1/files", api.upload_file, methods=["POST"]),
        Route("/v1/files", api.list_files, methods=["GET"]),
        Route("/v1/files/{file_id}", api.retrieve_file, methods=["GET"]),
        Route("/v1/files/{file_id}", api.delete_file, methods=["DELETE"]),
        Route("/v1/files/{file_id}/content", api.file_content, methods=["GET"]),
        Route("/v1/batches", api.create_batch, methods=["POST"]),
        Route("/v1/batches", api.list_batches, methods=["GET"]),
        Route("/v1/batches/{batch_id}", api.retrieve_batch, methods=["GET"]),
        Route("/v1/batches/{batch_id}/cancel", api.cancel_batch, methods=["POST"]),
    ]
    app = Starlette(
        routes=routes,
        lifespan=lifespan,
        exception_handlers={
            ApiError: _api_error,
            HTTPException: _http_error,
            ClientDisconnect: _client_left,
            BodyTimeoutError: _body_timeout,
            Exception: _server_error,
        },
    )
    # A trailing slash is an unknown URL (a JSON 404), not a redirect that clients may
    # follow with another method or without the body.
    app.router.redirect_slashes = False
    app.add_middleware(_BodyTimeout, timeout_s=settings.body_timeout_s)
    if settings.api_key:
        app.add_middleware(_BearerAuth, api_key=settings.api_key)
    app.state.store = store
    app.state.runner = runner
    return app


async def _api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return exc.response()


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 404:
        return error_response(404, f"Unknown request URL: {request.method} {request.url.path}.")
    if exc.status_code == 405:
        return error_response(405, f"Method {request.method} is not allowed on this URL.")
    return error_response(exc.status_code, str(exc.detail))


async def _client_left(request: Request, exc: Exception) -> Response:
    # The client's choice, not a server fault: one line, no traceback. Nothing is kept (an
    # upload's partial file is removed on the way out), and nobody reads this answer.
    log.info("localbatch: the client left during %s %r", request.method, request.url.path)
    return error_response(400, "The client disconnected before the request was complete.")


async def _body_timeout(request: Request, exc: Exception) -> Response:
    log.info("localbatch: %s on %s %r", exc, request.method, request.url.path)
    response = error_response(408, f"{exc}; send the whole body promptly.", code="body_timeout")
    # The rest of the body may still come: close the connection rather than parse it.
    response.headers["connection"] = "close"
    return response


async def _server_error(request: Request, exc: Exception) -> Response:
    log.exception("localbatch internal error on %s %s", request.method, request.url.path)
    response = error_response(
        500, "The local Batch server had an internal error; see its log.", type="server_error"
    )
    # uvicorn drops the connection after an unhandled error: say so, or the client sends its
    # next request down a connection that is being closed (a reset instead of an answer).
    response.headers["connection"] = "close"
    return response


class _BearerAuth:
    """Rejects /v1 calls without ``Authorization: Bearer <key>`` (constant-time compare)."""

    def __init__(self, app: ASGIApp, api_key: str) -> None:
        self.app = app
        self.expected = f"Bearer {api_key}".encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith("/v1"):
            given = [value for name, value in scope["headers"] if name == b"authorization"]
            message = None
            if len(given) > 1:
                # Which one counts would depend on the proxy or server in between: refuse.
                message = "The request has more than one Authorization header; send exactly one."
            elif not given:
                message = "You didn't provide an API key; send it as 'Authorization: Bearer <key>'."
            elif not hmac.compare_digest(given[0], self.expected):
                message = "Incorrect API key provided."
            if message is not None:
                response = error_response(401, message, code="invalid_api_key")
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


class BodyTimeoutError(Exception):
    """A request body that stopped arriving (the message says for how long)."""


class _BodyTimeout:
    """Fails a request whose body goes silent for ``timeout_s`` (a client that sent less
    than its Content-Length would otherwise hold the connection forever).

    Only the body is timed: once it is complete, waiting on ``receive`` (as a streamed
    download does, to notice a disconnect) is not limited.
    """

    def __init__(self, app: ASGIApp, timeout_s: float) -> None:
        self.app = app
        self.timeout_s = timeout_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        body_done = False

        async def timed_receive() -> Message:
            nonlocal body_done
            if body_done:
                return await receive()
            try:
                with anyio.fail_after(self.timeout_s):
                    message = await receive()
            except TimeoutError:
                raise BodyTimeoutError(
                    f"The request body stopped arriving for {self.timeout_s:g} s (--body-timeout-s)"
                ) from None
            if message["type"] != "http.request" or not message.get("more_body", False):
                body_done = True
            return message

        await self.app(scope, timed_receive, send)


class _Api:
    """Request handlers; each one validates its input and answers in OpenAI's shapes."""

    def __init__(self, store: Store, runner: Runner, settings: ServerSettings) -> None:
        self.store = store
        self.runner = runner
        self.settings = settings

    async def health(self, request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    # -- files ---------------------------------------------------------------------------

    async def upload_file(self, request: Request) -> Response:
        file_id, temporary = self.store.new_upload()
        final = temporary.with_name(f"{file_id}.jsonl")
        try:
            upload = await receive_upload(request, temporary, self.settings.max_upload_bytes)
            purpose = upload.fields.get("purpose")
            if purpose not in FILE_PURPOSES:
                raise bad_request(
                    f"purpose must be one of {list(FILE_PURPOSES)}, not {purpose!r}",
                    param="purpose",
                )
            expires_at = _expires_at(upload.fields)
            os.replace(temporary, final)
            record = await _db(
                self.store.add_file,
                file_id,
                filename=upload.filename or "upload.jsonl",
                purpose=purpose,
                nbytes=upload.nbytes,
                path=final,
                expires_at=expires_at,
            )
        except BaseException:
            # Whatever failed (a bad field, a full disk, a client gone, a bug), no content
            # may stay on disk without a record pointing to it.
            temporary.unlink(missing_ok=True)
            if final.exists() and not self._registered(file_id):
                final.unlink(missing_ok=True)
            raise
        return JSONResponse(record.to_api())

    def _registered(self, file_id: str) -> bool:
        # Called on the failure path only. The database call above has finished by now
        # (worker-thread calls are not abandoned on cancellation), so this is exact.
        try:
            return self.store.get_file(file_id) is not None
        except Exception:
            return False  # no usable database: nothing can point to the content either

    async def list_files(self, request: Request) -> Response:
        query = request.query_params
        limit = _limit(query.get("limit"), default=10000, high=10000)
        order = query.get("order", "desc")
        if order not in ("asc", "desc"):
            raise bad_request("order must be 'asc' or 'desc'", param="order")
        try:
            files, more = await _db(
                self.store.list_files,
                after=query.get("after"),
                limit=limit,
                order=order,
                purpose=query.get("purpose"),
            )
        except UnknownCursorError:
            raise bad_request("after names no file", param="after") from None
        return JSONResponse(_page([f.to_api() for f in files], more))

    async def retrieve_file(self, request: Request) -> Response:
        return JSONResponse((await self._file(request)).to_api())

    async def delete_file(self, request: Request) -> Response:
        record = await self._file(request)
        await _db(self.store.delete_file, record.id)
        return JSONResponse({"id": record.id, "object": "file", "deleted": True})

    async def file_content(self, request: Request) -> Response:
        record = await self._file(request)
        path = self.store.resolve(record.path)
        if not path.is_file():
            raise not_found("File", record.id)

        def blocks() -> Iterator[bytes]:
            with open(path, "rb") as handle:
                while block := handle.read(_DOWNLOAD_BLOCK):
                    yield block

        # A sync iterator: Starlette reads it in a worker thread, a block at a time.
        return StreamingResponse(
            blocks(),
            media_type="application/octet-stream",
            headers={"content-length": str(path.stat().st_size)},
        )

    async def _file(self, request: Request) -> FileRecord:
        file_id = request.path_params["file_id"]
        record = await _db(self.store.get_file, file_id)
        if record is None:
            raise not_found("File", file_id, param="file_id")
        return record

    # -- batches -------------------------------------------------------------------------

    async def create_batch(self, request: Request) -> Response:
        body = await _json_body(request)
        input_file_id = _string(body, "input_file_id")
        endpoint = _string(body, "endpoint")
        if endpoint not in SDK_ENDPOINTS:
            raise bad_request(
                f"endpoint must be one of {list(SDK_ENDPOINTS)}, not {endpoint!r}",
                param="endpoint",
            )
        if endpoint not in ENDPOINTS:
            raise bad_request(
                f"the local Batch server answers {list(ENDPOINTS)} only, not {endpoint}",
                param="endpoint",
                code="unsupported_endpoint",
            )
        window = body.get("completion_window")
        if window != "24h":
            raise bad_request(
                f"completion_window must be '24h', not {window!r}", param="completion_window"
            )
        metadata = _metadata(body.get("metadata"))
        try:
            settings = batch_settings(self.settings, metadata)
        except OverrideError as exc:
            raise bad_request(str(exc), param="metadata") from None
        per_hour = self.settings.max_batches_per_hour
        if per_hour is not None:
            recent = await _db(self.store.batches_created_since, time.time() - 3600)
            if recent >= per_hour:
                raise ApiError(
                    429,
                    f"Rate limit reached for batch creations: {per_hour} per hour. Please try "
                    "again later.",
                    type="requests",
                    code="rate_limit_exceeded",
                )
        input_file = await _db(self.store.get_file, input_file_id)
        if input_file is None:
            raise not_found("File", input_file_id, param="input_file_id")
        if input_file.purpose != "batch":
            raise bad_request(
                f"file {input_file_id} has purpose {input_file.purpose!r}; batches need 'batch'",
                param="input_file_id",
            )
        batch = await _db(
            self.store.create_batch,
            endpoint=endpoint,
            input_file=input_file,
            completion_window=window,
            metadata=metadata,
            settings=settings,
        )
        self.runner.wake()
        return JSONResponse(batch.to_api())

    async def list_batches(self, request: Request) -> Response:
        query = request.query_params
        limit = _limit(query.get("limit"), default=20, high=100)
        try:
            batches, more = await _db(
                self.store.list_batches, after=query.get("after"), limit=limit
            )
        except UnknownCursorError:
            raise bad_request("after names no batch", param="after") from None
        return JSONResponse(_page([b.to_api() for b in batches], more))

    async def retrieve_batch(self, request: Request) -> Response:
        batch_id = request.path_params["batch_id"]
        batch = await _db(self.store.get_batch, batch_id)
        if batch is None:
            raise not_found("Batch", batch_id, param="batch_id")
        return JSONResponse(batch.to_api())

    async def cancel_batch(self, request: Request) -> Response:
        batch_id = request.path_params["batch_id"]
        if await _db(self.store.get_batch, batch_id) is None:
            raise not_found("Batch", batch_id, param="batch_id")
        try:
            batch = await _db(self.store.request_cancel, batch_id)
        except BatchStateError as exc:
            raise bad_request(str(exc), code="invalid_state") from None
        self.runner.wake()
        return JSONResponse(batch.to_api())


def _page(items: list[dict[str, Any]], has_more: bool) -> dict[str, Any]:
    return {
        "object": "list",
        "data": items,
        "first_id": items[0]["id"] if items else None,
        "last_id": items[-1]["id"] if items else None,
        "has_more": has_more,
    }


def _limit(raw: str | None, *, default: int, high: int) -> int:
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise bad_request(f"limit must be an integer, not {raw!r}", param="limit") from None
    if not 1 <= value <= high:
        raise bad_request(f"limit must be between 1 and {high}", param="limit")
    return value


async def _json_body(request: Request) -> dict[str, Any]:
    data = bytearray()
    async for chunk in request.stream():
        data += chunk
        if len(data) > _MAX_JSON_BODY:
            raise ApiError(413, "The request body is too large.", code="body_too_large")
    try:
        body = from_json(bytes(data)) if data else None
    except ValueError:
        raise bad_request("the request body is not valid JSON") from None
    if not isinstance(body, dict):
        raise bad_request("the request body must be a JSON object")
    return body


def _string(body: dict[str, Any], name: str) -> str:
    value = body.get(name)
    if not isinstance(value, str) or not value:
        raise bad_request(f"{name} is required and must be a string", param=name)
    return value


def _metadata(value: Any) -> dict[str, str] | None:
    """Check OpenAI's metadata limits (pairs, key and value lengths; see batch.remote)."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise bad_request("metadata must be an object of strings", param="metadata")
    if len(value) > MAX_METADATA_PAIRS:
        raise bad_request(f"metadata holds at most {MAX_METADATA_PAIRS} pairs", param="metadata")
    for key, item in value.items():
        if not isinstance(item, str):
            raise bad_request(f"metadata value of {key!r} must be a string", param="metadata")
        if len(key) > MAX_METADATA_KEY or len(item) > MAX_METADATA_VALUE:
            raise bad_request(
                f"metadata keys are at most {MAX_METADATA_KEY} and values at most "
                f"{MAX_METADATA_VALUE} characters",
                param="metadata",
            )
    return dict(value)


def _expires_at(fields: dict[str, str]) -> int | None:
    """``expires_after[anchor]=created_at`` + ``expires_after[seconds]=N`` -> a timestamp.

    As OpenAI: both parts are required together, the anchor is ``created_at`` and the
    seconds are an integer from one hour to 30 days.
    """
    anchor = fields.get("expires_after[anchor]")
    seconds = fields.get("expires_after[seconds]")
    if anchor is None and seconds is None:
        return None
    if anchor != "created_at":
        raise bad_request(
            f"expires_after[anchor] must be 'created_at', not {_shown(anchor)}",
            param="expires_after.anchor",
        )
    low, high = EXPIRES_AFTER_S
    if seconds is None or not _DIGITS.fullmatch(seconds.strip()):
        raise bad_request(
            f"expires_after[seconds] must be an integer from {low} to {high}, "
            f"not {_shown(seconds)}",
            param="expires_after.seconds",
        )
    value = int(seconds)
    if not low <= value <= high:
        raise bad_request(
            f"expires_after[seconds] must be from {low} (one hour) to {high} (30 days), "
            f"not {value}",
            param="expires_after.seconds",
        )
    return int(time.time()) + value


def _shown(value: str | None) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
