"""The reliability suite's rig and invariants (imported by its tests and its conftest).

A :class:`Rig` is a real local Batch server (in a thread, or a ``localbatch serve``
subprocess that can be SIGKILLed) on a loopback port that may be fixed so that a restarted
server answers at the same address, plus Definitions pointed at it with every file under a
temporary folder. :func:`check_partition` asserts the two promises (README) on one
partition after a pipeline run, and returns the figures that the suite adds up in
:data:`TOTALS` (printed at the end of the session by ``conftest.py``).
"""

import hashlib
import json
import re
import socket
import time
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dagster as dg
import openai
import pyarrow.parquet as pq
from inprocess_driver import PipelineRun, collect_with_sensor

from synth_assets.batch.parse import ResultFiles, iter_results
from synth_assets.batch.reasons import Reason
from synth_assets.batch.records import Unparsed, is_extra_line
from synth_assets.batch.remote import TERMINAL, iter_batches
from synth_assets.batch.resubmission import DEFAULT_RETRY_REASONS, is_retryable
from synth_assets.defs import build_definitions
from synth_assets.defs.resources import BatchApiResource, StorageResource, TaskSettings
from synth_assets.localbatch import ServerProcess, ThreadServer
from synth_assets.localbatch.background import settings_for
from synth_assets.pipeline.record import RECORD_FILE, RequestRecord, State
from synth_assets.pipeline.steps import builder_for, spec_with_path
from synth_assets.tasks import SPAM_TRIAGE, BatchTask
from synth_assets.tasks.base import custom_id_for
from synth_assets.tasks.dataset import read_partition

PROJECT_ROOT = Path(__file__).resolve().parents[2]
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
        self.batch_api = BatchApiResource(base_url=self.url)
        self.files = root
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
        tasks: Sequence[BatchTask] = (TASK,),
        files: Path | None = None,
        **batch_api: Any,
    ) -> dg.Definitions:
        """Definitions with every file under ``files`` (default: the rig's root) and the
        Batch API at ``url``."""
        self.files = files or self.root
        batch_api.setdefault("base_url", self.url)
        self.batch_api = BatchApiResource(**batch_api)
        return build_definitions(
            tasks,
            resources={
                "batch_api": self.batch_api,
                "storage": StorageResource(
                    root=str(self.files / "out"), work_dir=str(self.files / "work")
                ),
                "task_settings": task_settings or TaskSettings(max_attempts=max_attempts),
            },
        )

    def record(self, task: BatchTask = TASK) -> RequestRecord:
        """The task's request record, seen from this server."""
        backend = self.batch_api.backend()  # as the last defs() configured it
        return RequestRecord(self.files / "work" / task.name / RECORD_FILE, backend.identity)

    def recorded_batches(self, date: str) -> list[str]:
        """The batch ids the record holds for a partition (this server)."""
        with self.record() as record:
            return [b.batch_id for b in record.batches(date)]

    def partition_state(self, date: str) -> str | None:
        """The partition's state in the record."""
        with self.record() as record:
            row = record.partition(date)
            return row.state if row else None

    def table(self, name: str, date: str) -> Path:
        """The partition file of a table."""
        return self.files / "out" / TASK.name / name / f"date={date}" / "part-0.parquet"

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

    def wait_terminal(self, batch_id: str, timeout_s: float = 30.0) -> Any:
        """Poll one batch until it ends; return it."""
        deadline = time.monotonic() + timeout_s
        while (batch := self.client.batches.retrieve(batch_id)).status not in TERMINAL:
            if time.monotonic() > deadline:
                raise AssertionError(f"batch {batch_id} never ended: {batch.status}")
            time.sleep(0.05)
        return batch

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


def batch_requests(rig: Rig, batch: Any) -> list[tuple[str, str]]:
    """What a batch on the server was asked, read back from its input file: (custom_id,
    request hash) per line, the hash computed here from the bytes the server holds."""
    content = rig.client.files.content(batch.input_file_id).read()
    sent = []
    for line in content.splitlines():
        if not line.strip():
            continue
        match = _ID_PREFIX.match(line)
        assert match, line[:80]
        rest = line[match.end() :] + b"\n"  # the request without its custom_id
        sent.append((json.loads(b'"' + match.group(1) + b'"'), hashlib.sha256(rest).hexdigest()))
    return sent


_ID_PREFIX = re.compile(rb'^\{"custom_id":"((?:[^"\\]|\\.)*)"')


