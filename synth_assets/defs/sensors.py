"""``batch_completion_sensor``: waits for batches so that no run ever does.

Its cursor (JSON) holds, per task, the last submitted_batch and batch_output
materializations read, and the partitions still waiting with their batch ids. A
submission (attempt 1) or a resubmission of failed requests (recorded by batch_output as
``pending_batches``) puts a partition in waiting. Each tick reads new submissions, checks a
bounded number of batches, and requests one collect run per partition whose batches are
all terminal, keyed by the batch ids (so a partition resubmitted as new batches gets a new
run, and the same batches never get two).
"""

import hashlib
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import dagster as dg
import openai
from dagster._core.definitions.unresolved_asset_job_definition import UnresolvedAssetJobDefinition

from synth_assets.batch.client import translate_api_error
from synth_assets.batch.remote import TERMINAL
from synth_assets.tasks import BatchTask

from .assets import asset_key
from .jobs import collect_job_name
from .resources import BatchApiResource

# A tick has 60 s: bound the Batch API calls it may make.
MAX_RETRIEVES_PER_TICK = 50
MAX_NEW_RECORDS_PER_TICK = 200
# A collect run that failed (e.g. the Batch API was down when it started) is requested
# again, under a new run key, this many times.
MAX_COLLECT_RETRIES = 3


@dataclass
class SensorCursor:
    """What the sensor has read and what it is waiting for.

    ``pending`` maps "task|date" to ``{"ids": batch ids, "key": the run key, "requested":
    the run key of the collect run requested (None while batches run), "tries": n}``; a
    partition leaves it once its collect run succeeded.
    """

    after: dict[str, int] = field(default_factory=dict)  # task[:asset] -> storage id
    pending: dict[str, dict[str, Any]] = field(default_factory=dict)

    @classmethod
    def load(cls, text: str | None) -> "SensorCursor":
        """Parse a cursor (an empty one when None)."""
        if not text:
            return cls()
        data = json.loads(text)
        return cls(after=data.get("after", {}), pending=data.get("pending", {}))

    def wait_for(self, pending_key: str, batch_ids: list[str], key: str) -> None:
        """Start (or restart) waiting for a partition's batches."""
        self.pending[pending_key] = {"ids": batch_ids, "key": key, "requested": None, "tries": 0}

    def dump(self) -> str:
        """Serialize for SensorResult(cursor=...)."""
        return json.dumps({"after": self.after, "pending": self.pending}, sort_keys=True)


def run_key(task: BatchTask, date: str, batch_ids: Sequence[str], storage_id: int | None) -> str:
    """A run key per set of batches (an empty partition: per submission)."""
    if batch_ids:
        digest = hashlib.sha1(",".join(sorted(batch_ids)).encode()).hexdigest()[:16]
        return f"{task.name}:{date}:{digest}"
    return f"{task.name}:{date}:empty:{storage_id}"


