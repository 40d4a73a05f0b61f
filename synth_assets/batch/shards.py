"""Writing request lines into shard files within the Batch API's per-file limits."""

import contextlib
import hashlib
import os
import queue
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from pydantic_core import to_json

from .errors import SynthError
from .files import WriteOnceFile
from .requests import Messages, RequestBuilder, checked

MAX_REQUESTS_PER_FILE = 50_000
MAX_BYTES_PER_FILE = 200 * 1024 * 1024
_CHUNK = 4 << 20  # bytes handed to the writer thread at a time


@dataclass(frozen=True, slots=True)
class Shard:
    """One request file as written: what it holds and its identity (sha256)."""

    path: str
    requests: int
    bytes: int
    sha256: str
    model: str
    endpoint: str
    first_custom_id: str
    last_custom_id: str


class _Worker:
    """A background thread applying ``consume`` to each chunk, in order.

    hashlib and file writes release the GIL for large buffers, so hashing and writing run
    beside the encoding of the next lines, on the other core.
    """

    def __init__(self, consume: Callable[[bytes], object], name: str) -> None:
        self._consume = consume
        self._queue: queue.Queue[bytes | None] = queue.Queue(maxsize=4)
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while (chunk := self._queue.get()) is not None:
            if self.error is None:
                try:
                    self._consume(chunk)
                except BaseException as exc:  # re-raised by close(); keep draining meanwhile
                    self.error = exc

    def put(self, chunk: bytes) -> None:
        self._queue.put(chunk)

    def close(self) -> None:
        """Wait for every chunk; raise what consuming one raised."""
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join()
        if self.error is not None:
            raise self.error


