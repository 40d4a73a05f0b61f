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


def test_requests_whose_keys_collide_stay_apart(record: RequestRecord, tmp_path: Path) -> None:
    """Lookups go by the hash's first 40 bits; two hashes sharing them, or one hash on two
    backends, are still two requests."""
    first, second = "ab" * 8 + "0" * 48, "ab" * 8 + "1" * 48
    record_batch(record, "b1", [Send("a", first, 1, 1)])
    record_batch(record, "b2", [Send("b", second, 1, 1)])
    record.record_results("b1", "completed", answers(("a", None)), [])
    with RequestRecord(tmp_path / "record.sqlite", "https://api.openai.com/v1#key-1") as other:
        record_batch(other, "b3", [Send("c", first, 1, 1)])

    outcomes = record.outcomes([first, second])
    assert (outcomes[first].batch_id, outcomes[first].pending_batch) == ("b1", None)
    assert (outcomes[second].batch_id, outcomes[second].pending_batch) == (None, "b2")
    assert record.lines([first, second]) == {first: b"{}"}
    with RequestRecord(tmp_path / "record.sqlite", "https://api.openai.com/v1#key-1") as other:
        assert {h: o.pending_batch for h, o in other.outcomes([first, second]).items()} == {
            first: "b3"
        }


# The schema and writes of the record before requests were keyed by request_key (files
# written by it are on users' disks).
_OLD_SCHEMA = """
CREATE TABLE requests (
    backend TEXT NOT NULL, hash TEXT NOT NULL, pending_batch TEXT,
    round INTEGER NOT NULL DEFAULT 1, batch_id TEXT, custom_id TEXT, attempt INTEGER,
    outcome_round INTEGER, reason TEXT, status_code INTEGER, message TEXT, line BLOB,
    updated REAL NOT NULL, PRIMARY KEY (backend, hash)
);
CREATE INDEX requests_pending ON requests (backend, pending_batch)
    WHERE pending_batch IS NOT NULL;
CREATE TABLE sends (
    backend TEXT NOT NULL, batch_id TEXT NOT NULL, custom_id TEXT NOT NULL,
    hash TEXT NOT NULL, attempt INTEGER NOT NULL, round INTEGER NOT NULL,
    PRIMARY KEY (backend, batch_id, custom_id)
);
CREATE TABLE batches (
    backend TEXT NOT NULL, batch_id TEXT NOT NULL, partition TEXT NOT NULL,
    sha256 TEXT NOT NULL, attempt INTEGER NOT NULL, round INTEGER NOT NULL,
    path TEXT NOT NULL, requests INTEGER NOT NULL, created REAL NOT NULL, status TEXT,
    collected REAL, model TEXT, est_tokens INTEGER, est_cost REAL, actual_tokens INTEGER,
    actual_output_tokens INTEGER, PRIMARY KEY (backend, batch_id)
);
CREATE TABLE extra_lines (
    backend TEXT NOT NULL, batch_id TEXT NOT NULL, position INTEGER NOT NULL,
    line BLOB NOT NULL, PRIMARY KEY (backend, batch_id, position)
);
CREATE TABLE partitions (
    partition TEXT PRIMARY KEY, backend TEXT NOT NULL, generation INTEGER NOT NULL,
    manifest TEXT NOT NULL, state TEXT NOT NULL, waiting TEXT NOT NULL DEFAULT '[]',
    digest TEXT, published_digest TEXT, run_key TEXT, run_requested REAL,
    runs INTEGER NOT NULL DEFAULT 0, failures INTEGER NOT NULL DEFAULT 0, note TEXT,
    updated REAL NOT NULL, queued_model TEXT, queued_tokens INTEGER, not_before REAL
);
"""
_OLD_OUTCOME = (
    "SELECT hash, pending_batch, round, batch_id, custom_id, attempt, outcome_round, reason, "
    "status_code, message FROM requests WHERE backend=?"
)