def build_completion_sensor(
    tasks: Sequence[BatchTask], collect_jobs: Sequence[UnresolvedAssetJobDefinition]
) -> dg.SensorDefinition:
    """The sensor watching every task's submitted batches."""
    by_name = {task.name: task for task in tasks}
    # Seconds between ticks: 30, or SYNTH_SENSOR_INTERVAL_S (the UI tests use a few seconds).
    interval_s = int(os.environ.get("SYNTH_SENSOR_INTERVAL_S") or 30)

    @dg.sensor(
        name="batch_completion_sensor",
        jobs=list(collect_jobs),
        minimum_interval_seconds=interval_s,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="Requests a collect run for each partition once all its batches finished.",
    )
    def batch_completion_sensor(
        context: dg.SensorEvaluationContext, batch_api: BatchApiResource
    ) -> dg.SensorResult:
        cursor = SensorCursor.load(context.cursor)
        for task in tasks:
            # A submission (attempt 1), or a collect run that resubmitted failed requests.
            for asset, ids_key in (
                ("submitted_batch", "batches"),
                ("batch_output", "pending_batches"),
            ):
                cursor_key = task.name if asset == "submitted_batch" else f"{task.name}:{asset}"
                records = context.instance.fetch_materializations(
                    dg.AssetRecordsFilter(
                        asset_key=asset_key(task, asset),
                        after_storage_id=cursor.after.get(cursor_key),
                    ),
                    limit=MAX_NEW_RECORDS_PER_TICK,
                    ascending=True,
                ).records
                for record in records:
                    cursor.after[cursor_key] = record.storage_id
                    materialization = record.asset_materialization
                    entry = materialization.metadata.get(ids_key) if materialization else None
                    value = entry.value if entry is not None else []
                    ids = [b["batch_id"] if isinstance(b, dict) else b for b in value]  # type: ignore[union-attr]
                    if asset == "batch_output" and not ids:
                        continue  # a final collect: nothing more to wait for
                    date = record.partition_key or ""
                    key = run_key(task, date, ids, record.storage_id)
                    cursor.wait_for(f"{task.name}|{date}", ids, key)

        run_requests: list[dg.RunRequest] = []
        retrieves = 0
        problem: str | None = None
        client = batch_api.client() if cursor.pending else None
        for pending_key, entry in list(cursor.pending.items()):
            task_name, date = pending_key.split("|", 1)
            task = by_name.get(task_name)
            if task is None:  # a task removed from the code: nothing to collect
                del cursor.pending[pending_key]
                continue
            if entry["requested"]:  # a collect run was requested: did it succeed?
                state = _run_state(context.instance, entry["requested"])
                if state == "success":
                    del cursor.pending[pending_key]
                elif state == "failed" and entry["tries"] >= MAX_COLLECT_RETRIES:
                    context.log.warning(f"{pending_key}: collect failed {entry['tries'] + 1} times")
                    del cursor.pending[pending_key]
                elif state == "failed":
                    entry["tries"] += 1
                    entry["requested"] = f"{entry['key']}:retry-{entry['tries']}"
                    run_requests.append(_collect_request(task, date, entry))
                continue
            batch_ids = entry["ids"]
            if retrieves + len(batch_ids) > MAX_RETRIEVES_PER_TICK and retrieves:
                continue  # the rest waits for the next tick
            try:
                statuses = []
                for batch_id in batch_ids:
                    statuses.append(client.batches.retrieve(batch_id).status)  # type: ignore[union-attr]
                    retrieves += 1
            except openai.NotFoundError:
                context.log.warning(f"{pending_key}: a batch is unknown to the Batch API; dropped")
                del cursor.pending[pending_key]
                continue
            except openai.OpenAIError as exc:
                problem = str(translate_api_error(exc, batch_api.backend()))
                break  # the cursor keeps the pending partitions: the next tick retries
            if all(status in TERMINAL for status in statuses):
                entry["requested"] = entry["key"]
                run_requests.append(_collect_request(task, date, entry))
        skip = None
        if not run_requests:
            waiting = sum(1 for entry in cursor.pending.values() if not entry["requested"])
            skip = problem or (f"{waiting} partition(s) waiting for batches" if waiting else None)
        elif problem:
            context.log.warning(problem)
        return dg.SensorResult(run_requests=run_requests, cursor=cursor.dump(), skip_reason=skip)

    return batch_completion_sensor


def _collect_request(task: BatchTask, date: str, entry: dict[str, Any]) -> dg.RunRequest:
    return dg.RunRequest(
        job_name=collect_job_name(task),
        partition_key=date,
        run_key=entry["requested"],
        tags={"synth/batch_ids": ",".join(entry["ids"])[:4000]},
    )


def _run_state(instance: dg.DagsterInstance, key: str) -> str:
    """success, failed, or running (also: not created yet) for the run with ``key``."""
    runs = instance.get_runs(filters=dg.RunsFilter(tags={"dagster/run_key": key}), limit=1)
    if not runs:
        return "running"
    status = runs[0].status
    if status == dg.DagsterRunStatus.SUCCESS:
        return "success"
    if status in (dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED):
        return "failed"
    return "running"
