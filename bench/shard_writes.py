"""How request shards should reach the disk: print each way's figures side by side.

    PYTHONPATH=. .venv/bin/python bench/shard_writes.py                # N = 100k and 1M
    PYTHONPATH=. .venv/bin/python bench/shard_writes.py --sizes 20000 --repeats 1

Two figures per variant. `build+write`: the same N requests (the spam-triage prompt around
a ~700-byte e-mail, `json_schema` mode) written by `write_numbered_file`, the fast path of
`BatchJob.create_from_messages(file_path=...)`, encoding included. `write only`: the same
bytes, already encoded, handed over in 4 MB chunks to be hashed and written as a shard does,
so the disk path is measured alone. The variants differ only in how bytes reach the file:

- `buffered-inline` / `buffered-2threads`: ordinary writes through the page cache, hashing
  and writing on the caller's thread, or on one thread each beside the encoder;
- `fadvise-inline` / `fadvise-2threads`: the same, then `posix_fadvise(DONTNEED)` once the
  file is synced, so its pages leave the page cache (`WriteOnceFile`, what the library
  does, on two threads);
- `direct-2threads` / `direct-inline`: past the page cache (`O_DIRECT`, an aligned buffer:
  `bench/direct_file.py`, what the library did before).

Each figure is the median of `--repeats` runs, the variants taking turns so that a busy
neighbour slows all of them alike; every run ends with the file synced to disk (as
`write_numbered_file` does) and the file is deleted afterwards. "cache MB" is how much
the kernel's page cache grew during the run (noisy on a shared machine, but it shows what
the O_DIRECT path avoids).
"""

import argparse
import hashlib
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from pydantic_core import to_json

from synth_assets.batch import RequestBuilder, shards
from synth_assets.batch.files import WriteOnceFile

sys.path.insert(0, str(Path(__file__).resolve().parent))
from direct_file import DirectFile
from models import Label

SYSTEM = "Classify the e-mail as spam or not spam. Answer with the label only."
WORDS = [
    *["invoice", "meeting", "offer", "account", "password", "urgent", "winner", "shipment"],
    *["refund", "schedule", "project", "update", "please", "review", "attached", "report"],
    *["quarterly", "client", "budget", "approve"],
]


def messages(n: int) -> Iterator[list[dict[str, str]]]:
    """N distinct e-mails of about 700 bytes each, deterministic and cheap to make."""
    body = " ".join(WORDS[i % len(WORDS)] for i in range(90))
    for i in range(n):
        yield [
            {"role": "system", "content": SYSTEM},
            {"role": "user", "content": f"Subject: message {i}\n\n{body} #{i}"},
        ]


class BufferedFile:
    """Ordinary writes through the page cache, and nothing else (`WriteOnceFile`'s interface)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666)

    def write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            view = view[os.write(self._fd, view) :]

    def close(self, *, sync: bool = False) -> None:
        try:
            if sync:
                os.fsync(self._fd)
        finally:
            self.abort()

    def abort(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


class InlineWorker:
    """`shards._Worker` without the thread: consumes each chunk on the caller's thread."""

    def __init__(self, consume: Callable[[bytes], object], name: str) -> None:
        self._consume = consume

    def put(self, chunk: bytes) -> None:
        self._consume(chunk)

    def close(self) -> None:
        pass


VARIANTS: dict[str, tuple[Callable[..., Any], Any]] = {
    "buffered-inline": (BufferedFile, InlineWorker),
    "buffered-2threads": (BufferedFile, shards._Worker),
    "fadvise-inline": (WriteOnceFile, InlineWorker),
    "fadvise-2threads": (WriteOnceFile, shards._Worker),
    "direct-2threads": (DirectFile, shards._Worker),
    "direct-inline": (DirectFile, InlineWorker),
}


