"""WriteOnceFile: request shards hold byte for byte what was written, and once synced they
leave the page cache."""

import os
import random
from pathlib import Path

import pytest

from synth_assets.batch import files
from synth_assets.batch.files import WriteOnceFile

# Write patterns around the edges: nothing, a few bytes, one large write, many small ones.
PATTERNS = {
    "empty": [],
    "tail only": [b"x" * 100],
    "one large write": [os.urandom((8 << 20) + 12_345)],
    "many small": [bytes([i % 251]) * random.Random(i).randrange(1, 9000) for i in range(3000)],
}


@pytest.mark.parametrize("pattern", PATTERNS)
def test_the_file_holds_exactly_what_was_written(tmp_path: Path, pattern: str) -> None:
    handle = WriteOnceFile(tmp_path / "f.jsonl")
    for chunk in PATTERNS[pattern]:
        handle.write(chunk)
    handle.close(sync=True)
    assert (tmp_path / "f.jsonl").read_bytes() == b"".join(PATTERNS[pattern])


@pytest.mark.skipif(not hasattr(os, "posix_fadvise"), reason="no posix_fadvise here")
@pytest.mark.parametrize("sync", [True, False])
def test_a_synced_file_leaves_the_page_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sync: bool
) -> None:
    """Only clean (synced) pages can be dropped; an unsynced close leaves them to the kernel."""
    advice: list[tuple[int, int, int]] = []
    real = os.posix_fadvise

    def spy(fd: int, offset: int, length: int, what: int) -> None:
        advice.append((offset, length, what))
        real(fd, offset, length, what)

    monkeypatch.setattr(files.os, "posix_fadvise", spy)
    handle = WriteOnceFile(tmp_path / "f.jsonl")
    handle.write(b"y" * 100_000)
    handle.close(sync=sync)
    assert advice == ([(0, 0, os.POSIX_FADV_DONTNEED)] if sync else [])
    assert (tmp_path / "f.jsonl").read_bytes() == b"y" * 100_000


def test_abort_closes_the_file(tmp_path: Path) -> None:
    handle = WriteOnceFile(tmp_path / "f.jsonl")
    handle.write(b"z" * 10)
    handle.abort()
    handle.abort()  # twice is harmless
    with pytest.raises(OSError):
        handle.write(b"more")
    assert (tmp_path / "f.jsonl").read_bytes() == b"z" * 10
