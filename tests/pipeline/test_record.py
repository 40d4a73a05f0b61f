"""The request record: outcomes by (backend, request hash), once per batch, crash-safe and
safe for several processes at once."""

import itertools
import subprocess
import sys
import textwrap
from collections.abc import Callable
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


# ---- runs of keys: how requests are found ----


def _keys_are_consistent(path: Path) -> None:
    """Every request is in exactly one run, under its key, and each run's size is right."""
    import sqlite3

    with sqlite3.connect(path) as db:
        rows = db.execute(
            "SELECT r.id, r.key, count(k.request), min(k.key) FROM requests r "
            "LEFT JOIN request_keys k ON k.request = r.id GROUP BY r.id"
        ).fetchall()
        assert all(n == 1 and key == found for _, key, n, found in rows), rows
        (strays,) = db.execute(
            "SELECT count(*) FROM request_keys WHERE request NOT IN (SELECT id FROM requests)"
        ).fetchone()
        assert strays == 0
        sizes = dict(db.execute("SELECT run, count(*) FROM request_keys GROUP BY run"))
        assert dict(db.execute("SELECT run, size FROM key_runs")) == sizes


def _runs(path: Path) -> list[int]:
    import sqlite3

    with sqlite3.connect(path) as db:
        return [size for (size,) in db.execute("SELECT size FROM key_runs ORDER BY run")]


def _day(record: RequestRecord, batch_id: str, numbers: range) -> None:
    record_batch(record, batch_id, [Send(f"r{i}", f"{i:064x}", 1, 1) for i in numbers])


