"""Inputs, prompts and backends change after a first run: still nothing lost, nothing paid twice.

Each scenario runs one sample day (copied, so it can change) through the real Dagster
instance, the real sensor and a real local server injecting faults; makes the change a user
makes; runs again; then asserts the rows (``check_partition``: every current input row once
in parsed + unparsed, carrying the answer to its current request) and the requests sent,
read back from the input files of the batches the server received: exactly the changed
requests (their retries included), each first sent once.
"""

import dataclasses
import json
import shutil
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import dagster as dg
import pyarrow.parquet as pq
import pytest
from inprocess_driver import PipelineRun, run_pipeline, submit_partitions
from reliability_kit import (
    SAMPLE,
    TASK,
    TOTALS,
    PartitionReport,
    Rig,
    assert_collected,
    assert_sensor_idle,
    batch_ids,
    check_partition,
    expected_hashes,
    sent_since,
)

from synth_assets.defs.resources import TaskSettings
from synth_assets.tasks.base import BatchTask
from synth_assets.tasks.spam import SYSTEM_PROMPT, email_messages

DATE = "2026-11-06"  # 208 rows
FAULTS = "http_429=0.03,http_500=0.03,invalid_json=0.02,refusal=0.02,missing=0.02,duplicate=0.02"


def quiet(_: str) -> None:
    """A log callback that keeps the test output short."""


class Day:
    """A copy of one sample day that a test can change, and what runs it."""

    def __init__(self, folder: Path, rig: Rig) -> None:
        self.folder = folder
        self.file = folder / f"date={DATE}" / "emails.jsonl"
        self.file.parent.mkdir(parents=True)
        shutil.copy(SAMPLE / f"date={DATE}" / "emails.jsonl", self.file)
        self.rig = rig
        self.settings: dict[str, Any] = {}
        self.tasks: tuple[BatchTask, ...] = (TASK,)

    # ---- changes ----

    def rows(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.file.read_text().splitlines() if line.strip()]

    def write(self, rows: list[dict[str, Any]]) -> None:
        self.file.write_text("".join(json.dumps(row) + "\n" for row in rows))

    # ---- running ----

    def defs(self, rig: Rig | None = None) -> dg.Definitions:
        rig = rig or self.rig
        settings = TaskSettings(dataset_path=str(self.folder), max_attempts=3, **self.settings)
        return rig.defs(task_settings=settings, tasks=self.tasks, files=self.folder.parent)

    def run(self, instance: dg.DagsterInstance, rig: Rig | None = None) -> PipelineRun:
        """The whole chain for the day; asserts it settled."""
        outcome = run_pipeline(self.defs(rig), TASK, [DATE], instance, timeout_s=90, log=quiet)
        assert_collected(outcome, [DATE])
        return outcome

    def check(
        self,
        instance: dg.DagsterInstance,
        case: str,
        rig: Rig | None = None,
        *,
        sent: int | None = None,
    ) -> PartitionReport:
        """The rows promise, against the day as it is now; ``sent``: the requests the change
        sent (first attempts), for the suite's figures."""
        rig = rig or self.rig
        report = check_partition(
            rig,
            instance,
            DATE,
            max_attempts=3,
            dataset_path=str(self.folder),
            task=self.tasks[0],
            model=self.settings.get("model"),
        )
        assert_sensor_idle(rig, self.defs(rig), instance, [DATE])
        TOTALS.add(case, [report])
        if sent is not None:
            TOTALS.lines.append(
                f"change '{case}': {report.rows} rows, requests sent {sent}, "
                f"rows lost {report.lost}, rows doubled {report.doubled}"
            )
        return report

    def hashes(self) -> dict[str, str]:
        return expected_hashes(
            DATE, str(self.folder), task=self.tasks[0], model=self.settings.get("model")
        )


@pytest.fixture
def day(make_rig: Callable[..., Rig], tmp_path: Path) -> Day:
    rig = make_rig(faults=FAULTS, seed=17, chunk_size=50)
    return Day(tmp_path / "emails", rig)


def assert_sent_exactly(sent: list[tuple[str, str, int]], changed: set[str]) -> int:
    """Each changed request first sent once; nothing else sent (retries of them apart).
    Returns how many requests were first sent."""
    first = Counter(h for _, h, attempt in sent if attempt == 1)
    assert set(first) == changed, (len(first), len(changed))
    assert all(n == 1 for n in first.values()), first.most_common(3)
    assert {h for _, h, _ in sent} <= changed  # retries are of changed requests only
    return sum(first.values())


