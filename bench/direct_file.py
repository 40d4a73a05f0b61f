"""The O_DIRECT request-file writer the project used until issue 16, kept for comparison.

`bench/shard_writes.py` measures it against the library's `WriteOnceFile` (ordinary writes,
then `posix_fadvise(DONTNEED)`); it was dropped from `synth_assets/batch/files.py` because it
did not pay on a 2-core VM (see that benchmark's figures in the README).
"""

import errno
import mmap
import os

# O_DIRECT needs buffer addresses, lengths and offsets aligned to the logical block size:
# 4 KB covers both 512-byte and 4 KB devices; an mmap buffer is page-aligned.
_ALIGN = 4096
_DIRECT_BUFFER = 8 << 20
_O_DIRECT: int = getattr(os, "O_DIRECT", 0)


class DirectFile:
    """A new file written sequentially past the page cache (O_DIRECT) where the system allows.

    A request file is written once and read once, by the upload. Through the page cache
    every 4 KB of it first takes a fresh page of memory, which on virtual machines costs
    more than building the lines (~300 MB/s on this project's VM, against ~1 GB/s straight
    to disk) and evicts pages other work needs. Data goes through one reused, page-aligned
    buffer in whole blocks; the last partial block is written with O_DIRECT switched off.
    Where O_DIRECT is missing or refused (macOS, some filesystems), writes are ordinary.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_BINARY", 0)
        self._buffer: mmap.mmap | None = None
        self._used = 0  # bytes in the buffer not written yet
        if _O_DIRECT:
            try:
                self._fd = os.open(path, flags | _O_DIRECT, 0o666)
                self._buffer = mmap.mmap(-1, _DIRECT_BUFFER)
                return
            except OSError as exc:
                if exc.errno != errno.EINVAL:  # EINVAL: this filesystem has no O_DIRECT
                    raise
        self._fd = os.open(path, flags, 0o666)

    @property
    def direct(self) -> bool:
        """Whether writes still bypass the page cache."""
        return self._buffer is not None

    def write(self, data: bytes) -> None:
        """Append ``data``."""
        if self._buffer is None:
            _write_all(self._fd, memoryview(data))
            return
        view = memoryview(data)
        while view:
            take = min(len(view), _DIRECT_BUFFER - self._used)
            self._buffer[self._used : self._used + take] = view[:take]
            self._used += take
            view = view[take:]
            self._write_blocks()

    def _write_blocks(self) -> None:
        """Write the buffer's whole blocks and keep the remainder at its start."""
        assert self._buffer is not None
        whole = self._used - self._used % _ALIGN
        written, refused = 0, False
        with memoryview(self._buffer) as view:
            try:
                while written < whole:
                    written += os.write(self._fd, view[written:whole])
            except OSError as exc:
                if exc.errno != errno.EINVAL:
                    raise
                refused = True  # O_DIRECT was accepted at open, yet not for these writes
        self._buffer.move(0, written, self._used - written)
        self._used -= written
        if refused:
            self._stop_direct()

    def _stop_direct(self) -> None:
        """Switch O_DIRECT off and write what the buffer holds the ordinary way."""
        import fcntl  # Unix only, like O_DIRECT itself

        assert self._buffer is not None
        fcntl.fcntl(self._fd, fcntl.F_SETFL, fcntl.fcntl(self._fd, fcntl.F_GETFL) & ~_O_DIRECT)
        buffer, used = self._buffer, self._used
        self._buffer, self._used = None, 0
        with memoryview(buffer) as view:
            _write_all(self._fd, view[:used])
        buffer.close()

    def close(self, *, sync: bool = False) -> None:
        """Write what is left, ``fsync`` when ``sync``, and close the file."""
        try:
            if self._buffer is not None:
                self._stop_direct()
            if sync:
                os.fsync(self._fd)
        finally:
            self.abort()

    def abort(self) -> None:
        """Close the file without writing what is left (the caller removes it)."""
        if self._buffer is not None:
            self._buffer.close()
            self._buffer = None
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


def _write_all(fd: int, data: memoryview) -> None:
    while data:
        data = data[os.write(fd, data) :]
