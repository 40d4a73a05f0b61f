"""Streaming a multipart upload straight to disk, with a size cap.

The body is fed to python-multipart's push parser as it arrives; the ``file`` part's bytes go
to the destination file as they are parsed, so memory stays flat whatever the file size.
Past the cap the rest of the body is drained (up to a bound) so the client reads a clean 413
instead of a reset connection.
"""

from dataclasses import dataclass, field
from pathlib import Path

from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, MultipartState, parse_options_header
from starlette.requests import Request

from .errors import ApiError, bad_request

_MAX_FIELD_BYTES = 64 * 1024  # non-file fields (purpose, expires_after[...]) are tiny
_DRAIN_LIMIT = 64 * 1024 * 1024  # read at most this much past the cap before giving up


@dataclass(slots=True)
class Upload:
    """What a multipart upload carried: the file (already on disk) and the other fields."""

    filename: str | None = None
    nbytes: int = 0
    fields: dict[str, str] = field(default_factory=dict)
    had_file: bool = False


class _TooLarge(Exception):
    pass


class _Receiver:
    """python-multipart callbacks that write the file part to ``dest`` and keep the fields."""

    def __init__(self, dest: Path, max_bytes: int) -> None:
        self.dest = dest
        self.max_bytes = max_bytes
        self.upload = Upload()
        self._handle = None
        self._headers: dict[bytes, bytes] = {}
        self._header_field = b""
        self._header_value = b""
        self._name: str | None = None
        self._value = bytearray()

    def callbacks(self) -> dict[str, object]:
        return {
            "on_part_begin": self._part_begin,
            "on_header_field": self._on_header_field,
            "on_header_value": self._on_header_value,
            "on_header_end": self._header_end,
            "on_headers_finished": self._headers_finished,
            "on_part_data": self._part_data,
            "on_part_end": self._part_end,
        }

    def _part_begin(self) -> None:
        self._headers = {}
        self._name = None
        self._value = bytearray()

    def _on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_field += data[start:end]

    def _on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def _header_end(self) -> None:
        self._headers[self._header_field.lower()] = self._header_value
        self._header_field = self._header_value = b""

    def _headers_finished(self) -> None:
        _, options = parse_options_header(self._headers.get(b"content-disposition", b""))
        name = options.get(b"name")
        self._name = name.decode("utf-8", "replace") if name is not None else None
        if self._name == "file":
            if self.upload.had_file:
                raise bad_request("send exactly one 'file' part", param="file")
            self.upload.had_file = True
            raw = options.get(b"filename")
            self.upload.filename = raw.decode("utf-8", "replace")[:255] if raw else None
            self._handle = open(self.dest, "wb")  # noqa: SIM115 - closed in _part_end/close()

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        if self._handle is not None:
            self.upload.nbytes += end - start
            if self.upload.nbytes > self.max_bytes:
                raise _TooLarge
            self._handle.write(data[start:end])
        elif self._name is not None:
            self._value += data[start:end]
            if len(self._value) > _MAX_FIELD_BYTES:
                raise bad_request(f"form field {self._name!r} is too long", param=self._name)

    def _part_end(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None
        elif self._name is not None:
            self.upload.fields[self._name] = self._value.decode("utf-8", "replace")

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None


async def receive_upload(request: Request, dest: Path, max_bytes: int) -> Upload:
    """Stream the multipart body of ``request``; the ``file`` part lands in ``dest``.

    Raises :class:`ApiError` (400 for a malformed body, 413 past ``max_bytes``); ``dest`` is
    removed on any failure.
    """
    content_type, options = parse_options_header(request.headers.get("content-type"))
    boundary = options.get(b"boundary")
    if content_type != b"multipart/form-data" or not boundary:
        raise bad_request("upload a file as multipart/form-data with a 'file' part", param="file")
    receiver = _Receiver(dest, max_bytes)
    too_large = False
    drained = 0
    try:
        parser = MultipartParser(boundary, receiver.callbacks())  # type: ignore[arg-type]
        async for chunk in request.stream():
            if too_large:
                # Keep reading (and dropping) so the client gets to read the 413.
                drained += len(chunk)
                if drained > _DRAIN_LIMIT:
                    break
                continue
            try:
                parser.write(chunk)
            except _TooLarge:
                too_large = True
                receiver.close()
                dest.unlink(missing_ok=True)
        if not too_large:
            parser.finalize()
            if parser.state != MultipartState.END:  # the body stopped before its last boundary
                raise ValueError("the body ends before the closing boundary")
    except (MultipartParseError, ValueError) as exc:
        receiver.close()
        dest.unlink(missing_ok=True)
        raise bad_request(f"the multipart body could not be parsed: {exc}", param="file") from None
    except BaseException:
        receiver.close()
        dest.unlink(missing_ok=True)
        raise
    receiver.close()
    if too_large:
        raise ApiError(
            413,
            f"The file is larger than this server's upload limit of {max_bytes} bytes; "
            "split it or start the server with a larger --max-upload-bytes.",
            param="file",
            code="file_too_large",
        )
    if not receiver.upload.had_file:
        dest.unlink(missing_ok=True)
        raise bad_request("the upload has no 'file' part", param="file")
    return receiver.upload
