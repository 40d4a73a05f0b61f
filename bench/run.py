"""Benchmark synth_assets.batch against instructor, and print the figures side by side.

    bash bench/setup_instructor.sh           # the two instructor venvs (idempotent)
    .venv/bin/python bench/run.py            # N = 100k and 1M, every step and model
    .venv/bin/python bench/run.py --quick    # N = 20k only
    .venv/bin/python bench/run.py --sizes 100000 --models rich --steps parse --impls ours

Every measurement runs in its own process (`bench/worker.py`) under the interpreter of
its side, so "peak MB" is that step's own peak RSS (imports included) and each side sees
only its own packages. Inputs come from `bench/generate.py` (`.bench/data/`, reused).

Which instructor row an ours row is compared with: the one producing or reading the
same request mode. instructor 1.3.7 only speaks `tools` (function calling; its
`parse_from_file` reads only `tool_calls`), instructor 1.17.0 only `json_schema` (its
`create_batch_from_messages` writes `response_format`). So ours runs in both modes:
`json_schema` rows are compared with 1.17.0, `tools` rows with 1.3.7.

To add a figure (for instance the local Batch server's throughput), write a function
`(ctx, model, n) -> list[Job]` and append a `Step` to `STEPS`; the table, filters and
machine header come for free. A Job is any command whose last `BENCH_RESULT {json}`
stdout line holds at least `seconds` and `peak_mb` (see worker.py); it may be ours-only
(no baseline row in its group, so no ratio).
"""

import argparse
import datetime as dt
import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from generate import ensure_data

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
WORK = ROOT / ".bench" / "work"  # step outputs; deleted after each job unless --keep
WORKER = BENCH / "worker.py"
INSTRUCTOR_VERSIONS = ("1.3.7", "1.17.0")
# The only request mode each instructor version can produce / parse (see module doc).
INSTRUCTOR_MODE = {"1.3.7": "tools", "1.17.0": "json_schema"}


def instructor_python(version: str) -> Path:
    """Interpreter of the venv `bench/setup_instructor.sh` made for that version."""
    return ROOT / ".bench" / f"venv-instructor-{version}" / "bin" / "python"


@dataclass
class Context:
    """What step functions need: data paths per size and the selected implementations."""

    data: dict[int, dict[str, Path]]
    impls: set[str]  # "ours", "instructor-1.3.7", "instructor-1.17.0"


@dataclass
class Job:
    """One measured process: a row of the table."""

    impl: str  # shown in the table, e.g. "instructor 1.17.0"
    mode: str  # json_schema | tools
    argv: list[str]  # full command line of the child process
    inputs: list[Path] = field(default_factory=list)  # read once beforehand (warm cache)
    cleanup: list[Path] = field(default_factory=list)  # outputs to delete afterwards
    baseline: bool = False  # an instructor row: ours rows of the same mode compare to it


@dataclass
class Step:
    """A named figure: a function that makes the jobs for one (model, N)."""

    name: str
    help: str
    jobs: Callable[[Context, str, int], list[Job]]


# Ours' rows per step: (label, mode, extra worker flags). Both modes, so each can be
# compared with the instructor version speaking it; plus one variant where it matters.
OURS_VARIANTS: dict[str, list[tuple[str, str, list[str]]]] = {
    "build": [
        ("ours", "json_schema", []),
        ("ours", "tools", []),
        ("ours (tutorial loop)", "json_schema", ["--loop"]),  # yield dicts + json.dumps
    ],
    "parse": [("ours", "json_schema", []), ("ours", "tools", [])],
    "parquet": [
        ("ours", "json_schema", []),  # default: forks one worker per core on big files
        ("ours", "tools", []),
        ("ours (workers=1)", "json_schema", ["--workers", "1"]),  # single core, like instructor
    ],
}


def _worker_jobs(
    ctx: Context, step: str, model: str, n: int, source: Callable[[str], Path]
) -> list[Job]:
    """The rows of a comparison step: instructor 1.3.7, 1.17.0, then ours' variants.

    `source(mode)` gives the input file for that request mode. Outputs go to WORK.
    """
    jobs: list[Job] = []
    for version in INSTRUCTOR_VERSIONS:
        if f"instructor-{version}" not in ctx.impls:
            continue
        mode = INSTRUCTOR_MODE[version]
        out = WORK / f"{step}-instructor-{version}-{model}-{n}"
        python = str(instructor_python(version))
        argv = [python, str(WORKER), "instructor", step, model, str(source(mode)), str(out)]
        job = Job(f"instructor {version}", mode, argv, [source(mode)], [out], baseline=True)
        jobs.append(job)
    if "ours" in ctx.impls:
        for index, (label, mode, flags) in enumerate(OURS_VARIANTS[step]):
            out = WORK / f"{step}-ours{index}-{mode}-{model}-{n}"
            argv = [sys.executable, str(WORKER), "ours", step, model, str(source(mode)), str(out)]
            jobs.append(Job(label, mode, [*argv, "--mode", mode, *flags], [source(mode)], [out]))
    return jobs


