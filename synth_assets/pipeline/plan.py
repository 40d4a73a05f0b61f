"""Building a day's requests: only those without a final answer are sent.

A day's requests are its current input rows. Each row's request line is built, and its hash
(:meth:`RequestBuilder.encode_hashed`: everything but the custom_id) is looked up in the
:class:`RequestRecord` of the backend. A row is sent when its request has no final answer
there: never sent, sent in a batch the backend lost, a retryable failure within the attempt
budget, or older than the fresh answers the user asked for. A request already in flight is
waited for, not sent again; two rows with the same request are sent once.

The build writes, into its generation's folder: the manifest (every current row: custom_id,
request hash), the invalid input rows, the shards to send, and ``sends.parquet`` (the
attempt and round of each request sent, in shard order).

It works a slice of rows at a time, in flat memory: a template renders the slice's columns
in Arrow, its requests are encoded and hashed in one call
(:meth:`RequestBuilder.encode_many`), looked up in the record together, and the slice's
lines go to the shard writer together. The requests already sent by earlier rows of the day
are an exact set on disk (:mod:`.claims`), which claims a slice in its own thread while the
next slice is built. The request lines are byte for byte those of one row at a time
(``tests/pipeline/test_plan_golden.py``): a changed byte would be a new request, paid again.
"""

import shutil
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from pydantic_core import from_json, to_json

from synth_assets.batch import (
    DEFAULT_RETRY_REASONS,
    MAX_CUSTOM_ID_LENGTH,
    Reason,
    RequestBuilder,
    Shard,
    Unparsed,
    atomic_write,
    is_retryable,
    write_lines,
)
from synth_assets.tasks.base import BatchTask, custom_id_for
from synth_assets.tasks.template import PromptTemplate

from .buckets import slices
from .claims import ClaimedHashes
from .estimate import Estimate, Estimator
from .record import Outcome, RequestRecord

MANIFEST_FILE = "manifest.parquet"
SENDS_FILE = "sends.parquet"
PLAN_FILE = "plan.json"
INVALID_INPUTS_FILE = "invalid_inputs.jsonl"
_ROWS_PER_SLICE = 10_000
# Rows a build renders and encodes at a time: two slices are in hand at once (one claimed
# while the next is built), and each row holds ~3 KB then.
BUILD_SLICE_ROWS = 5_000
_RAW_INPUT_CHARS = 2000  # of an invalid input's text kept in the unparsed table
PROBLEM = "problem"  # the snapshot's column saying why a row is not sent (null: it is)
MANIFEST_SCHEMA = pa.schema([("custom_id", pa.string()), ("request_hash", pa.string())])
SENDS_SCHEMA = pa.schema(
    [
        ("custom_id", pa.string()),
        ("request_hash", pa.string()),
        ("attempt", pa.int32()),
        ("round", pa.int32()),
    ]
)


@dataclass(frozen=True, slots=True)
class Policy:
    """When a failed request is sent again: a retryable reason, within the attempt budget."""

    max_attempts: int = 3
    retry_reasons: frozenset[str] = frozenset(r.value for r in DEFAULT_RETRY_REASONS)

    def retryable(self, outcome: Outcome) -> bool:
        """True for a failure worth another attempt (whatever the budget)."""
        if outcome.reason is None:
            return False
        record = Unparsed(
            outcome.custom_id, Reason(outcome.reason), status_code=outcome.status_code
        )
        return is_retryable(record, self.retry_reasons)

    def kind(self, outcome: Outcome | None, round_: int) -> str:
        """What a row's request needs: ``new``, ``retry``, ``fresh`` (send it), ``in_flight``
        (wait for it) or ``final``."""
        if outcome is None or (outcome.pending_batch is None and not outcome.answered):
            return "new"
        if outcome.pending_batch is not None:
            return "in_flight"
        if (outcome.outcome_round or 1) < round_:
            return "fresh"
        if self.retryable(outcome) and (outcome.attempt or 0) < self.max_attempts:
            return "retry"
        return "final"


SEND_KINDS = frozenset({"new", "retry", "fresh"})


