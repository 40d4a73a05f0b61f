"""The request record: what each backend answered, per request, durably.

What is paid for and answered is a request, so this is where the pipeline's state lives
(not in Dagster's run history, which gets wiped or pruned). One SQLite file per task under
the work folder, in WAL mode so the sensor and several run workers can use it at once;
every change is one transaction, so a process killed half-way leaves it as it was.

- ``requests``: per (backend, request hash), the latest outcome (an answer, or a reason),
  its attempt and round, and the batch it is in flight in, if any. Answers never cross
  backends: a lookup matches the backend and the full hash. Rows are numbered in the order
  requests were first sent, so recording a batch of new requests appends rows.
- ``request_keys``: how a request is found: its integer key (the hash's first 40 bits) and
  its row, in sorted runs (``key_runs`` holds their sizes). A batch's new requests are
  written as a new run, at the end of the table, so recording them writes a few pages
  whatever the record holds (one index over every key would take each new key in a random
  page of it: each batch rewrote most of the index, and the record only grows). The newest
  run is merged into the one before it, in one key-sorted pass, while that one is at most
  twice its size: with batches of 50,000 new requests, at 10M requests there are at most
  five runs, a key has moved about three times and its page been written about seven
  times; a lookup searches every run.
- ``lines``: the result line of a request's outcome, as served (none when none came), kept
  apart so that a request's row keeps its size when its outcome comes in.
- ``sends``: every request put in a batch (batch, custom_id as sent, the request's row,
  attempt, round).
- ``batches``: every batch created or found again, with its identity and whether its
  results were collected.
- ``extra_lines``: lines of a batch that answer no request (second answers, strays).
- ``partitions``: per day, the current generation (one per build), its manifest, what it
  waits for, and what was published.
"""

import itertools
import sqlite3
import time
import zlib
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from pydantic_core import from_json, to_json

from synth_assets.batch import TERMINAL

_SCHEMA = """
CREATE TABLE IF NOT EXISTS requests (
    id INTEGER PRIMARY KEY,      -- in the order requests were first sent
    key INTEGER NOT NULL,        -- request_key(hash): what a lookup searches (not unique)
    backend TEXT NOT NULL,
    hash TEXT NOT NULL,
    pending_batch TEXT,          -- the batch it is in flight in (NULL: none)
    round INTEGER NOT NULL DEFAULT 1,   -- raised when the user asks for fresh answers
    batch_id TEXT,               -- where the outcome below came from
    custom_id TEXT,              -- the id the outcome's line carries
    attempt INTEGER,             -- the outcome's attempt within its round
    outcome_round INTEGER,
    reason TEXT,                 -- NULL: a valid answer; else the unparsed reason
    status_code INTEGER,
    message TEXT,
    updated REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS request_keys (
    run INTEGER NOT NULL,        -- key_runs.run
    key INTEGER NOT NULL,        -- request_key(hash)
    request INTEGER NOT NULL,    -- requests.id
    PRIMARY KEY (run, key, request)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS key_runs (
    run INTEGER PRIMARY KEY,     -- newer runs have higher numbers
    size INTEGER NOT NULL        -- its keys
);
CREATE TABLE IF NOT EXISTS lines (
    request INTEGER PRIMARY KEY, -- requests.id
    line BLOB NOT NULL           -- the result line of the request's outcome, as served
);
CREATE TABLE IF NOT EXISTS sends (
    backend TEXT NOT NULL,
    batch_id TEXT NOT NULL,
    custom_id TEXT NOT NULL,
    request INTEGER NOT NULL,    -- requests.id (where its hash is)
    attempt INTEGER NOT NULL,
    round INTEGER NOT NULL,
    PRIMARY KEY (backend, batch_id, custom_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS batches (
    backend TEXT NOT NULL,
    batch_id TEXT NOT NULL,
    partition TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    attempt INTEGER NOT NULL,
    round INTEGER NOT NULL,
    path TEXT NOT NULL,
    requests INTEGER NOT NULL,
    created REAL NOT NULL,
    status TEXT,                 -- the last status seen
    collected REAL,              -- when its results went into the record
    model TEXT,
    est_tokens INTEGER,          -- enqueued input tokens, as estimated before submitting
    est_cost REAL,               -- estimated USD (None: unknown price)
    actual_tokens INTEGER,       -- input tokens the backend reported, once collected
    actual_output_tokens INTEGER,
    PRIMARY KEY (backend, batch_id)
);
CREATE TABLE IF NOT EXISTS extra_lines (
    backend TEXT NOT NULL,
    batch_id TEXT NOT NULL,
    position INTEGER NOT NULL,
    line BLOB NOT NULL,
    PRIMARY KEY (backend, batch_id, position)
);
CREATE TABLE IF NOT EXISTS partitions (
    partition TEXT PRIMARY KEY,
    backend TEXT NOT NULL,
    generation INTEGER NOT NULL,
    manifest TEXT NOT NULL,
    state TEXT NOT NULL,
    waiting TEXT NOT NULL DEFAULT '[]',
    digest TEXT,
    published_digest TEXT,
    run_key TEXT,
    run_requested REAL,
    runs INTEGER NOT NULL DEFAULT 0,
    failures INTEGER NOT NULL DEFAULT 0,
    note TEXT,
    updated REAL NOT NULL,
    queued_model TEXT,           -- waiting for queue room: the model, its tokens, and
    queued_tokens INTEGER,       -- not before when (after token_limit_exceeded)
    not_before REAL
);
"""

