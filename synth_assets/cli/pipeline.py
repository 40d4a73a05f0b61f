"""``synth demo``, ``synth dev`` and ``synth backfill``: the pipeline from a shell."""

import dataclasses
import datetime as dt
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager, nullcontext
from pathlib import Path
from typing import TYPE_CHECKING

import click
import httpx

from synth_assets.batch import (
    LOCAL_HOST,
    LOCAL_PORT,
    Backend,
    SynthError,
    local_backend,
    resolve_backend,
    unreachable_message,
)

if TYPE_CHECKING:
    from collections.abc import Sequence

    import dagster as dg

    from synth_assets.tasks import BatchTask

# A little of every failure the Batch API can serve, so the demo shows the unparsed table
# and its reasons too (only when the demo starts the local server itself).
DEMO_FAULTS = (
    "http_429=0.004,http_500=0.004,invalid_json=0.004,schema_mismatch=0.004,"
    "refusal=0.003,truncated=0.003,missing=0.002,duplicate=0.002"
)
DAGSTER_YAML = """\
# Written by synth: keep run history here, no telemetry, no first-visit modal; the daemon's
# run queue looks for queued runs every second and starts several at once (starting one
# takes seconds: a new process loads the project); a failed run is retried twice by Dagster.
telemetry:
  enabled: false
nux:
  enabled: false
run_queue:
  dequeue_interval_seconds: 1
  dequeue_use_threads: true
  dequeue_num_workers: 4
run_retries:
  enabled: true
  max_retries: 2
"""
# The demo's sensors tick as often as the daemon lets them (its sensor loop takes ~5 s).
DEMO_SENSOR_INTERVAL_S = 1


def dagster_home() -> Path:
    """The project's persistent Dagster home (``.dagster/``), created with its dagster.yaml."""
    from synth_assets.pipeline.settings import project_dir

    home = Path(os.environ.get("DAGSTER_HOME") or project_dir() / ".dagster")
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    # Ours from an older version is brought up to date; a user's own is kept.
    current = config.read_text() if config.exists() else None
    if current is None or (current.startswith("# Written by synth") and current != DAGSTER_YAML):
        config.write_text(DAGSTER_YAML)
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
    from synth_assets.pipeline.settings import project_dir

    data_dir = project_dir() / "data" / "localbatch"
    settings = ServerSettings(data_dir=data_dir, port=LOCAL_PORT, faults=faults)
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


def _tasks() -> "tuple[BatchTask, ...]":
    """The project's tasks, as Dagster loads them from their YAML (chain order)."""
    from synth_assets.defs import load_tasks

    return load_tasks()


def _task(name: str, tasks: "Sequence[BatchTask] | None" = None) -> "BatchTask":
    for task in tasks if tasks is not None else _tasks():
        if task.name == name:
            return task
    names = ", ".join(t.name for t in tasks or _tasks())
    raise SynthError(f"there is no task {name!r}; choose one of: {names}.")


def _chain(task: "BatchTask", tasks: "Sequence[BatchTask]") -> "list[BatchTask]":
    """The tasks a demo of ``task`` runs: its upstreams first, then it, then its downstreams."""
    from synth_assets.tasks.spec import downstream_of

    by_name = {t.name: t for t in tasks}
    upstreams: list[BatchTask] = []
    current = task
    while current.upstream is not None:
        current = by_name[current.upstream.task]
        upstreams.insert(0, current)
    return [*upstreams, task, *downstream_of(task, tasks)]


def _demo_dates(task: "BatchTask", days: int, dataset: Path | None = None) -> list[str]:
    """The days a demo runs: the dataset's (``dataset`` when given), or ``days`` from the
    task's start date."""
    from synth_assets.tasks.dataset import list_partitions

    if task.dataset is None:
        first = dt.date.fromisoformat(task.start_date)
        return [(first + dt.timedelta(days=i)).isoformat() for i in range(days)]
    from synth_assets.pipeline.settings import project_dir
    from synth_assets.pipeline.steps import spec_with_path

    spec = spec_with_path(task.dataset, str(dataset) if dataset else None, project_dir())
    dates = list_partitions(spec)
    if not dates:
        raise SynthError(f"the dataset at {spec.path} has no partitions; run `make data`.")
    return dates


