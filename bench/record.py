"""The request record's cost: recording a batch's results and assembling a day's tables.

    .venv/bin/python bench/record.py                    # N = 100k, label and rich
    .venv/bin/python bench/record.py --sizes 20000,1000000 --models label

Ours only (instructor keeps no record to compare with). For N generated result lines
(`bench/generate.py`), in its own process per (model, N): the batch's N requests are
recorded as sent, its output file is classified and recorded request by request
(``collect.classify_results`` + ``RequestRecord.record_results``, in batches of 50,000 as
the Batch API caps them), then the day's tables are assembled from the record
(``publish.assemble_tables``). Prints rows/s and peak RSS of each step (the peak is reset
between steps; Linux only), and the peak of the parser's forked workers.

The harness streams as well (it holds one batch's ids at a time, never the day's), so a
step's peak is the step's own: it must stay flat in N."""

import argparse
import hashlib
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

BENCH = Path(__file__).resolve().parent
BATCH_LIMIT = 50_000


def _peak_mb() -> float:
    """This process's peak RSS since the last :func:`_reset_peak` (Linux's VmHWM)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _reset_peak() -> None:
    """Start measuring the peak RSS anew (writing 5 to clear_refs resets VmHWM)."""
    with open("/proc/self/clear_refs", "w") as handle:
        handle.write("5")


def measure(model_name: str, n: int) -> dict[str, float]:
    """One measurement, in this process: seconds and peak RSS (MB) of each step."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    from generate import ensure_data
    from models import MODELS

    from synth_assets.batch.lines import custom_id_of, iter_blocks
    from synth_assets.pipeline import collect, publish
    from synth_assets.pipeline.plan import MANIFEST_FILE, MANIFEST_SCHEMA, PLAN_FILE
    from synth_assets.pipeline.record import RequestRecord, Send

    model = MODELS[model_name]
    output = ensure_data(n, (model_name,))[f"output-{model_name}"]
    result: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="bench-record-") as scratch:
        folder = Path(scratch)
        manifest = folder / "build"
        manifest.mkdir()
        record = RequestRecord(folder / "record.sqlite", "bench")
        # The harness streams too: output lines are cut into batch files of at most
        # 50,000 lines while the manifest is written and each batch's sends are recorded,
        # so nothing but one batch's ids is held (its peak says something about the steps).
        batches: list[Path] = []
        sent = 0.0
        _reset_peak()

        def record_sends(number: int, ids: list[str]) -> float:
            hashes = [hashlib.sha256(c.encode()).hexdigest() for c in ids]
            writer.write_table(pa.table([ids, hashes], schema=MANIFEST_SCHEMA))
            sends = [Send(c, h, 1, 1) for c, h in zip(ids, hashes, strict=True)]
            started = time.perf_counter()
            record.record_batch(
                f"b{number}", partition="d", sha256="s", attempt=1, round_=1, path="p",
                status="completed", sends=sends,
            )  # fmt: skip
            return time.perf_counter() - started

        with pq.ParquetWriter(manifest / MANIFEST_FILE, MANIFEST_SCHEMA) as writer:
            handle, current = None, []
            for lines in iter_blocks(output):
                for raw in lines:
                    if not raw.strip():
                        continue
                    if handle is None or len(current) == BATCH_LIMIT:
                        if handle is not None:
                            handle.close()
                            sent += record_sends(len(batches) - 1, current)
                        path = folder / f"batch-{len(batches)}.jsonl"
                        handle, current = open(path, "wb"), []  # noqa: SIM115
                        batches.append(path)
                    handle.write(raw + b"\n")
                    current.append(custom_id_of(raw))
            if handle is not None:
                handle.close()
                sent += record_sends(len(batches) - 1, current)
            del current
        result["record_sends"], result["record_sends_mb"] = sent, _peak_mb()
        (manifest / PLAN_FILE).write_text(
            json.dumps(
                {
                    "folder": str(manifest),
                    "rows": n,
                    "invalid_inputs": 0,
                    "kinds": {},
                    "shards": [],
                    "requests": n,
                    "bytes": 0,
                    "round": 1,
                    "model": "m",
                    "estimate": {
                        "requests": n,
                        "input_tokens": 0,
                        "output_tokens": 0,
                        "usd": None,
                        "calibration": None,
                        "output_known": False,
                    },
                }
            )
        )
        _reset_peak()
        started = time.perf_counter()
        for number, path in enumerate(batches):
            answers, extra, usage = collect.classify_results(
                model, f"b{number}", [("output", path)], record.sends(f"b{number}"), "completed"
            )
            record.record_results(f"b{number}", "completed", answers, extra, usage)
            del answers, extra
        result["collect"], result["collect_mb"] = time.perf_counter() - started, _peak_mb()
        # assemble_tables reads only the task's response model.
        task = SimpleNamespace(response_model=model)
        _reset_peak()
        started = time.perf_counter()
        summary = publish.assemble_tables(
            task, record, manifest, folder / "parsed.parquet", folder / "unparsed.parquet",
            folder / "scratch",
        )  # fmt: skip
        result["assemble"], result["assemble_mb"] = time.perf_counter() - started, _peak_mb()
        record.close()
        assert summary.parsed + summary.unparsed - summary.extra_lines == n, summary
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    result["children_mb"] = children
    return result


def main() -> None:
    """Run each (model, N) in its own process and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100000")
    parser.add_argument("--models", default="label,rich")
    parser.add_argument("--one", nargs=2, metavar=("MODEL", "N"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print("BENCH_RESULT " + json.dumps(measure(args.one[0], int(args.one[1]))))
        return
    steps = ("record_sends", "collect", "assemble")
    print(
        f"{'model':<6} {'N':>10} "
        + " ".join(f"{name.replace('_', ' '):>22}" for name in steps)
        + f" {'workers':>8}"
    )
    for model in args.models.split(","):
        for n in (int(s) for s in args.sizes.split(",")):
            done = subprocess.run(
                [sys.executable, __file__, "--one", model, str(n)],
                capture_output=True, text=True, check=True, cwd=BENCH,
            )  # fmt: skip
            line = next(x for x in done.stdout.splitlines() if x.startswith("BENCH_RESULT "))
            result = json.loads(line.split(" ", 1)[1])
            cells = [f"{n / result[k] / 1000:>7.0f}k/s {result[k + '_mb']:>6.0f} MB" for k in steps]
            workers = f"{result['children_mb']:>5.0f} MB"
            print(f"{model:<6} {n:>10,} " + " ".join(f"{c:>22}" for c in cells) + f" {workers:>8}")


if __name__ == "__main__":
    sys.path.insert(0, str(BENCH))
    main()
