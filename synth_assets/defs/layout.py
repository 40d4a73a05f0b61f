"""Where each asset's files live, for a task and a partition date.

Work files (local): ``<work_dir>/<task>/{inputs,requests,results}/date=YYYY-MM-DD/``, and
the task's request record ``<work_dir>/<task>/record.sqlite``.
Tables (a path or a URL): ``<root>/<task>/{parsed,unparsed}/date=YYYY-MM-DD/part-0.parquet``.
"""

import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from synth_assets.pipeline.locks import day_lock
from synth_assets.pipeline.record import RECORD_FILE, RequestRecord, State
from synth_assets.pipeline.submit import Budget
from synth_assets.tasks import BatchTask

from .resources import StorageResource

TABLE_FILE = "part-0.parquet"


def partition_dir(date: str) -> str:
    """The hive-style folder name of a partition."""
    return f"date={date}"


def inputs_snapshot(storage: StorageResource, task: BatchTask, date: str) -> Path:
    """The Parquet snapshot of one day of input rows."""
    return storage.work_path(task.name, "inputs", partition_dir(date), TABLE_FILE)


def build_dir(storage: StorageResource, task: BatchTask, date: str, generation: int) -> Path:
    """The folder of one build of a day: manifest, shards, sends (one per generation)."""
    return storage.work_path(task.name, "requests", partition_dir(date), f"g{generation}")


def results_dir(storage: StorageResource, task: BatchTask) -> Path:
    """The folder of downloaded output and error files (``<batch_id>.output.jsonl``...)."""
    return storage.work_path(task.name, "results")


def scratch_dir(storage: StorageResource, task: BatchTask, date: str) -> Path:
    """A day's scratch folder for assembling its tables."""
    return storage.work_path(task.name, "scratch", partition_dir(date))


@contextmanager
def open_day(
    storage: StorageResource, task: BatchTask, backend: str, date: str
) -> Iterator[RequestRecord]:
    """The task's request record, while holding the day's lock (a step that writes the
    day's files: two runs of one day take turns)."""
    with day_lock(storage.work_path(task.name), date), open_record(storage, task, backend) as r:
        yield r


def open_record(storage: StorageResource, task: BatchTask, backend: str) -> RequestRecord:
    """The task's request record, seen from ``backend`` (its identity)."""
    return RequestRecord(storage.work_path(task.name, RECORD_FILE), backend)


def table_location(storage: StorageResource, task: BatchTask | str, table: str, date: str) -> str:
    """Where a table's partition file lives under the storage root (path or URL); ``task``
    is a task or a task's name (an upstream's)."""
    name = task if isinstance(task, str) else task.name
    return storage.table_location(name, table, partition_dir(date), TABLE_FILE)


def tables_root(storage: StorageResource, task: BatchTask) -> str:
    """The folder (path or URL) of a task's tables: ``<root>/<task>``."""
    return storage.table_location(task.name)


def table_write_path(storage: StorageResource, task: BatchTask, table: str, date: str) -> Path:
    """Where to write a table's partition file locally (the final place, or a staging one)."""
    if storage.is_local:
        return Path(table_location(storage, task, table, date))
    return storage.work_path(task.name, "staging", table, partition_dir(date), TABLE_FILE)


def record_exists(storage: StorageResource, task: BatchTask) -> bool:
    """Whether the task has a request record yet (nothing was built before it has)."""
    return storage.work_path(task.name, RECORD_FILE).exists()


@contextmanager
def open_records(storage: StorageResource, backend: str) -> Iterator[list[RequestRecord]]:
    """Every task's request record under the work folder, seen from ``backend`` (found on
    disk, so a task declared anywhere counts, and so does one removed from the code whose
    batches are still in flight)."""
    with ExitStack() as stack:
        yield [
            stack.enter_context(RequestRecord(path, backend))
            for path in sorted(storage.work_path().glob(f"*/{RECORD_FILE}"))
        ]


def budget(
    storage: StorageResource,
    backend: str,
    *,
    token_limit: int | None,
    per_hour: int | None,
    date: str | None = None,
) -> Budget:
    """The provider's limits against what every task has in flight on ``backend``; with
    ``date``, the older days of any task that already wait for room go first."""

    def in_flight(model: str) -> int:
        with open_records(storage, backend) as records:
            return sum(r.in_flight_tokens(model) for r in records)

    def created_last_hour() -> int:
        with open_records(storage, backend) as records:
            return sum(r.created_since(time.time() - 3600) for r in records)

    ahead: list[str] = []
    if date is not None and (token_limit is not None or per_hour is not None):
        with open_records(storage, backend) as records:
            ahead = sorted(
                row.partition
                for record in records
                for row in record.partitions()
                if row.state == State.QUEUED and row.partition < date
            )
    return Budget(token_limit, per_hour, in_flight, created_last_hour, ahead)


def spent_today(storage: StorageResource, backend: str) -> float:
    """Estimated USD submitted since midnight UTC, across tasks."""
    midnight = time.time() - time.time() % 86400
    with open_records(storage, backend) as records:
        return sum(r.cost_since(midnight) for r in records)