def expected_hashes(
    date: str,
    dataset_path: str | None = None,
    *,
    task: BatchTask = TASK,
    model: str | None = None,
) -> dict[str, str]:
    """custom_id -> request hash of every valid input row of the day, as it is now."""
    spec = spec_with_path(task.dataset, dataset_path, PROJECT_ROOT)
    table = read_partition(spec, date, max_text_chars=TaskSettings().max_text_chars)
    builder = builder_for(task, model=model)
    hashes = {}
    for row in table.to_pylist():
        if row.get("problem"):
            continue
        _, request_hash = builder.encode_hashed("", task.to_messages(row))
        hashes[custom_id_for(str(row["id"]))] = request_hash
    return hashes


def batch_ids(rig: Rig) -> set[str]:
    """Every batch id the server holds now."""
    return {b.id for b in rig.server_batches()}


def sent_since(rig: Rig, before: set[str]) -> list[tuple[str, str, int]]:
    """(custom_id, request hash, attempt) of every request in batches created since
    ``before`` (a :func:`batch_ids` snapshot)."""
    sent = []
    for batch in rig.server_batches():
        if batch.id in before:
            continue
        attempt = int((batch.metadata or {}).get("synth_attempt", "1"))
        sent.extend((cid, h, attempt) for cid, h in batch_requests(rig, batch))
    return sent


def check_partition(
    rig: Rig,
    instance: dg.DagsterInstance,
    date: str,
    *,
    max_attempts: int,
    retry_reasons: Collection[str] = RETRY_REASONS,
    dataset_path: str | None = None,
    task: BatchTask = TASK,
    model: str | None = None,
) -> PartitionReport:
    """Assert the promises on one settled partition; return what was seen.

    - every current input row exactly once across parsed + unparsed (extra lines apart),
      carrying the answer to its *current* request (its request_hash);
    - attempts within the budget, and a retryable reason left only at the last attempt;
    - on the server: every batch of the partition recorded, all terminal, and no request
      sent twice at the same attempt (nothing paid twice).
    """
    del instance  # the state lives in the record and the server, not in run history
    wanted = expected_ids(date, dataset_path)
    hashes = expected_hashes(date, dataset_path, task=task, model=model)
    parsed = pq.read_table(rig.table("parsed", date)).to_pylist()
    unparsed = pq.read_table(rig.table("unparsed", date)).to_pylist()
    extra = [r for r in unparsed if is_extra_line(r["reason"], r["custom_id"])]
    outcomes = [r for r in unparsed if not is_extra_line(r["reason"], r["custom_id"])]
    seen = Counter(r["custom_id"] for r in parsed) + Counter(r["custom_id"] for r in outcomes)
    lost = sum(1 for custom_id in wanted if custom_id not in seen)
    doubled = sum(n - 1 for n in seen.values() if n > 1)
    strangers = set(seen) - set(wanted)

    on_server = rig.server_batches(date)
    # A request is paid once per (attempt, round): a retry or fresh answers asked for. A
    # batch that failed validation (e.g. refused for the token limit) ran nothing: unpaid.
    sends = Counter(
        (h, a, b.metadata.get("synth_round"))
        for b in on_server
        if b.status != "failed"
        for _, h, a in sent_since_one(rig, b)
    )
    attempts = sorted({int(b.metadata["synth_attempt"]) for b in on_server})
    report = PartitionReport(
        date=date,
        rows=len(wanted),
        lost=lost,
        doubled=doubled,
        server_batches=len(on_server),
        recorded_batches=len(rig.recorded_batches(date)),
        double_submissions=sum(n - 1 for n in sends.values()),
        attempts=len(attempts),
        reasons=Counter(r["reason"] for r in outcomes),
        extra_lines=Counter(r["reason"] for r in extra),
        by_attempt=Counter(r["attempt"] for r in parsed + outcomes),
    )

    # Nothing lost, nothing doubled, nothing invented, every answer the current request's.
    assert lost == 0, f"{date}: {lost} input rows in neither table"
    assert doubled == 0, f"{date}: {doubled} rows more than once"
    assert not strangers, f"{date}: rows for ids never requested: {sorted(strangers)[:5]}"
    assert len(parsed) + len(outcomes) == len(wanted)
    for row in parsed + outcomes:
        if row.get("reason") == Reason.INVALID_INPUT:
            assert row["request_hash"] is None and row["attempt"] is None, row  # never sent
            continue
        assert row["request_hash"] == hashes[row["custom_id"]], (
            f"{date}: {row['custom_id']} carries the answer to another request"
        )

    # Attempts within the budget; what is still retryable is so only at the last attempt.
    assert attempts == list(range(1, len(attempts) + 1)) and len(attempts) <= max_attempts
    for row in parsed + outcomes:
        if row.get("reason") == Reason.INVALID_INPUT:
            continue
        assert row["attempt"] is not None and 1 <= row["attempt"] <= max_attempts, row
        if "reason" not in row:
            continue
        record = Unparsed(row["custom_id"], Reason(row["reason"]), status_code=row["status_code"])
        if is_retryable(record, retry_reasons):
            assert row["attempt"] == max_attempts, (
                f"{date}: {row['custom_id']} failed ({row['reason']} {row['status_code']}) at "
                f"attempt {row['attempt']} of {max_attempts} and was not retried"
            )
    server_ids = {b.id for b in on_server}
    anywhere = {b.id for b in rig.server_batches()}  # the same request may be another day's
    for row in parsed:
        assert row["batch_id"] in anywhere, row

    # The server holds exactly the batches the record knows, all finished; none paid twice.
    assert report.double_submissions == 0, f"{date}: requests sent twice: {sends.most_common(3)}"
    assert server_ids == set(rig.recorded_batches(date)), (server_ids, rig.recorded_batches(date))
    assert all(b.status in TERMINAL for b in on_server), [b.status for b in on_server]
    assert rig.partition_state(date) == State.SETTLED
    return report


