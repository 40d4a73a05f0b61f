"""Running the pipeline in-process against a real Dagster instance.

What ``synth demo`` and ``synth backfill`` use, and what the end-to-end tests drive: the
submit job per partition, then the real ``batch_completion_sensor`` evaluated tick by tick
with its cursor, and the collect runs it requests, all recorded in the instance (so the
UI shows them afterwards).
"""

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import dagster as dg

from synth_assets.tasks import BatchTask

from .assets import asset_key
from .jobs import submit_job_name
from .sensors import SensorCursor

SENSOR_NAME = "batch_completion_sensor"


@dataclass
class CollectOutcome:
    """What happened to one partition's collect run."""

    partition: str
    run_key: str
    run_id: str | None  # None when an earlier run with this run key had already collected it
    success: bool


@dataclass
class PipelineRun:
    """The result of submitting partitions and collecting them through the sensor."""

    submitted: list[str] = field(default_factory=list)
    collected: list[CollectOutcome] = field(default_factory=list)
    waiting: list[str] = field(default_factory=list)


def submit_partitions(
    defs: dg.Definitions,
    task: BatchTask,
    dates: Sequence[str],
    instance: dg.DagsterInstance,
    log: Callable[[str], None] = print,
) -> list[str]:
    """Run the task's submit job for each date; return the dates whose run succeeded."""
    job = defs.resolve_job_def(submit_job_name(task))
    done = []
    for date in dates:
        result = job.execute_in_process(instance=instance, partition_key=date, raise_on_error=False)
        if result.success:
            done.append(date)
            log(f"submitted {task.name} {date} (run {result.run_id[:8]})")
        else:
            log(f"FAILED to submit {task.name} {date}: {_failure(result)}")
    return done


def _failure(result: dg.ExecuteInProcessResult) -> str:
    for event in result.all_events:
        if event.is_step_failure and event.step_failure_data:
            error = event.step_failure_data.error
            user = event.step_failure_data.user_failure_data
            if user and user.description:
                return user.description
            return error.message.strip() if error else "step failed"
    return "run failed"


def latest_storage_id(instance: dg.DagsterInstance, tasks: Sequence[BatchTask]) -> dict[str, int]:
    """Per task, the newest submitted_batch storage id: a sensor cursor starting 'now'."""
    after = {}
    for task in tasks:
        records = instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=asset_key(task, "submitted_batch")),
            limit=1,
            ascending=False,
        ).records
        if records:
            after[task.name] = records[0].storage_id
    return after


def collect_with_sensor(
    defs: dg.Definitions,
    instance: dg.DagsterInstance,
    cursor: SensorCursor,
    *,
    timeout_s: float = 120.0,
    interval_s: float = 0.5,
    log: Callable[[str], None] = print,
) -> PipelineRun:
    """Tick the real sensor, running the collect runs it requests, until no partition is
    waiting any more (resubmissions included) or time is up."""
    sensor = defs.resolve_sensor_def(SENSOR_NAME)
    resources = {"batch_api": defs.resources["batch_api"]}  # type: ignore[index]
    outcome = PipelineRun()
    deadline = time.monotonic() + timeout_s
    text = cursor.dump()
    while True:
        context = dg.build_sensor_context(
            instance=instance, cursor=text, resources=resources, definitions=defs
        )
        result = sensor.evaluate_tick(context)
        text = result.cursor or text
        for request in result.run_requests or []:
            outcome.collected.append(_run_request(defs, instance, request, log))
        waiting = SensorCursor.load(text).pending
        if not waiting or time.monotonic() >= deadline:
            break
        if not result.run_requests:
            time.sleep(interval_s)
    outcome.waiting = sorted(SensorCursor.load(text).pending)
    return outcome


def _run_request(
    defs: dg.Definitions,
    instance: dg.DagsterInstance,
    request: dg.RunRequest,
    log: Callable[[str], None],
) -> CollectOutcome:
    """Execute a requested run, unless a run with its run key already succeeded."""
    partition = request.partition_key or ""
    previous = instance.get_runs(
        filters=dg.RunsFilter(
            tags={"dagster/run_key": request.run_key or ""}, statuses=[dg.DagsterRunStatus.SUCCESS]
        ),
        limit=1,
    )
    if previous:
        log(f"collected {partition} already (run {previous[0].run_id[:8]})")
        return CollectOutcome(partition, request.run_key or "", None, True)
    job = defs.resolve_job_def(request.job_name or "")
    tags = {
        **request.tags,
        "dagster/run_key": request.run_key or "",
        "dagster/sensor_name": SENSOR_NAME,
    }
    result = job.execute_in_process(
        instance=instance, partition_key=partition, tags=tags, raise_on_error=False
    )
    if result.success:
        log(f"collected {partition} (run {result.run_id[:8]})")
    else:
        log(f"FAILED to collect {partition}: {_failure(result)}")
    return CollectOutcome(partition, request.run_key or "", result.run_id, result.success)


def run_pipeline(
    defs: dg.Definitions,
    task: BatchTask,
    dates: Sequence[str],
    instance: dg.DagsterInstance,
    *,
    timeout_s: float = 120.0,
    log: Callable[[str], None] = print,
) -> PipelineRun:
    """Submit ``dates`` and collect them through the sensor: the whole chain, in-process."""
    cursor = SensorCursor(after=latest_storage_id(instance, [task]))
    submitted = submit_partitions(defs, task, dates, instance, log)
    outcome = collect_with_sensor(defs, instance, cursor, timeout_s=timeout_s, log=log)
    outcome.submitted = submitted
    return outcome
