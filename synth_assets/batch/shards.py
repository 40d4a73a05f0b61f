"""Writing request lines into shard files within the Batch API's per-file limits."""

import hashlib
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from .errors import SynthError
from .requests import Messages, RequestBuilder, checked

MAX_REQUESTS_PER_FILE = 50_000
MAX_BYTES_PER_FILE = 200 * 1024 * 1024
_BUFFER = 1 << 20


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
    """One shard being written: temporary name, running hash and counts."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.tmp = path.with_name(path.name + ".tmp")
        self.handle = open(self.tmp, "wb", buffering=_BUFFER)  # noqa: SIM115 - closed in finish()
        self.hash = hashlib.sha256()
        self.requests = 0
        self.bytes = 0
        self.first = self.last = ""

    def add(self, custom_id: str, line: bytes) -> None:
        self.handle.write(line)
        self.hash.update(line)
        self.requests += 1
        self.bytes += len(line)
        self.first = self.first or custom_id
        self.last = custom_id

    def finish(self, builder: RequestBuilder) -> Shard:
        self.handle.flush()
        os.fsync(self.handle.fileno())
        self.handle.close()
        os.replace(self.tmp, self.path)  # atomic: a reader never sees half a shard
        return Shard(
            path=str(self.path),
            requests=self.requests,
            bytes=self.bytes,
            sha256=self.hash.hexdigest(),
            model=builder.model,
            endpoint=builder.endpoint,
            first_custom_id=self.first,
            last_custom_id=self.last,
        )

    def abandon(self) -> None:
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
    if max_requests < 1 or max_bytes < 1:
        raise SynthError("max_requests and max_bytes must be positive.")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    shards: list[Shard] = []
    current: _ShardFile | None = None
    try:
        for custom_id, messages in checked(requests):
            line = builder.encode(custom_id, messages)
            if len(line) > max_bytes:
                raise SynthError(
                    f"request {custom_id!r} alone is {len(line)} bytes, over the "
                    f"{max_bytes}-byte file limit; shorten its messages."
                )
            if current and (
                current.requests >= max_requests or current.bytes + len(line) > max_bytes
            ):
                shards.append(current.finish(builder))
                current = None
            if current is None:
                current = _ShardFile(out / f"{name}-{len(shards):05d}.jsonl")
            current.add(custom_id, line)
        if current:
            shards.append(current.finish(builder))
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
) -> Shard:
    """Write every request into the single file ``path`` (no size limits applied)."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    current = _ShardFile(target)
    try:
        for custom_id, messages in checked(requests):
            current.add(custom_id, builder.encode(custom_id, messages))
        return current.finish(builder)
    except BaseException:
        current.abandon()
        raise
