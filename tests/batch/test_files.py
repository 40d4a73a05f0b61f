"""DirectFile: request shards go straight to disk, byte for byte what was written."""

import errno
import fcntl
import os
import random
import sys
from pathlib import Path

import pytest

from synth_assets.batch import files
from synth_assets.batch.files import DirectFile

BLOCK = 4096
BUFFER = 8 << 20

# Write patterns around the edges: nothing, less than a block, exact blocks, one write
# larger than the buffer, many small writes crossing block and buffer boundaries.
PATTERNS = {
    "empty": [],
    "tail only": [b"x" * 100],
    "exact blocks": [b"a" * BLOCK, b"b" * (3 * BLOCK)],
    "larger than the buffer": [os.urandom(BUFFER + 12_345)],
    "many small": [bytes([i % 251]) * random.Random(i).randrange(1, 9000) for i in range(3000)],
}


def write(path: Path, chunks: list[bytes]) -> DirectFile:
    handle = DirectFile(path)
    for chunk in chunks:
        handle.write(chunk)
    handle.close(sync=True)
    return handle


@pytest.mark.parametrize("pattern", PATTERNS)
@pytest.mark.parametrize("direct", [True, False], ids=["O_DIRECT", "ordinary"])
def test_the_file_holds_exactly_what_was_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pattern: str, direct: bool
) -> None:
    if not direct:
        monkeypatch.setattr(files, "_O_DIRECT", 0)
    chunks = PATTERNS[pattern]
    write(tmp_path / "f.jsonl", chunks)
    assert (tmp_path / "f.jsonl").read_bytes() == b"".join(chunks)


@pytest.mark.skipif(sys.platform != "linux", reason="O_DIRECT is a Linux flag")
def test_on_linux_writes_bypass_the_page_cache(tmp_path: Path) -> None:
    handle = DirectFile(tmp_path / "f.jsonl")
    try:
        handle.write(b"y" * (2 * BLOCK + 7))
        assert handle.direct, "this filesystem refused O_DIRECT"
        flags = fcntl.fcntl(handle._fd, fcntl.F_GETFL)
        assert flags & os.O_DIRECT
    finally:
        handle.close()
    assert (tmp_path / "f.jsonl").read_bytes() == b"y" * (2 * BLOCK + 7)


def test_a_filesystem_refusing_direct_writes_gets_ordinary_ones(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Some filesystems accept O_DIRECT at open and refuse the writes (EINVAL)."""
    real_write = os.write
    refused = []

    def write_refusing_direct(fd: int, data: memoryview) -> int:
        """Direct writes over one block are refused; others are short (one block at most)."""
        direct = fcntl.fcntl(fd, fcntl.F_GETFL) & getattr(os, "O_DIRECT", 0)
        if direct and len(data) > BLOCK:
            refused.append(len(data))
            raise OSError(errno.EINVAL, "Invalid argument")
        return real_write(fd, data[:BLOCK])

    monkeypatch.setattr(files.os, "write", write_refusing_direct)
    chunks = PATTERNS["many small"]
    handle = write(tmp_path / "f.jsonl", chunks)
    assert refused and not handle.direct
    assert (tmp_path / "f.jsonl").read_bytes() == b"".join(chunks)


def test_abort_closes_without_writing_the_rest(tmp_path: Path) -> None:
    handle = DirectFile(tmp_path / "f.jsonl")
    handle.write(b"z" * (BLOCK + 10))
    handle.abort()
    handle.abort()  # twice is harmless
    assert (tmp_path / "f.jsonl").read_bytes() in (b"z" * BLOCK, b"z" * (BLOCK + 10))
