"""Run ONE measured benchmark step in this process and report it as one JSON line.

`bench/run.py` starts this script once per measurement, with the interpreter of the side
being measured (the project venv for ours, `.bench/venv-instructor-X/bin/python` for
instructor). One process per step keeps peak RSS a per-step figure and keeps the sides'
packages apart. It must stay importable under every venv: it imports only the standard
library and `bench/models.py` up front, and each side's package inside its own functions.

Usage: `python bench/worker.py IMPL STEP MODEL INPUT OUTPUT [--mode M] [--workers W] [--loop]`
with IMPL `ours` or `instructor`, STEP `build`, `parse` or `parquet`. For `parquet`,
OUTPUT is a directory that receives `p.parquet` (parsed) and `u.parquet` (unparsed).
`--mode` (json_schema | tools), `--workers` and `--loop` only apply to ours: each
instructor version has one mode (see run.py).

The last line printed to stdout is `BENCH_RESULT {json}` with seconds (the step alone,
not interpreter start-up or imports), CPU seconds (workers included), peak RSS in MB
(whole process, imports included; forked workers separately) and the counts the step
produced, so a reader can check that both sides did the same work.
"""

import argparse
import inspect
import json
import os
import resource
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from models import MODELS

OPENAI_MODEL = "gpt-4o-mini"


def read_messages(path: str) -> Iterator[list[dict[str, Any]]]:
    """Stream the chat messages of `messages-N.jsonl`, one request at a time."""
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            yield json.loads(line)


def count_lines(path: str) -> int:
    """Count the lines of a (possibly multi-GB) file without decoding it."""
    count = 0
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 24):
            count += chunk.count(b"\n")
    return count


# ---------------------------------------------------------------------------- instructor


def instructor_build(model: type, messages: list[Any], out: str) -> dict[str, Any]:
    """Build a request file the way the installed instructor version is meant to be used.

    - 1.3.x: `BatchJob.create_from_messages(..., file_path=...)` writes the file itself
      (tools mode only, random uuid custom_ids).
    - versions whose `create_from_messages` yields request dicts (the tutorial's loop):
      `f.write(json.dumps(line) + "\\n")` for each.
    - 1.17.x: the legacy `BatchJob` lost `create_from_messages`; its replacement is
      `BatchProcessor("openai/<model>", Model).create_batch_from_messages(messages, file_path)`
      (json_schema mode only).
    """
    from instructor.batch import BatchJob

    create = getattr(BatchJob, "create_from_messages", None)
    if create is not None and "file_path" in inspect.signature(create).parameters:
        how = "BatchJob.create_from_messages(file_path=...)"
        create(messages_batch=messages, model=OPENAI_MODEL, response_model=model, file_path=out)
    elif create is not None:
        how = "for line in BatchJob.create_from_messages(...): f.write(json.dumps(line))"
        with open(out, "w", encoding="utf-8") as handle:
            for line in create(messages_batch=messages, model=OPENAI_MODEL, response_model=model):
                handle.write(json.dumps(line) + "\n")
    else:
        from instructor.batch import BatchProcessor

        how = "BatchProcessor(...).create_batch_from_messages(file_path=...)"
        processor = BatchProcessor(f"openai/{OPENAI_MODEL}", model)
        processor.create_batch_from_messages(messages, file_path=out)
    return {"how": how}


def instructor_parse(model: type, source: str) -> tuple[list[Any], list[Any]]:
    """The tutorial's `BatchJob.parse_from_file` (same call in every version)."""
    from instructor.batch import BatchJob

    return BatchJob.parse_from_file(file_path=source, response_model=model)