@dataclass(frozen=True, slots=True)
class Build:
    """One build of a day: what is current, what is sent, what it should cost."""

    folder: str
    rows: int  # current input rows, invalid ones included
    invalid_inputs: int
    kinds: dict[str, int]  # rows per kind (new, retry, fresh, in_flight, final, same_request)
    shards: list[Shard]
    requests: int  # requests to send
    bytes: int
    round: int
    model: str
    estimate: Estimate  # of the requests to send


@dataclass(frozen=True, slots=True)
class _Requests:
    """One slice of the day: its rows' count and the requests of its valid rows."""

    rows: int  # input rows, invalid ones included
    invalid: int
    ids: list[str]
    lines: list[bytes]
    hashes: list[str]


# A key custom_id_for keeps as it is: 1 to 64 printable ASCII characters.
_PLAIN_KEY = f"^[ -~]{{1,{MAX_CUSTOM_ID_LENGTH}}}$"


def _requests(
    task: BatchTask, snapshot: Path, builder: RequestBuilder, rejects: BinaryIO | None = None
) -> Iterator[_Requests]:
    """The snapshot's requests, a slice at a time; its invalid rows go to ``rejects``.

    A task whose prompt is a :class:`PromptTemplate` is rendered a column at a time, and
    only the columns it uses are read; any other ``to_messages`` gets each row as a dict.
    """
    template = task.to_messages if isinstance(task.to_messages, PromptTemplate) else None
    names = pq.read_schema(snapshot).names
    columns = None
    if template is not None:
        wanted = {"id", "text", PROBLEM, *template.columns()}
        columns = [name for name in names if name in wanted]
    for batch in slices(snapshot, columns, BUILD_SLICE_ROWS):
        valid = _without_invalid(batch, rejects)
        ids = _custom_ids(valid.column("id"))
        if template is not None:
            messages = template.messages_json(valid)
        else:
            messages = [to_json(task.to_messages(row)) for row in valid.to_pylist()]
        lines, hashes = builder.encode_many(ids, messages)
        rows, invalid = batch.num_rows, batch.num_rows - valid.num_rows
        del batch, valid, messages  # not held while the slice is used (~10 MB)
        yield _Requests(rows, invalid, ids, lines, hashes)


def _without_invalid(batch: pa.RecordBatch, rejects: BinaryIO | None) -> pa.RecordBatch:
    """The rows of ``batch`` with no problem; the others are written to ``rejects``."""
    if PROBLEM not in batch.schema.names or batch.column(PROBLEM).null_count == batch.num_rows:
        return batch
    problems = [bool(problem) for problem in batch.column(PROBLEM).to_pylist()]
    if not any(problems):
        return batch
    if rejects is not None:
        for row in batch.filter(pa.array(problems)).to_pylist():
            text = str(row.get("text") or "")[:_RAW_INPUT_CHARS]
            custom_id = custom_id_for(str(row["id"]))
            problem = {"custom_id": custom_id, "problem": row[PROBLEM], "text": text}
            rejects.write(to_json(problem) + b"\n")
    return batch.filter(pa.array([not problem for problem in problems]))


def _custom_ids(keys: pa.Array) -> list[str]:
    """:func:`custom_id_for` of each key (a column of any type, as ``str`` of its values);
    checked in Arrow when every key is a plain one, kept as it is."""
    if (
        (pa.types.is_string(keys.type) or pa.types.is_large_string(keys.type))
        and keys.null_count == 0
        and pc.all(pc.match_substring_regex(keys, _PLAIN_KEY)).as_py()
    ):
        return keys.to_pylist()
    return [custom_id_for(str(key)) for key in keys.to_pylist()]


@dataclass(frozen=True, slots=True)
class _Wanted:
    """The rows of a slice whose request is sent unless an earlier row of the day sends it:
    by position, with the kind, attempt and round each would go in."""

    positions: list[int]
    kinds: list[str]
    attempts: list[int]
    rounds: list[int]

    def first_of_each(self, hashes: list[str], new: set[str]) -> "_Wanted":
        """Only the rows whose request is in ``new`` (no earlier slice sends it), the first
        row of each (``new`` is emptied)."""
        keep = []
        for index, position in enumerate(self.positions):
            if hashes[position] in new:
                new.discard(hashes[position])
                keep.append(index)
        return _Wanted(
            *(
                [column[i] for i in keep]
                for column in (self.positions, self.kinds, self.attempts, self.rounds)
            )
        )


