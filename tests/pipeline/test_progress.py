"""Where a day stands against the record: the counts and digest of every row, and a settle
that reads the rows again only when something they depend on changed."""

import hashlib
import shutil
from collections.abc import Iterator, Sequence
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pydantic_core import to_json

from synth_assets.batch import Reason
from synth_assets.pipeline import progress
from synth_assets.pipeline.estimate import Estimate
from synth_assets.pipeline.plan import (
    INVALID_INPUTS_FILE,
    MANIFEST_FILE,
    MANIFEST_SCHEMA,
    PLAN_FILE,
    Build,
    Policy,
    load_build,
)
from synth_assets.pipeline.record import Answer, Outcome, RequestRecord, Send, State

DAY, OTHER_DAY = "2026-11-01", "2026-11-02"


class _CountingRecord(RequestRecord):
    """The real record, counting the rows whose outcomes were read."""

    rows_read = 0

    def outcomes(self, hashes: Sequence[str]) -> dict[str, Outcome]:
        self.rows_read += len(hashes)
        return super().outcomes(hashes)


def _build(
    folder: Path, rows: list[tuple[str, str]], round_: int = 1, kinds: dict[str, int] | None = None
) -> Path:
    """A build of ``rows`` (custom_id, request hash) in ``folder``, as the planner writes it."""
    folder.mkdir(parents=True, exist_ok=True)
    pq.write_table(
        pa.table([[c for c, _ in rows], [h for _, h in rows]], schema=MANIFEST_SCHEMA),
        folder / MANIFEST_FILE,
    )
    (folder / INVALID_INPUTS_FILE).write_bytes(
        to_json({"custom_id": "bad", "problem": "empty text", "text": ""}) + b"\n"
    )
    estimate = Estimate(len(rows), 0, 0, None, None, False)
    build = Build(
        str(folder), len(rows) + 1, 1, kinds or {}, [], len(rows), 0, round_, "m", estimate
    )
    (folder / PLAN_FILE).write_bytes(to_json(build))
    return folder


def _rebuild(folder: Path, rows: list[tuple[str, str]], round_: int = 1) -> None:
    """Build the same generation again: the planner empties its folder first."""
    shutil.rmtree(folder)
    _build(folder, rows, round_)


def _send(record: RequestRecord, batch_id: str, date: str, *hashes: str, attempt: int = 1) -> None:
    sends = [Send(f"id-{h}", h, attempt, 1) for h in hashes]
    record.record_batch(
        batch_id, partition=date, sha256=batch_id, attempt=attempt, round_=1, path="x.jsonl",
        status="validating", sends=sends,
    )  # fmt: skip


def _answer(record: RequestRecord, batch_id: str, **reasons: str | None) -> None:
    """Collect ``batch_id``: each custom_id given answers with its reason (None: valid)."""
    answers = [
        Answer(custom_id, reason, 500 if reason else None, None, b"{}" if reason is None else None)
        for custom_id, reason in reasons.items()
    ]
    assert record.record_results(batch_id, "completed", answers, [])


@pytest.fixture
def record(tmp_path: Path) -> Iterator[_CountingRecord]:
    with _CountingRecord(tmp_path / "record.sqlite", "http://127.0.0.1:1/v1") as opened:
        yield opened


def test_counts_and_digest_cover_every_row(record: _CountingRecord, tmp_path: Path) -> None:
    """Rows never sent, in flight, answered, failing for good: each counted once, and the
    digest is the per-row text it always was (a changed digest would publish every day
    again)."""
    rows = [("a", "h1"), ("b", "h2"), ("c", "h3"), ("d", "h4"), ("e", "h5"), ("f", "h1")]
    folder = _build(tmp_path / "g1", rows)
    _send(record, "batch_1", DAY, "h1", "h2", "h3")
    _answer(record, "batch_1", **{"id-h1": None, "id-h2": Reason.HTTP_ERROR.value})
    _send(record, "batch_2", DAY, "h2", attempt=3)
    _answer(record, "batch_2", **{"id-h2": Reason.HTTP_ERROR.value})  # the budget is spent
    _send(record, "batch_3", DAY, "h4")

    day = progress.evaluate(record, folder, Policy(max_attempts=3))

    # batch_1 never answered h3 (not in its answers): it stays an outcome-less request.
    assert day.rows == 7
    assert dict(day.kinds) == {"final": 3, "new": 2, "in_flight": 1}
    assert day.waiting == ["batch_3"]
    assert day.budget_spent == 1
    outcomes = record.outcomes(["h1", "h2", "h3", "h4", "h5"])
    expected = hashlib.sha256()
    expected.update(hashlib.sha256((folder / INVALID_INPUTS_FILE).read_bytes()).digest())
    for custom_id, request_hash in rows:
        o = outcomes.get(request_hash)
        state = (o.batch_id, o.attempt, o.reason, o.outcome_round) if o else None
        expected.update(f"{custom_id}\0{request_hash}\0{state}\n".encode())
    assert day.digest == expected.hexdigest()


