"""What a pipeline run of some days came to, read from the task's request record.

``synth demo`` and ``synth backfill`` launch the work through Dagster's own machinery (a
backfill, the daemon's sensor ticks, its run queue) and read the outcome here: per day, its
state in the record, and why a day's tables do not show its current inputs.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import dagster as dg

from synth_assets.pipeline.plan import describe_kinds
from synth_assets.pipeline.record import PartitionRow, State
from synth_assets.tasks import BatchTask

from . import layout

SENSOR_NAME = "batch_completion_sensor"


@dataclass
class RunOutcome:
    """One Dagster run of the pipeline."""

    partition: str
    job: str
    run_id: str
    success: bool
    run_key: str | None = None


@dataclass
class PipelineRun:
    """The result of submitting partitions and driving them through the sensor."""

    submitted: list[str] = field(default_factory=list)
    runs: list[RunOutcome] = field(default_factory=list)
    # Per asked date: its final state in the record; and the dates whose tables do not
    # show their current inputs, with why.
    states: dict[str, str] = field(default_factory=dict)
    problems: dict[str, str] = field(default_factory=dict)


def day_rows(
    defs: dg.Definitions, task: BatchTask, dates: Sequence[str]
) -> dict[str, PartitionRow]:
    """The record's rows of ``dates`` (a day never built has none)."""
    storage = defs.resources["storage"]  # type: ignore[index]
    backend = defs.resources["batch_api"].backend()  # type: ignore[index]
    if not layout.record_exists(storage, task):
        return {}
    with layout.open_record(storage, task, backend.identity) as record:
        return {d: row for d in dates if (row := record.partition(d)) is not None}


def is_open(row: PartitionRow | None) -> bool:
    """Whether the day still waits for the sensor (batches, a collect or a resubmission)."""
    return row is not None and row.state not in (State.SETTLED, State.FAILED, State.BUILDING)


def settle(
    outcome: PipelineRun,
    rows: dict[str, PartitionRow],
    dates: Sequence[str],
    timeout_s: float,
) -> PipelineRun:
    """Note each date's final state, and a problem for each that did not settle."""
    for date in dates:
        row = rows.get(date)
        outcome.states[date] = row.state if row else "never built"
        if row is None:
            outcome.problems.setdefault(date, "never built: its submit run did not run")
        elif row.state == State.FAILED:
            outcome.problems[date] = row.note or "a run failed"
        elif row.state != State.SETTLED:
            outcome.problems.setdefault(date, _open_reason(row, timeout_s))
    return outcome


def _open_reason(row: PartitionRow, timeout_s: float) -> str:
    if row.state == State.WAITING:
        return f"still waiting for {len(row.waiting)} batch(es) after {timeout_s:.0f} s"
    if row.state == State.BUILDING:
        return "built but not submitted (its submit run failed)"
    return f"left {row.state} after {timeout_s:.0f} s"


def submit_asset_keys(task: BatchTask) -> tuple[dg.AssetKey, dg.AssetKey]:
    """The assets whose metadata say what a submit run sent: the build, the submission."""
    return dg.AssetKey([task.name, "batch_requests"]), dg.AssetKey([task.name, "submitted_batch"])


def sent_line(metadata: Mapping[str, Any]) -> str:
    """'N requests sent (answered already M, ...)', and what waits for queue room, from a
    submit run's build and submission metadata (merged)."""
    if "rows_by_need" not in metadata:
        return "built"
    line = (
        f"{metadata.get('requests', 0)} requests sent ({describe_kinds(metadata['rows_by_need'])})"
    )
    waiting = metadata.get("waiting_for_room", "none")
    return line if waiting == "none" else f"{line}; waiting for room: {waiting}"