def instructor_parquet(model: type, source: str, out_dir: str) -> dict[str, Any]:
    """What a user of instructor writes to get Parquet: parse, then pyarrow by hand.

    instructor's unparsed rows are raw dicts of varying shape, so they are kept as one
    JSON text column (about 2% of rows; ours writes a typed unparsed table).
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    parsed, unparsed = instructor_parse(model, source)
    pq.write_table(pa.Table.from_pylist([m.model_dump() for m in parsed]), f"{out_dir}/p.parquet")
    raw = pa.table({"raw": [json.dumps(u) for u in unparsed]})
    pq.write_table(raw, f"{out_dir}/u.parquet")
    return {"parsed": len(parsed), "unparsed": len(unparsed)}


# ---------------------------------------------------------------------------------- ours


def ours_build(model: type, messages: list[Any], out: str, mode: str, loop: bool) -> dict[str, Any]:
    """Ours writes the file itself (fast path).

    With `loop`, the tutorial's way instead: without `file_path` ours yields one dict per
    request, and the caller writes `json.dumps(line)` for each.
    """
    from synth_assets.batch import BatchJob

    if loop:
        with open(out, "w", encoding="utf-8") as handle:
            for line in BatchJob.create_from_messages(
                messages_batch=messages, model=OPENAI_MODEL, response_model=model, mode=mode
            ):
                handle.write(json.dumps(line) + "\n")
        return {"how": "for line in BatchJob.create_from_messages(...): f.write(json.dumps(line))"}
    shard = BatchJob.create_from_messages(
        messages_batch=messages,
        model=OPENAI_MODEL,
        response_model=model,
        file_path=out,
        mode=mode,
    )
    return {"how": "BatchJob.create_from_messages(file_path=...)", "requests": shard.requests}


def ours_parse(model: type, source: str) -> tuple[list[Any], list[Any]]:
    """The tutorial-compatible `parse_from_file` of `synth_assets.batch`."""
    from synth_assets.batch import BatchJob

    return BatchJob.parse_from_file(file_path=source, response_model=model)


def ours_parquet(model: type, source: str, out_dir: str, workers: int | None) -> dict[str, Any]:
    """Streaming parse straight to Parquet (forks `workers` processes; None = its default)."""
    from synth_assets.batch import parse_to_parquet

    summary = parse_to_parquet(
        source,
        None,
        response_model=model,
        parsed_path=f"{out_dir}/p.parquet",
        unparsed_path=f"{out_dir}/u.parquet",
        workers=workers,
    )
    return {"parsed": summary.parsed, "unparsed": summary.unparsed}


# ---------------------------------------------------------------------------------- main


def cpu_seconds() -> float:
    """User + system CPU time of this process and of its reaped children (forked workers)."""
    times = os.times()
    return times.user + times.system + times.children_user + times.children_system


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Run the step, timing only the step itself; return the result record."""
    model, impl, step, source, out = (
        MODELS[args.model],
        args.impl,
        args.step,
        args.input,
        args.output,
    )
    # Import the side's package before the clock starts: import time is not the step's.
    __import__("synth_assets.batch" if impl == "ours" else "instructor.batch")
    if step == "parquet":
        import pyarrow.parquet  # noqa: F401  (same reason)

    # Build: the messages are decoded before the clock, for every side alike (the tutorial's
    # `messages` is a list in memory): the step times building the file, not reading JSON.
    messages = list(read_messages(source)) if step == "build" else []
    # Flush what earlier steps left for the disk to write, so no step pays for another's.
    os.sync()
    cpu_before, started = cpu_seconds(), time.perf_counter()
    if step == "build" and impl == "ours":
        extra = ours_build(model, messages, out, args.mode, args.loop)
    elif step == "build":
        extra = instructor_build(model, messages, out)
    elif step == "parse":
        parsed, unparsed = (ours_parse if impl == "ours" else instructor_parse)(model, source)
        extra = {"parsed": len(parsed), "unparsed": len(unparsed)}
    else:
        Path(out).mkdir(parents=True, exist_ok=True)
        if impl == "ours":
            extra = ours_parquet(model, source, out, args.workers)
        else:
            extra = instructor_parquet(model, source, out)
    seconds = time.perf_counter() - started
    cpu = cpu_seconds() - cpu_before

    if step == "build":
        extra["lines"] = count_lines(out)  # after the clock: a check, not part of the step
    # ru_maxrss is KiB on Linux. Forked workers (ours' parallel Parquet writer) are not in
    # RUSAGE_SELF: RUSAGE_CHILDREN gives the largest of them, reported separately.
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    workers_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return {
        "seconds": seconds,
        "cpu_seconds": cpu,
        "peak_mb": peak_mb,
        "workers_mb": workers_mb,
        **extra,
    }


def main() -> None:
    """Command line entry point (see the module docstring)."""
    parser = argparse.ArgumentParser(description="Run one benchmark step.")
    parser.add_argument("impl", choices=["ours", "instructor"])
    parser.add_argument("step", choices=["build", "parse", "parquet"])
    parser.add_argument("model", choices=sorted(MODELS))
    parser.add_argument("input")
    parser.add_argument("output")
    parser.add_argument("--mode", default="json_schema", choices=["json_schema", "tools"])
    parser.add_argument("--workers", type=int, help="ours parquet: worker processes")
    parser.add_argument("--loop", action="store_true", help="ours build: the tutorial's loop")
    args = parser.parse_args()
    result = run(args)
    print("BENCH_RESULT " + json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
