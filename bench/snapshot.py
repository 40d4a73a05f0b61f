"""Benchmark of the input snapshot: one N-row day of the dataset into its Parquet snapshot.

For each size N it writes, in a temporary folder, a hive dataset with one day
(``date=2026-11-01/emails.jsonl``): the sample emails of ``data/emails`` repeated in order
with new ids (``bench-<n>``), padded or cut to 631 bytes a line, so the day is
deterministic. Then a fresh Python process runs ``steps.snapshot_inputs`` on it (the
``inputs`` asset's work) and the script prints its wall time, rows/s and peak RSS (the
child's ``ru_maxrss``, so each size is measured alone). The data is deleted afterwards.

Ids come in increasing order, as keys usually do; ``--scrambled-ids`` numbers the rows in
a scrambled order, so the day's ids go through the on-disk table that checks them.

Usage: ``python bench/snapshot.py --sizes 100000,1000000 [--scrambled-ids] [--keep-dir DIR]``
"""

import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATE = "2026-11-01"
LINE_BYTES = 631  # bytes per JSONL line, newline included (the "631-byte emails")


def _sample_rows() -> list[dict[str, object]]:
    rows = []
    for path in sorted((ROOT / "data" / "emails").glob("date=*/*.jsonl")):
        with open(path, encoding="utf-8") as lines:
            rows += [json.loads(line) for line in lines if line.strip()]
    if not rows:
        raise SystemExit("no sample emails under data/emails; run `make data`.")
    return rows


def _line(row: dict[str, object], number: int) -> bytes:
    """One JSONL line of exactly LINE_BYTES bytes: the sample row with a new id and date,
    its body padded with spaces or cut (on a character boundary) to fit."""
    out = {**row, "email_id": f"bench-{number:09d}", "date": DATE, "body": ""}
    bare = len(json.dumps(out, ensure_ascii=False).encode()) + 1
    room = LINE_BYTES - bare
    body = str(row["body"])
    encoded = json.dumps(body, ensure_ascii=False).encode()[1:-1]
    while len(encoded) > room:
        body = body[: max(0, len(body) - max(1, (len(encoded) - room) // 4))]
        encoded = json.dumps(body, ensure_ascii=False).encode()[1:-1]
    out["body"] = body + " " * (room - len(encoded))
    line = json.dumps(out, ensure_ascii=False).encode() + b"\n"
    assert len(line) == LINE_BYTES, len(line)
    return line


def write_day(folder: Path, rows: int, *, scrambled: bool = False) -> Path:
    """The N-row dataset under ``folder``; returns its root."""
    # Each sample's line is made once; only the fixed-width number changes per row.
    marker = b"bench-000000000"
    templates = [_line(row, 0).split(marker) for row in _sample_rows()]
    day = folder / "emails" / f"date={DATE}"
    day.mkdir(parents=True)
    with open(day / "emails.jsonl", "wb", buffering=1 << 20) as out:
        for number in range(rows):
            head, tail = templates[number % len(templates)]
            # A prime step visits every number below a larger power of ten once.
            key = number * 1_000_003 % 1_000_000_000 if scrambled else number
            out.write(b"%sbench-%09d%s" % (head, key, tail))
    return folder / "emails"


def _child(dataset: str, snapshot: str) -> None:
    """Run in a fresh process: snapshot the day, print its figures as JSON."""
    from synth_assets.defs.resources import TaskSettings
    from synth_assets.pipeline.steps import snapshot_inputs
    from synth_assets.tasks.dataset import DatasetSpec

    spec = DatasetSpec(path=dataset, extra_columns=("sender", "subject", "language", "label"))
    budget = TaskSettings().max_text_chars
    started = time.perf_counter()
    summary = snapshot_inputs(spec, DATE, Path(snapshot), max_text_chars=budget)
    wall = time.perf_counter() - started
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"rows": summary.rows, "wall": wall, "peak_mb": peak_mb}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100000,1000000", help="comma-separated row counts")
    parser.add_argument("--scrambled-ids", action="store_true", help="ids out of order")
    parser.add_argument("--keep-dir", help="where to write the data (default: a temp folder)")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(*args.child)
        return
    print(f"{'rows':>12} {'write data':>11} {'snapshot':>10} {'rows/s':>11} {'peak RSS':>10}")
    for size in (int(s.replace("_", "")) for s in args.sizes.split(",")):
        folder = Path(tempfile.mkdtemp(prefix="synth-bench-snapshot-", dir=args.keep_dir))
        try:
            started = time.perf_counter()
            dataset = write_day(folder, size, scrambled=args.scrambled_ids)
            written = time.perf_counter() - started
            snapshot = folder / "snapshot" / "inputs.parquet"
            snapshot.parent.mkdir()
            done = subprocess.run(
                [sys.executable, __file__, "--child", str(dataset), str(snapshot)],
                capture_output=True,
                text=True,
                check=False,
                cwd=ROOT,
            )
            if done.returncode:
                raise SystemExit(f"the snapshot of {size:,} rows failed:\n{done.stderr}")
            figures = json.loads(done.stdout.strip().splitlines()[-1])
            assert figures["rows"] == size, figures
            print(
                f"{size:>12,} {written:>10.1f}s {figures['wall']:>9.1f}s "
                f"{size / figures['wall']:>11,.0f} {figures['peak_mb']:>8,.0f} MB",
                flush=True,
            )
        finally:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
