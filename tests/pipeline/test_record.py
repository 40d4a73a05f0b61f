"""The request record: outcomes by (backend, request hash), once per batch, crash-safe and
safe for several processes at once."""

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from synth_assets.pipeline.record import Answer, RequestRecord, Send

BACKEND = "http://127.0.0.1:1/v1"


def record_batch(record: RequestRecord, batch_id: str, sends: list[Send]) -> None:
    record.record_batch(
        batch_id,
        partition="2026-11-01",
        sha256="sha-" + batch_id,
        attempt=max(s.attempt for s in sends),
        round_=max(s.round for s in sends),
        path="requests.jsonl",
        status="validating",
        sends=sends,
    )


def answers(*rows: tuple[str, str | None]) -> list[Answer]:
    """(custom_id, reason) -> Answer; a None reason is a valid answer."""
    return [
        Answer(custom_id, reason, 500 if reason == "http_error" else None, reason, b"{}")
        for custom_id, reason in rows
    ]


@pytest.fixture
def record(tmp_path: Path) -> RequestRecord:
    with RequestRecord(tmp_path / "record.sqlite", BACKEND) as opened:
        yield opened  # type: ignore[misc]


def test_a_batch_is_recorded_once_and_its_requests_leave_flight(record: RequestRecord) -> None:
    record_batch(record, "b1", [Send("a", "h-a", 1, 1), Send("b", "h-b", 1, 1)])
    assert {h: o.pending_batch for h, o in record.outcomes(["h-a", "h-b"]).items()} == {
        "h-a": "b1",
        "h-b": "b1",
    }

    assert record.record_results("b1", "completed", answers(("a", None), ("b", "refusal")), [])
    assert not record.record_results("b1", "completed", answers(("a", "refusal")), [])

    outcomes = record.outcomes(["h-a", "h-b"])
    assert outcomes["h-a"].reason is None and outcomes["h-a"].pending_batch is None
    assert outcomes["h-b"].reason == "refusal" and outcomes["h-b"].batch_id == "b1"


def test_a_later_attempt_replaces_a_failure_but_never_a_valid_answer(
    record: RequestRecord,
) -> None:
    record_batch(record, "b1", [Send("a", "h-a", 1, 1), Send("b", "h-b", 1, 1)])
    record.record_results("b1", "completed", answers(("a", None), ("b", "http_error")), [])
    # a racing resubmission asked both again; its failures must not erase the answer
    record_batch(record, "b2", [Send("a", "h-a", 2, 1), Send("b", "h-b", 2, 1)])
    record.record_results("b2", "completed", answers(("a", "http_error"), ("b", None)), [])

    outcomes = record.outcomes(["h-a", "h-b"])
    assert (outcomes["h-a"].batch_id, outcomes["h-a"].reason) == ("b1", None)
    assert (outcomes["h-b"].batch_id, outcomes["h-b"].reason, outcomes["h-b"].attempt) == (
        "b2",
        None,
        2,
    )


def test_a_request_sent_again_stays_in_flight_when_its_older_batch_is_collected(
    record: RequestRecord,
) -> None:
    """Collecting b1 writes the outcome of "a" but must not take it out of b2's flight (b2
    asked it again before b1's results came in); "b" was sent in b1 only and leaves it."""
    record_batch(record, "b1", [Send("a", "h-a", 1, 1), Send("b", "h-b", 1, 1)])
    record_batch(record, "b2", [Send("a", "h-a", 2, 1)])
    record.record_results("b1", "completed", answers(("a", "http_error"), ("b", None)), [])

    outcomes = record.outcomes(["h-a", "h-b"])
    assert (outcomes["h-a"].batch_id, outcomes["h-a"].pending_batch) == ("b1", "b2")
    assert (outcomes["h-b"].batch_id, outcomes["h-b"].pending_batch) == ("b1", None)


def test_fresh_answers_replace_valid_ones(record: RequestRecord) -> None:
    record_batch(record, "b1", [Send("a", "h-a", 1, 1)])
    record.record_results("b1", "completed", answers(("a", None)), [])
    record_batch(record, "b2", [Send("a", "h-a", 1, 2)])
    record.record_results("b2", "completed", answers(("a", "refusal")), [])

    outcome = record.outcomes(["h-a"])["h-a"]
    assert (outcome.batch_id, outcome.reason, outcome.outcome_round) == ("b2", "refusal", 2)


def test_answers_never_cross_backends(record: RequestRecord, tmp_path: Path) -> None:
    record_batch(record, "b1", [Send("a", "h-a", 1, 1)])
    record.record_results("b1", "completed", answers(("a", None)), [])

    with RequestRecord(tmp_path / "record.sqlite", "https://api.openai.com/v1#key-1") as other:
        assert other.outcomes(["h-a"]) == {}
        assert [b.batch_id for b in other.uncollected_elsewhere()] == []
        assert other.batches() == []


def _python(code: str, path: Path) -> subprocess.Popen[str]:
    script = (
        textwrap.dedent(code).replace("PATH", repr(str(path))).replace("BACKEND", repr(BACKEND))
    )
    return subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)


def test_racing_processes_record_a_batch_exactly_once(tmp_path: Path) -> None:
    path = tmp_path / "record.sqlite"
    with RequestRecord(path, BACKEND) as record:
        record_batch(record, "b1", [Send(f"r{i}", f"h{i}", 1, 1) for i in range(500)])
    code = """
        from synth_assets.pipeline.record import Answer, RequestRecord
        with RequestRecord(PATH, BACKEND) as record:
            rows = [Answer(f"r{i}", None, None, None, b"{}") for i in range(500)]
            print(record.record_results("b1", "completed", rows, [b"extra"]))
    """
    workers = [_python(code, path) for _ in range(4)]
    printed = [worker.communicate(timeout=60)[0].strip() for worker in workers]

    assert sorted(printed) == ["False", "False", "False", "True"]
    with RequestRecord(path, BACKEND) as record:
        outcomes = record.outcomes([f"h{i}" for i in range(500)])
        assert len(outcomes) == 500 and all(o.batch_id == "b1" for o in outcomes.values())
        assert record.extra_lines(["b1"]) == {"b1": [b"extra"]}  # once, not four times


def test_a_process_killed_mid_write_leaves_the_record_as_it_was(tmp_path: Path) -> None:
    path = tmp_path / "record.sqlite"
    with RequestRecord(path, BACKEND) as record:
        record_batch(record, "b1", [Send(f"r{i}", f"h{i}", 1, 1) for i in range(100)])
    code = """
        import os, signal
        from synth_assets.pipeline.record import RequestRecord
        record = RequestRecord(PATH, BACKEND)
        with record._write() as db:
            db.execute("UPDATE requests SET reason='refusal', batch_id='b1'")
            print("half-way", flush=True)
            os.kill(os.getpid(), signal.SIGKILL)
    """
    worker = _python(code, path)
    assert worker.communicate(timeout=60)[0].strip() == "half-way"
    assert worker.returncode == -9

    with RequestRecord(path, BACKEND) as record:  # opens, and takes writes again
        assert all(
            o.batch_id is None for o in record.outcomes([f"h{i}" for i in range(100)]).values()
        )
        rows = [Answer(f"r{i}", None, None, None, b"{}") for i in range(100)]
        assert record.record_results("b1", "completed", rows, [])