def build_jobs(ctx: Context, model: str, n: int) -> list[Job]:
    """Request file from `messages-N.jsonl` + the response model."""
    return _worker_jobs(ctx, "build", model, n, lambda _mode: ctx.data[n]["messages"])


def _output_file(ctx: Context, model: str, n: int) -> Callable[[str], Path]:
    """The Batch-API output file answering in a given mode."""
    return lambda mode: ctx.data[n][("output-" if mode == "json_schema" else "tools-") + model]


def parse_jobs(ctx: Context, model: str, n: int) -> list[Job]:
    """`BatchJob.parse_from_file` -> (parsed, unparsed) lists."""
    return _worker_jobs(ctx, "parse", model, n, _output_file(ctx, model, n))


def parquet_jobs(ctx: Context, model: str, n: int) -> list[Job]:
    """Output file -> parsed + unparsed Parquet (instructor: parse + pyarrow by hand)."""
    return _worker_jobs(ctx, "parquet", model, n, _output_file(ctx, model, n))


# Add new figures here (e.g. the local Batch server's throughput).
STEPS: list[Step] = [
    Step("build", "write the request JSONL", build_jobs),
    Step("parse", "parse_from_file -> (parsed, unparsed)", parse_jobs),
    Step("parquet", "output file -> parsed/unparsed Parquet", parquet_jobs),
]


# ------------------------------------------------------------------------------ running


def warm_cache(path: Path) -> None:
    """Read a file once so every job of a group starts with it in the page cache."""
    with open(path, "rb") as handle:
        while handle.read(1 << 24):
            pass


def run_job(job: Job) -> dict[str, Any]:
    """Run one child; return its BENCH_RESULT record, or {'error': ...} if it failed."""
    started = time.perf_counter()
    proc = subprocess.run(job.argv, capture_output=True, text=True, cwd=ROOT)
    wall = time.perf_counter() - started
    for path in job.cleanup:
        _remove(path)
    results = [ln for ln in proc.stdout.splitlines() if ln.startswith("BENCH_RESULT ")]
    if proc.returncode != 0 or not results:
        tail = (proc.stderr.strip().splitlines() or ["(no stderr)"])[-1]
        return {"error": f"exit {proc.returncode}: {tail[:160]}", "wall": wall}
    return {**json.loads(results[-1].removeprefix("BENCH_RESULT ")), "wall": wall}


def _remove(path: Path) -> None:
    """Delete a step output (file or directory of Parquet files) to save disk."""
    if path.is_dir():
        for child in path.iterdir():
            child.unlink()
        path.rmdir()
    elif path.exists():
        path.unlink()


def counts(result: dict[str, Any]) -> str:
    """What the step produced, so both sides can be checked to have done the same work."""
    if "error" in result:
        return "-"
    if "lines" in result:
        return f"{result['lines']:,} lines"
    return f"{result['parsed']:,} ok / {result['unparsed']:,} bad"


# ------------------------------------------------------------------------------ reporting


def versions(python: Path | str, packages: tuple[str, ...]) -> str:
    """Package versions as seen by an interpreter (so each side reports its own venv)."""
    code = (
        "import importlib.metadata as m, platform\n"
        f"for p in {packages!r}:\n"
        "    try: print(f'{p} {m.version(p)}', end=', ')\n"
        "    except m.PackageNotFoundError: print(f'{p} -', end=', ')\n"
        "print('python', platform.python_version())"
    )
    proc = subprocess.run([str(python), "-c", code], capture_output=True, text=True)
    return proc.stdout.strip() if proc.returncode == 0 else f"(unavailable: {python})"


def machine_header(impls: set[str]) -> list[str]:
    """Date, machine and package versions of every side, printed above the table."""
    cpu = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as handle:
            cpu = next(ln.split(":", 1)[1].strip() for ln in handle if ln.startswith("model name"))
    except (OSError, StopIteration):
        pass
    mem_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    lines = [
        f"date: {dt.datetime.now().astimezone().isoformat(timespec='seconds')}",
        f"machine: {os.cpu_count()} cores ({cpu}), {mem_gb:.0f} GiB RAM, "
        f"{platform.system()} {platform.release()}, python {platform.python_version()}",
        "ours: " + versions(sys.executable, ("synth-assets", "pydantic", "openai", "pyarrow")),
    ]
    for version in INSTRUCTOR_VERSIONS:
        if f"instructor-{version}" in impls:
            pkgs = ("instructor", "pydantic", "openai", "pyarrow")
            lines.append(f"instructor {version}: " + versions(instructor_python(version), pkgs))
    return lines


COLUMNS = (
    "step",
    "model",
    "N",
    "implementation",
    "mode",
    "seconds",
    "CPU s",
    "rows/s",
    "peak MB",
    "worker MB",
    "rows out",
    "vs instructor",
)


