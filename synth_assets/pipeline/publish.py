"""A day's parsed / unparsed tables, assembled from the record for its current rows.

Each current row takes its request's outcome: the answer line as served (under the row's own
custom_id when the same request answered another row), or a reason without a line. The
lines are grouped by (batch, attempt) into scratch files and go through the library's
streaming parser, so the tables are exactly what parsing those batches would give, for the
rows that exist now: a removed row leaves them, an edited row carries its new answer.
Extra lines of the batches involved (second answers, strays) are kept as extra rows.

Memory stays flat in the day's rows: what each group requested (custom_id and request
hash) goes to scratch Arrow files, read back one group at a time when the parser reaches
it, and the rows with a reason but no line go to a scratch file too. Nothing per row is
held beyond a slice of the manifest or one batch: the day's ids are counted in hash
buckets on disk, and the parser remembers across batches only the ids that more than one
row holds (first answer wins across the day), usually none.
"""

import os
import shutil
from collections.abc import Iterator, Mapping
from contextlib import nullcontext
from dataclasses import dataclass
from itertools import chain
from pathlib import Path
from typing import BinaryIO

import pyarrow as pa
import pyarrow.compute as pc
from pydantic_core import from_json, to_json

from synth_assets.batch import (
    IdSet,
    LineMeta,
    ParseSummary,
    Reason,
    ResultFiles,
    Unparsed,
    write_tables,
)
from synth_assets.tasks.base import BatchTask

from . import buckets, progress
from .plan import MANIFEST_FILE, iter_invalid_inputs
from .record import RequestRecord

_IDS = pa.schema([("custom_id", pa.string())])
_REQUESTS = pa.schema([("custom_id", pa.string()), ("request_hash", pa.string())])


@dataclass(frozen=True, slots=True)
class _Group:
    """The scratch files of one (batch, attempt): its lines, and what it requested (Arrow
    streams of custom_id and request hash, one per slice of the manifest, in row order)."""

    lines: Path
    requests: Path

    def append(self, lines: list[bytes], ids: list[str], hashes: list[str]) -> None:
        """Append rows: their lines, and what they requested."""
        with open(self.lines, "ab") as out:
            out.write(b"\n".join(lines) + b"\n")
        with open(self.requests, "ab") as out, pa.ipc.new_stream(out, _REQUESTS) as writer:
            writer.write_batch(pa.record_batch([ids, hashes], schema=_REQUESTS))


class _GroupRequests(Mapping[str, str]):
    """What a group requested (custom_id -> request hash, in row order) as the parser asks
    for it (``ResultFiles.requested`` and ``request_hashes``): read from its scratch file
    when first asked, and dropped when another group of the same ``loaded`` list is read
    (the parser goes through the batches one after the other)."""

    def __init__(self, group: _Group, loaded: list["_GroupRequests"]) -> None:
        self._group = group
        self._loaded = loaded  # shared by the day's groups: the one whose requests are held
        self._hashes: dict[str, str] | None = None

    def _load(self) -> dict[str, str]:
        for other in self._loaded:
            other._hashes = None  # the previous group's go first
        self._loaded[:] = [self]
        path = self._group.requests
        size = os.path.getsize(path)
        parts = []
        with pa.OSFile(str(path)) as source:
            while source.tell() < size:  # one stream per slice appended
                parts.append(pa.ipc.open_stream(source).read_all())
        ids, hashes = pa.concat_tables(parts).columns
        self._hashes = dict(zip(ids.to_pylist(), hashes.to_pylist(), strict=True))
        return self._hashes

    def __getitem__(self, custom_id: str) -> str:
        return (self._hashes if self._hashes is not None else self._load())[custom_id]

    def get(self, custom_id: str, default: str | None = None) -> str | None:  # type: ignore[override]
        # Asked once per parsed row: one call, no more.
        hashes = self._hashes if self._hashes is not None else self._load()
        return hashes.get(custom_id, default)

    def __iter__(self) -> Iterator[str]:
        return iter(self._hashes if self._hashes is not None else self._load())

    def __len__(self) -> int:
        return len(self._hashes if self._hashes is not None else self._load())


def assemble_tables(
    task: BatchTask,
    record: RequestRecord,
    folder: str | Path,
    parsed_path: Path,
    unparsed_path: Path,
    scratch: Path,
) -> ParseSummary:
    """Write the day's tables from the record (every row must have an outcome).

    Where each row's outcome came from is read from what the day's last evaluation kept,
    while that is current. A batch of this backend recorded or collected meanwhile (another
    day's run, often) makes it stale: the day is then assembled again, from the record."""
    try:
        return _assemble(task, record, folder, parsed_path, unparsed_path, scratch, True)
    except _RecordChanged:
        return _assemble(task, record, folder, parsed_path, unparsed_path, scratch, False)


