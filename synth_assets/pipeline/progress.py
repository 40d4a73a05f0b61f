"""Where a day stands against the record: what is final, in flight, or still to send.

The day's current rows (its latest build's manifest) are looked up in the record. The
digest covers every row and its outcome, so the tables are published once per state: an
unchanged re-run finds the digest it published and publishes nothing.

Evaluating a 1M-row day reads a million outcomes (seconds), and a collect run settles the
same day twice (after collecting, then before publishing). What an evaluation found is
kept beside the build (:data:`PROGRESS_FILE`) with the :func:`fingerprint` of everything it
depended on; a settle whose fingerprint is the same reuses it instead of reading the rows
again.
"""

import hashlib
import os
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, fields
from operator import attrgetter
from pathlib import Path

import pyarrow as pa
from pydantic_core import from_json, to_json

from synth_assets.batch import Backend, SynthError, atomic_write

from .buckets import slices
from .plan import (
    INVALID_INPUTS_FILE,
    MANIFEST_FILE,
    PLAN_FILE,
    SEND_KINDS,
    Build,
    Policy,
    load_build,
)
from .record import Outcome, RequestRecord, State

# What the last evaluation of a build found, with the fingerprint it was found under.
PROGRESS_FILE = "progress.json"
# Per manifest row, where the last evaluation found its outcome: the batch, the attempt,
# and whether the answer names the row's own custom_id. Assembling the tables reads it
# instead of the record's outcomes while nothing changed (an Arrow stream, its
# fingerprint in the schema's metadata).
OUTCOMES_FILE = "outcomes.arrow"
OUTCOMES_SCHEMA = pa.schema(
    [
        ("batch_id", pa.dictionary(pa.int32(), pa.string())),  # a few batches: a few bytes a row
        ("attempt", pa.int64()),
        ("own", pa.bool_()),
    ]
)
# Rows looked up at a time, sorted by hash: the record's pages are then read in key order
# (less CPU than in manifest order), and a slice's objects stay few (the GC walks them).
LOOKUP_ROWS = 16 * 1024
# Raised when what the fingerprint covers changes meaning: older progress files no longer match.
_FINGERPRINT_FORMAT = 1
# What decides a row's kind: its outcome but the hash, the message and the custom_id (of
# which only whether it is None, counted apart). Few distinct values: per batch and reason.
_NEED = attrgetter(
    "pending_batch", "round", "batch_id", "attempt", "outcome_round", "reason", "status_code"
)


@dataclass
class Progress:
    """A day's rows by what their requests need, and the digest of its current state."""

    rows: int = 0  # current input rows, invalid ones included
    kinds: Counter[str] = field(default_factory=Counter)
    waiting: list[str] = field(default_factory=list)  # batch ids in flight
    budget_spent: int = 0  # final rows still failing for a retryable reason
    digest: str = ""

    @property
    def to_send(self) -> int:
        """Rows whose request must be sent (again)."""
        return sum(self.kinds[k] for k in SEND_KINDS)

    def state(self, published_digest: str | None) -> str:
        """The partition's state: waiting, resubmit, ready or settled."""
        if self.waiting:
            return State.WAITING
        if self.to_send:
            return State.RESUBMIT
        return State.SETTLED if self.digest == published_digest else State.READY

    @property
    def settled_as(self) -> str:
        """How the day settled: every answer final, or the attempt budget spent."""
        if self.budget_spent:
            return f"budget spent: {self.budget_spent} requests still failing at the last attempt"
        return "final"


