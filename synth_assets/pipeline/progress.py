"""Where a day stands against the record: what is final, in flight, or still to send.

The day's current rows (its latest build's manifest) are looked up in the record. The
digest covers every row and its outcome, so the tables are published once per state: an
unchanged re-run finds the digest it published and publishes nothing.
"""

import hashlib
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from synth_assets.batch import Backend, SynthError

from .plan import INVALID_INPUTS_FILE, SEND_KINDS, Policy, iter_manifest, load_build
from .record import RequestRecord, State


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


def evaluate(record: RequestRecord, folder: str | Path, policy: Policy) -> Progress:
    """The progress of the day built in ``folder``."""
    build = load_build(folder)
    progress = Progress(rows=build.invalid_inputs)
    digest = hashlib.sha256()
    invalid = Path(folder) / INVALID_INPUTS_FILE
    if invalid.exists():
        digest.update(hashlib.sha256(invalid.read_bytes()).digest())
    waiting: dict[str, None] = {}
    for ids, hashes in iter_manifest(folder):
        outcomes = record.outcomes(hashes)
        for custom_id, request_hash in zip(ids, hashes, strict=True):
            progress.rows += 1
            outcome = outcomes.get(request_hash)
            kind = policy.kind(outcome, build.round)
            progress.kinds[kind] += 1
            if kind == "in_flight":
                waiting[outcome.pending_batch] = None  # type: ignore[union-attr,index]
            if outcome is not None and kind == "final" and policy.retryable(outcome):
                progress.budget_spent += 1
            state = (
                (outcome.batch_id, outcome.attempt, outcome.reason, outcome.outcome_round)
                if outcome
                else None
            )
            digest.update(f"{custom_id}\0{request_hash}\0{state}\n".encode())
    progress.waiting = list(waiting)
    progress.digest = digest.hexdigest()
    return progress


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
    """Evaluate the day against the record and store its state (what the sensor acts on).

    ``queued`` (model, tokens): what is left to send waits for room under the provider's
    limits, not before ``not_before``; the day is then ``queued``, not ``resubmit``."""
    progress = evaluate(record, folder, policy)
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