def test_a_settle_with_nothing_changed_reads_no_row_again(
    record: _CountingRecord, tmp_path: Path
) -> None:
    folder = _build(tmp_path / "g1", [("a", "h1"), ("b", "h2")])
    record.start_build(DAY, 1, str(folder))
    _send(record, "batch_1", DAY, "h1", "h2")
    _answer(record, "batch_1", **{"id-h1": None, "id-h2": None})
    first = progress.settle(record, DAY, folder, Policy())
    assert first.state == State.READY
    record.rows_read = 0

    again = progress.settle(record, DAY, folder, Policy())

    assert record.rows_read == 0
    assert again == first
    record.published(DAY, again.progress.digest)
    assert progress.settle(record, DAY, folder, Policy()).state == State.SETTLED
    assert record.rows_read == 0


def test_a_day_just_submitted_waits_for_its_batches_without_reading_its_rows(
    record: _CountingRecord, tmp_path: Path
) -> None:
    folder = _build(tmp_path / "g1", [("a", "h1"), ("b", "h2"), ("c", "h3")], kinds={"new": 3})
    record.start_build(DAY, 1, str(folder))
    _send(record, "batch_1", DAY, "h1", "h2")
    _send(record, "batch_2", DAY, "h3")
    _answer(record, "batch_1", **{"id-h1": None, "id-h2": None})  # collected meanwhile
    record.rows_read = 0

    state = progress.settle_submitted(
        record, DAY, load_build(folder), Policy(), ["batch_1", "batch_2"]
    )

    assert record.rows_read == 0
    stored = record.partition(DAY)
    assert stored is not None
    assert (state, stored.state, stored.waiting) == (State.WAITING, State.WAITING, ["batch_2"])
    # What an evaluation of every row finds.
    evaluated = progress.settle(record, DAY, folder, Policy())
    assert (evaluated.state, evaluated.progress.waiting) == (state, stored.waiting)


@pytest.mark.parametrize("case", ["all collected", "rows in flight elsewhere", "no room"])
def test_a_submitted_day_is_evaluated_when_its_batches_do_not_say_it_all(
    record: _CountingRecord, tmp_path: Path, case: str
) -> None:
    # Another day's batch holds h3 (the build found it in flight) in the second case.
    kinds = {"new": 2, "in_flight": 1} if case == "rows in flight elsewhere" else {"new": 3}
    folder = _build(tmp_path / "g1", [("a", "h1"), ("b", "h2"), ("c", "h3")], kinds=kinds)
    record.start_build(DAY, 1, str(folder))
    _send(record, "batch_0", OTHER_DAY, "h3")
    _send(record, "batch_1", DAY, "h1", "h2")
    if case == "all collected":
        _answer(record, "batch_0", **{"id-h3": None})
        _answer(record, "batch_1", **{"id-h1": None, "id-h2": None})
    queued = ("m", 10) if case == "no room" else None
    record.rows_read = 0

    state = progress.settle_submitted(
        record, DAY, load_build(folder), Policy(), ["batch_1"], queued=queued
    )

    assert record.rows_read == 3
    stored = record.partition(DAY)
    assert stored is not None
    expected = {"all collected": State.READY, "no room": State.WAITING}
    assert state == stored.state == expected.get(case, State.WAITING)
    assert sorted(stored.waiting) == ([] if case == "all collected" else ["batch_0", "batch_1"])


def test_every_change_to_the_days_outcomes_is_seen(record: _CountingRecord, tmp_path: Path) -> None:
    """Each way an outcome changes (a batch recorded, collected or lost, another day's
    batch answering a shared request, a rebuild, another policy) makes the next settle
    evaluate again: what it stores is always what a fresh evaluation finds."""
    folder = _build(tmp_path / "g1", [("a", "h1"), ("b", "h2")])
    record.start_build(DAY, 1, str(folder))
    policy = Policy()

    def settled(expected_state: str) -> progress.Progress:
        day = progress.settle(record, DAY, folder, policy)
        assert day.progress == progress.evaluate(record, folder, policy)
        assert day.state == expected_state
        return day.progress

    assert settled(State.RESUBMIT).kinds["new"] == 2
    _send(record, "other_1", OTHER_DAY, "h1")  # another day sends the shared request
    assert settled(State.WAITING).waiting == ["other_1"]
    _answer(record, "other_1", **{"id-h1": None})  # ... and its answer is this day's too
    assert settled(State.RESUBMIT).kinds == {"final": 1, "new": 1}
    _send(record, "batch_1", DAY, "h2")
    assert settled(State.WAITING).waiting == ["batch_1"]
    record.forget_lost("batch_1")
    assert settled(State.RESUBMIT).kinds == {"final": 1, "new": 1}
    _send(record, "batch_2", DAY, "h2")
    _answer(record, "batch_2", **{"id-h2": Reason.HTTP_ERROR.value})
    assert settled(State.RESUBMIT).kinds == {"final": 1, "retry": 1}
    policy = Policy(max_attempts=1)
    ready = settled(State.READY)
    assert ready.budget_spent == 1
    _rebuild(folder, [("a", "h1")])  # fewer rows
    assert settled(State.READY).rows == 2
    _rebuild(folder, [("a", "h1"), ("b", "h2")], round_=2)  # fresh answers asked
    assert settled(State.RESUBMIT).kinds == {"fresh": 2}