def _explain_agreement(task: "BatchTask", root: str) -> None:
    if task.label_field is None:
        return
    if task.name == "spam_triage" or task.upstream is not None:
        click.echo(
            "(the local server's synthetic responder answers at random, so agreement with the "
            "ground truth is about 50%; point it at a real model to measure one)"
        )
    query = (
        f"select date, {task.label_field}, count(*) as n from "
        f"read_parquet('{root}/parsed/*/*.parquet', hive_partitioning=true) "
        "group by all order by all"
    )
    click.echo("Query them with DuckDB:")
    click.echo(f'  .venv/bin/python -c "import duckdb; duckdb.sql(\\"{query}\\").show()"')


def dataset_override(task: "BatchTask", value: Path | None) -> Path | None:
    """``--dataset``, checked and made absolute (relative to the working directory), for a
    task that reads a dataset; None when not given."""
    if value is None:
        return None
    if task.dataset is None:
        source = "its seeds" if task.upstream is None else f"{task.upstream.task}'s table"
        raise SynthError(
            f"--dataset: task {task.name} reads {source}, not a dataset; drop --dataset or "
            "choose a task that reads one."
        )
    path = value.expanduser().resolve()
    if not path.exists():
        raise SynthError(
            f"--dataset {value}: {path} does not exist; point it at a folder of "
            "date=YYYY-MM-DD subfolders (or at one file with a date column)."
        )
    if path.is_dir():
        from synth_assets.tasks.dataset import list_partitions

        if not list_partitions(dataclasses.replace(task.dataset, path=str(path))):
            raise SynthError(
                f"--dataset {value}: {path} holds no date=YYYY-MM-DD folders; point it at "
                "the folder that holds them (like data/emails)."
            )
    return path


DATASET_OPTION = click.option(
    "--dataset",
    type=click.Path(path_type=Path),
    default=None,
    help="Read the task's input from this dataset instead of the one its YAML names: a "
    "folder of date=YYYY-MM-DD subfolders, or one file with a date column (same columns). "
    "The daemon and its runs get it as SYNTH_DATASET_PATH.",
)


def demo_backend(choice: str) -> Backend:
    """The demo's backend: the local server unless ``env`` asks for OPENAI_* to decide."""
    return local_backend() if choice == "local" else resolve_backend()


BACKEND_CHOICE = click.option(
    "--backend",
    "backend_choice",
    type=click.Choice(["local", "env"]),
    default="local",
    show_default=True,
    envvar="SYNTH_DEMO_BACKEND",
    help="local: the project's local Batch server, whatever OPENAI_* say; env: the backend "
    "OPENAI_API_KEY / OPENAI_BASE_URL choose (may cost money). Or set SYNTH_DEMO_BACKEND.",
)


