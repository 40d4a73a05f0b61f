"""The request record's cost: recording a batch's results and assembling a day's tables.

    .venv/bin/python bench/record.py                    # N = 100k, label and rich
    .venv/bin/python bench/record.py --sizes 20000,1000000 --models label

Ours only (instructor keeps no record to compare with). For N generated result lines
(`bench/generate.py`), in its own process per (model, N): the batch's N requests are
recorded as sent, its output file is classified and recorded request by request
(``collect.classify_results`` + ``RequestRecord.record_results``, in batches of 50,000 as
the Batch API caps them), then the day's tables are assembled from the record
(``publish.assemble_tables``). Prints rows/s of each step and the peak RSS.
"""

import argparse
import hashlib
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
BATCH_LIMIT = 50_000


def measure(model_name: str, n: int) -> dict[str, float]:
    """One measurement, in this process."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    from generate import ensure_data
    from models import MODELS

    from synth_assets.batch.lines import iter_blocks
    from synth_assets.pipeline import collect, publish
    from synth_assets.pipeline.plan import MANIFEST_FILE, MANIFEST_SCHEMA, PLAN_FILE
    from synth_assets.pipeline.record import RequestRecord, Send
    from synth_assets.tasks.base import BatchTask

    model = MODELS[model_name]
    output = ensure_data(n, (model_name,))[f"output-{model_name}"]
    with tempfile.TemporaryDirectory(prefix="bench-record-") as scratch:
        folder = Path(scratch)
        # The batches: output lines cut into files of at most 50,000 lines.
        batches: list[tuple[Path, list[str]]] = []
        ids: list[str] = []
        handle, current = None, []
        for lines in iter_blocks(output):
            for raw in lines:
                if not raw.strip():
                    continue
                if handle is None or len(current) == BATCH_LIMIT:
                    if handle is not None:
                        handle.close()
                    path = folder / f"batch-{len(batches)}.jsonl"
                    handle, current = open(path, "wb"), []  # noqa: SIM115
                    batches.append((path, current))
                handle.write(raw + b"\n")
                custom_id = json.loads(raw)["custom_id"]
                current.append(custom_id)
                ids.append(custom_id)
        if handle is not None:
            handle.close()
        hashes = {c: hashlib.sha256(c.encode()).hexdigest() for c in ids}
        manifest = folder / "build"
        manifest.mkdir()
        pq.write_table(
            pa.table([ids, [hashes[c] for c in ids]], schema=MANIFEST_SCHEMA),
            manifest / MANIFEST_FILE,
        )
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
        record = RequestRecord(folder / "record.sqlite", "bench")
        started = time.perf_counter()
        for number, (_, batch_ids) in enumerate(batches):
            sends = [Send(c, hashes[c], 1, 1) for c in batch_ids]
            record.record_batch(
                f"b{number}", partition="d", sha256="s", attempt=1, round_=1, path="p",
                status="completed", sends=sends,
            )  # fmt: skip
        sent = time.perf_counter() - started
        started = time.perf_counter()
        for number, (path, _) in enumerate(batches):
            answers, extra, usage = collect.classify_results(
                model, f"b{number}", [("output", path)], record.sends(f"b{number}"), "completed"
            )
            record.record_results(f"b{number}", "completed", answers, extra, usage)
        collected = time.perf_counter() - started
        task = BatchTask("bench", "", "rows", None, lambda row: [], model)  # type: ignore[arg-type]
        started = time.perf_counter()
        summary = publish.assemble_tables(
            task, record, manifest, folder / "parsed.parquet", folder / "unparsed.parquet",
            folder / "scratch",
        )  # fmt: skip
        assembled = time.perf_counter() - started
        record.close()
        assert summary.parsed + summary.unparsed - summary.extra_lines == n, summary
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"record_sends": sent, "collect": collected, "assemble": assembled, "peak_mb": peak_mb}


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
    print(
        f"{'model':<6} {'N':>9} {'record sends':>14} {'collect':>14} {'assemble':>14} {'peak':>8}"
    )
    for model in args.models.split(","):
        for n in (int(s) for s in args.sizes.split(",")):
            done = subprocess.run(
                [sys.executable, __file__, "--one", model, str(n)],
                capture_output=True, text=True, check=True, cwd=BENCH,
            )  # fmt: skip
            line = next(x for x in done.stdout.splitlines() if x.startswith("BENCH_RESULT "))
            result = json.loads(line.split(" ", 1)[1])
            rates = [
                f"{n / result[k] / 1000:>10.0f}k/s" for k in ("record_sends", "collect", "assemble")
            ]
            peak = f"{result['peak_mb']:>6.0f} MB"
            print(f"{model:<6} {n:>9,} {rates[0]:>14} {rates[1]:>14} {rates[2]:>14} {peak}")


if __name__ == "__main__":
    sys.path.insert(0, str(BENCH))
    main()
