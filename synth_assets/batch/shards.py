"""Writing request lines into shard files within the Batch API's per-file limits."""

import contextlib
import hashlib
import os
import queue
import threading
from bisect import bisect_right
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from itertools import accumulate, islice
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

    def add_chunk(self, lines: Sequence[bytes], size: int, first: str, last: str) -> None:
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
        """Complete the file on disk (synced, then renamed); on any failure, remove it."""
        try:
            self._flush()
            self._stop_workers()
            self.handle.close(sync=True)
            os.replace(self.tmp, self.path)  # atomic: a reader never sees half a shard
        except BaseException:
            self.abandon()
            raise
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
        _batched(lines),
        Path(out_dir),
        name,
        max_requests,
        max_bytes,
        builder.model,
        builder.endpoint,
    )


def write_lines(
    batches: Iterable[tuple[Sequence[str], Sequence[bytes]]],
    out_dir: str | os.PathLike[str],
    *,
    model: str,
    endpoint: str,
    name: str = "requests",
    max_requests: int = MAX_REQUESTS_PER_FILE,
    max_bytes: int = MAX_BYTES_PER_FILE,
) -> list[Shard]:
    """Write already encoded lines into shards within the limits (as :func:`write_shards`),
    given a batch at a time as ``(custom_ids, lines)`` (the caller vouches for unique ids,
    one model and one endpoint)."""
    return _split(batches, Path(out_dir), name, max_requests, max_bytes, model, endpoint)


def _batched(
    lines: Iterable[tuple[str, bytes]], size: int = 1024
) -> Iterator[tuple[list[str], list[bytes]]]:
    """``(custom_id, line)`` pairs as ``(custom_ids, lines)`` batches of ``size``."""
    pairs = iter(lines)
    while batch := list(islice(pairs, size)):
        ids, encoded = zip(*batch, strict=True)
        yield list(ids), list(encoded)


def _split(
    batches: Iterable[tuple[Sequence[str], Sequence[bytes]]],
    out: Path,
    name: str,
    max_requests: int,
    max_bytes: int,
    model: str,
    endpoint: str,
) -> list[Shard]:
    """Write encoded lines into shards within the limits (see write_shards).

    Greedy, as if line by line: a line goes into the current shard while both limits allow
    it, else it starts the next one. Whole runs of lines are placed at a time, found by
    bisecting the batch's running byte total.
    """
    if max_requests < 1 or max_bytes < 1:
        raise SynthError("max_requests and max_bytes must be positive.")
    out.mkdir(parents=True, exist_ok=True)
    # A full shard is completed (fsync, rename) in a thread of its own while the next one
    # fills: syncing waits on the disk, and nothing else has to.
    finishing = ThreadPoolExecutor(max_workers=1, thread_name_prefix="shard-sync")
    shards: list[Future[Shard]] = []
    current: _ShardFile | None = None
    try:
        for ids, lines in batches:
            sizes = list(map(len, lines))
            if sizes and max(sizes) > max_bytes:
                big = next(i for i, size in enumerate(sizes) if size > max_bytes)
                raise SynthError(
                    f"request {ids[big]!r} alone is {sizes[big]} bytes, over the "
                    f"{max_bytes}-byte file limit; shorten its messages."
                )
            ends = list(accumulate(sizes))  # ends[i]: bytes of lines[: i + 1]
            start = 0
            while start < len(lines):
                if current is None:
                    current = _ShardFile(out / f"{name}-{len(shards):05d}.jsonl")
                before = ends[start - 1] if start else 0
                room = max_bytes - current.bytes
                # Lines that fit both limits, handed over at most a chunk at a time.
                fit = min(
                    bisect_right(ends, before + room, lo=start) - start,
                    max_requests - current.requests,
                    max(1, bisect_right(ends, before + _CHUNK, lo=start) - start),
                )
                if fit <= 0:  # full: only a shard holding lines already refuses one
                    shards.append(finishing.submit(current.finish, model, endpoint))
                    current = None
                    continue
                stop = start + fit
                current.add_chunk(
                    lines[start:stop], ends[stop - 1] - before, ids[start], ids[stop - 1]
                )
                start = stop
        if current:
            shards.append(finishing.submit(current.finish, model, endpoint))
            current = None
        return [shard.result() for shard in shards]
    except BaseException:
        # A failed call (an oversized request or a duplicate id found late) leaves no shard
        # behind: finished shards look complete on disk, yet no returned list describes them.
        # (A shard that failed to finish removed its own file.)
        for shard in shards:
            with contextlib.suppress(BaseException):
                Path(shard.result().path).unlink(missing_ok=True)
        raise
    finally:
        finishing.shutdown(wait=True)
        if current:
            current.abandon()


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