def _wanted(
    hashes: list[str],
    outcomes: dict[str, Outcome],
    policy: Policy,
    round_: int,
    kinds: Counter[str],
) -> _Wanted:
    """The rows of a slice to send, by their request's outcome; the others are counted in
    ``kinds`` (the rows to send are counted once it is known which ones are)."""
    if not outcomes:  # none of these requests was ever sent: every one is new
        count = len(hashes)
        return _Wanted(list(range(count)), ["new"] * count, [1] * count, [round_] * count)
    wanted = _Wanted([], [], [], [])
    for position, request_hash in enumerate(hashes):
        outcome = outcomes.get(request_hash)
        kind = policy.kind(outcome, round_)
        if kind not in SEND_KINDS:
            kinds[kind] += 1
            continue
        retry = kind == "retry" and outcome is not None
        wanted.positions.append(position)
        wanted.kinds.append(kind)
        wanted.attempts.append(outcome.attempt + 1 if retry else 1)  # type: ignore[union-attr,operator]
        wanted.rounds.append((outcome.outcome_round or 1) if retry else round_)  # type: ignore[union-attr]
    return wanted


def fresh_round(
    task: BatchTask, snapshot: Path, builder: RequestBuilder, record: RequestRecord
) -> int:
    """The round of a build asking fresh answers for the whole day: one above any round
    the day's requests were sent in."""
    highest = 0
    for requests in _requests(task, snapshot, builder):
        for outcome in record.outcomes(requests.hashes).values():
            highest = max(highest, outcome.round, outcome.outcome_round or 0)
    return highest + 1


def build_requests(
    task: BatchTask,
    snapshot: Path,
    folder: Path,
    builder: RequestBuilder,
    record: RequestRecord,
    policy: Policy,
    *,
    fresh: bool = False,
    max_requests: int,
    max_bytes: int,
) -> Build:
    """Write the day's manifest and the shards of the requests it must send (see module)."""
    if folder.exists():
        shutil.rmtree(folder)  # an earlier attempt at this generation
    folder.mkdir(parents=True)
    round_ = fresh_round(task, snapshot, builder, record) if fresh else 1
    kinds: Counter[str] = Counter()
    invalid = rows_seen = 0
    sending = ClaimedHashes(folder)

    def to_send(
        rejects: BinaryIO, manifest: pq.ParquetWriter, sends: pq.ParquetWriter
    ) -> Iterator[tuple[list[str], list[bytes]]]:
        """Every current row into the manifest; the lines of the requests to send, a slice
        at a time. A slice's hashes are claimed in the set's thread while the next slice is
        built (the slices' claims run in order, so each sees the ones before it)."""
        nonlocal invalid, rows_seen
        waiting: tuple[_Requests, _Wanted, Future[set[str]]] | None = None
        for requests in _requests(task, snapshot, builder, rejects):
            rows_seen += requests.rows
            invalid += requests.invalid
            hashes = requests.hashes
            manifest.write_table(pa.table([requests.ids, hashes], schema=MANIFEST_SCHEMA))
            wanted = _wanted(hashes, record.outcomes(hashes), policy, round_, kinds)
            claim = sending.claim([hashes[p] for p in wanted.positions])
            if waiting:
                yield from sent(*waiting, sends)
            waiting = (requests, wanted, claim)
        if waiting:
            yield from sent(*waiting, sends)

    def sent(
        requests: _Requests, wanted: _Wanted, claim: Future[set[str]], sends: pq.ParquetWriter
    ) -> Iterator[tuple[list[str], list[bytes]]]:
        """The slice's requests no earlier row of the day sends, into ``sends``."""
        first = claim.result()
        if len(first) < len(wanted.positions):  # some request is another row's too
            fewer = wanted.first_of_each(requests.hashes, first)
            kinds["same_request"] += len(wanted.positions) - len(fewer.positions)
            wanted = fewer
        kinds.update(wanted.kinds)
        if not wanted.positions:
            return
        ids = [requests.ids[p] for p in wanted.positions]
        hashes = [requests.hashes[p] for p in wanted.positions]
        columns = [ids, hashes, wanted.attempts, wanted.rounds]
        sends.write_table(pa.table(columns, schema=SENDS_SCHEMA))
        yield ids, [requests.lines[p] for p in wanted.positions]

    with (
        sending,
        open(folder / INVALID_INPUTS_FILE, "wb") as rejects,
        # Hashes and ids rarely repeat: a dictionary page would only be written to be dropped.
        pq.ParquetWriter(folder / MANIFEST_FILE, MANIFEST_SCHEMA, use_dictionary=False) as manifest,
        pq.ParquetWriter(folder / SENDS_FILE, SENDS_SCHEMA, use_dictionary=False) as sends,
    ):
        shards = write_lines(
            to_send(rejects, manifest, sends),
            folder,
            model=builder.model,
            endpoint=builder.endpoint,
            max_requests=max_requests,
            max_bytes=max_bytes,
        )
    requests = sum(s.requests for s in shards)
    nbytes = sum(s.bytes for s in shards)
    estimator = Estimator(record, builder.model, builder.params.get("max_tokens"))
    build = Build(
        folder=str(folder),
        rows=rows_seen,
        invalid_inputs=invalid,
        kinds={kind: n for kind, n in sorted(kinds.items()) if n},
        shards=shards,
        requests=requests,
        bytes=nbytes,
        round=round_,
        model=builder.model,
        estimate=estimator.estimate(requests, nbytes),
    )
    with atomic_write(folder / PLAN_FILE) as out:
        out.write(to_json(build, indent=2))
    # Arrow's allocator keeps what the slices freed (~40 MB at 1M rows); the run's next step
    # (the upload, in the same process) needs it more.
    pa.default_memory_pool().release_unused()
    return build