def evaluate(
    record: RequestRecord,
    folder: str | Path,
    policy: Policy,
    keep: Callable[[list[str], list[Outcome | None]], None] | None = None,
) -> Progress:
    """The progress of the day built in ``folder``; ``keep`` is given each slice of the
    manifest's ids with their outcomes (None: never sent).

    Few Python objects per row: a slice's outcomes are looked up at once (in hash order),
    each row adds a line of text to the digest, and rows are counted by what decides their
    kind (:data:`_NEED`, and whether the outcome names a custom_id), each distinct one
    asking :meth:`Policy.kind` once."""
    build = load_build(folder)
    progress = Progress(rows=build.invalid_inputs)
    digest = hashlib.sha256()
    invalid = Path(folder) / INVALID_INPUTS_FILE
    if invalid.exists():
        digest.update(hashlib.sha256(invalid.read_bytes()).digest())
    # Per need, with or without a custom_id: how many rows, and one outcome that has it.
    needs: dict[bool, Counter[tuple[object, ...]]] = {True: Counter(), False: Counter()}
    examples: dict[bool, dict[tuple[object, ...], Outcome]] = {True: {}, False: {}}
    never_sent = 0
    columns = ["custom_id", "request_hash"]
    for batch in slices(Path(folder) / MANIFEST_FILE, columns, LOOKUP_ROWS):
        ids, hashes = batch.column(0).to_pylist(), batch.column(1).to_pylist()
        found = record.outcomes(sorted(hashes))
        outcomes = list(map(found.get, hashes))
        del found
        progress.rows += len(ids)
        if keep is not None:
            keep(ids, outcomes)
        # One f"{custom_id}\0{hash}\0{state}\n" per row, ``state`` the tuple (batch_id,
        # attempt, reason, outcome_round) or None: the text the digest always hashed.
        text = "".join(
            [
                f"{c}\0{h}\0None\n"
                if o is None
                else f"{c}\0{h}\0({o.batch_id!r}, {o.attempt!r}, {o.reason!r}, "
                f"{o.outcome_round!r})\n"
                for c, h, o in zip(ids, hashes, outcomes, strict=True)
            ]
        )
        digest.update(text.encode())
        del text, ids, hashes
        present = [o for o in outcomes if o is not None]
        never_sent += len(outcomes) - len(present)
        for named in (True, False):
            rows = [o for o in present if (o.custom_id is not None) is named]
            needs[named].update(map(_NEED, rows))
            examples[named].update(zip(map(_NEED, rows), rows, strict=True))
    waiting: dict[str, None] = {}
    if never_sent:
        progress.kinds[policy.kind(None, build.round)] += never_sent
    for named in (True, False):
        for need, count in needs[named].items():
            outcome = examples[named][need]
            kind = policy.kind(outcome, build.round)
            progress.kinds[kind] += count
            if kind == "in_flight":
                waiting[outcome.pending_batch] = None  # type: ignore[index]
            if kind == "final" and policy.retryable(outcome):
                progress.budget_spent += count
    progress.waiting = list(waiting)
    progress.digest = digest.hexdigest()
    return progress


def fingerprint(record: RequestRecord, folder: str | Path, policy: Policy) -> str:
    """A digest of everything an evaluation of the day built in ``folder`` depends on: its
    rows' outcomes (see :func:`outcomes_fingerprint`) and the policy."""
    return _with_policy(outcomes_fingerprint(record, folder), policy)


def _with_policy(outcomes_key: str, policy: Policy) -> str:
    parts = (outcomes_key, policy.max_attempts, sorted(policy.retry_reasons))
    return hashlib.sha256(repr(parts).encode()).hexdigest()


def outcomes_fingerprint(record: RequestRecord, folder: str | Path) -> str:
    """A digest of the day built in ``folder`` and of what changes its rows' outcomes.

    A request's outcome on this backend changes only when a batch is recorded (it goes in
    flight, in a new round maybe), collected (its answers) or forgotten (lost): each of
    these adds a row to :meth:`RequestRecord.batches` or sets its ``collected`` time, in the
    same transaction. So every batch of this backend is covered, whatever day it belongs
    to: a request can be shared by several days and answered by another day's batch. With
    them: the backend and the build. A build's folder is written once (the planner empties
    it before building into it again, which removes what was stored beside it too); its
    plan's bytes and its files' size, time and inode guard against a hand edit. Exact:
    the same fingerprint means the same outcomes.
    """
    parts: list[object] = [_FINGERPRINT_FORMAT, LOOKUP_ROWS, record.backend]
    parts.append(str(Path(folder).resolve()))
    for name in (PLAN_FILE, MANIFEST_FILE, INVALID_INPUTS_FILE):
        try:
            stat = os.stat(Path(folder) / name)
        except FileNotFoundError:
            parts.append((name, None))
            continue
        parts.append((name, stat.st_size, stat.st_mtime_ns, stat.st_ino))
        if name == PLAN_FILE:  # small: its bytes too
            parts.append(hashlib.sha256((Path(folder) / name).read_bytes()).hexdigest())
    parts += [(b.batch_id, b.created, b.collected) for b in record.batches()]
    return hashlib.sha256(repr(parts).encode()).hexdigest()