def _old_record(path: Path) -> None:
    """A record as the old code left it: b1 collected (an answer, a failure), b2 in flight
    (a new request, and the failed one asked again), on two backends."""
    import sqlite3

    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.executescript(_OLD_SCHEMA)
    batch = "INSERT INTO batches VALUES (?,?,'2026-11-01','s',1,1,'p',?,1.0,?,?,'m',9,NULL,?,2)"
    db.execute(batch, (BACKEND, "b1", 2, "completed", 2.0, 7))
    db.execute(batch, (BACKEND, "b2", 2, "in_progress", None, None))
    db.execute(batch, ("other", "b9", 1, "in_progress", None, None))
    sends = [
        (BACKEND, "b1", "a", "h-a", 1, 1),
        (BACKEND, "b1", "b", "h-b", 1, 1),
        (BACKEND, "b2", "b", "h-b", 2, 1),
        (BACKEND, "b2", "c", "h-c", 1, 1),
        ("other", "b9", "a", "h-a", 1, 1),
    ]
    db.executemany("INSERT INTO sends VALUES (?,?,?,?,?,?)", sends)
    db.executemany(
        "INSERT INTO requests VALUES (?,?,?,1,?,?,?,?,?,?,?,?,1.0)",
        [
            (BACKEND, "h-a", None, "b1", "a", 1, 1, None, None, None, b'{"answer": 1}'),
            (BACKEND, "h-b", "b2", "b1", "b", 1, 1, "http_error", 500, "boom", b'{"e": 1}'),
            (BACKEND, "h-c", "b2", None, None, None, None, None, None, None, None),
            ("other", "h-a", "b9", None, None, None, None, None, None, None, None),
        ],
    )
    db.execute("INSERT INTO extra_lines VALUES (?,'b1',0,x'7b7d')", (BACKEND,))
    db.execute(
        "INSERT INTO partitions (partition, backend, generation, manifest, state, updated) "
        "VALUES ('2026-11-01', ?, 1, 'build', 'waiting', 1.0)",
        (BACKEND,),
    )
    db.close()


def test_a_record_written_by_the_old_code_opens_with_the_same_outcomes(tmp_path: Path) -> None:
    import sqlite3

    path = tmp_path / "record.sqlite"
    _old_record(path)
    with sqlite3.connect(path) as db:
        before = {b: sorted(db.execute(_OLD_OUTCOME, (b,))) for b in (BACKEND, "other")}
    hashes = ["h-a", "h-b", "h-c", "h-x"]

    with RequestRecord(path, BACKEND) as record:
        assert sorted(record.outcomes(hashes).values()) == before[BACKEND]
        assert record.lines(hashes) == {"h-a": b'{"answer": 1}', "h-b": b'{"e": 1}'}
        assert record.sends("b2") == {"b": Send("b", "h-b", 2, 1), "c": Send("c", "h-c", 1, 1)}
        assert record.extra_lines(["b1"]) == {"b1": [b"{}"]}
        assert [(b.batch_id, b.collected) for b in record.batches()] == [("b1", 2.0), ("b2", None)]
        assert record.partition("2026-11-01").state == "waiting"  # type: ignore[union-attr]
        # and it goes on: b2's answers land on the migrated requests, a new batch reuses them
        assert record.record_results("b2", "completed", answers(("b", None), ("c", None)), [])
        record_batch(record, "b3", [Send("a", "h-a", 1, 2), Send("d", "h-d", 1, 1)])
        outcomes = record.outcomes([*hashes, "h-d"])
        assert {h: (o.batch_id, o.reason, o.pending_batch) for h, o in outcomes.items()} == {
            "h-a": ("b1", None, "b3"),
            "h-b": ("b2", None, None),
            "h-c": ("b2", None, None),
            "h-d": (None, None, "b3"),
        }
        assert record.lines(["h-b"]) == {"h-b": b"{}"}
    with RequestRecord(path, "other") as other:  # opened again: nothing left to migrate
        assert sorted(other.outcomes(hashes).values()) == before["other"]
        other.forget_lost("b9")
        assert other.outcomes(["h-a"])["h-a"].pending_batch is None


def test_lines_asked_after_outcomes_include_requests_answered_in_between(
    record: RequestRecord, tmp_path: Path
) -> None:
    """Readers ask a slice's outcomes, then its lines; another process may have recorded an
    answer in between, and its line is there to read."""
    record_batch(record, "b1", [Send("a", "h-a", 1, 1)])
    record.record_results("b1", "completed", answers(("a", None)), [])
    assert set(record.outcomes(["h-a", "h-b"])) == {"h-a"}
    with RequestRecord(tmp_path / "record.sqlite", BACKEND) as other:
        record_batch(other, "b2", [Send("b", "h-b", 1, 1)])
        other.record_results("b2", "completed", answers(("b", None)), [])

    assert record.lines(["h-a", "h-b"]) == {"h-a": b"{}", "h-b": b"{}"}