def _drive(
    tasks: "Sequence[BatchTask]",
    dates: list[str],
    backend: Backend,
    *,
    local_server: bool,
    timeout: float,
    fresh_answers: bool,
    what: str,
    collect: bool = True,
    sensor_interval_s: int | None = None,
    dataset: Path | None = None,
    serve: AbstractContextManager[None] | None = None,
) -> "dg.Definitions":
    """Launch a backfill of the first task's submit job over ``dates`` and let a real
    ``dagster-daemon`` run it: its sensors collect the days, resubmit retryable failures and
    (for a chain) submit the downstream tasks' days. Print each run as it ends and each
    task's summary; fail naming each day that was not collected or whose run failed.
    ``serve`` (the demo's local server) is entered once the code server is starting."""
    import dagster as dg

    from synth_assets.defs import BatchApiResource, build_definitions
    from synth_assets.defs.assets import FRESH_ANSWERS_TAG
    from synth_assets.defs.jobs import submit_job_name
    from synth_assets.pipeline.settings import project_dir

    from ._daemon import Watch, dagster_env, dagster_processes, launch_backfill, workspace_file
    from ._summary import print_summary

    home = dagster_home()
    if serve is None and not reachable(backend):
        raise SynthError(unreachable_message(backend))
    # Not $DAGSTER_HOME/logs: Dagster keeps its telemetry queue there and moves it away.
    logs = home / "synth-logs"
    logs.mkdir(exist_ok=True)
    log_path = logs / f"{what}-{time.strftime('%Y%m%d-%H%M%S')}.log"
    click.echo(f"Dagster's own log: {log_path}")
    started = time.time()
    env = dagster_env(
        home, local_server=local_server, sensor_interval_s=sensor_interval_s, dataset_path=dataset
    )
    tags = {FRESH_ANSWERS_TAG: "true"} if fresh_answers else {}
    # Ctrl-C (or a SIGTERM) stops the daemon too, even when started where SIGINT was ignored.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _interrupt)
    with ExitStack() as stack:
        # Opened first: a new instance's storage is created here, not by several of the
        # processes below at once.
        instance = stack.enter_context(dg.DagsterInstance.from_config(str(home)))
        # The code server loads the project while the local server starts and this process
        # loads it too: each takes seconds, and none needs another.
        processes = stack.enter_context(dagster_processes(project_dir(), env, log_path))
        stack.enter_context(serve or nullcontext())
        if not reachable(backend):
            raise SynthError(unreachable_message(backend))
        resources = {"batch_api": BatchApiResource(local_server=True)} if local_server else None
        defs = build_definitions(resources=resources)
        workspace = workspace_file(home, processes.socket)
        since = dt.datetime.now(dt.UTC)
        try:
            processes.start_daemon(workspace)
            backfill_id = launch_backfill(
                workspace, project_dir(), env, tasks[0], dates, tags, log_path
            )
            click.echo(
                f"backfill {backfill_id}: {submit_job_name(tasks[0])} over {len(dates)} day(s); "
                "a dagster-daemon runs it and its sensors take it from there"
            )
            outcomes = Watch(
                instance,
                defs,
                tasks,
                dates,
                backfill_id,
                since,
                processes,
                click.echo,
                timeout,
            ).until_done(collect=collect)
        finally:
            # Before the local server stops: no run outlives its backend.
            processes.stop()
    problems: dict[str, str] = {}
    if not collect:
        first = outcomes[tasks[0].name]
        problems.update(first.problems)
        for date in dates:
            if date not in first.submitted:
                problems.setdefault(date, "its submit run did not succeed")
        if problems:
            days = "; ".join(f"{d}: {why}" for d, why in sorted(problems.items()))
            raise SynthError(f"{len(problems)} day(s) not submitted: {days}.")
        click.echo(
            "submitted; batch_completion_sensor collects them when they finish (it runs in "
            "the Dagster daemon of `synth dev` or your deployment)."
        )
        return defs
    for task in tasks:
        outcome = outcomes[task.name]
        if len(tasks) > 1:
            click.echo(f"\n== {task.name} ==")
        print_summary(defs, task, dates, outcome, started)
        prefix = f"{task.name} " if len(tasks) > 1 else ""
        problems.update({f"{prefix}{d}": why for d, why in outcome.problems.items()})
    click.echo(f"\ndone in {time.time() - started:.1f} s.")
    if problems:
        days = "; ".join(f"{date}: {why.rstrip('.')}" for date, why in sorted(problems.items()))
        raise SynthError(f"{len(problems)} day(s) not collected: {days}.")
    return defs