class _RecordChanged(Exception):
    """The record changed while a day was assembled from the outcomes its evaluation kept."""


def _assemble(
    task: BatchTask,
    record: RequestRecord,
    folder: str | Path,
    parsed_path: Path,
    unparsed_path: Path,
    scratch: Path,
    use_kept: bool,
) -> ParseSummary:
    if scratch.exists():
        shutil.rmtree(scratch)
    scratch.mkdir(parents=True)
    groups: dict[tuple[str, int], _Group] = {}
    without_line = scratch / "without-line.jsonl"
    manifest = Path(folder) / MANIFEST_FILE
    rows = buckets.parquet_rows(manifest)
    day_ids = buckets.Buckets(scratch, "ids", _IDS, "custom_id", buckets.bucket_count(rows))
    outcomes_key = progress.outcomes_fingerprint(record, folder)
    try:
        with (
            open(without_line, "wb") as unanswered,
            progress.stored_outcomes(record, folder) if use_kept else nullcontext() as kept,
        ):
            used_kept = kept is not None
            columns = ["custom_id", "request_hash"]
            for batch in buckets.slices(manifest, columns, progress.LOOKUP_ROWS):
                day_ids.write(pa.record_batch([batch.column(0)], schema=_IDS))
                ids, hashes = batch.column(0).to_pylist(), batch.column(1).to_pylist()
                sources = next(kept, None) if kept is not None else None
                if sources is not None and sources.num_rows != batch.num_rows:
                    kept = sources = None  # sliced otherwise: the record says, from here on
                rows_by_group = _assemble_slice(record, ids, hashes, sources, unanswered)
                for key, rows_of_group in rows_by_group:
                    group = groups.get(key)
                    if group is None:
                        stem = f"{key[0]}.a{key[1]}"  # a batch may hold several attempts
                        group = groups[key] = _Group(
                            scratch / f"{stem}.jsonl", scratch / f"{stem}.requests.arrow"
                        )
                    group.append(*rows_of_group)
        if used_kept and progress.outcomes_fingerprint(record, folder) != outcomes_key:
            # Lines read after an outcome changed would not match where it was kept from.
            raise _RecordChanged(folder)
        loaded: list[_GroupRequests] = []
        requested = {key: _GroupRequests(group, loaded) for key, group in groups.items()}
        _add_extra_lines(record, groups, requested)
        shared = _shared_ids(day_ids, folder)
        results = [
            ResultFiles(
                group.lines,
                batch_id=batch_id,
                status="completed",
                requested=requested[batch_id, attempt],
                attempt=attempt,
                request_hashes=requested[batch_id, attempt],
            )
            for (batch_id, attempt), group in groups.items()
        ]
        return write_tables(
            results,
            response_model=task.response_model,
            parsed_path=parsed_path,
            unparsed_path=unparsed_path,
            rejected_inputs=chain(iter_invalid_inputs(folder), _without_line(without_line)),
            shared_ids=shared,
        )
    finally:
        day_ids.close()
        shutil.rmtree(scratch, ignore_errors=True)


def _assemble_slice(
    record: RequestRecord,
    ids: list[str],
    hashes: list[str],
    kept: pa.RecordBatch | None,
    unanswered: BinaryIO,
) -> Iterator[tuple[tuple[str, int], tuple[list[bytes], list[str], list[str]]]]:
    """A slice of the manifest's rows by group (batch, attempt): their lines, ids and
    hashes, in row order. A row whose request has a reason but no line goes to
    ``unanswered`` instead. ``kept``: where the rows' outcomes came from, as the day's
    evaluation kept them (see :func:`progress.stored_outcomes`), when still current."""
    in_key_order = sorted(hashes)  # the record's pages are then read in order
    found = record.lines(in_key_order)
    lines = list(map(found.get, hashes))
    del found
    if kept is not None and None not in lines:  # every row answered with a line: as kept
        # Decoded first: a dictionary column's to_pylist costs ~1 µs a row, this ~25 ns.
        batch_ids = kept.column(0).dictionary_decode().to_pylist()
        attempts, own = kept.column(1).to_pylist(), kept.column(2).to_pylist()
    else:
        batch_ids, attempts, own = _sources(record, in_key_order, ids, hashes, lines, unanswered)
    del in_key_order
    by_group: dict[tuple[str, int], tuple[list[bytes], list[str], list[str]]] = {}
    rows = zip(ids, hashes, lines, batch_ids, attempts, own, strict=True)
    for custom_id, request_hash, line, batch_id, attempt, owned in rows:
        if line is None:
            continue  # in ``unanswered``
        if batch_id is None:
            raise RuntimeError(f"{custom_id}: no outcome yet; the day is not settled")
        if not owned:  # the same request answered another row
            answer = from_json(line)
            answer["custom_id"] = custom_id
            line = to_json(answer)
        key = (batch_id, attempt or 1)
        group = by_group.get(key)
        if group is None:
            group = by_group[key] = ([], [], [])
        group[0].append(line)
        group[1].append(custom_id)
        group[2].append(request_hash)
    return iter(by_group.items())


