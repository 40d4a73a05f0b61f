"""Writing files: atomically (no reader, and no crash, ever leaves half of one in place),
and large write-once ones without filling the page cache."""

import contextlib
import os
import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

_BUFFER = 1 << 20


# A temporary file this old beside its target was left by a killed writer: removed.
STALE_TEMP_S = 600.0


def temp_path(target: Path, suffix: str) -> Path:
    """A temporary name beside ``target`` that no other writer uses (two runs writing the
    same file must not write into one temporary file), after removing the leftovers of
    writers killed long ago (and the fixed names older versions used)."""
    now = time.time()
    legacy = target.with_name(f".{target.name}{suffix}")
    for leftover in [legacy, *target.parent.glob(f".{target.name}.*{suffix}")]:
        with contextlib.suppress(OSError):
            if leftover == legacy or now - leftover.stat().st_mtime > STALE_TEMP_S:
                leftover.unlink()
    return target.with_name(f".{target.name}.{os.getpid()}-{secrets.token_hex(4)}{suffix}")


@contextmanager
def atomic_write(path: str | os.PathLike[str]) -> Iterator[BinaryIO]:
    """Write ``path`` through a temporary file beside it, synced and renamed into place when
    the block ends; on an error the partial file is removed and ``path`` is untouched."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_path(target, ".part")
    try:
        with open(tmp, "wb", buffering=_BUFFER) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


class WriteOnceFile:
    """A new file written once, sequentially, and read once (by the upload): a request shard.

    Writes are ordinary (buffered by the kernel). Once the file is synced its pages are clean,
    and ``posix_fadvise(DONTNEED)`` drops them from the page cache, so a day's shards do not
    evict pages other work needs. ``bench/shard_writes.py`` compared this with writing past
    the page cache (O_DIRECT through an aligned buffer): on a 2-core VM the two were within
    the run-to-run noise at 100k and 1M requests, both leave the cache as it was, and this
    one works on every filesystem (tmpfs and some network filesystems refuse O_DIRECT).
    Where ``posix_fadvise`` is missing (macOS) the pages stay cached, as for any file.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_BINARY", 0)
        self._fd = os.open(path, flags, 0o666)

    def write(self, data: bytes) -> None:
        """Append ``data``."""
        _write_all(self._fd, memoryview(data))

    def close(self, *, sync: bool = False) -> None:
        """``fsync`` and drop the file's pages from the page cache when ``sync``; close it."""
        try:
            if sync:
                os.fsync(self._fd)
                if hasattr(os, "posix_fadvise"):
                    os.posix_fadvise(self._fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            self.abort()

    def abort(self) -> None:
        """Close the file (the caller removes it); twice is harmless."""
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


def _write_all(fd: int, data: memoryview) -> None:
    while data:
        data = data[os.write(fd, data) :]
