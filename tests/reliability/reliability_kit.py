"""The reliability suite's rig and invariants (imported by its tests and its conftest).

A :class:`Rig` is a real local Batch server (in a thread, or a ``localbatch serve``
subprocess that can be SIGKILLed) on a loopback port that may be fixed so that a restarted
server answers at the same address, plus Definitions pointed at it with every file under a
temporary folder. :func:`check_partition` asserts the two promises of DESIGN.md on one
partition after a pipeline run, and returns the figures that the suite adds up in
:data:`TOTALS` (printed at the end of the session by ``conftest.py``).
"""

import socket
import time
from collections import Counter
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dagster as dg
import openai
import pyarrow.parquet as pq

from synth_assets.batch.reasons import Reason
from synth_assets.batch.records import Unparsed, is_extra_line
from synth_assets.batch.remote import TERMINAL, iter_batches
from synth_assets.batch.retry import DEFAULT_RETRY_REASONS, is_retryable
from synth_assets.defs import build_definitions
from synth_assets.defs.resources import (
    PROJECT_ROOT,
    BatchApiResource,
    StorageResource,
    TaskSettings,
)
from synth_assets.defs.runs import PipelineRun, collect_with_sensor
from synth_assets.defs.sensors import SensorCursor
from synth_assets.localbatch import ServerProcess, ThreadServer
from synth_assets.localbatch.background import settings_for
from synth_assets.pipeline.steps import spec_with_path
from synth_assets.tasks import SPAM_TRIAGE
from synth_assets.tasks.base import custom_id_for
from synth_assets.tasks.dataset import read_partition

TASK = SPAM_TRIAGE
SAMPLE = PROJECT_ROOT / "data" / "emails"
RETRY_REASONS = sorted(r.value for r in DEFAULT_RETRY_REASONS)


def free_port() -> int:
    """A loopback port that was free a moment ago (for a server restarted on the same port)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Rig:
    """A local server (restartable on the same data dir and port) and Definitions for it."""

    def __init__(self, root: Path, *, process: bool, fixed_port: bool, **settings: Any) -> None:
        self.root = root
        self.process = process
        port = free_port() if fixed_port else 0
        self.settings = settings_for(root / "server", port=port, **settings)
        self.server: ServerProcess | ThreadServer | None = None
        self.url = ""
        self.api_key = settings.get("api_key") or "test"
        self.start()
        self.client = openai.OpenAI(
            base_url=self.url, api_key=self.api_key, max_retries=0, timeout=30
        )

    # ---- the server ----

    def start(self) -> str:
        """Start the server (again): same data dir, same port when it was fixed."""
        server = ServerProcess(self.settings) if self.process else ThreadServer(self.settings)
        url = server.start()
        if self.url and url != self.url:
            raise AssertionError(f"restarted at {url}, not at {self.url}")
        self.server, self.url = server, url
        return url

    def stop(self) -> None:
        """A clean stop (SIGTERM for a subprocess)."""
        if self.server is not None:
            self.server.stop()
            self.server = None

    def kill(self) -> None:
        """SIGKILL the server subprocess: the crash a restart must survive."""
        assert isinstance(self.server, ServerProcess), "kill needs a subprocess server"
        self.server.kill()
        self.server = None

    # ---- Dagster ----

    def defs(
        self,
        *,
        max_attempts: int = 3,
        task_settings: TaskSettings | None = None,
        **batch_api: Any,
    ) -> dg.Definitions:
        """Definitions with every file under ``root`` and the Batch API at ``url``."""
        batch_api.setdefault("base_url", self.url)
        return build_definitions(
            resources={
                "batch_api": BatchApiResource(**batch_api),
                "storage": StorageResource(
                    root=str(self.root / "out"), work_dir=str(self.root / "work")
                ),
                "task_settings": task_settings or TaskSettings(max_attempts=max_attempts),
            }
        )

    def table(self, name: str, date: str) -> Path:
        """The partition file of a table."""
        return self.root / "out" / TASK.name / name / f"date={date}" / "part-0.parquet"

    def server_batches(self, date: str | None = None) -> list[Any]:
        """Every batch the server holds (for one partition when ``date`` is given)."""
        batches = list(iter_batches(self.client))
        if date is None:
            return batches
        return [
            b
            for b in batches
            if (b.metadata or {}).get("synth_partition") == date
            and (b.metadata or {}).get("synth_task") == TASK.name
        ]

    def wait_batch(self, date: str, until: Callable[[Any], bool], timeout_s: float = 30.0) -> Any:
        """Poll the partition's only batch until ``until(batch)``; return it."""
        deadline = time.monotonic() + timeout_s
        while True:
            batches = self.server_batches(date)
            if len(batches) == 1 and until(batches[0]):
                return batches[0]
            if time.monotonic() > deadline:
                raise AssertionError(f"batch of {date} never got there: {batches}")
            time.sleep(0.05)