def load_build(folder: str | Path) -> Build:
    """The build written in ``folder``."""
    data = from_json((Path(folder) / PLAN_FILE).read_bytes())
    data["shards"] = [Shard(**s) for s in data["shards"]]
    data["estimate"] = Estimate(**data["estimate"])
    return Build(**data)


def iter_manifest(folder: str | Path) -> Iterator[tuple[list[str], list[str]]]:
    """The day's current (valid) rows: ``(custom_ids, request_hashes)`` a slice at a time."""
    for batch in slices(Path(folder) / MANIFEST_FILE, rows=_ROWS_PER_SLICE):
        yield batch.column(0).to_pylist(), batch.column(1).to_pylist()


def iter_sends(folder: str | Path) -> Iterator[tuple[str, str, int, int]]:
    """The requests sent by the build, in shard order: (custom_id, hash, attempt, round)."""
    path = Path(folder) / SENDS_FILE
    for batch in slices(path, rows=_ROWS_PER_SLICE):
        yield from zip(*(batch.column(i).to_pylist() for i in range(4)), strict=True)


def invalid_inputs(folder: str | Path) -> list[Unparsed]:
    """The day's input rows that are never sent, as unparsed ``invalid_input`` rows."""
    return list(iter_invalid_inputs(folder))


def iter_invalid_inputs(folder: str | Path) -> Iterator[Unparsed]:
    """:func:`invalid_inputs`, streamed from the file a line at a time."""
    path = Path(folder) / INVALID_INPUTS_FILE
    if not path.exists():
        return
    with open(path, "rb") as lines:
        for line in lines:
            if not line.strip():
                continue
            r = from_json(line)
            yield Unparsed(
                r["custom_id"], Reason.INVALID_INPUT, r["problem"], r["text"], source="input"
            )


_KIND_LABELS = {
    "new": "new",
    "retry": "retries",
    "fresh": "fresh answers asked",
    "in_flight": "in flight",
    "final": "answered already",
    "same_request": "same request as another row",
}


def describe_kinds(kinds: dict[str, int]) -> str:
    """Rows per need, for a log line: ``answered already 280, new 2``."""
    parts = [f"{_KIND_LABELS.get(k, k)} {n}" for k, n in sorted(kinds.items())]
    return ", ".join(parts) or "no rows"


def prune_builds(current: Path) -> None:
    """Keep the current build of a day and the one before it (a collect run may still read
    it); older ones go. By age, not number: a rebuilt record numbers builds from 1 again."""
    others = sorted(
        (p for p in current.parent.glob("g*") if p.is_dir() and p != current),
        key=lambda p: p.stat().st_mtime,
    )
    for old in others[:-1]:
        shutil.rmtree(old, ignore_errors=True)
