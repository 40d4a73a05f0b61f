"""``synth demo``, ``synth dev`` and ``synth backfill``: the pipeline from a shell."""

import contextlib
import datetime as dt
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import click
import httpx

from synth_assets.batch.client import LOCAL_HOST, LOCAL_PORT, Backend, resolve_backend
from synth_assets.batch.errors import SynthError

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DAGSTER_HOME = PROJECT_ROOT / ".dagster"
LOCAL_DATA_DIR = PROJECT_ROOT / "data" / "localbatch"
# A little of every failure the Batch API can serve, so the demo shows the unparsed table
# and its reasons too (only when the demo starts the local server itself).
DEMO_FAULTS = (
    "http_429=0.004,http_500=0.004,invalid_json=0.004,schema_mismatch=0.004,"
    "refusal=0.003,truncated=0.003,missing=0.002,duplicate=0.002"
)
DAGSTER_YAML = """\
# Written by synth: keep run history here, no telemetry, no first-visit modal.
telemetry:
  enabled: false
nux:
  enabled: false
"""


def dagster_home() -> Path:
    """The project's persistent Dagster home (``.dagster/``), created with its dagster.yaml."""
    home = Path(os.environ.get("DAGSTER_HOME") or DAGSTER_HOME)
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    if not config.exists():
        config.write_text(DAGSTER_YAML)
    os.environ["DAGSTER_HOME"] = str(home)
    return home


def reachable(backend: Backend) -> bool:
    """True when the Batch API answers a cheap list call."""
    try:
        response = httpx.get(
            f"{backend.base_url}/batches",
            params={"limit": 1},
            headers={"Authorization": f"Bearer {backend.api_key}"},
            timeout=2.0,
        )
    except httpx.HTTPError:
        return False
    return response.status_code < 500


@contextmanager
def local_server_if_needed(backend: Backend, *, faults: str = "") -> Iterator[None]:
    """Start the local Batch server for the duration, when it is the backend and is down."""
    if not backend.is_local or reachable(backend):
        yield
        return
    if backend.base_url != f"http://{LOCAL_HOST}:{LOCAL_PORT}/v1":
        raise SynthError(f"nothing answers at {backend.base_url}; start your server first.")
    from synth_assets.localbatch.background import ServerProcess
    from synth_assets.localbatch.config import ServerSettings

    settings = ServerSettings(data_dir=LOCAL_DATA_DIR, port=LOCAL_PORT, faults=faults)
    server = ServerProcess(settings)
    try:
        server.start()
    except RuntimeError:
        raise SynthError(f"the local Batch server did not start; see {server.log_path}.") from None
    try:
        click.echo(f"started the local Batch server at {server.base_url}")
        yield
    finally:
        server.stop()


def _task(name: str):  # type: ignore[no-untyped-def]
    from synth_assets.tasks import TASKS

    for task in TASKS:
        if task.name == name:
            return task
    names = ", ".join(t.name for t in TASKS)
    raise SynthError(f"there is no task {name!r}; choose one of: {names}.")


def _summary(task, dates: list[str]) -> None:  # type: ignore[no-untyped-def]
    """Per partition: requested / parsed / unparsed and agreement, read back from Parquet."""
    from collections import Counter

    import pyarrow.parquet as pq

    from synth_assets.batch.records import is_extra_line
    from synth_assets.defs import layout
    from synth_assets.defs.resources import StorageResource
    from synth_assets.pipeline.steps import summarize_labels

    storage = StorageResource()
    header = f"{'partition':<12} {'requested':>9} {'parsed':>7} {'unparsed':>8} {'agreement':>9}"
    click.echo("\n" + header)
    totals = [0, 0, 0]
    retried = 0
    reasons: Counter[str] = Counter()
    for date in dates:
        parsed = layout.table_location(storage, task, "parsed", date)
        unparsed = layout.table_location(storage, task, "unparsed", date)
        if not Path(parsed).exists():
            click.echo(f"{date:<12} {'-':>9} {'-':>7} {'-':>8}  (not collected)")
            continue
        p = pq.ParquetFile(parsed).metadata.num_rows
        retried += sum(
            a > 1 for a in pq.read_table(parsed, columns=["attempt"])["attempt"].to_pylist()
        )
        rows = pq.read_table(unparsed, columns=["reason", "custom_id"]).to_pylist()
        reasons.update(row["reason"] for row in rows)
        u = len(rows)
        requested = p + u - sum(is_extra_line(row["reason"], row["custom_id"]) for row in rows)
        labels = summarize_labels(task, parsed, layout.inputs_snapshot(storage, task, date))
        agreement = f"{labels.agreement:.0%}" if labels.agreement is not None else "-"
        totals = [totals[0] + requested, totals[1] + p, totals[2] + u]
        click.echo(f"{date:<12} {requested:>9} {p:>7} {u:>8} {agreement:>9}")
    click.echo(f"{'total':<12} {totals[0]:>9} {totals[1]:>7} {totals[2]:>8}")
    if reasons:
        click.echo("unparsed reasons: " + ", ".join(f"{r} {n}" for r, n in reasons.most_common()))
    if retried:
        click.echo(f"answered by a resubmission of retryable failures: {retried} rows")
    click.echo(
        "(the local server's synthetic responder answers at random, so agreement with the "
        "ground truth is about 50%; point it at a real model to measure one)"
    )
    root = Path(layout.table_location(storage, task, "parsed", dates[0])).parents[2]
    click.echo(f"\nParquet tables: {root}/{{parsed,unparsed}}/date=YYYY-MM-DD/part-0.parquet")
    query = (
        f"select date, class_label, count(*) as n from read_parquet('{root}/parsed/*/*.parquet', "
        "hive_partitioning=true) group by all order by all"
    )
    click.echo("Query them with DuckDB:")
    click.echo(f'  .venv/bin/python -c "import duckdb; duckdb.sql(\\"{query}\\").show()"')


