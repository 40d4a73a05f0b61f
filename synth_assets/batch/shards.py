"""Writing request lines into shard files within the Batch API's per-file limits."""

import hashlib
import os
import queue
import threading
from collections.abc import Collection, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from .errors import SynthError
from .lines import custom_id_of, iter_lines
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


class _ShardFile:
    """One shard being written: temporary name, running hash and counts.

    Lines are gathered into chunks that a background thread hashes and writes: hashlib and
    file writes release the GIL, so hashing and I/O overlap with encoding the next lines.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.tmp = path.with_name(path.name + ".tmp")
        self.handle = open(self.tmp, "wb", buffering=0)  # noqa: SIM115 - closed in finish()
        self.hash = hashlib.sha256()
        self.requests = 0
        self.bytes = 0
        self.first = self.last = ""
        self._parts: list[bytes] = []
        self._pending = 0
        self._queue: queue.Queue[bytes | None] = queue.Queue(maxsize=4)
        self._error: BaseException | None = None
        self._writer = threading.Thread(target=self._drain, name="shard-writer", daemon=True)
        self._writer.start()

    def _drain(self) -> None:
        while (chunk := self._queue.get()) is not None:
            if self._error is None:
                try:
                    self.hash.update(chunk)
                    self.handle.write(chunk)
                except BaseException as exc:  # re-raised by finish(); keep draining meanwhile
                    self._error = exc

    def add(self, custom_id: str, line: bytes) -> None:
        self._parts.append(line)
        self._pending += len(line)
        self.requests += 1
        self.bytes += len(line)
        self.first = self.first or custom_id
        self.last = custom_id
        if self._pending >= _CHUNK:
            self._flush()

    def _flush(self) -> None:
        if self._parts:
            self._queue.put(b"".join(self._parts))
            self._parts, self._pending = [], 0

    def _stop_writer(self) -> None:
        self._queue.put(None)
        self._writer.join()

    def finish(self, model: str, endpoint: str) -> Shard:
        self._flush()
        self._stop_writer()
        if self._error is not None:
            self.abandon()
            raise self._error
        os.fsync(self.handle.fileno())
        self.handle.close()
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
        if self._writer.is_alive():
            self._stop_writer()
        self.handle.close()
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


def write_subset(
    sources: Iterable[Shard],
    custom_ids: Collection[str],
    out_dir: str | os.PathLike[str],
    *,
    name: str = "requests",
    max_requests: int = MAX_REQUESTS_PER_FILE,
    max_bytes: int = MAX_BYTES_PER_FILE,
) -> list[Shard]:
    """Copy the request lines of ``custom_ids`` from shard files, byte for byte, into new
    shards (e.g. to resubmit the failed requests of a batch). All sources share one model
    and endpoint; lines keep their order."""
    sources = list(sources)
    if not sources:
        return []

    def lines() -> Iterator[tuple[str, bytes]]:
        for shard in sources:
            for raw in iter_lines(shard.path):
                custom_id = custom_id_of(raw)
                if custom_id is not None and custom_id in custom_ids:
                    yield custom_id, raw + b"\n"

    first = sources[0]
    return _split(
        lines(), Path(out_dir), name, max_requests, max_bytes, first.model, first.endpoint
    )


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


def write_request_file(
    requests: Iterable[tuple[str, Messages]],
    builder: RequestBuilder,
    path: str | os.PathLike[str],
    *,
    check_ids: bool = True,
) -> Shard:
    """Write every request into the single file ``path`` (no size limits applied).

    ``check_ids=False`` skips the custom_id checks, for ids unique by construction
    (:func:`numbered`): the check keeps every id in memory.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    current = _ShardFile(target)
    try:
        for custom_id, messages in checked(requests) if check_ids else requests:
            current.add(custom_id, builder.encode(custom_id, messages))
        return current.finish(builder.model, builder.endpoint)
    except BaseException:
        current.abandon()
        raise