def expected_ids(date: str, dataset_path: str | None = None) -> list[str]:
    """The custom_ids of every input row of the day, good and bad (nothing is ever dropped)."""
    spec = spec_with_path(TASK.dataset, dataset_path, PROJECT_ROOT)
    table = read_partition(spec, date, max_text_chars=TaskSettings().max_text_chars)
    return [custom_id_for(str(key)) for key in table.column("id").to_pylist()]


def input_lines(date: str, folder: Path = SAMPLE) -> int:
    """Non-blank lines of a day's JSONL files (an independent count of the input rows)."""
    return sum(
        1
        for path in (folder / f"date={date}").glob("*.jsonl")
        for line in path.read_bytes().splitlines()
        if line.strip()
    )


@dataclass
class PartitionReport:
    """What :func:`check_partition` saw on one partition."""

    date: str
    rows: int
    lost: int
    doubled: int
    server_batches: int
    recorded_batches: int
    double_submissions: int
    attempts: int
    reasons: Counter[str] = field(default_factory=Counter)
    extra_lines: Counter[str] = field(default_factory=Counter)
    by_attempt: Counter[int] = field(default_factory=Counter)


@dataclass
class Totals:
    """The suite's figures, added up over every checked partition."""

    cases: list[str] = field(default_factory=list)
    rows: int = 0
    lost: int = 0
    doubled: int = 0
    double_submissions: int = 0
    batches: int = 0
    lines: list[str] = field(default_factory=list)  # one-line summaries to print at the end

    def add(self, case: str, reports: Iterable[PartitionReport]) -> None:
        self.cases.append(case)
        for report in reports:
            self.rows += report.rows
            self.lost += report.lost
            self.doubled += report.doubled
            self.double_submissions += report.double_submissions
            self.batches += report.server_batches


TOTALS = Totals()


def latest_output_metadata(instance: dg.DagsterInstance, date: str) -> dict[str, Any]:
    """The metadata of the partition's newest batch_output materialization."""
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(
            asset_key=dg.AssetKey([TASK.name, "batch_output"]), asset_partitions=[date]
        ),
        limit=1,
        ascending=False,
    ).records
    assert records, f"batch_output was never materialized for {date}"
    materialization = records[0].asset_materialization
    assert materialization is not None
    return {k: v.value for k, v in materialization.metadata.items()}