class _ShardFile:
    """One shard being written: temporary name, running hash and counts.

    Lines are gathered into chunks that two background threads hash and write.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.tmp = path.with_name(path.name + ".tmp")
        self.handle = WriteOnceFile(self.tmp)  # written once, read once: left out of the cache
        self.hash = hashlib.sha256()
        self.requests = 0
        self.bytes = 0
        self.first = self.last = ""
        self._parts: list[bytes] = []
        self._pending = 0
        self._workers = (
            _Worker(self.hash.update, "shard-hash"),
            _Worker(self.handle.write, "shard-write"),
        )

    def add(self, custom_id: str, line: bytes) -> None:
        self._parts.append(line)
        self._pending += len(line)
        self.requests += 1
        self.bytes += len(line)
        self.first = self.first or custom_id
        self.last = custom_id
        if self._pending >= _CHUNK:
            self._flush()

    def add_chunk(self, lines: list[bytes], size: int, first: str, last: str) -> None:
        """Add many encoded lines at once (``size`` bytes; ids of the first and last)."""
        self._parts.extend(lines)
        self._pending += size
        self.requests += len(lines)
        self.bytes += size
        self.first = self.first or first
        self.last = last
        if self._pending >= _CHUNK:
            self._flush()

    def _flush(self) -> None:
        if self._parts:
            chunk = b"".join(self._parts)
            for worker in self._workers:
                worker.put(chunk)
            self._parts, self._pending = [], 0

    def _stop_workers(self) -> None:
        for worker in self._workers:
            worker.close()

    def finish(self, model: str, endpoint: str) -> Shard:
        self._flush()
        try:
            self._stop_workers()
        except BaseException:
            self.abandon()
            raise
        self.handle.close(sync=True)
        os.replace(self.tmp, self.path)  # atomic: a reader never sees half a shard
        return Shard(
            path=str(self.path),
            requests=self.requests,
            bytes=self.bytes,
            sha256=self.hash.hexdigest(),
            model=model,
            endpoint=endpoint,
            first_custom_id=self.first,
            last_custom_id=self.last,
        )

    def abandon(self) -> None:
        with contextlib.suppress(BaseException):  # the error that got us here matters more
            self._stop_workers()
        self.handle.abort()
        self.tmp.unlink(missing_ok=True)


def write_shards(
    requests: Iterable[tuple[str, Messages]],
    builder: RequestBuilder,
    out_dir: str | os.PathLike[str],
    *,
    name: str = "requests",
    max_requests: int = MAX_REQUESTS_PER_FILE,
    max_bytes: int = MAX_BYTES_PER_FILE,
) -> list[Shard]:
    """Write ``(custom_id, messages)`` pairs as request files ``<name>-00000.jsonl``, ...

    A new shard starts before a line would push the current one past ``max_requests`` or
    ``max_bytes``. Files are written under temporary names and renamed when complete.
    No input writes no file and returns ``[]``.
    """
    lines = (
        (custom_id, builder.encode(custom_id, messages))
        for custom_id, messages in checked(requests)
    )
    return _split(
        lines, Path(out_dir), name, max_requests, max_bytes, builder.model, builder.endpoint
    )


def write_lines(
    lines: Iterable[tuple[str, bytes]],
    out_dir: str | os.PathLike[str],
    *,
    model: str,
    endpoint: str,
    name: str = "requests",
    max_requests: int = MAX_REQUESTS_PER_FILE,
    max_bytes: int = MAX_BYTES_PER_FILE,
) -> list[Shard]:
    """Write already encoded ``(custom_id, line)`` pairs into shards within the limits (the
    caller vouches for unique ids, one model and one endpoint)."""
    return _split(lines, Path(out_dir), name, max_requests, max_bytes, model, endpoint)


def _split(
    lines: Iterable[tuple[str, bytes]],
    out: Path,
    name: str,
    max_requests: int,
    max_bytes: int,
    model: str,
    endpoint: str,
) -> list[Shard]:
    """Write encoded lines into shards within the limits (see write_shards)."""
    if max_requests < 1 or max_bytes < 1:
        raise SynthError("max_requests and max_bytes must be positive.")
    out.mkdir(parents=True, exist_ok=True)
    shards: list[Shard] = []
    current: _ShardFile | None = None
    try:
        for custom_id, line in lines:
            if len(line) > max_bytes:
                raise SynthError(
                    f"request {custom_id!r} alone is {len(line)} bytes, over the "
                    f"{max_bytes}-byte file limit; shorten its messages."
                )
            if current and (
                current.requests >= max_requests or current.bytes + len(line) > max_bytes
            ):
                shards.append(current.finish(model, endpoint))
                current = None
            if current is None:
                current = _ShardFile(out / f"{name}-{len(shards):05d}.jsonl")
            current.add(custom_id, line)
        if current:
            shards.append(current.finish(model, endpoint))
            current = None
    except BaseException:
        # A failed call (an oversized request or a duplicate id found late) leaves no shard
        # behind: finished shards look complete on disk, yet no returned list describes them.
        for shard in shards:
            Path(shard.path).unlink(missing_ok=True)
        raise
    finally:
        if current:
            current.abandon()
    return shards


def write_numbered_file(
    messages_batch: Iterable[Messages], builder: RequestBuilder, path: str | os.PathLike[str]
) -> Shard:
    """Write every message list as ``request-<n>`` (0-based) into ``path``: the fast path.

    Numbered ids are unique by construction, so nothing is checked per line and each line
    is one bytes formatting operation around the one ``to_json`` of its messages.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    current = _ShardFile(target)
    template = builder.numbered_template()
    try:
        lines: list[bytes] = []
        size, start, index = 0, 0, -1
        for index, messages in enumerate(messages_batch):
            line = template % (index, to_json(messages))
            lines.append(line)
            size += len(line)
            if size >= _CHUNK:
                current.add_chunk(lines, size, f"request-{start}", f"request-{index}")
                lines, size, start = [], 0, index + 1
        if lines:
            current.add_chunk(lines, size, f"request-{start}", f"request-{index}")
        return current.finish(builder.model, builder.endpoint)
    except BaseException:
        current.abandon()
        raise


def write_request_file(
    requests: Iterable[tuple[str, Messages]],
    builder: RequestBuilder,
    path: str | os.PathLike[str],
) -> Shard:
    """Write every request into the single file ``path`` (no size limits applied)."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    current = _ShardFile(target)
    try:
        for custom_id, messages in checked(requests):
            current.add(custom_id, builder.encode(custom_id, messages))
        return current.finish(builder.model, builder.endpoint)
    except BaseException:
        current.abandon()
        raise