def table_row(step: str, model: str, n: int, job: Job, result: dict, base: dict | None) -> list:
    """Format one row; `vs instructor` compares seconds with the same-mode instructor row."""
    first = [step, model, f"{n:,}", job.impl, job.mode]
    if "error" in result:
        return [*first, "FAILED", "", "", "", "", result["error"], ""]
    seconds = result["seconds"]
    ratio = ""
    if job.baseline:
        ratio = "baseline"
    elif base is not None and "error" not in base:
        speedup = base["seconds"] / seconds
        ratio = f"{speedup:.1f}x faster" if speedup >= 1 else f"{1 / speedup:.1f}x slower"
    cpu = result.get("cpu_seconds")
    workers_mb = result.get("workers_mb") or 0
    return [
        *first,
        f"{seconds:.2f}",
        "" if cpu is None else f"{cpu:.2f}",
        f"{n / seconds:,.0f}",
        f"{result['peak_mb']:,.0f}",
        f"{workers_mb:,.0f}" if workers_mb else "",
        counts(result),
        ratio,
    ]


def print_table(rows: list[list[str]]) -> None:
    """Plain aligned text table (numbers right-aligned)."""
    cells = [list(COLUMNS), *rows]
    widths = [max(len(str(r[i])) for r in cells) for i in range(len(COLUMNS))]
    numeric = {"N", "seconds", "CPU s", "rows/s", "peak MB", "worker MB"}
    for index, row in enumerate(cells):
        parts = [
            str(v).rjust(w) if COLUMNS[i] in numeric else str(v).ljust(w)
            for i, (v, w) in enumerate(zip(row, widths, strict=True))
        ]
        print("  ".join(parts).rstrip())
        if index == 0:
            print("  ".join("-" * w for w in widths))


def main() -> None:
    """Parse flags, make the data, run every selected job, print the table."""
    parser = argparse.ArgumentParser(description="synth_assets.batch vs instructor benchmark")
    parser.add_argument("--sizes", default="100000,1000000", help="comma-separated N values")
    parser.add_argument("--quick", action="store_true", help="N = 20,000 only")
    parser.add_argument("--models", default="label,rich", help="label,rich")
    parser.add_argument("--steps", default=",".join(s.name for s in STEPS))
    parser.add_argument(
        "--impls",
        default="ours," + ",".join(f"instructor-{v}" for v in INSTRUCTOR_VERSIONS),
        help="which sides to run",
    )
    parser.add_argument("--json", type=Path, help="also write the raw results here")
    parser.add_argument("--keep", action="store_true", help="keep step outputs in .bench/work")
    args = parser.parse_args()

    sizes = [20_000] if args.quick else [int(s) for s in args.sizes.split(",")]
    models = args.models.split(",")
    wanted = args.steps.split(",")
    steps = [s for s in STEPS if s.name in wanted]
    impls = set(args.impls.split(","))
    unknown = set(wanted) - {s.name for s in STEPS}
    if unknown:
        parser.error(f"unknown step(s): {', '.join(sorted(unknown))}")
    for version in INSTRUCTOR_VERSIONS:
        if f"instructor-{version}" in impls and not instructor_python(version).exists():
            parser.error(f"{instructor_python(version)} is missing: bash bench/setup_instructor.sh")

    header = machine_header(impls)
    print("\n".join(header), flush=True)
    ctx = Context({n: ensure_data(n, tuple(models)) for n in sizes}, impls)
    WORK.mkdir(parents=True, exist_ok=True)

    rows: list[list[str]] = []
    raw: list[dict[str, Any]] = []
    for step in steps:
        for n in sizes:
            for model in models:
                jobs = step.jobs(ctx, model, n)
                # Every job of the group then starts with its input in the page cache.
                for path in {path for job in jobs for path in job.inputs}:
                    warm_cache(path)
                baselines: dict[str, dict] = {}
                for job in jobs:
                    print(f"[run] {step.name} {model} N={n:,} {job.impl} {job.mode} ...",
                          end=" ", file=sys.stderr, flush=True)  # fmt: skip
                    if args.keep:
                        job.cleanup = []
                    result = run_job(job)
                    print(result.get("error") or f"{result['seconds']:.2f}s", file=sys.stderr)
                    if job.baseline:
                        baselines[job.mode] = result
                    rows.append(
                        table_row(step.name, model, n, job, result, baselines.get(job.mode))
                    )
                    raw.append({"step": step.name, "model": model, "n": n, "impl": job.impl,
                                "mode": job.mode, **result})  # fmt: skip

    print()
    print("\n".join(header))
    print_table(rows)
    print(
        "\nseconds: the step alone, in its own process (not start-up or imports; for build, the"
        "\nmessages are decoded into a list before the clock, for every side). CPU s: user +"
        "\nsystem time, forked workers included. peak MB: that process's max RSS (imports"
        "\nincluded); worker MB: the largest forked worker's max RSS (shares pages with the"
        "\nparent). vs instructor: this row's seconds against the instructor row of the same"
        "\nmode (tools: 1.3.7, json_schema: 1.17.0). rows out: lines written, or rows parsed"
        "\n/ not parsed (the same on every side means the same work was done)."
    )
    if args.json:
        args.json.write_text(json.dumps({"header": header, "results": raw}, indent=1))


if __name__ == "__main__":
    main()