def test_requests_are_found_in_recent_runs_and_after_they_are_merged(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from synth_assets.pipeline import record as module

    path = tmp_path / "record.sqlite"
    monkeypatch.setattr(module, "_MERGE_RATIO", 0)  # never merge: one run per batch
    with RequestRecord(path, BACKEND) as record:
        _day(record, "b1", range(0, 40))
        record.record_results("b1", "completed", answers(*((f"r{i}", None) for i in range(40))), [])
        _day(record, "b2", range(40, 50))
        _day(record, "b3", range(50, 55))
        assert _runs(path) == [40, 10, 5]
        hashes = [f"{i:064x}" for i in range(60)]  # 55..59 never sent
        before = record.outcomes(hashes)
        assert {h: o.batch_id or o.pending_batch for h, o in before.items()} == {
            f"{i:064x}": "b1" if i < 40 else "b2" if i < 50 else "b3" for i in range(55)
        }
        assert len(record.lines(hashes)) == 40

        monkeypatch.setattr(module, "_MERGE_RATIO", 100)
        monkeypatch.setattr(module, "_MERGE_CHUNK", 7)  # several ranges of keys per merge
        # sent again: known, so no new row and no new run; then a new request merges all
        _day(record, "b4", range(45, 50))
        assert _runs(path) == [40, 10, 5]
        _day(record, "b5", range(55, 56))
        assert _runs(path) == [56]
        after = record.outcomes(hashes)
        assert set(after) == set(before) | {f"{55:064x}"}
        assert all(after[h].batch_id == o.batch_id for h, o in before.items())
        assert len(record.lines(hashes)) == 40
        assert record.sends("b3") == {
            f"r{i}": Send(f"r{i}", f"{i:064x}", 1, 1) for i in range(50, 55)
        }
    _keys_are_consistent(path)


def test_runs_shrink_from_the_oldest_to_the_newest(record: RequestRecord, tmp_path: Path) -> None:
    """A run is merged while the one before it is at most twice its size: a few runs, and
    a batch's new keys never rewrite the big ones."""
    path = tmp_path / "record.sqlite"
    for n in range(1, 41):
        _day(record, f"b{n}", range(n * 100, n * 100 + 10))
        runs = _runs(path)
        assert all(older > 2 * newer for older, newer in itertools.pairwise(runs))
        assert sum(runs) == n * 10
    assert len(runs) <= 4
    assert len(record.outcomes([f"{i:064x}" for i in range(4200)])) == 400
    _keys_are_consistent(path)


def test_a_merge_that_fails_half_way_leaves_the_runs_as_they_were(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The batch is recorded (its own transaction); the merge after it rolls back whole, and
    the next batch merges."""
    import sqlite3

    from synth_assets.pipeline import record as module

    path = tmp_path / "record.sqlite"
    monkeypatch.setattr(module, "_MERGE_CHUNK", 3)
    with RequestRecord(path, BACKEND) as record:
        _day(record, "b1", range(0, 20))
        merging = []
        record._db.set_trace_callback(
            lambda sql: merging.append(sql) if "INSERT INTO request_keys SELECT" in sql else None
        )
        # interrupted once two ranges of keys are in the merged run
        record._db.set_progress_handler(lambda: len(merging) > 2, 1)
        with pytest.raises(sqlite3.OperationalError, match="interrupt"):
            _day(record, "b2", range(20, 30))
        record._db.set_progress_handler(None, 1)
        record._db.set_trace_callback(None)
        assert len(merging) > 2
        assert _runs(path) == [20, 10]
        _keys_are_consistent(path)

    with RequestRecord(path, BACKEND) as record:
        assert record.batch("b2") is not None
        hashes = [f"{i:064x}" for i in range(40)]
        assert {h: o.pending_batch for h, o in record.outcomes(hashes).items()} == {
            f"{i:064x}": "b1" if i < 20 else "b2" for i in range(30)
        }
        _day(record, "b3", range(30, 40))
        assert _runs(path) == [40]
        assert len(record.outcomes(hashes)) == 40
    _keys_are_consistent(path)


def test_a_process_killed_mid_merge_leaves_every_request_findable(tmp_path: Path) -> None:
    path = tmp_path / "record.sqlite"
    with RequestRecord(path, BACKEND) as record:
        _day(record, "b1", range(0, 300))
    code = """
        import os, signal
        from synth_assets.pipeline import record as module
        module._MERGE_CHUNK = 10
        record = module.RequestRecord(PATH, BACKEND)
        seen = []
        def trace(sql):
            if "INSERT INTO request_keys SELECT" in sql:
                seen.append(sql)
                if len(seen) == 20:
                    print("mid-merge", flush=True)
                    os.kill(os.getpid(), signal.SIGKILL)
        record._db.set_trace_callback(trace)
        sends = [module.Send(f"r{i}", f"{i:064x}", 1, 1) for i in range(300, 500)]
        record.record_batch("b2", partition="p", sha256="s", attempt=1, round_=1, path="x",
                            status="validating", sends=sends)
    """
    worker = _python(code, path)
    assert worker.communicate(timeout=60)[0].strip() == "mid-merge"
    assert worker.returncode == -9

    _keys_are_consistent(path)
    assert _runs(path) == [300, 200]
    with RequestRecord(path, BACKEND) as record:
        outcomes = record.outcomes([f"{i:064x}" for i in range(600)])
        assert {o.pending_batch for o in outcomes.values()} == {"b1", "b2"}
        assert len(outcomes) == 500


def test_racing_processes_find_each_others_requests_while_runs_merge(tmp_path: Path) -> None:
    """Writers send overlapping requests (each new one gets its row once: nothing paid
    twice) while runs merge; a reader always finds every request recorded before it
    started."""
    path = tmp_path / "record.sqlite"
    with RequestRecord(path, BACKEND) as record:
        _day(record, "b0", range(0, 200))
    writer = """
        import random
        from synth_assets.pipeline import record as module
        module._MERGE_CHUNK = 7
        me = random.Random(SEED)
        with module.RequestRecord(PATH, BACKEND) as record:
            for n in range(25):
                numbers = me.sample(range(3000), 40)
                sends = [module.Send(f"r{i}", f"{i:064x}", 1, 1) for i in numbers]
                record.record_batch(f"b-SEED-{n}", partition="p", sha256="s", attempt=1,
                                    round_=1, path="x", status="validating", sends=sends)
        print("done")
    """
    reader = """
        from synth_assets.pipeline.record import RequestRecord
        hashes = [f"{i:064x}" for i in range(200)]
        with RequestRecord(PATH, BACKEND) as record:
            print(min(len(record.outcomes(hashes)) for _ in range(300)))
    """
    workers = [_python(writer.replace("SEED", str(seed)), path) for seed in range(3)]
    workers.append(_python(reader, path))
    printed = [worker.communicate(timeout=120)[0].strip() for worker in workers]

    assert printed == ["done", "done", "done", "200"]
    _keys_are_consistent(path)
    import sqlite3

    with sqlite3.connect(path) as db:
        (duplicated,) = db.execute(
            "SELECT count(*) FROM (SELECT hash FROM requests GROUP BY backend, hash "
            "HAVING count(*) > 1)"
        ).fetchone()
    assert duplicated == 0


# The schema of the record before request_keys (every request's key in one index on
# requests.key): files written by it are on users' disks.
_V2_SCHEMA = """
CREATE TABLE requests (
    id INTEGER PRIMARY KEY, key INTEGER NOT NULL, backend TEXT NOT NULL, hash TEXT NOT NULL,
    pending_batch TEXT, round INTEGER NOT NULL DEFAULT 1, batch_id TEXT, custom_id TEXT,
    attempt INTEGER, outcome_round INTEGER, reason TEXT, status_code INTEGER, message TEXT,
    updated REAL NOT NULL
);
CREATE TABLE lines (request INTEGER PRIMARY KEY, line BLOB NOT NULL);
CREATE TABLE sends (
    backend TEXT NOT NULL, batch_id TEXT NOT NULL, custom_id TEXT NOT NULL,
    request INTEGER NOT NULL, attempt INTEGER NOT NULL, round INTEGER NOT NULL,
    PRIMARY KEY (backend, batch_id, custom_id)
) WITHOUT ROWID;
CREATE INDEX requests_key ON requests (key);
""" + _OLD_SCHEMA[_OLD_SCHEMA.index("CREATE TABLE batches") :]


def _v2_record(path: Path) -> dict[str, int]:
    """A record as the code before request_keys left it (the same story as _old_record's);
    the requests' row ids."""
    import sqlite3

    from synth_assets.pipeline.record import request_key

    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.executescript(_V2_SCHEMA)
    batch = "INSERT INTO batches VALUES (?,?,'2026-11-01','s',1,1,'p',?,1.0,?,?,'m',9,NULL,?,2)"
    db.execute(batch, (BACKEND, "b1", 2, "completed", 2.0, 7))
    db.execute(batch, (BACKEND, "b2", 2, "in_progress", None, None))
    db.execute(batch, ("other", "b9", 1, "in_progress", None, None))
    requests = [
        (1, BACKEND, "h-a", None, "b1", "a", 1, 1, None, None, None),
        (2, BACKEND, "h-b", "b2", "b1", "b", 1, 1, "http_error", 500, "boom"),
        (3, "other", "h-a", "b9", None, None, None, None, None, None, None),
        (4, BACKEND, "h-c", "b2", None, None, None, None, None, None, None),
    ]
    db.executemany(
        "INSERT INTO requests VALUES (?,?,?,?,?,1,?,?,?,?,?,?,?,1.0)",
        [(r[0], request_key(r[2]), *r[1:]) for r in requests],
    )
    db.executemany("INSERT INTO lines VALUES (?,?)", [(1, b'{"answer": 1}'), (2, b'{"e": 1}')])
    sends = [
        (BACKEND, "b1", "a", 1, 1, 1),
        (BACKEND, "b1", "b", 2, 1, 1),
        (BACKEND, "b2", "b", 2, 2, 1),
        (BACKEND, "b2", "c", 4, 1, 1),
        ("other", "b9", "a", 3, 1, 1),
    ]
    db.executemany("INSERT INTO sends VALUES (?,?,?,?,?,?)", sends)
    db.execute("INSERT INTO extra_lines VALUES (?,'b1',0,x'7b7d')", (BACKEND,))
    db.execute(
        "INSERT INTO partitions (partition, backend, generation, manifest, state, updated) "
        "VALUES ('2026-11-01', ?, 1, 'build', 'waiting', 1.0)",
        (BACKEND,),
    )
    db.close()
    return {"h-a": 1, "h-b": 2, "h-c": 4}


@pytest.mark.parametrize("write", [_old_record, _v2_record], ids=["v1", "one key index"])
def test_a_record_written_by_the_code_before_opens_with_the_same_outcomes(
    tmp_path: Path, write: Callable[[Path], object]
) -> None:
    """A record of either earlier layout (v1: lines in the requests rows; then one index
    over every key) migrates on open: the same outcomes, lines, sends, batches and
    partitions, every key in one run, and it goes on."""
    import sqlite3

    path = tmp_path / "record.sqlite"
    write(path)
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
        assert _runs(path) == [4]
        _keys_are_consistent(path)
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
        assert _runs(path) == [4, 1]
    with sqlite3.connect(path) as db:
        assert (
            db.execute("SELECT name FROM sqlite_master WHERE name='requests_key'").fetchall() == []
        )
    with RequestRecord(path, "other") as other:  # opened again: nothing left to migrate
        assert sorted(other.outcomes(hashes).values()) == before["other"]
        other.forget_lost("b9")
        assert other.outcomes(["h-a"])["h-a"].pending_batch is None
        assert _runs(path) == [4, 1]
    _keys_are_consistent(path)


def test_requests_recorded_by_the_code_before_since_are_found(tmp_path: Path) -> None:
    """The code before (one index on requests.key) may open the record again (a rollback)
    and record requests without keys here: the next open makes the runs again."""
    import sqlite3

    from synth_assets.pipeline.record import request_key

    path = tmp_path / "record.sqlite"
    with RequestRecord(path, BACKEND) as record:
        _day(record, "b1", range(0, 10))
    with sqlite3.connect(path) as db:  # what the code before does on open and record_batch
        db.execute("CREATE INDEX IF NOT EXISTS requests_key ON requests (key)")
        db.execute(
            "INSERT INTO requests (id, key, backend, hash, pending_batch, updated) "
            "VALUES (11, ?, ?, ?, 'b2', 1.0)",
            (request_key(f"{10:064x}"), BACKEND, f"{10:064x}"),
        )

    with RequestRecord(path, BACKEND) as record:
        outcomes = record.outcomes([f"{i:064x}" for i in range(11)])
        assert outcomes[f"{10:064x}"].pending_batch == "b2" and len(outcomes) == 11
        _day(record, "b3", range(10, 12))  # found: no second row for it
    _keys_are_consistent(path)
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT count(*) FROM requests").fetchone() == (12,)


def test_requests_the_code_before_records_meanwhile_are_found_by_an_open_record(
    tmp_path: Path,
) -> None:
    """A process of the code before, running beside an open record of this code (an upgrade
    half done), records a request: the open record finds it at once, so it is not sent
    again (nothing paid twice), and records no second row for it."""
    import sqlite3

    from synth_assets.pipeline.record import request_key

    path = tmp_path / "record.sqlite"
    with RequestRecord(path, BACKEND) as record:
        _day(record, "b1", range(0, 10))
        with sqlite3.connect(path) as db:  # the code before: its open, then a record_batch
            db.execute("CREATE INDEX IF NOT EXISTS requests_key ON requests (key)")
            db.execute(
                "INSERT INTO requests (id, key, backend, hash, pending_batch, updated) "
                "VALUES (11, ?, ?, ?, 'b2', 1.0)",
                (request_key(f"{10:064x}"), BACKEND, f"{10:064x}"),
            )
        outcomes = record.outcomes([f"{i:064x}" for i in range(11)])
        assert outcomes[f"{10:064x}"].pending_batch == "b2" and len(outcomes) == 11
        _day(record, "b3", range(10, 12))
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT count(*) FROM requests").fetchone() == (12,)