def cached_mb() -> float:
    """The page cache's size now (Linux; 0 elsewhere)."""
    try:
        with open("/proc/meminfo") as handle:
            for line in handle:
                if line.startswith("Cached:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def run_once(variant: str, n: int, out: Path) -> dict[str, float]:
    """Write N requests the variant's way; return seconds, CPU seconds, bytes, cache growth."""
    opener, worker = VARIANTS[variant]
    builder = RequestBuilder(model="gpt-4o-mini", response_model=Label)
    saved = shards.WriteOnceFile, shards._Worker
    shards.WriteOnceFile, shards._Worker = opener, worker
    os.sync()
    cache_before = cached_mb()
    cpu_before, started = time.process_time(), time.perf_counter()
    try:
        shard = shards.write_numbered_file(messages(n), builder, out)
    finally:
        shards.WriteOnceFile, shards._Worker = saved
    seconds = time.perf_counter() - started
    cpu = time.process_time() - cpu_before
    growth = cached_mb() - cache_before
    assert shard.requests == n
    assert shard.sha256 == _sha256(out), "hash thread and file disagree"
    size = out.stat().st_size
    out.unlink()
    return {"seconds": seconds, "cpu": cpu, "bytes": size, "cache_mb": growth}


def run_writes_only(variant: str, n: int, out: Path, chunk: bytes, line_bytes: float) -> dict:
    """Hash and write N requests' worth of already encoded 4 MB chunks, as a shard does."""
    opener, worker = VARIANTS[variant]
    total = int(n * line_bytes)
    os.sync()
    cache_before = cached_mb()
    cpu_before, started = time.process_time(), time.perf_counter()
    handle, digest = opener(out), hashlib.sha256()
    workers = (worker(digest.update, "hash"), worker(handle.write, "write"))
    left = total
    while left > 0:
        piece = chunk if left >= len(chunk) else chunk[:left]
        for each in workers:
            each.put(piece)
        left -= len(piece)
    for each in workers:
        each.close()
    handle.close(sync=True)
    seconds = time.perf_counter() - started
    cpu = time.process_time() - cpu_before
    growth = cached_mb() - cache_before
    assert out.stat().st_size == total
    out.unlink()
    return {"seconds": seconds, "cpu": cpu, "bytes": total, "cache_mb": growth}


def _sha256(path: Path) -> str:
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def main() -> None:
    """Run every variant at every size and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100000,1000000", help="comma-separated N values")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--dir", type=Path, help="where to write (default: a temp dir in .bench)")
    args = parser.parse_args()
    variants = [v.strip() for v in args.variants.split(",")]
    sizes = [int(s) for s in args.sizes.split(",")]
    root = args.dir or Path(__file__).resolve().parent.parent / ".bench"
    root.mkdir(parents=True, exist_ok=True)
    print(
        f"machine: {os.cpu_count()} cores, {platform.system()} {platform.release()}, "
        f"python {platform.python_version()}, load {os.getloadavg()[0]:.2f}"
    )
    header = ("N", "what", "variant", "seconds", "CPU s", "rows/s", "MB/s", "cache MB")
    rows: list[tuple[str, ...]] = []
    builder = RequestBuilder(model="gpt-4o-mini", response_model=Label)
    sample = [builder.numbered_template() % (i, to_json(m)) for i, m in enumerate(messages(10_000))]
    line_bytes = sum(map(len, sample)) / len(sample)
    chunk = b"".join(sample)[: shards._CHUNK]
    with tempfile.TemporaryDirectory(dir=root, prefix="shard-writes-") as tmp:
        out = Path(tmp) / "requests.jsonl"
        for n in sizes:
            for what, run in (
                ("build+write", lambda v, n=n: run_once(v, n, out)),
                ("write only", lambda v, n=n: run_writes_only(v, n, out, chunk, line_bytes)),
            ):
                runs: dict[str, list[dict[str, float]]] = {v: [] for v in variants}
                for repeat in range(args.repeats):
                    turn = variants[repeat % len(variants) :] + variants[: repeat % len(variants)]
                    for variant in turn:
                        runs[variant].append(run(variant))
                for variant in variants:
                    seconds = statistics.median(r["seconds"] for r in runs[variant])
                    cpu = statistics.median(r["cpu"] for r in runs[variant])
                    size = runs[variant][0]["bytes"]
                    cache = statistics.median(r["cache_mb"] for r in runs[variant])
                    rows.append(
                        (
                            f"{n:,}",
                            what,
                            variant,
                            f"{seconds:.2f}",
                            f"{cpu:.2f}",
                            f"{n / seconds:,.0f}",
                            f"{size / seconds / 1e6:,.0f}",
                            f"{cache:,.0f}",
                        )
                    )
    widths = [max(len(str(r[i])) for r in (header, *rows)) for i in range(len(header))]
    for row in (header, *rows):
        print(
            "  ".join(
                str(c).rjust(w) if i not in (1, 2) else str(c).ljust(w)
                for i, (c, w) in enumerate(zip(row, widths, strict=True))
            )
        )


if __name__ == "__main__":
    main()