@click.command()
@click.option("--task", "task_name", default="spam_triage", show_default=True)
@click.option("--timeout", default=120.0, show_default=True, help="Seconds to wait for batches.")
@click.option(
    "--days",
    default=2,
    show_default=True,
    help="Days to run for a task without a dataset (a seed grid): from its start_date.",
)
@click.option(
    "--faults",
    default=DEMO_FAULTS,
    show_default=True,
    help="Faults the local server injects when the demo starts it ('' for none).",
)
@BACKEND_CHOICE
@DATASET_OPTION
def demo(
    task_name: str,
    timeout: float,
    days: int,
    faults: str,
    backend_choice: str,
    dataset: Path | None,
) -> None:
    """Run the whole pipeline on the sample data, through a real Dagster daemon.

    Uses the project's local Batch server (started if it is not running) unless
    --backend env asks for the one OPENAI_API_KEY / OPENAI_BASE_URL choose. Starts a
    dagster-daemon on the project's instance and records a backfill of the task's submit
    job over every day of its input: each day sends what the request record has no final
    answer for; batch_completion_sensor, ticking in the daemon, waits for the batches and
    launches the collect runs that publish the Parquet tables. A chained task runs with its
    downstream tasks (task_chain_sensor submits them), an upstream first (e.g.
    synthetic_emails, then synthetic_triage). The daemon stops when the demo ends. The
    backfill, the ticks and the runs are kept in .dagster/ for `make dev`; Dagster's own
    log goes to .dagster/synth-logs/.

    \b
    Examples:
      synth demo
      synth demo --task synthetic_emails    # generate emails, then label them
      synth demo --dataset ~/exports/emails  # every day of another dataset
    """
    from synth_assets.defs import layout

    tasks = _tasks()
    task = _task(task_name, tasks)
    chain = _chain(task, tasks)
    dataset = dataset_override(chain[0], dataset)
    local = backend_choice == "local"
    backend = demo_backend(backend_choice)
    dates = _demo_dates(chain[0], days, dataset)
    note = "" if local else " (from OPENAI_API_KEY / OPENAI_BASE_URL: requests may cost money)"
    source = f"; dataset: {dataset}" if dataset else ""
    click.echo(f"backend: {backend.label}{note}; partitions: {dates[0]}..{dates[-1]}{source}")
    if len(chain) > 1:
        click.echo("tasks: " + " -> ".join(t.name for t in chain))
    defs = _drive(
        chain,
        dates,
        backend,
        local_server=local,
        timeout=timeout,
        fresh_answers=False,
        what="demo",
        sensor_interval_s=DEMO_SENSOR_INTERVAL_S,
        dataset=dataset,
        serve=local_server_if_needed(backend, faults=faults),
    )
    storage = defs.resources["storage"]  # type: ignore[index]
    last = chain[-1]
    _explain_agreement(last, layout.tables_root(storage, last))
    click.echo("Browse the runs: make dev")


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
@click.option(
    "--wait/--no-wait",
    default=True,
    show_default=True,
    help="Collect the results too (else stop once submitted).",
)
@click.option("--timeout", default=600.0, show_default=True, help="Seconds to wait for batches.")
@click.option(
    "--fresh-answers",
    is_flag=True,
    help="Send every row of these days again, even those answered already (pays for all).",
)
@DATASET_OPTION
def backfill(
    task_name: str,
    start: str,
    end: str,
    wait: bool,
    timeout: float,
    fresh_answers: bool,
    dataset: Path | None,
) -> None:
    """Build and submit a range of daily partitions (and, by default, collect them).

    Uses the backend OPENAI_API_KEY / OPENAI_BASE_URL choose (else the local server).
    Each day sends only the requests that have no final answer on that backend: an
    unchanged day sends nothing. Records a backfill of the task's submit job in the
    project's Dagster instance (.dagster/), like the UI's, and runs it through a
    dagster-daemon started for the command, whose batch_completion_sensor collects the days
    (stopped when the command ends; with --no-wait, once the submit runs are done).

    \b
    Examples:
      synth backfill --from 2026-11-01 --to 2026-11-03
      synth backfill --task synthetic_emails --from 2026-11-01 --to 2026-11-02
      synth backfill --dataset ~/exports/emails --from 2026-11-01 --to 2026-11-30
    """
    task = _task(task_name)
    dates = _date_range(start, end)
    dataset = dataset_override(task, dataset)
    backend = resolve_backend()
    source = f"; dataset: {dataset}" if dataset else ""
    click.echo(f"backend: {backend.label}; partitions: {dates[0]}..{dates[-1]}{source}")
    _drive(
        [task],
        dates,
        backend,
        local_server=False,
        timeout=timeout,
        fresh_answers=fresh_answers,
        what="backfill",
        collect=wait,
        dataset=dataset,
    )


@click.command()
@click.option("--port", default=3000, show_default=True, help="Port of the Dagster UI.")
def dev(port: int) -> None:
    """The local Batch server and `dg dev` (the Dagster UI) together; Ctrl-C stops both.

    \b
    Example:
      synth dev     # then open http://127.0.0.1:3000
    """
    from synth_assets.pipeline.settings import project_dir

    home = dagster_home()
    backend = resolve_backend()
    # Ctrl-C (or a SIGTERM) stops both, even when started where SIGINT was ignored.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _interrupt)
    from ._daemon import stop_group

    with local_server_if_needed(backend):
        command = _dev_command(port)
        click.echo(f"Dagster UI: http://127.0.0.1:{port}  (DAGSTER_HOME={home})")
        # Its own process group: `dg dev` and its children are stopped as one.
        env = {**os.environ, "DAGSTER_HOME": str(home)}
        process = subprocess.Popen(command, cwd=project_dir(), env=env, start_new_session=True)
        try:
            process.wait()
        except KeyboardInterrupt:
            click.echo("stopping dg dev and the local Batch server...")
        finally:
            stop_group(process)


def _dev_command(port: int) -> list[str]:
    """``dg dev`` (it checks every task's YAML first, then runs what `dagster dev` ran), in
    this environment; ``dagster dev`` where dagster-dg-cli is missing."""
    dg = Path(sys.executable).with_name("dg")
    if dg.exists():
        return [str(dg), "dev", "--use-active-venv", "-h", "127.0.0.1", "-p", str(port)]
    return [sys.executable, "-m", "dagster", "dev", "-h", "127.0.0.1", "-p", str(port)]


def _interrupt(*_: object) -> None:
    raise KeyboardInterrupt