RECORD_FILE = "record.sqlite"

# A record written before requests were keyed by request_key (its lines in the requests
# rows, its sends without the request's id): moved to the schema above when opened, in the
# opening transaction. Row ids are kept, so a line and a send find their request again.
_FROM_V1 = (
    "ALTER TABLE requests RENAME TO requests_v1",
    "ALTER TABLE sends RENAME TO sends_v1",
    "DROP INDEX IF EXISTS requests_pending",
)
_COPY_V1 = (
    "INSERT INTO requests SELECT rowid, request_key(hash), backend, hash, pending_batch, "
    "round, batch_id, custom_id, attempt, outcome_round, reason, status_code, message, updated "
    "FROM requests_v1 ORDER BY rowid",
    "INSERT INTO lines SELECT rowid, line FROM requests_v1 WHERE line IS NOT NULL ORDER BY rowid",
    "INSERT INTO sends SELECT s.backend, s.batch_id, s.custom_id, r.rowid, s.attempt, s.round "
    "FROM sends_v1 s JOIN requests_v1 r ON r.backend = s.backend AND r.hash = s.hash "
    "ORDER BY s.backend, s.batch_id, s.custom_id",
    "DROP TABLE sends_v1",
    "DROP TABLE requests_v1",
)
# A record written before request_keys (its requests found through one index on
# requests.key): its keys become one run, read in the old index's order, and the index goes.
# The same when the index is back (the code before opened the record since, and its new
# requests have no keys here): the runs are made again.
_OLD_INDEX = "SELECT 1 FROM sqlite_master WHERE type='index' AND name='requests_key'"
_KEYS_FROM_INDEX = (
    "DELETE FROM request_keys",
    "DELETE FROM key_runs",
    "INSERT INTO request_keys SELECT 1, key, id FROM requests ORDER BY key, id",
    "INSERT INTO key_runs SELECT 1, count(*) FROM request_keys HAVING count(*) > 0",
    "DROP INDEX IF EXISTS requests_key",
)

# A run is merged with the next older one while that one holds at most this many times
# its keys: runs shrink by more than half from the oldest to the newest.
_MERGE_RATIO = 2
_MERGE_CHUNK = 50_000  # keys merged at a time (a range of keys)
_KEY_SPACE = 1 << 40  # request_key's values: below this
_KEY_LIMIT = 1 << 62  # above any key (the last range's end)


_CHUNK = 10_000  # keys per lookup statement


def request_key(request_hash: str) -> int:
    """The integer a request is looked up by: its hash's first 40 bits (any other string:
    its CRC-32). Not unique (two hashes may share it); lookups compare the full hash too."""
    try:
        return int(request_hash[:10], 16)
    except ValueError:
        return zlib.crc32(request_hash.encode())