def _sources(
    record: RequestRecord,
    in_key_order: list[str],
    ids: list[str],
    hashes: list[str],
    lines: list[bytes | None],
    unanswered: BinaryIO,
) -> tuple[list[str | None], list[int | None], list[bool]]:
    """Where the rows' outcomes came from, read from the record (batch, attempt, whether
    the answer names the row's own custom_id); a row with a reason but no line is written
    to ``unanswered``."""
    found = record.outcomes(in_key_order)
    outcomes = list(map(found.get, hashes))
    del found
    for custom_id, request_hash, line, outcome in zip(ids, hashes, lines, outcomes, strict=True):
        if outcome is None or outcome.batch_id is None:
            raise RuntimeError(f"{custom_id}: no outcome yet; the day is not settled")
        if line is None:
            reason = Reason(outcome.reason)
            row = [custom_id, reason.value, outcome.message, outcome.status_code,
                   outcome.batch_id, outcome.attempt, request_hash]  # fmt: skip
            unanswered.write(to_json(row) + b"\n")
    return (
        [o.batch_id for o in outcomes],  # type: ignore[union-attr]
        [o.attempt for o in outcomes],  # type: ignore[union-attr]
        [o.custom_id == c for c, o in zip(ids, outcomes, strict=True)],  # type: ignore[union-attr]
    )


def _shared_ids(day_ids: buckets.Buckets, folder: str | Path) -> IdSet:
    """The custom_ids more than one row of the day holds (current rows, and input rows
    never sent): usually none. Every other id is requested by one batch at most or is one
    rejected input, so the parser need not remember it beyond its batch. Exact: the ids
    are counted in hash buckets on disk."""
    chunk: list[str | None] = []
    for row in iter_invalid_inputs(folder):
        chunk.append(row.custom_id)
        if len(chunk) >= buckets.SLICE_ROWS:
            day_ids.write(pa.record_batch([pa.array(chunk, pa.string())], schema=_IDS))
            chunk = []
    day_ids.write(pa.record_batch([pa.array(chunk, pa.string())], schema=_IDS))
    day_ids.close()
    shared = IdSet()
    for bucket in day_ids:
        counts = pc.value_counts(bucket.column(0))
        repeated = pc.filter(counts.field("values"), pc.greater(counts.field("counts"), 1))
        shared.update(custom_id for custom_id in repeated.to_pylist() if custom_id is not None)
    return shared


def _without_line(path: Path) -> Iterator[Unparsed]:
    """The rows whose request has a reason but no line, read back in order."""
    with open(path, "rb") as rows:
        for row in rows:
            custom_id, reason, message, status_code, batch_id, attempt, request_hash = from_json(
                row
            )
            meta = LineMeta(batch_id=batch_id, attempt=attempt, request_hash=request_hash)
            yield Unparsed(
                custom_id,
                Reason(reason),
                message,
                source="request",
                status_code=status_code,
                meta=meta,
            )


def _add_extra_lines(
    record: RequestRecord,
    groups: dict[tuple[str, int], _Group],
    requested: dict[tuple[str, int], _GroupRequests],
) -> None:
    """Append each batch's extra lines to one of its groups (after its answers: a second
    answer stays second). A second answer for a request this day does not take from that
    batch (a later attempt answered it, or its row is gone) is left out, as its first was.
    One batch at a time: its sends and the ids it answers today are read when needed."""
    by_batch: dict[str, list[tuple[str, int]]] = {}
    for key in groups:
        by_batch.setdefault(key[0], []).append(key)
    for batch_id, keys in by_batch.items():
        extra = record.extra_lines([batch_id]).get(batch_id)
        if not extra:
            continue
        sent = record.sends(batch_id)
        used: set[str] | None = None  # the ids this batch answers today, read once needed
        kept: list[bytes] = []
        for line in extra:
            custom_id = _custom_id(line)
            if custom_id in sent:
                if used is None:
                    used = {c for key in keys for c in requested[key]}
                if custom_id not in used:
                    continue
            kept.append(line)
        if kept:
            with open(groups[keys[0]].lines, "ab") as out:
                out.write(b"".join(line + b"\n" for line in kept))


def _custom_id(line: bytes) -> str | None:
    try:
        value = from_json(line)
    except ValueError:
        return None
    custom_id = value.get("custom_id") if isinstance(value, dict) else None
    return custom_id if isinstance(custom_id, str) else None