def sent_since_one(rig: Rig, batch: Any) -> list[tuple[str, str, int]]:
    """(custom_id, hash, attempt) of one server batch's requests."""
    attempt = int((batch.metadata or {}).get("synth_attempt", "1"))
    return [(cid, h, attempt) for cid, h in batch_requests(rig, batch)]


def assert_collected(outcome: PipelineRun, dates: Collection[str]) -> None:
    """Every asked day settled, and every run the driver executed succeeded."""
    assert outcome.problems == {}, outcome.problems
    assert {d: outcome.states[d] for d in dates} == dict.fromkeys(dates, State.SETTLED)
    assert all(r.success for r in outcome.runs), [r for r in outcome.runs if not r.success]


def assert_sensor_idle(
    rig: Rig, defs: dg.Definitions, instance: dg.DagsterInstance, dates: Collection[str]
) -> None:
    """A sensor ticking anew (no cursor: it keeps none) asks for nothing and creates no
    batch, and a fresh Dagster instance changes nothing: the state is in the record."""
    before = len(rig.server_batches())
    runs = len(instance.get_runs())
    replay = collect_with_sensor(
        defs, instance, TASK, list(dates), timeout_s=2, interval_s=0.1, log=lambda _: None
    )
    assert replay.runs == [] and replay.problems == {}, (replay.runs, replay.problems)
    with dg.instance_for_test() as fresh:
        again = collect_with_sensor(
            defs, fresh, TASK, list(dates), timeout_s=2, interval_s=0.1, log=lambda _: None
        )
        assert again.runs == [] and again.problems == {}
    assert len(instance.get_runs()) == runs
    assert len(rig.server_batches()) == before


def conservation_checks_passed(instance: dg.DagsterInstance, outcome: PipelineRun) -> None:
    """The Dagster ``conservation`` check passed on every run that published tables."""
    published = 0
    for run in outcome.runs:
        records = instance.get_records_for_run(
            run.run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION
        ).records
        passed = {
            r.event_log_entry.dagster_event.event_specific_data.check_name: (  # type: ignore[union-attr]
                r.event_log_entry.dagster_event.event_specific_data.passed  # type: ignore[union-attr]
            )
            for r in records
        }
        if passed:
            published += 1
            assert passed.get("conservation") is True, (run, passed)
    assert published, "no run published tables"


def retried_because(rig: Rig, date: str, attempt: int = 2) -> Counter[str]:
    """Why the requests of ``attempt`` were sent again: their outcome in the attempt
    before, read from that attempt's result files on the server (``http_429``...)."""
    batches = rig.server_batches(date)
    again = {
        cid
        for b in batches
        if b.metadata["synth_attempt"] == str(attempt)
        for cid, _ in batch_requests(rig, b)
    }
    why: Counter[str] = Counter()
    for batch in batches:
        if batch.metadata["synth_attempt"] != str(attempt - 1):
            continue
        for record in iter_results(_result_files(rig, batch), TASK.response_model):
            if record.custom_id in again and isinstance(record, Unparsed):
                label = record.reason.value
                if record.reason == Reason.HTTP_ERROR:
                    label = f"http_{record.status_code}"
                why[label] += 1
    return why


def _result_files(rig: Rig, batch: Any) -> ResultFiles:
    """A server batch's output and error files, downloaded beside the rig."""
    folder = rig.root / "check" / batch.id
    folder.mkdir(parents=True, exist_ok=True)
    paths: dict[str, Path | None] = {"output": None, "error": None}
    for kind, file_id in (("output", batch.output_file_id), ("error", batch.error_file_id)):
        if file_id:
            paths[kind] = folder / f"{kind}.jsonl"
            paths[kind].write_bytes(rig.client.files.content(file_id).read())  # type: ignore[union-attr]
    requested = [cid for cid, _ in batch_requests(rig, batch)]
    return ResultFiles(paths["output"], paths["error"], batch.id, batch.status, requested=requested)