class State:
    """Where a partition stands (``partitions.state``)."""

    BUILDING = "building"  # built, not submitted yet (a submit run failed, or is running)
    WAITING = "waiting"  # batches in flight
    RESUBMIT = "resubmit"  # requests to send: retryable failures, lost batches
    READY = "ready"  # every request final; tables not published for this state yet
    QUEUED = "queued"  # requests to send, waiting for room under the provider's limits
    SETTLED = "settled"  # tables published for this state
    FAILED = "failed"  # a run failed too often: see ``note``


class Outcome(NamedTuple):
    """The latest outcome of one request on one backend (a tuple: millions are made)."""

    hash: str
    pending_batch: str | None
    round: int
    batch_id: str | None
    custom_id: str | None
    attempt: int | None
    outcome_round: int | None
    reason: str | None
    status_code: int | None
    message: str | None

    @property
    def answered(self) -> bool:
        """True when some outcome came back (an answer or a failure)."""
        return self.batch_id is not None


class Send(NamedTuple):
    """One request put into a batch."""

    custom_id: str
    hash: str
    attempt: int
    round: int


@dataclass(frozen=True, slots=True)
class BatchRow:
    """A batch the record knows."""

    backend: str
    batch_id: str
    partition: str
    sha256: str
    attempt: int
    round: int
    path: str
    requests: int
    created: float
    status: str | None
    collected: float | None
    model: str | None
    est_tokens: int | None
    est_cost: float | None
    actual_tokens: int | None
    actual_output_tokens: int | None


@dataclass(frozen=True, slots=True)
class PartitionRow:
    """A partition's state."""

    partition: str
    backend: str
    generation: int
    manifest: str
    state: str
    waiting: list[str]
    digest: str | None
    published_digest: str | None
    run_key: str | None
    run_requested: float | None
    runs: int
    failures: int
    note: str | None
    updated: float
    queued_model: str | None
    queued_tokens: int | None
    not_before: float | None


class Answer(NamedTuple):
    """A result line's outcome, ready to be recorded."""

    custom_id: str
    reason: str | None
    status_code: int | None
    message: str | None
    line: bytes | None


