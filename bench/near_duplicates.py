"""The near-duplicate check on a generated day: wall s, rows/s, peak RSS, old against new.

    git show 1a3b928:synth_assets/pipeline/quality.py > /tmp/quality_old.py  # before the change
    .venv/bin/python bench/near_duplicates.py --rows 10000,200000 --old /tmp/quality_old.py

For N rows of ~600-byte texts (90 words from a vocabulary of 5,000), written once to a
Parquet file in a folder under ``--work``: 5% of the rows copy an earlier row in upper case
with a "!" (an exact repeat after normalizing), 5% copy one with two neighbouring words
swapped (a near repeat), 1% are empty. Each implementation runs ``near_duplicate_check``
on the file's column (read a slice at a time) in a fresh process, which prints its wall
time, its peak RSS (VmHWM) and a sha256 of every pair it found; the parent checks that old
and new found the same pairs and quote the same examples.

``--old`` is a copy of ``quality.py`` from before the change, loaded as a module of the
package.
"""

import argparse
import hashlib
import importlib.util
import json
import random
import subprocess
import sys
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

WORDS = 90
VOCABULARY = 5_000
EXACT, NEAR, EMPTY = 0.05, 0.05, 0.01
CHUNK = 50_000


def _vocabulary() -> list[str]:
    rng = random.Random(5)
    letters = "abcdefghijklmnoprstuvwy"
    return [
        "".join(rng.choice(letters) for _ in range(rng.randint(3, 9))) for _ in range(VOCABULARY)
    ]


def _kind(row: int) -> str:
    """What row ``row`` is, fixed by the row alone (so a copy can find its source again)."""
    draw = random.Random(row * 7919).random()
    if row and draw < EXACT:
        return "exact"
    if row and draw < EXACT + NEAR:
        return "near"
    if draw < EXACT + NEAR + EMPTY:
        return "empty"
    return "new"


def _text(row: int, vocabulary: list[str]) -> str | None:
    kind = _kind(row)
    if kind == "empty":
        return None
    if kind == "new":
        rng = random.Random(row)
        return " ".join(rng.choices(vocabulary, k=WORDS))
    pick = random.Random(-row)
    source = pick.randrange(row)
    while _kind(source) != "new":
        source = pick.randrange(row)
    words = random.Random(source).choices(vocabulary, k=WORDS)
    if kind == "exact":
        return " ".join(words).upper() + "!"
    at = pick.randrange(WORDS - 1)
    words[at], words[at + 1] = words[at + 1], words[at]
    return " ".join(words)


def write_day(rows: int, path: Path) -> None:
    """The generated day as a Parquet file with one ``body`` column, a chunk at a time."""
    vocabulary = _vocabulary()
    schema = pa.schema([("body", pa.string())])
    with pq.ParquetWriter(path, schema) as writer:
        for start in range(0, rows, CHUNK):
            texts = [_text(row, vocabulary) for row in range(start, min(start + CHUNK, rows))]
            writer.write_table(pa.table({"body": texts}, schema=schema))


def _peak_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _load(module_path: str | None) -> ModuleType:
    if module_path is None:
        from synth_assets.pipeline import quality

        return quality
    # Named inside the package, so that its ``from . import buckets`` resolves.
    spec = importlib.util.spec_from_file_location("synth_assets.pipeline.quality_old", module_path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def measure(path: Path, module_path: str | None, scratch: Path) -> dict[str, Any]:
    """One run of the check, in this process: its figures and a digest of its pairs."""
    quality = _load(module_path)
    search = quality.near_duplicates
    digest = hashlib.sha256()

    def hashed(pairs: Iterable[tuple[int, int]]) -> Iterator[tuple[int, int]]:
        for pair in pairs:
            digest.update(b"%d,%d;" % pair)
            yield pair

    def recorded(texts: Iterable[str | None], *args: Any, **kwargs: Any) -> Any:
        pairs = search(texts, *args, **kwargs)
        return list(hashed(pairs)) if isinstance(pairs, list) else hashed(pairs)  # old: a list

    quality.near_duplicates = recorded  # the check calls it by the module's name
    column = quality.Column(path, "body")
    base = _peak_mb()
    started = time.perf_counter()
    if module_path is None:
        check = quality.near_duplicate_check(column, 0.05, scratch)
    else:
        check = quality.near_duplicate_check(column, 0.05)
    wall = time.perf_counter() - started
    return {
        "wall_s": round(wall, 1),
        "peak_mb": round(_peak_mb()),
        "import_mb": round(base),
        "pairs_sha256": digest.hexdigest(),
        "metadata": check.metadata,
    }


def _digest(metadata: dict[str, Any]) -> str:
    """A short sha256 of a check's metadata (runs of one side at a time compare by it)."""
    return hashlib.sha256(json.dumps(metadata, sort_keys=True).encode()).hexdigest()[:12]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", default="10000,200000")
    parser.add_argument("--old", help="quality.py before the change")
    parser.add_argument("--only", choices=["old", "new"], help="run one side")
    parser.add_argument("--work", type=Path, default=Path("/tmp/bench-near-duplicates"))
    parser.add_argument("--measure", help=argparse.SUPPRESS)  # in the child: the Parquet file
    parser.add_argument("--module", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(Path(args.measure), args.module, args.work / "scratch")))
        return
    args.work.mkdir(parents=True, exist_ok=True)
    sides = [("old", args.old), ("new", None)] if args.old else [("new", None)]
    if args.only:
        sides = [side for side in sides if side[0] == args.only]
    print("     rows side   wall s  rows/s  peak MB (import)  flagged")
    for rows in (int(n) for n in args.rows.split(",")):
        path = args.work / f"day-{rows}.parquet"
        if not path.exists():
            write_day(rows, path)
        results = {}
        for side, module in sides:
            command = [sys.executable, __file__, "--measure", str(path), "--work", str(args.work)]
            if module:
                command += ["--module", module]
            out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
            result = results[side] = json.loads(out)
            print(
                f"{rows:>9} {side:>4} {result['wall_s']:>8} {rows / result['wall_s']:>7.0f} "
                f"{result['peak_mb']:>8} {result['import_mb']:>8} "
                f"{result['metadata']['near_duplicates']:>8}  pairs "
                f"{result['pairs_sha256'][:12]} check {_digest(result['metadata'])}",
                flush=True,
            )
        if len(results) == 2:
            same = results["old"]["pairs_sha256"] == results["new"]["pairs_sha256"]
            same_check = results["old"]["metadata"] == results["new"]["metadata"]
            print(f"{rows:>9} same pairs: {same}, same check metadata: {same_check}", flush=True)


if __name__ == "__main__":
    main()