def current_progress(record: RequestRecord, folder: str | Path, policy: Policy) -> Progress:
    """:func:`evaluate`, or what it found last time when nothing it depends on changed
    since (see :func:`fingerprint`); an evaluation keeps the rows' outcomes too (see
    :func:`stored_outcomes`). The fingerprints are taken before the rows are read: a
    change made meanwhile gives the next settle other ones, never a stale state."""
    outcomes_key = outcomes_fingerprint(record, folder)
    key = _with_policy(outcomes_key, policy)
    stored = _stored_progress(Path(folder) / PROGRESS_FILE, key)
    if stored is not None:
        return stored
    with _keeping_outcomes(Path(folder) / OUTCOMES_FILE, outcomes_key) as keep:
        progress = evaluate(record, folder, policy, keep)
    with atomic_write(Path(folder) / PROGRESS_FILE) as out:
        out.write(to_json({"fingerprint": key, **_as_dict(progress)}))
    return progress


@contextmanager
def stored_outcomes(
    record: RequestRecord, folder: str | Path
) -> Iterator[Iterator[pa.RecordBatch] | None]:
    """The outcomes of the day's rows (:data:`OUTCOMES_SCHEMA`, in manifest order, in
    slices of :data:`LOOKUP_ROWS`) as its last evaluation found them, when nothing changed
    since (the same :func:`outcomes_fingerprint`); else None."""
    path = Path(folder) / OUTCOMES_FILE
    try:
        source = pa.OSFile(str(path))
    except FileNotFoundError:
        yield None
        return
    with source:
        try:
            reader = pa.ipc.open_stream(source)
        except pa.ArrowInvalid:  # not a stream we wrote: the record says
            yield None
            return
        with reader:
            key = outcomes_fingerprint(record, folder).encode()
            current = (reader.schema.metadata or {}).get(b"fingerprint") == key
            yield iter(reader) if current and reader.schema.equals(OUTCOMES_SCHEMA) else None