class RequestRecord:
    """The record of one task (see the module docstring). Use as a context manager."""

    def __init__(self, path: str | Path, backend: str) -> None:
        self.path = Path(path)
        self.backend = backend
        self._ids: dict[str, int] = {}  # hash: row id, of the last outcomes() asked
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # Autocommit mode: transactions are explicit (``BEGIN IMMEDIATE`` in _write).
        self._db = sqlite3.connect(self.path, timeout=60.0, isolation_level=None)
        # 8 KiB pages hold five 1.5 KB result lines where 4 KiB pages hold two (a new file
        # only: a page size is kept once the file exists).
        self._db.execute("PRAGMA page_size=8192")
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("PRAGMA busy_timeout=60000")
        # A checkpoint every 25,000 pages of log (~200 MB) rather than 1,000: a page that
        # several batches write in a row (the tables' last pages) is copied into the file once.
        self._db.execute("PRAGMA wal_autocheckpoint=25000")
        # Deleted content is still zeroed within the pages written anyway, but freed pages
        # are not rewritten with zeros (this SQLite zeroes them by default: dropping the old
        # tables in a migration wrote twice their size).
        self._db.execute("PRAGMA secure_delete=FAST")
        self._db.create_function("request_key", 1, request_key, deterministic=True)
        with self._write() as db:
            columns = {row[1] for row in db.execute("PRAGMA table_info(requests)")}
            old = bool(columns) and "key" not in columns
            names = {row[0] for row in db.execute("SELECT name FROM sqlite_master")}
            keyed = "request_keys" in names and "requests_key" not in names
            for statement in _FROM_V1 if old else ():
                db.execute(statement)
            for statement in _SCHEMA.split(";\n"):
                db.execute(statement)
            for statement in _COPY_V1 if old else ():
                db.execute(statement)
            for statement in () if keyed else _KEYS_FROM_INDEX:
                db.execute(statement)

    def close(self) -> None:
        """Close the database."""
        self._db.close()

    def __enter__(self) -> "RequestRecord":
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction: all of it or nothing, one writer at a time."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    # ---- requests ----

    def _find(self, columns: str, keys: dict[str, int]) -> Iterator[tuple]:
        """This backend's rows of the requests in ``keys`` (hash: its request_key), as
        ``id, hash, <columns>``.

        Each key is searched in every run, in one statement per chunk (so one snapshot: a
        merge committed meanwhile moves no key out of sight); keys that collide are told
        apart by the full hash.

        While the code before is using the record (its index on ``requests.key`` is back),
        that index is searched instead: every process writes ``requests.key``, so it holds
        every request, those the code before recorded (without runs) included."""
        ordered = sorted(set(keys.values()))
        query = (
            f"SELECT r.id, r.hash, {columns} FROM request_keys k JOIN requests r ON "
            "r.id = k.request WHERE k.run IN (SELECT run FROM key_runs) AND k.key IN "
            "(SELECT value FROM json_each(?)) AND r.backend=?"
        )
        if self._db.execute(_OLD_INDEX).fetchone():
            query = (
                f"SELECT r.id, r.hash, {columns} FROM requests r WHERE r.key IN "
                "(SELECT value FROM json_each(?)) AND r.backend=?"
            )
        for start in range(0, len(ordered), _CHUNK):
            rows = self._db.execute(query, (to_json(ordered[start : start + _CHUNK]), self.backend))
            yield from (row for row in rows if row[1] in keys)

    def outcomes(self, hashes: Sequence[str]) -> dict[str, Outcome]:
        """The known outcomes of ``hashes`` on this backend (absent: never sent)."""
        found: dict[str, Outcome] = {}
        self._ids = {}
        for row in self._find(
            "pending_batch, round, batch_id, custom_id, attempt, outcome_round, reason, "
            "status_code, message",
            {h: request_key(h) for h in hashes},
        ):
            self._ids[row[1]] = row[0]
            found[row[1]] = Outcome._make(row[1:])
        return found

    def lines(self, hashes: Sequence[str]) -> dict[str, bytes]:
        """The result lines of ``hashes`` (only those that have one)."""
        # The rows of the last outcomes() asked (readers ask the lines of the same slice
        # next): a request's row never changes, so only the others are looked up.
        ids = {self._ids[h]: h for h in hashes if h in self._ids}
        rest = {h: request_key(h) for h in hashes if h not in self._ids}
        ids.update((row[0], row[1]) for row in self._find("1", rest))
        lines: dict[str, bytes] = {}
        ordered = sorted(ids)
        for start in range(0, len(ordered), _CHUNK):
            rows = self._db.execute(
                "SELECT request, line FROM lines WHERE request IN (SELECT value FROM json_each(?))",
                (to_json(ordered[start : start + _CHUNK]),),
            )
            lines.update((ids[request], line) for request, line in rows)
        return lines

    # ---- batches ----

    def batch_for(self, partition: str, sha256: str, attempt: int, round_: int) -> str | None:
        """The batch recorded for this identity, if any (newest first)."""
        row = self._db.execute(
            "SELECT batch_id FROM batches WHERE backend=? AND partition=? AND sha256=? AND "
            "attempt=? AND round=? ORDER BY created DESC LIMIT 1",
            (self.backend, partition, sha256, attempt, round_),
        ).fetchone()
        return row[0] if row else None

    def record_batch(
        self,
        batch_id: str,
        *,
        partition: str,
        sha256: str,
        attempt: int,
        round_: int,
        path: str,
        status: str,
        sends: Sequence[Send | tuple[str, str, int, int]],
        model: str | None = None,
        est_tokens: int | None = None,
        est_cost: float | None = None,
    ) -> bool:
        """Record a batch and the requests in it (in flight from now on); False when it was
        recorded already (a re-run that found it again)."""
        with self._write() as db:
            known = db.execute(
                "SELECT 1 FROM batches WHERE backend=? AND batch_id=?", (self.backend, batch_id)
            ).fetchone()
            if known:
                return False
            now = time.time()
            db.execute(
                "INSERT INTO batches VALUES (?,?,?,?,?,?,?,?,?,?,NULL,?,?,?,NULL,NULL)",
                (self.backend, batch_id, partition, sha256, attempt, round_, path, len(sends),
                 now, status, model, est_tokens, est_cost),
            )  # fmt: skip
            # A request sent before keeps its row (and id); a new one gets the next id, in
            # key order, so the key index takes the batch in one ordered pass.
            keys = {s[1]: request_key(s[1]) for s in sends}
            known_ids = {h: request for request, h, _ in self._find("1", keys)}
            new = sorted(keys.keys() - known_ids, key=keys.__getitem__)
            (last,) = db.execute("SELECT coalesce(max(id), 0) FROM requests").fetchone()
            rounds: dict[str, int] = {}
            for s in sends:
                rounds[s[1]] = max(rounds.get(s[1], s[3]), s[3])
            db.executemany(
                "UPDATE requests SET pending_batch=?, round=max(round, ?), updated=? WHERE id=?",
                sorted((batch_id, rounds[h], now, known_ids[h]) for h in known_ids),
            )
            ids = dict(zip(new, range(last + 1, last + 1 + len(new)), strict=True))
            backend = self.backend
            db.executemany(
                "INSERT INTO requests (id, key, backend, hash, pending_batch, round, updated) "
                "VALUES (?,?,?,?,?,?,?)",
                ((ids[h], keys[h], backend, h, batch_id, rounds[h], now) for h in new),
            )
            if new:  # their keys, a new run (in key order, as their ids are)
                (run,) = db.execute("SELECT coalesce(max(run), 0) + 1 FROM key_runs").fetchone()
                db.executemany(
                    "INSERT INTO request_keys VALUES (?,?,?)",
                    ((run, keys[h], ids[h]) for h in new),
                )
                db.execute("INSERT INTO key_runs VALUES (?,?)", (run, len(new)))
            ids.update(known_ids)
            # In the table's key order: the batch's sends fill one page after the other.
            db.executemany(
                "INSERT OR REPLACE INTO sends VALUES (?,?,?,?,?,?)",
                sorted((backend, batch_id, s[0], ids[s[1]], s[2], s[3]) for s in sends),
            )
        if new:
            self._merge_runs()
        return True

    def _merge_runs(self) -> None:
        """Merge the newest run of keys into the one before it while that one holds at most
        ``_MERGE_RATIO`` times its keys (one transaction: a crash leaves the runs as they
        were, every key in one of them)."""
        with self._write() as db:
            runs = db.execute("SELECT run, size FROM key_runs ORDER BY run").fetchall()
            while len(runs) >= 2 and runs[-2][1] <= _MERGE_RATIO * runs[-1][1]:
                (older, older_size), (newer, newer_size) = runs.pop(-2), runs.pop()
                # In key order, one range of keys at a time (~_MERGE_CHUNK of them: keys are
                # uniform): one pass over the older run's pages, little held in memory.
                chunks = -(-newer_size // _MERGE_CHUNK)
                bounds = [_KEY_SPACE * i // chunks for i in range(chunks)] + [_KEY_LIMIT]
                for low, high in itertools.pairwise(bounds):
                    db.execute(
                        "INSERT INTO request_keys SELECT ?, key, request FROM request_keys "
                        "WHERE run=? AND key >= ? AND key < ? ORDER BY key, request",
                        (older, newer, low, high),
                    )
                db.execute("DELETE FROM request_keys WHERE run=?", (newer,))
                db.execute("DELETE FROM key_runs WHERE run=?", (newer,))
                size = older_size + newer_size
                db.execute("UPDATE key_runs SET size=? WHERE run=?", (size, older))
                runs.append((older, size))

    def batch(self, batch_id: str) -> BatchRow | None:
        """A batch of this backend, if recorded."""
        row = self._db.execute(
            "SELECT * FROM batches WHERE backend=? AND batch_id=?", (self.backend, batch_id)
        ).fetchone()
        return BatchRow(*row) if row else None

    def batches(
        self, partition: str | None = None, *, every_backend: bool = False
    ) -> list[BatchRow]:
        """Recorded batches, oldest first (of one partition when given)."""
        query = "SELECT * FROM batches WHERE 1=1"
        args: list[object] = []
        if not every_backend:
            query += " AND backend=?"
            args.append(self.backend)
        if partition is not None:
            query += " AND partition=?"
            args.append(partition)
        return [BatchRow(*row) for row in self._db.execute(query + " ORDER BY created", args)]

    def uncollected_elsewhere(self) -> list[BatchRow]:
        """Batches of other backends whose results were never collected."""
        return [
            b
            for b in self.batches(every_backend=True)
            if b.backend != self.backend and b.collected is None
        ]

    def sends(self, batch_id: str) -> dict[str, Send]:
        """The requests of a batch, by the custom_id they were sent under."""
        rows = self._db.execute(
            "SELECT s.custom_id, r.hash, s.attempt, s.round FROM sends s JOIN requests r ON "
            "r.id = s.request WHERE s.backend=? AND s.batch_id=?",
            (self.backend, batch_id),
        )
        return {row[0]: Send._make(row) for row in rows}

    def custom_ids(self, batch_id: str) -> set[str]:
        """The custom_ids a batch's requests were sent under (cheaper than :meth:`sends`
        when only membership matters)."""
        rows = self._db.execute(
            "SELECT custom_id FROM sends WHERE backend=? AND batch_id=?", (self.backend, batch_id)
        )
        return {custom_id for (custom_id,) in rows}

    def set_status(self, batch_id: str, status: str) -> None:
        """Remember a batch's last seen status."""
        with self._write() as db:
            db.execute(
                "UPDATE batches SET status=? WHERE backend=? AND batch_id=?",
                (status, self.backend, batch_id),
            )

    def record_results(
        self,
        batch_id: str,
        status: str,
        answers: Iterable[Answer],
        extra_lines: Iterable[bytes],
        actual_tokens: tuple[int, int] | None = None,
    ) -> bool:
        """Record a terminal batch's outcomes, once (False when it was collected already).

        A request's outcome is replaced by a newer one unless it holds a valid answer; an
        answer from a later round (fresh answers asked for) replaces anything.
        """
        with self._write() as db:
            row = db.execute(
                "SELECT collected FROM batches WHERE backend=? AND batch_id=?",
                (self.backend, batch_id),
            ).fetchone()
            if row is None or row[0] is not None:
                return False
            # Per custom_id sent: the request's id, the send's attempt and round, and the
            # request's outcome so far (what decides whether this answer replaces it).
            sent = {
                row[0]: row[1:]
                for row in db.execute(
                    "SELECT s.custom_id, s.request, s.attempt, s.round, r.batch_id, "
                    "r.outcome_round, r.reason, r.attempt, r.pending_batch FROM sends s "
                    "JOIN requests r ON r.id = s.request WHERE s.backend=? AND s.batch_id=?",
                    (self.backend, batch_id),
                )
            }
            now = time.time()
            held = {row[0]: row[3:7] for row in sent.values()}
            outcomes: dict[int, tuple[object, ...]] = {}
            lines: dict[int, bytes | None] = {}
            for a in answers:
                request, attempt, round_ = sent[a.custom_id][:3]
                had, o_round, o_reason, o_attempt = held[request]
                # The newer outcome wins, except over a valid answer of the same round.
                if had is None or (
                    o_round < round_
                    or (o_round == round_ and o_reason is not None and o_attempt <= attempt)
                ):
                    held[request] = (batch_id, round_, a.reason, attempt)
                    outcomes[request] = (a.custom_id, attempt, round_, a.reason, a.status_code,
                                         a.message)  # fmt: skip
                    lines[request] = a.line
            # A request leaves this batch's flight whether or not its outcome was replaced
            # (an older valid answer stays); one sent again since stays in its newer flight.
            leaving = {r for r, *_, pending in sent.values() if pending == batch_id}
            del sent, held
            db.executemany(
                "UPDATE requests SET batch_id=?2, custom_id=?3, attempt=?4, outcome_round=?5, "
                "reason=?6, status_code=?7, message=?8, updated=?9, pending_batch="
                "CASE WHEN pending_batch = ?2 THEN NULL ELSE pending_batch END WHERE id=?1",
                sorted((r, batch_id, *outcome, now) for r, outcome in outcomes.items()),
            )
            db.executemany(
                "UPDATE requests SET pending_batch=NULL WHERE id=?",
                sorted((r,) for r in leaving.difference(outcomes)),
            )
            db.executemany(
                "INSERT OR REPLACE INTO lines VALUES (?,?)",
                sorted((r, line) for r, line in lines.items() if line is not None),
            )
            db.executemany(
                "DELETE FROM lines WHERE request=?",
                sorted((r,) for r, line in lines.items() if line is None),
            )
            db.executemany(
                "INSERT OR REPLACE INTO extra_lines VALUES (?,?,?,?)",
                ((self.backend, batch_id, i, line) for i, line in enumerate(extra_lines)),
            )
            db.execute(
                "UPDATE batches SET collected=?, status=?, actual_tokens=?, "
                "actual_output_tokens=? WHERE backend=? AND batch_id=?",
                (now, status, *(actual_tokens or (None, None)), self.backend, batch_id),
            )
        return True

    def forget_lost(self, batch_id: str, status: str = "lost") -> None:
        """A batch that answered nothing and never will (the backend lost it, or refused it
        for its limits): its requests are no longer in flight (they will be sent again),
        and it counts as collected with nothing in it."""
        with self._write() as db:
            db.execute(
                "UPDATE requests SET pending_batch=NULL WHERE id IN (SELECT request FROM sends "
                "WHERE backend=? AND batch_id=?) AND pending_batch=?",
                (self.backend, batch_id, batch_id),
            )
            db.execute(
                "UPDATE batches SET collected=?, status=? WHERE backend=? AND batch_id=?",
                (time.time(), status, self.backend, batch_id),
            )

    def in_flight_tokens(self, model: str) -> int:
        """Estimated input tokens of this backend's batches of ``model`` not finished."""
        (tokens,) = self._db.execute(
            "SELECT coalesce(sum(est_tokens), 0) FROM batches WHERE backend=? AND model=? AND "
            "collected IS NULL AND coalesce(status, '') NOT IN "
            f"({', '.join(repr(s) for s in sorted(TERMINAL))})",
            (self.backend, model),
        ).fetchone()
        return int(tokens)

    def created_since(self, since: float) -> int:
        """Batches created on this backend since ``since`` (epoch seconds)."""
        (count,) = self._db.execute(
            "SELECT count(*) FROM batches WHERE backend=? AND created >= ?", (self.backend, since)
        ).fetchone()
        return int(count)

    def cost_since(self, since: float) -> float:
        """Estimated USD of the batches created on this backend since ``since``."""
        (usd,) = self._db.execute(
            "SELECT coalesce(sum(est_cost), 0) FROM batches WHERE backend=? AND created >= ?",
            (self.backend, since),
        ).fetchone()
        return float(usd)

    def token_calibration(self, model: str) -> float | None:
        """Reported / estimated input tokens over this model's collected batches (None
        before any): what the next estimates are multiplied by."""
        row = self._db.execute(
            "SELECT sum(actual_tokens), sum(est_tokens) FROM batches WHERE backend=? AND "
            "model=? AND actual_tokens > 0 AND est_tokens > 0",
            (self.backend, model),
        ).fetchone()
        return row[0] / row[1] if row and row[0] and row[1] else None

    def output_tokens_per_request(self, model: str) -> float | None:
        """Reported output tokens per request over this model's collected batches."""
        row = self._db.execute(
            "SELECT sum(actual_output_tokens), sum(requests) FROM batches WHERE backend=? AND "
            "model=? AND actual_output_tokens IS NOT NULL",
            (self.backend, model),
        ).fetchone()
        return row[0] / row[1] if row and row[0] is not None and row[1] else None

    def extra_lines(self, batch_ids: Iterable[str]) -> dict[str, list[bytes]]:
        """The extra lines of batches, in file order."""
        found: dict[str, list[bytes]] = {}
        for batch_id in batch_ids:
            rows = self._db.execute(
                "SELECT line FROM extra_lines WHERE backend=? AND batch_id=? ORDER BY position",
                (self.backend, batch_id),
            ).fetchall()
            if rows:
                found[batch_id] = [bytes(r[0]) for r in rows]
        return found

    # ---- partitions ----

    def partition(self, partition: str) -> PartitionRow | None:
        """A partition's state, if it was ever built."""
        row = self._db.execute(
            "SELECT * FROM partitions WHERE partition=?", (partition,)
        ).fetchone()
        return _partition_row(row) if row else None

    def partitions(self) -> list[PartitionRow]:
        """Every partition, by date."""
        rows = self._db.execute("SELECT * FROM partitions ORDER BY partition")
        return [_partition_row(row) for row in rows]

    def next_generation(self, partition: str) -> int:
        """The generation number of the partition's next build (1, 2, ...)."""
        row = self._db.execute(
            "SELECT generation FROM partitions WHERE partition=?", (partition,)
        ).fetchone()
        return (row[0] if row else 0) + 1

    def start_build(self, partition: str, generation: int, manifest: str) -> None:
        """The partition's current rows are now those of the build in ``manifest``."""
        with self._write() as db:
            db.execute(
                "INSERT INTO partitions (partition, backend, generation, manifest, state, "
                "updated) VALUES (?,?,?,?,?,?) ON CONFLICT (partition) DO UPDATE SET "
                "backend=excluded.backend, generation=excluded.generation, "
                "manifest=excluded.manifest, state=excluded.state, waiting='[]', note=NULL, "
                "updated=excluded.updated",
                (partition, self.backend, generation, manifest, State.BUILDING, time.time()),
            )

    def set_state(
        self,
        partition: str,
        state: str,
        *,
        waiting: Sequence[str] = (),
        digest: str | None = None,
        note: str | None = None,
        queued: tuple[str, int] | None = None,
        not_before: float | None = None,
    ) -> None:
        """Move a partition to ``state`` (a run requested for it stays noted until the
        sensor sees it end)."""
        with self._write() as db:
            db.execute(
                "UPDATE partitions SET state=?, waiting=?, digest=coalesce(?, digest), note=?, "
                "updated=?, queued_model=?, queued_tokens=?, "
                "not_before=max(coalesce(not_before, 0), coalesce(?, 0)) WHERE partition=?",
                (
                    state,
                    to_json(list(waiting)).decode(),
                    digest,
                    note,
                    time.time(),
                    queued[0] if queued else None,
                    queued[1] if queued else None,
                    not_before,
                    partition,
                ),
            )

    def published(self, partition: str, digest: str) -> None:
        """The tables now show the state with ``digest``."""
        with self._write() as db:
            db.execute(
                "UPDATE partitions SET state=?, digest=?, published_digest=?, note=NULL, "
                "updated=? WHERE partition=?",
                (State.SETTLED, digest, digest, time.time(), partition),
            )

    def request_run(self, partition: str, action: str, prefix: str) -> str:
        """Note that a run is being requested for the partition; return its run key, unique
        in this record: ``<prefix>:<partition>:g<generation>:<action>:<n>``."""
        with self._write() as db:
            row = db.execute(
                "SELECT generation, runs FROM partitions WHERE partition=?", (partition,)
            ).fetchone()
            key = f"{prefix}:{partition}:g{row[0]}:{action}:{row[1] + 1}"
            db.execute(
                "UPDATE partitions SET run_key=?, run_requested=?, runs=runs+1 WHERE partition=?",
                (key, time.time(), partition),
            )
        return key

    def run_finished(
        self, partition: str, *, failed: bool, limit: int, note: str | None = None
    ) -> bool:
        """The requested run ended; on a failure count it, and give up after ``limit``
        failures in a row (True when the partition is now failed, with ``note`` or a count
        as the reason)."""
        with self._write() as db:
            row = db.execute(
                "SELECT failures FROM partitions WHERE partition=?", (partition,)
            ).fetchone()
            failures = (row[0] + 1) if failed else 0
            gave_up = failures >= limit
            db.execute(
                "UPDATE partitions SET run_key=NULL, run_requested=NULL, failures=?, "
                "state=CASE WHEN ? THEN ? ELSE state END, "
                "note=CASE WHEN ? THEN ? ELSE note END WHERE partition=?",
                (failures, gave_up, State.FAILED, gave_up,
                 note or f"the run failed {failures} times in a row; see its logs", partition),
            )  # fmt: skip
        return gave_up


def _partition_row(row: tuple[object, ...]) -> PartitionRow:
    values = list(row)
    values[5] = from_json(values[5]) if values[5] else []
    return PartitionRow(*values)  # type: ignore[arg-type]
