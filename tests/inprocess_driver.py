"""A test harness: the pipeline driven in-process against a real Dagster instance.

Not the product's path (``synth demo`` runs through a real ``dagster-daemon``): the tests
that replay faults, races and crashes tick by tick drive the submit job per partition, then
the real ``batch_completion_sensor`` evaluated by hand, executing the runs it requests with
``execute_in_process``. Those runs carry the ``dagster/run_key`` tag the daemon would give
them, since the sensor finds its requested runs by it. The days' states come from the
task's request record, as in the product.
"""

import contextlib
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, TextIO

import dagster as dg

from synth_assets.defs.jobs import submit_job_name
from synth_assets.defs.runs import (
    SENSOR_NAME,
    PipelineRun,
    RunOutcome,
    day_rows,
    is_open,
    sent_line,
    settle,
    submit_asset_keys,
)
from synth_assets.defs.sensors import IDLE
from synth_assets.tasks import BatchTask

__all__ = ["SENSOR_NAME", "PipelineRun", "RunOutcome"]


def _failure(result: dg.ExecuteInProcessResult) -> str:
    for event in result.all_events:
        if event.is_step_failure and event.step_failure_data:
            error = event.step_failure_data.error
            user = event.step_failure_data.user_failure_data
            if user and user.description:
                return user.description
            return error.message.strip() if error else "step failed"
    return "run failed"


@contextlib.contextmanager
def _quiet(log_file: TextIO | None) -> Iterator[None]:
    """Dagster's own log lines (DEBUG and up) go to ``log_file`` instead of the terminal."""
    if log_file is None:
        yield
        return
    with contextlib.redirect_stderr(log_file):
        yield


def _execute(
    defs: dg.Definitions,
    instance: dg.DagsterInstance,
    job_name: str,
    partition: str,
    *,
    tags: dict[str, str] | None = None,
    run_config: dict[str, Any] | None = None,
    log_file: TextIO | None = None,
) -> dg.ExecuteInProcessResult:
    job = defs.resolve_job_def(job_name)
    with _quiet(log_file):
        return job.execute_in_process(
            instance=instance,
            partition_key=partition,
            tags=tags,
            run_config=run_config,
            raise_on_error=False,
        )


def submit_partitions(
    defs: dg.Definitions,
    task: BatchTask,
    dates: Sequence[str],
    instance: dg.DagsterInstance,
    log: Callable[[str], None] = print,
    *,
    fresh_answers: bool = False,
    log_file: TextIO | None = None,
) -> PipelineRun:
    """Run the task's submit job for each date (what the UI's backfill does)."""
    outcome = PipelineRun()
    run_config = (
        {"ops": {f"{task.name}__batch_requests": {"config": {"fresh_answers": True}}}}
        if fresh_answers
        else None
    )
    for date in dates:
        result = _execute(
            defs,
            instance,
            submit_job_name(task),
            date,
            run_config=run_config,
            log_file=log_file,
        )
        outcome.runs.append(RunOutcome(date, submit_job_name(task), result.run_id, result.success))
        if result.success:
            outcome.submitted.append(date)
            sent = _sent(result, task)
            log(f"submitted {task.name} {date}: {sent} (run {result.run_id[:8]})")
        else:
            outcome.problems[date] = f"the submit run failed: {_failure(result)}"
            log(f"FAILED to submit {task.name} {date}: {_failure(result)}")
    return outcome


def _sent(result: dg.ExecuteInProcessResult, task: BatchTask) -> str:
    """'N requests sent (answered already M, ...)', and what waits for queue room, from the
    build's and the submission's metadata."""
    meta: dict[str, Any] = {}
    for event in result.get_asset_materialization_events():
        materialization = event.step_materialization_data.materialization
        if materialization.asset_key in submit_asset_keys(task):
            meta.update({k: v.value for k, v in materialization.metadata.items()})
    return sent_line(meta)


def collect_with_sensor(
    defs: dg.Definitions,
    instance: dg.DagsterInstance,
    task: BatchTask,
    dates: Sequence[str],
    *,
    timeout_s: float = 120.0,
    interval_s: float = 0.5,
    log: Callable[[str], None] = print,
    log_file: TextIO | None = None,
    outcome: PipelineRun | None = None,
) -> PipelineRun:
    """Tick the real sensor, executing the runs it requests, until every one of ``dates``
    is settled or failed, or time is up."""
    outcome = outcome or PipelineRun()
    sensor = defs.resolve_sensor_def(SENSOR_NAME)
    resources = {name: defs.resources[name] for name in ("batch_api", "storage")}  # type: ignore[index]
    deadline = time.monotonic() + timeout_s
    said = ""
    while True:
        context = dg.build_sensor_context(instance=instance, resources=resources, definitions=defs)
        with _quiet(log_file):
            result = sensor.evaluate_tick(context)
        # What the sensor says it waits for (queue room, a backend down, batches of another
        # backend), once each time it changes; its own log lines went to the log file.
        skip = result.skip_message or ""
        if skip != said and skip not in ("", IDLE):
            log(f"sensor: {skip}")
        said = skip
        for request in result.run_requests or []:
            outcome.runs.append(execute_run_request(defs, instance, request, log, log_file))
        rows = day_rows(defs, task, dates)
        open_dates = [d for d in dates if is_open(rows.get(d))]
        if not open_dates or time.monotonic() >= deadline:
            break
        if not result.run_requests:
            time.sleep(interval_s)
    return settle(outcome, rows, dates, timeout_s)


def execute_run_request(
    defs: dg.Definitions,
    instance: dg.DagsterInstance,
    request: dg.RunRequest,
    log: Callable[[str], None],
    log_file: TextIO | None,
) -> RunOutcome:
    """Execute a requested run, tagged as the daemon would."""
    partition = request.partition_key or ""
    tags = {
        **request.tags,
        "dagster/run_key": request.run_key or "",
        "dagster/sensor_name": SENSOR_NAME,
    }
    job_name = request.job_name or ""
    result = _execute(defs, instance, job_name, partition, tags=tags, log_file=log_file)
    action = request.tags.get("synth/action", "run")
    if result.success:
        log(f"{action} {partition} (run {result.run_id[:8]})")
    else:
        log(f"FAILED to {action} {partition}: {_failure(result)}")
    return RunOutcome(partition, job_name, result.run_id, result.success, request.run_key)


def run_pipeline(
    defs: dg.Definitions,
    task: BatchTask,
    dates: Sequence[str],
    instance: dg.DagsterInstance,
    *,
    timeout_s: float = 120.0,
    log: Callable[[str], None] = print,
    fresh_answers: bool = False,
    log_path: Path | None = None,
) -> PipelineRun:
    """Submit ``dates`` and drive them through the sensor: the whole chain, in-process."""
    with open(log_path, "a") if log_path else contextlib.nullcontext() as log_file:  # type: ignore[attr-defined]
        outcome = submit_partitions(
            defs, task, dates, instance, log, fresh_answers=fresh_answers, log_file=log_file
        )
        return collect_with_sensor(
            defs,
            instance,
            task,
            dates,
            timeout_s=timeout_s,
            log=log,
            log_file=log_file,
            outcome=outcome,
        )
