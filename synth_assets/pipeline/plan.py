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
"""

import shutil
import sqlite3
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import pyarrow as pa
import pyarrow.parquet as pq
from pydantic_core import from_json, to_json

from synth_assets.batch import (
    DEFAULT_RETRY_REASONS,
    Reason,
    RequestBuilder,
    Shard,
    Unparsed,
    atomic_write,
    is_retryable,
    write_lines,
)
from synth_assets.tasks.base import BatchTask, custom_id_for

from .estimate import Estimate, Estimator
from .record import Outcome, RequestRecord

MANIFEST_FILE = "manifest.parquet"
SENDS_FILE = "sends.parquet"
PLAN_FILE = "plan.json"
INVALID_INPUTS_FILE = "invalid_inputs.jsonl"
_ROWS_PER_SLICE = 10_000
_RAW_INPUT_CHARS = 2000  # of an invalid input's text kept in the unparsed table
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


def _slices(path: Path) -> Iterator[pa.RecordBatch]:
    """A Parquet file's rows, :data:`_ROWS_PER_SLICE` at a time, in flat memory.

    ``pre_buffer=False``: with pyarrow's default, ``iter_batches`` keeps what it read of
    every row group until the file is done (a 1M-row manifest grew the process by ~80 MB).
    """
    return pq.ParquetFile(path, pre_buffer=False).iter_batches(batch_size=_ROWS_PER_SLICE)


def _rows(snapshot: Path) -> Iterator[list[dict[str, Any]]]:
    """The snapshot's rows, a slice at a time (memory bounded by the slice)."""
    for batch in _slices(snapshot):
        yield batch.to_pylist()


def fresh_round(
    task: BatchTask, snapshot: Path, builder: RequestBuilder, record: RequestRecord
) -> int:
    """The round of a build asking fresh answers for the whole day: one above any round
    the day's requests were sent in."""
    highest = 0
    for rows in _rows(snapshot):
        hashes = [
            builder.encode_hashed("", task.to_messages(row))[1]
            for row in rows
            if not row.get("problem")
        ]
        for outcome in record.outcomes(hashes).values():
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
    sending = _HashSet(folder / ".sending.sqlite")

    def to_send(
        rejects: BinaryIO, manifest: pq.ParquetWriter, sends: pq.ParquetWriter
    ) -> Iterator[tuple[str, bytes]]:
        """Every current row into the manifest; the lines of the requests to send."""
        nonlocal invalid, rows_seen
        for rows in _rows(snapshot):
            ids, hashes, lines = [], [], []
            for row in rows:
                rows_seen += 1
                custom_id = custom_id_for(str(row["id"]))
                if row.get("problem"):
                    invalid += 1
                    text = str(row.get("text") or "")[:_RAW_INPUT_CHARS]
                    problem = {"custom_id": custom_id, "problem": row["problem"], "text": text}
                    rejects.write(to_json(problem) + b"\n")
                    continue
                messages = task.to_messages(row)
                line, request_hash = builder.encode_hashed(custom_id, messages)
                ids.append(custom_id)
                hashes.append(request_hash)
                lines.append(line)
            manifest.write_table(pa.table([ids, hashes], schema=MANIFEST_SCHEMA))
            outcomes = record.outcomes(hashes)
            # Requests an earlier slice of the day sends; this slice's join them below.
            sent_before = sending.present(hashes)
            sending_now: set[str] = set()
            sent: list[tuple[str, str, int, int]] = []
            for custom_id, request_hash, line in zip(ids, hashes, lines, strict=True):
                outcome = outcomes.get(request_hash)
                kind = policy.kind(outcome, round_)
                if kind in SEND_KINDS and (
                    request_hash in sent_before or request_hash in sending_now
                ):
                    kind = "same_request"  # another row of the day sends it
                kinds[kind] += 1
                if kind not in SEND_KINDS:
                    continue
                sending_now.add(request_hash)
                attempt = outcome.attempt + 1 if kind == "retry" and outcome else 1
                send_round = (outcome.outcome_round or 1) if kind == "retry" and outcome else round_
                sent.append((custom_id, request_hash, attempt, send_round))
                yield custom_id, line
            sending.add(sending_now)
            if sent:
                sends.write_table(pa.table(list(zip(*sent, strict=True)), schema=SENDS_SCHEMA))

    with (
        sending,
        open(folder / INVALID_INPUTS_FILE, "wb") as rejects,
        pq.ParquetWriter(folder / MANIFEST_FILE, MANIFEST_SCHEMA) as manifest,
        pq.ParquetWriter(folder / SENDS_FILE, SENDS_SCHEMA) as sends,
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
        kinds=dict(kinds),
        shards=shards,
        requests=requests,
        bytes=nbytes,
        round=round_,
        model=builder.model,
        estimate=estimator.estimate(requests, nbytes),
    )
    with atomic_write(folder / PLAN_FILE) as out:
        out.write(to_json(build, indent=2))
    return build


class _HashSet:
    """The request hashes a build sends, on disk: a day of 10M rows would hold ~1.5 GB of
    them in a Python set. Exact (the full hash is the key), deleted when closed."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._db = sqlite3.connect(path, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=OFF")
        self._db.execute("PRAGMA synchronous=OFF")
        self._db.execute("CREATE TABLE hashes (hash TEXT PRIMARY KEY) WITHOUT ROWID")

    def present(self, hashes: Sequence[str]) -> set[str]:
        """Those of ``hashes`` already added."""
        found: set[str] = set()
        for start in range(0, len(hashes), 500):
            chunk = hashes[start : start + 500]
            marks = ",".join("?" * len(chunk))
            rows = self._db.execute(f"SELECT hash FROM hashes WHERE hash IN ({marks})", chunk)
            found.update(h for (h,) in rows)
        return found

    def add(self, hashes: Iterable[str]) -> None:
        """Add ``hashes`` (none of them present yet)."""
        self._db.execute("BEGIN")
        self._db.executemany("INSERT INTO hashes VALUES (?)", ((h,) for h in hashes))
        self._db.execute("COMMIT")

    def __enter__(self) -> "_HashSet":
        return self

    def __exit__(self, *_: object) -> None:
        self._db.close()
        self._path.unlink(missing_ok=True)


def load_build(folder: str | Path) -> Build:
    """The build written in ``folder``."""
    data = from_json((Path(folder) / PLAN_FILE).read_bytes())
    data["shards"] = [Shard(**s) for s in data["shards"]]
    data["estimate"] = Estimate(**data["estimate"])
    return Build(**data)


def iter_manifest(folder: str | Path) -> Iterator[tuple[list[str], list[str]]]:
    """The day's current (valid) rows: ``(custom_ids, request_hashes)`` a slice at a time."""
    for batch in _slices(Path(folder) / MANIFEST_FILE):
        yield batch.column(0).to_pylist(), batch.column(1).to_pylist()


def iter_sends(folder: str | Path) -> Iterator[tuple[str, str, int, int]]:
    """The requests sent by the build, in shard order: (custom_id, hash, attempt, round)."""
    path = Path(folder) / SENDS_FILE
    for batch in _slices(path):
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