def check_partition(
    rig: Rig,
    instance: dg.DagsterInstance,
    date: str,
    *,
    max_attempts: int,
    retry_reasons: Collection[str] = RETRY_REASONS,
    dataset_path: str | None = None,
) -> PartitionReport:
    """Assert the promises on one collected partition; return what was seen.

    - every input row exactly once across parsed + unparsed (extra lines apart);
    - attempts within the budget, and a retryable reason left only at the last attempt;
    - the batches the server holds for the partition are exactly those batch_output's
      ``attempts`` metadata records (no double submission), all terminal, none pending.
    """
    wanted = expected_ids(date, dataset_path)
    parsed = pq.read_table(rig.table("parsed", date)).to_pylist()
    unparsed = pq.read_table(rig.table("unparsed", date)).to_pylist()
    extra = [r for r in unparsed if is_extra_line(r["reason"], r["custom_id"])]
    outcomes = [r for r in unparsed if not is_extra_line(r["reason"], r["custom_id"])]
    seen = Counter(r["custom_id"] for r in parsed) + Counter(r["custom_id"] for r in outcomes)
    lost = sum(1 for custom_id in wanted if custom_id not in seen)
    doubled = sum(n - 1 for n in seen.values() if n > 1)
    strangers = set(seen) - set(wanted)

    metadata = latest_output_metadata(instance, date)
    attempts = metadata["attempts"]
    recorded = [b["batch_id"] for a in attempts for b in a["batches"]]
    on_server = rig.server_batches(date)
    server_ids = [b.id for b in on_server]
    report = PartitionReport(
        date=date,
        rows=len(wanted),
        lost=lost,
        doubled=doubled,
        server_batches=len(server_ids),
        recorded_batches=len(recorded),
        double_submissions=len(server_ids) - len(set(recorded) & set(server_ids)),
        attempts=len(attempts),
        reasons=Counter(r["reason"] for r in outcomes),
        extra_lines=Counter(r["reason"] for r in extra),
        by_attempt=Counter(r["attempt"] for r in parsed + outcomes),
    )

    # Nothing lost, nothing doubled, nothing invented.
    assert lost == 0, f"{date}: {lost} input rows in neither table"
    assert doubled == 0, f"{date}: {doubled} rows more than once"
    assert not strangers, f"{date}: rows for ids never requested: {sorted(strangers)[:5]}"
    assert len(parsed) + len(outcomes) == len(wanted)
    assert len({r["custom_id"] for r in parsed}) == len(parsed)

    # Attempts within the budget; what is still retryable is so only at the last attempt.
    assert 1 <= len(attempts) <= max_attempts
    assert [a["attempt"] for a in attempts] == list(range(1, len(attempts) + 1))
    for row in parsed:
        assert row["attempt"] is not None and 1 <= row["attempt"] <= len(attempts), row
    for row in outcomes:
        if row["reason"] == Reason.INVALID_INPUT:
            assert row["attempt"] is None, row  # never sent
            continue
        assert row["attempt"] is not None and 1 <= row["attempt"] <= len(attempts), row
        record = Unparsed(row["custom_id"], Reason(row["reason"]), status_code=row["status_code"])
        if is_retryable(record, retry_reasons):
            assert row["attempt"] == max_attempts, (
                f"{date}: {row['custom_id']} failed ({row['reason']} {row['status_code']}) at "
                f"attempt {row['attempt']} of {max_attempts} and was not retried"
            )
    for row in parsed:
        assert row["batch_id"] in recorded, row

    # The server holds exactly the batches the project meant to create, all finished.
    assert sorted(server_ids) == sorted(recorded), (
        f"{date}: server batches {sorted(server_ids)} != recorded {sorted(recorded)}"
    )
    assert len(set(recorded)) == len(recorded)
    assert all(b.status in TERMINAL for b in on_server), [b.status for b in on_server]
    for number, attempt in enumerate(attempts, start=1):
        for batch in attempt["batches"]:
            assert next(b for b in on_server if b.id == batch["batch_id"]).metadata[
                "synth_attempt"
            ] == str(number)
    assert metadata["final"] is True and metadata["pending_batches"] == []
    return report


def assert_collected(outcome: PipelineRun, dates: Collection[str]) -> None:
    """The sensor requested collect runs until nothing waited, and every run succeeded."""
    assert outcome.waiting == [], f"still waiting: {outcome.waiting}"
    assert outcome.collected, "no collect run"
    assert all(c.success for c in outcome.collected), outcome.collected
    ran = {c.partition for c in outcome.collected if c.run_id is not None}
    assert ran == set(dates), outcome.collected
    # run_pipeline's cursor starts after the newest submission but rereads batch_output
    # history: partitions of earlier runs come back only as "collected already"
    assert all(c.run_id is None for c in outcome.collected if c.partition not in dates)


def assert_sensor_idle(
    rig: Rig, defs: dg.Definitions, instance: dg.DagsterInstance, dates: Collection[str]
) -> None:
    """A sensor that lost its cursor and reads the whole history again runs nothing new and
    creates no batch: every run it asks for already succeeded under its run key."""
    before = len(rig.server_batches())
    runs = len(instance.get_runs())
    replay = collect_with_sensor(
        defs, instance, SensorCursor(), timeout_s=10, interval_s=0.1, log=lambda _: None
    )
    assert replay.waiting == []
    assert all(c.run_id is None and c.success for c in replay.collected), replay.collected
    assert {c.partition for c in replay.collected} <= set(dates)
    assert len(instance.get_runs()) == runs
    assert len(rig.server_batches()) == before


def conservation_checks_passed(instance: dg.DagsterInstance, outcome: PipelineRun) -> None:
    """The Dagster ``conservation`` asset check passed on every collect run."""
    for collected in outcome.collected:
        if collected.run_id is None:
            continue
        records = instance.get_records_for_run(
            collected.run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION
        ).records
        passed = {
            r.event_log_entry.dagster_event.event_specific_data.check_name: (  # type: ignore[union-attr]
                r.event_log_entry.dagster_event.event_specific_data.passed  # type: ignore[union-attr]
            )
            for r in records
        }
        assert passed.get("conservation") is True, (collected, passed)