@click.command()
@click.option("--task", "task_name", default="spam_triage", show_default=True)
@click.option("--timeout", default=120.0, show_default=True, help="Seconds to wait for batches.")
@click.option(
    "--faults",
    default=DEMO_FAULTS,
    show_default=True,
    help="Faults the local server injects when the demo starts it ('' for none).",
)
def demo(task_name: str, timeout: float, faults: str) -> None:
    """Run the whole pipeline on the sample data, through the real sensor and instance.

    Starts the local Batch server if it is the backend and is not running, submits every
    day of the sample emails, lets batch_completion_sensor wait for the batches, collects
    them into Parquet, and prints a summary. Runs are kept in .dagster/ for `make dev`.

    \b
    Example:
      synth demo
    """
    import dagster as dg

    from synth_assets.defs import build_definitions
    from synth_assets.defs.runs import run_pipeline
    from synth_assets.tasks.dataset import list_partitions

    home = dagster_home()
    task = _task(task_name)
    backend = resolve_backend()
    spec = task.dataset
    if not Path(spec.path).is_absolute():
        from synth_assets.pipeline.steps import spec_with_path

        spec = spec_with_path(spec, None, PROJECT_ROOT)
    dates = list_partitions(spec)
    if not dates:
        raise SynthError(f"the dataset at {spec.path} has no partitions; run `make data`.")
    click.echo(
        f"backend: {backend.label}; Dagster home: {home}; partitions: {dates[0]}..{dates[-1]}"
    )
    started = time.monotonic()
    with local_server_if_needed(backend, faults=faults):
        defs = build_definitions()
        with dg.DagsterInstance.get() as instance:
            outcome = run_pipeline(defs, task, dates, instance, timeout_s=timeout, log=click.echo)
    _summary(task, dates)
    failed = [c.partition for c in outcome.collected if not c.success]
    click.echo(f"\ndone in {time.monotonic() - started:.1f} s. Browse the runs: make dev")
    if failed or outcome.waiting or len(outcome.submitted) < len(dates):
        raise SynthError(
            f"not every partition finished: failed {failed}, still waiting {outcome.waiting}."
        )


def _date_range(start: str, end: str) -> list[str]:
    try:
        first, last = dt.date.fromisoformat(start), dt.date.fromisoformat(end)
    except ValueError:
        raise SynthError(f"dates must look like 2026-11-01 (got {start!r}, {end!r}).") from None
    if last < first:
        raise SynthError(f"--to {end} is before --from {start}.")
    return [(first + dt.timedelta(days=i)).isoformat() for i in range((last - first).days + 1)]


@click.command()
@click.option("--task", "task_name", default="spam_triage", show_default=True)
@click.option("--from", "start", required=True, help="First partition date (YYYY-MM-DD).")
@click.option("--to", "end", required=True, help="Last partition date (YYYY-MM-DD).")
@click.option("--wait/--no-wait", default=True, show_default=True, help="Collect the results too.")
@click.option("--timeout", default=600.0, show_default=True, help="Seconds to wait for batches.")
def backfill(task_name: str, start: str, end: str, wait: bool, timeout: float) -> None:
    """Submit a range of daily partitions (and, by default, collect them).

    Runs are recorded in the project's Dagster instance (.dagster/), like the UI's.
    Re-running a range never submits a finished shard twice.

    \b
    Example:
      synth backfill --from 2026-11-01 --to 2026-11-03
    """
    import dagster as dg

    from synth_assets.defs import build_definitions
    from synth_assets.defs.runs import run_pipeline, submit_partitions

    dagster_home()
    task = _task(task_name)
    dates = _date_range(start, end)
    defs = build_definitions()
    with dg.DagsterInstance.get() as instance:
        if wait:
            outcome = run_pipeline(defs, task, dates, instance, timeout_s=timeout, log=click.echo)
            if outcome.waiting:
                click.echo(f"still waiting: {outcome.waiting}; the sensor will collect them.")
        else:
            submit_partitions(defs, task, dates, instance, log=click.echo)
            click.echo("submitted; batch_completion_sensor collects them when they finish.")


@click.command()
@click.option("--port", default=3000, show_default=True, help="Port of the Dagster UI.")
def dev(port: int) -> None:
    """The local Batch server and `dagster dev` together; Ctrl-C stops both.

    \b
    Example:
      synth dev     # then open http://127.0.0.1:3000
    """
    home = dagster_home()
    backend = resolve_backend()
    # Ctrl-C (or a SIGTERM) stops both, even when started where SIGINT was ignored.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _interrupt)
    with local_server_if_needed(backend):
        command = [sys.executable, "-m", "dagster", "dev", "-h", "127.0.0.1", "-p", str(port)]
        click.echo(f"Dagster UI: http://127.0.0.1:{port}  (DAGSTER_HOME={home})")
        # Its own process group: `dagster dev` and its children are stopped as one.
        process = subprocess.Popen(command, cwd=PROJECT_ROOT, start_new_session=True)
        try:
            process.wait()
        except KeyboardInterrupt:
            click.echo("stopping dagster dev and the local Batch server...")
        finally:
            _stop_group(process)


def _interrupt(*_: object) -> None:
    raise KeyboardInterrupt


def _stop_group(process: subprocess.Popen[bytes], timeout_s: float = 20.0) -> None:
    """SIGINT to the process group (what Ctrl-C does), then SIGKILL after ``timeout_s``."""
    for sig, wait in ((signal.SIGINT, timeout_s), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            continue
        # The leader is gone; its children may not be: finish the group off quietly.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        return