def first_run(day: Day, instance: dg.DagsterInstance) -> dict[str, str]:
    """The day's first run: every distinct request sent once. Returns the hashes."""
    before = batch_ids(day.rig)
    day.run(instance)
    hashes = day.hashes()
    assert_sent_exactly(sent_since(day.rig, before), set(hashes.values()))
    day.check(instance, "first run")
    return hashes


def test_append_rows_sends_only_the_new_rows(day: Day, instance) -> None:
    old = first_run(day, instance)
    rows = day.rows()
    new = [
        {**rows[0], "email_id": f"added-{i}", "body": f"Added email number {i}: lunch at noon?"}
        for i in range(5)
    ]
    day.write(rows + new)
    before = batch_ids(day.rig)

    day.run(instance)

    hashes = day.hashes()
    new_requests = set(hashes.values()) - set(old.values())
    sent = assert_sent_exactly(sent_since(day.rig, before), new_requests)
    assert sent == 5
    assert day.check(instance, "append 5 rows", sent=sent).rows == 213


def test_edit_a_row_sends_one_request_and_the_row_carries_its_new_answer(
    day: Day, instance
) -> None:
    first_run(day, instance)
    rows = day.rows()
    rows[10]["body"] = "Edited: the quarterly report is attached, please review by Friday."
    edited = rows[10]["email_id"]
    day.write(rows)
    before = batch_ids(day.rig)

    day.run(instance)

    hashes = day.hashes()
    sent = assert_sent_exactly(sent_since(day.rig, before), {hashes[edited]})
    day.check(instance, "edit a row", sent=sent)  # each row carries its current answer
    parsed = pq.read_table(day.rig.table("parsed", DATE)).to_pylist()
    unparsed = pq.read_table(day.rig.table("unparsed", DATE)).to_pylist()
    [row] = [
        r for r in parsed + unparsed if r["custom_id"] == edited and r.get("reason") != "duplicate"
    ]
    assert row["request_hash"] == hashes[edited]


def test_delete_a_row_sends_nothing_and_the_row_leaves_the_tables(day: Day, instance) -> None:
    first_run(day, instance)
    rows = day.rows()
    gone = rows.pop(42)["email_id"]
    day.write(rows)
    before = batch_ids(day.rig)

    day.run(instance)

    assert sent_since(day.rig, before) == []
    report = day.check(instance, "delete a row", sent=0)
    assert report.rows == 207
    ids = pq.read_table(day.rig.table("parsed", DATE))["custom_id"].to_pylist()
    ids += pq.read_table(day.rig.table("unparsed", DATE))["custom_id"].to_pylist()
    assert gone not in ids


def test_edit_the_prompt_sends_every_row_again(day: Day, instance) -> None:
    old = first_run(day, instance)

    def terse(row: Any) -> Any:
        messages = email_messages(row)
        messages[0] = {"role": "system", "content": SYSTEM_PROMPT + " Answer tersely."}
        return messages

    day.tasks = (dataclasses.replace(TASK, to_messages=terse),)
    before = batch_ids(day.rig)

    day.run(instance)

    hashes = day.hashes()
    assert not set(hashes.values()) & set(old.values())  # all new requests
    sent = assert_sent_exactly(sent_since(day.rig, before), set(hashes.values()))
    day.check(instance, "edit the prompt", sent=sent)


def test_change_the_model_sends_every_row_again(day: Day, instance) -> None:
    old = first_run(day, instance)
    day.settings["model"] = "gpt-4.1-mini"
    before = batch_ids(day.rig)

    day.run(instance)

    hashes = day.hashes()
    assert not set(hashes.values()) & set(old.values())
    sent = assert_sent_exactly(sent_since(day.rig, before), set(hashes.values()))
    day.check(instance, "change the model", sent=sent)
    models = set(pq.read_table(day.rig.table("parsed", DATE))["model"].to_pylist())
    assert models == {"gpt-4.1-mini"}


def test_rerun_of_an_unchanged_day_sends_nothing_and_publishes_nothing(day: Day, instance) -> None:
    first_run(day, instance)
    parsed_key = dg.AssetKey([TASK.name, "parsed"])
    published = len(instance.fetch_materializations(parsed_key, limit=100).records)
    before = batch_ids(day.rig)

    outcome = day.run(instance)

    assert sent_since(day.rig, before) == []
    assert [r.job for r in outcome.runs] == [f"{TASK.name}_submit_job"]  # no collect run
    assert len(instance.fetch_materializations(parsed_key, limit=100).records) == published
    day.check(instance, "unchanged re-run", sent=0)