@contextmanager
def _keeping_outcomes(
    path: Path, key: str
) -> Iterator[Callable[[list[str], list[Outcome | None]], None]]:
    """A ``keep`` for :func:`evaluate` writing ``path`` (whole, or left as it was)."""
    tmp = path.with_name(f".{path.name}.part")
    schema = OUTCOMES_SCHEMA.with_metadata({"fingerprint": key})

    def keep(ids: list[str], outcomes: list[Outcome | None]) -> None:
        batch_ids = [None if o is None else o.batch_id for o in outcomes]
        columns = [
            pa.array(batch_ids, pa.string()).dictionary_encode(),
            [None if o is None else o.attempt for o in outcomes],
            [o is not None and o.custom_id == c for c, o in zip(ids, outcomes, strict=True)],
        ]
        writer.write_batch(pa.record_batch(columns, schema=schema))

    try:
        with open(tmp, "wb") as sink:
            with pa.ipc.new_stream(sink, schema) as writer:
                yield keep
            sink.flush()
            os.fsync(sink.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _as_dict(progress: Progress) -> dict[str, object]:
    # Not dataclasses.asdict: it rebuilds a Counter from (kind, count) pairs, counting them.
    return {f.name: getattr(progress, f.name) for f in fields(progress)}


def _stored_progress(path: Path, key: str) -> Progress | None:
    """The progress stored at ``path`` for fingerprint ``key``, if that is what it holds."""
    try:
        stored = from_json(path.read_bytes())
    except (FileNotFoundError, ValueError):
        return None
    if not isinstance(stored, dict) or stored.pop("fingerprint", None) != key:
        return None
    stored["kinds"] = Counter(stored["kinds"])
    return Progress(**stored)


@dataclass(frozen=True, slots=True)
class Settled:
    """A day's state as just stored in the record, and the progress it came from."""

    state: str
    progress: Progress

    @property
    def why_not_ready(self) -> str:
        """Why the tables are not published now (for a log line)."""
        if self.state == State.WAITING:
            return f"waiting for {len(self.progress.waiting)} batch(es)"
        if self.state == State.RESUBMIT:
            return f"{self.progress.to_send} requests to send again first"
        if self.state == State.QUEUED:
            return f"{self.progress.to_send} requests wait for room under the provider's limits"
        return "already published for this state"


def settle(
    record: RequestRecord,
    date: str,
    folder: str | Path,
    policy: Policy,
    *,
    queued: tuple[str, int] | None = None,
    not_before: float | None = None,
) -> Settled:
    """Evaluate the day against the record (see :func:`current_progress`) and store its
    state (what the sensor acts on).

    ``queued`` (model, tokens): what is left to send waits for room under the provider's
    limits, not before ``not_before``; the day is then ``queued``, not ``resubmit``."""
    progress = current_progress(record, folder, policy)
    row = record.partition(date)
    state = progress.state(row.published_digest if row else None)
    if state == State.RESUBMIT and queued is not None:
        state = State.QUEUED
    else:
        queued = None
    record.set_state(
        date,
        state,
        waiting=progress.waiting,
        digest=progress.digest,
        queued=queued,
        not_before=not_before,
    )
    return Settled(state, progress)


def settle_submitted(
    record: RequestRecord,
    date: str,
    build: Build,
    policy: Policy,
    batch_ids: Sequence[str],
    *,
    queued: tuple[str, int] | None = None,
) -> str:
    """The day's state once ``build`` was submitted (``batch_ids``: the batches of its
    shards), stored as :func:`settle` stores it.

    When the build found no row in flight and nothing waits for room, every row that needs
    an answer went into ``batch_ids``: the day waits for exactly those of them not
    collected yet, and is stored so without evaluating its rows (seconds for a 1M-row day,
    and the collect run evaluates it again anyway). Otherwise, or when all of them are
    collected already, :func:`settle` evaluates it."""
    if queued is None and not build.kinds.get("in_flight"):
        batches = [record.batch(batch_id) for batch_id in batch_ids]
        waiting = [b.batch_id for b in batches if b is not None and b.collected is None]
        if waiting:
            record.set_state(date, State.WAITING, waiting=waiting)
            return State.WAITING
    return settle(record, date, build.folder, policy, queued=queued).state


def waiting_batches(record: RequestRecord, date: str) -> list[str]:
    """The batches a collect pass of the day looks at: those its last settle waited for
    (the ones the sensor polls) and any of its own batches not collected yet (one created
    by a run that died before it settled). Read from the record, not from every row:
    evaluating a 1M-row day again costs seconds, and the settle after the pass does that."""
    row = record.partition(date)
    stored = row.waiting if row else []
    own = [b.batch_id for b in record.batches(date) if b.collected is None]
    return list(dict.fromkeys([*stored, *own]))


def current_build(record: RequestRecord, date: str, backend: Backend) -> str:
    """The folder of the day's newest build, or a sentence saying to build it (again)."""
    row = record.partition(date)
    if row is None or not row.manifest:
        raise SynthError(f"{date} has not been built yet; materialize batch_requests first.")
    if row.backend != record.backend:
        raise SynthError(
            f"{date} was built for {backend.other_than(row.backend)}, not {backend.label}; "
            "materialize batch_requests again to use this backend."
        )
    return row.manifest
