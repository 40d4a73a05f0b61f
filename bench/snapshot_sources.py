"""Benchmark of the input snapshot of a chained task and of a generation task: an N-row
upstream parsed table, and a seed grid, into the day's Parquet snapshot.

Upstream: for each size N it writes, in a temporary folder, a parsed table of
synthetic_emails (its real schema, written by the library's own table writer: zstd, 64k-row
row groups) whose bodies are the sample emails of ``data/emails`` in order, each made unique
by its row number and padded or cut to 600 characters. A fresh Python process then reads it
as synthetic_triage does (``text_column: body``, every answer field passed through) and
writes the snapshot: the ``inputs`` asset's work.

Seeds: a grid of 10 topics × 10 personas × 5 languages × 2 labels (1,000 cells) with
``--per-cell`` rows per cell (1,000: a million rows) into its snapshot, in a fresh process.

Each line gives the wall time, rows/s, the process's RSS once the code is imported, and its
peak RSS (``VmHWM``): memory must not grow with the rows. The data is deleted afterwards.

Usage: ``python bench/snapshot_sources.py --upstream-sizes 100000,2000000 --per-cell 1000``
"""

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATE = "2026-11-01"
BODY_CHARS = 600
WRITE_ROWS = 50_000  # rows per batch handed to the table writer


def _status_mb(key: str) -> float:
    """A ``/proc/self/status`` figure (``VmRSS``, ``VmHWM``) in MB."""
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith(f"{key}:"):
                return int(line.split()[1]) / 1024
    raise SystemExit(f"no {key} in /proc/self/status (Linux only)")


def _sample_bodies() -> list[str]:
    bodies = []
    for path in sorted((ROOT / "data" / "emails").glob("date=*/*.jsonl")):
        with open(path, encoding="utf-8") as lines:
            bodies += [str(json.loads(line)["body"]) for line in lines if line.strip()]
    if not bodies:
        raise SystemExit("no sample emails under data/emails; run `make data`.")
    return bodies


def write_parsed(path: Path, rows: int) -> None:
    """An N-row parsed table of synthetic_emails at ``path``, written a batch at a time."""
    import pyarrow as pa
    import yaml

    from synth_assets.batch.tables import ParquetSink, parsed_schema
    from synth_assets.tasks.spec import spec_from_attributes

    document = ROOT / "synth_assets" / "defs" / "tasks" / "synthetic_emails" / "defs.yaml"
    attributes = yaml.safe_load(document.read_text())["attributes"]
    task = spec_from_attributes(attributes, "synthetic_emails").to_task()
    schema = parsed_schema(task.response_model)
    bodies = [
        (body * (1 + BODY_CHARS // max(1, len(body))))[:BODY_CHARS] for body in _sample_bodies()
    ]
    languages, labels = ["en", "de", "fr"], ["spam", "not_spam"]
    with ParquetSink(path, schema) as sink:
        for start in range(0, rows, WRITE_ROWS):
            numbers = range(start, min(rows, start + WRITE_ROWS))
            n = len(numbers)
            columns = {
                "custom_id": [f"{DATE}-t0-p0-l0-c0-{i}" for i in numbers],
                "sender": [f"Sender {i} <sender{i}@example.com>" for i in numbers],
                "subject": [f"Subject of email {i}" for i in numbers],
                # The row number first: every body differs, as generated emails do.
                "body": [f"{i:09d} {bodies[i % len(bodies)]}"[:BODY_CHARS] for i in numbers],
                "language": [languages[i % 3] for i in numbers],
                "intended_label": [labels[i % 2] for i in numbers],
                "model": ["gpt-4o-mini"] * n,
                "batch_id": [f"batch_{i // 50_000}" for i in numbers],
                "request_id": [f"req_{i:012d}" for i in numbers],
                "prompt_tokens": [120] * n,
                "completion_tokens": [180] * n,
                "total_tokens": [300] * n,
                "attempt": [1] * n,
                "request_hash": [f"{i:064x}" for i in numbers],
            }
            sink.write(pa.table(columns, schema=schema))


def _child(kind: str, source: str, snapshot: str, budget: str) -> None:
    """Run in a fresh process: snapshot an upstream day (``source``: its parsed table) or a
    seed grid (``source``: per_cell), print the figures as JSON."""
    from synth_assets.pipeline.steps import snapshot_batches
    from synth_assets.tasks.seeds import SEED_SCHEMA, SeedGrid, seed_batches
    from synth_assets.tasks.upstream import UpstreamSpec, open_upstream

    imported_mb = _status_mb("VmRSS")
    started = time.perf_counter()
    if kind == "upstream":
        spec = UpstreamSpec(task="synthetic_emails", text_column="body")
        with open_upstream(
            spec, source, DATE, downstream="synthetic_triage", max_text_chars=int(budget)
        ) as day:
            summary = snapshot_batches(day.schema, day.batches(), Path(snapshot))
    else:
        grid = SeedGrid(
            topics=[f"topic {n}" for n in range(10)],
            personas=[f"persona {n}" for n in range(10)],
            languages=["en", "de", "fr", "es", "it"],
            labels=["spam", "not_spam"],
            per_cell=int(source),
        )
        summary = snapshot_batches(SEED_SCHEMA, seed_batches(grid, DATE), Path(snapshot))
    wall = time.perf_counter() - started
    figures = {"rows": summary.rows, "wall": wall, "imported_mb": imported_mb}
    print(json.dumps({**figures, "peak_mb": _status_mb("VmHWM")}))


def _measure(kind: str, source: str, snapshot: Path, budget: int) -> dict[str, float]:
    done = subprocess.run(
        [sys.executable, __file__, "--child", kind, source, str(snapshot), str(budget)],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
    )
    if done.returncode:
        raise SystemExit(f"the {kind} snapshot failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--upstream-sizes", default="100000,2000000", help="comma-separated rows")
    parser.add_argument("--per-cell", type=int, default=1000, help="seed rows per cell (0: none)")
    parser.add_argument("--keep-dir", help="where to write the data (default: a temp folder)")
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(*args.child)
        return
    from synth_assets.defs.resources import TaskSettings

    budget = TaskSettings().max_text_chars or 0
    header = ("source", "rows", "write data", "snapshot", "rows/s", "imported", "peak RSS")
    print("{:<9} {:>11} {:>11} {:>9} {:>10} {:>9} {:>9}".format(*header))
    sizes = [int(s.replace("_", "")) for s in args.upstream_sizes.split(",") if s]
    runs = [("upstream", size) for size in sizes]
    runs += [("seeds", args.per_cell)] if args.per_cell else []
    for kind, size in runs:
        folder = Path(tempfile.mkdtemp(prefix="synth-bench-sources-", dir=args.keep_dir))
        try:
            started = time.perf_counter()
            if kind == "upstream":
                source = folder / "synthetic_emails" / "parsed" / f"date={DATE}" / "part-0.parquet"
                write_parsed(source, size)
            written = time.perf_counter() - started
            snapshot = folder / "snapshot" / "part-0.parquet"
            figures = _measure(
                kind, str(source) if kind == "upstream" else str(size), snapshot, budget
            )
            rows = int(figures["rows"])
            print(
                f"{kind:<9} {rows:>11,} {written:>10.1f}s {figures['wall']:>8.1f}s "
                f"{rows / figures['wall']:>10,.0f} {figures['imported_mb']:>6,.0f} MB "
                f"{figures['peak_mb']:>6,.0f} MB",
                flush=True,
            )
        finally:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