def test_several_demos_in_a_row_send_once(day: Day, instance) -> None:
    first_run(day, instance)
    before = batch_ids(day.rig)

    for _ in range(3):
        day.run(instance)
    with dg.instance_for_test() as fresh:  # and once more on a wiped Dagster instance
        day.run(fresh)

    assert sent_since(day.rig, before) == []
    day.check(instance, "4 more demos, one on a fresh instance", sent=0)


def test_fresh_answers_when_asked_send_every_row_again(day: Day, instance) -> None:
    old = first_run(day, instance)
    old_batches = batch_ids(day.rig)

    outcome = run_pipeline(
        day.defs(), TASK, [DATE], instance, timeout_s=90, log=quiet, fresh_answers=True
    )

    assert_collected(outcome, [DATE])
    sent = assert_sent_exactly(sent_since(day.rig, old_batches), set(old.values()))
    day.check(instance, "fresh answers asked", sent=sent)
    parsed = pq.read_table(day.rig.table("parsed", DATE))["batch_id"].to_pylist()
    assert not set(parsed) & old_batches  # every answer is a new one


def test_crash_between_submit_and_collect_pays_nothing_twice(day: Day, instance) -> None:
    before = batch_ids(day.rig)
    # The first process submitted the day, then died before anything collected it.
    assert submit_partitions(day.defs(), TASK, [DATE], instance, log=quiet).submitted == [DATE]
    with dg.instance_for_test() as after_the_crash:  # and its Dagster history is gone too
        day.run(after_the_crash)

    hashes = day.hashes()
    sent = assert_sent_exactly(sent_since(day.rig, before), set(hashes.values()))
    day.check(instance, "crash between submit and collect (first run + rerun)", sent=sent)


def test_switch_backend_asks_the_new_one_and_never_mixes_answers(
    day: Day, instance, make_rig: Callable[..., Rig]
) -> None:
    hashes = first_run(day, instance)
    other = make_rig(faults=FAULTS, seed=18, chunk_size=50)
    first_batches, other_before = batch_ids(day.rig), batch_ids(other)

    day.run(instance, rig=other)  # OPENAI_BASE_URL now points at another server

    sent = assert_sent_exactly(sent_since(other, other_before), set(hashes.values()))
    assert batch_ids(day.rig) == first_batches  # nothing more asked of the first one
    day.check(instance, "switch backend", rig=other, sent=sent)
    parsed = set(pq.read_table(day.rig.table("parsed", DATE))["batch_id"].to_pylist())
    assert parsed <= batch_ids(other)  # the first server's answers are not served as these

    # Back to the first server: its answers are still in the record; nothing is sent.
    other_batches = batch_ids(other)
    day.run(instance)
    assert batch_ids(day.rig) == first_batches and batch_ids(other) == other_batches
    day.check(instance, "switch back", sent=0)
    parsed = set(pq.read_table(day.rig.table("parsed", DATE))["batch_id"].to_pylist())
    assert parsed <= first_batches


def test_a_switch_while_batches_run_keeps_them_and_says_so(
    day: Day, instance, make_rig: Callable[..., Rig]
) -> None:
    slow = day.rig
    other = make_rig(seed=18, chunk_size=50)
    before = batch_ids(slow)
    assert submit_partitions(day.defs(), TASK, [DATE], instance, log=quiet).submitted == [DATE]
    on_first = batch_ids(slow) - before
    assert on_first

    day.run(instance, rig=other)  # switched before the first server's batches were collected

    day.check(instance, "switch while batches run", rig=other)
    tick = (
        day.defs(other)
        .resolve_sensor_def("batch_completion_sensor")
        .evaluate_tick(
            dg.build_sensor_context(
                instance=instance,
                resources={n: day.defs(other).resources[n] for n in ("batch_api", "storage")},  # type: ignore[index]
            )
        )
    )
    assert tick.skip_message and "not collected" in tick.skip_message  # never dropped silently
    assert slow.url in tick.skip_message
    # Switching back collects them: their requests are not sent a second time (only the
    # retryable failures they answered are retried).
    day.run(instance)
    sent = assert_sent_exactly(sent_since(slow, before), set(day.hashes().values()))
    day.check(instance, "switch while batches run, then back (first submit + collect)", sent=sent)
