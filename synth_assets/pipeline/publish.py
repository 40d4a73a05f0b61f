"""A day's parsed / unparsed tables, assembled from the record for its current rows.

Each current row takes its request's outcome: the answer line as served (under the row's own
custom_id when the same request answered another row), or a reason without a line. The
lines are grouped by (batch, attempt) into scratch files and go through the library's
streaming parser, so the tables are exactly what parsing those batches would give, for the
rows that exist now: a removed row leaves them, an edited row carries its new answer.
Extra lines of the batches involved (second answers, strays) are kept as extra rows.

Memory stays flat in the day's rows: what each group requested (custom_id and request
hash) and the rows with a reason but no line go to scratch files too, and the parser reads
them back one batch at a time. Nothing per row is held beyond one batch: the day's ids are
counted in hash buckets on disk, and the parser remembers across batches only the ids that
more than one row holds (first answer wins across the day), usually none.
"""

import shutil
from collections.abc import Iterator
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
    requested_ids,
    write_tables,
)
from synth_assets.tasks.base import BatchTask

from . import buckets
from .plan import MANIFEST_FILE, iter_invalid_inputs, iter_manifest
from .record import RequestRecord

# Groups whose scratch files stay open at once (two files each): a day of many small
# batches must not run out of file descriptors.
_OPEN_GROUPS = 32
_IDS = pa.schema([("custom_id", pa.string())])


@dataclass(frozen=True, slots=True)
class _Group:
    """The scratch files of one (batch, attempt): its lines, and what it requested (one
    ``{"custom_id", "request_hash"}`` line per row, in order)."""

    lines: Path
    requests: Path


class _ScratchFiles:
    """Appends to the groups' scratch files, keeping at most :data:`_OPEN_GROUPS` groups'
    files open (the least recently written are closed, and reopened to append)."""

    def __init__(self) -> None:
        self._open: dict[_Group, tuple[BinaryIO, BinaryIO]] = {}  # least recent first
        self._last: _Group | None = None  # rows mostly come a batch at a time: no lookup
        self._handles: tuple[BinaryIO, BinaryIO] | None = None

    def write(self, group: _Group, line: bytes, request: bytes | None = None) -> None:
        """Append a line to the group's lines, and what it requested (when given)."""
        if group is not self._last or self._handles is None:
            handles = self._open.pop(group, None)
            if handles is None:
                if len(self._open) >= _OPEN_GROUPS:
                    for handle in self._open.pop(next(iter(self._open))):
                        handle.close()
                handles = (open(group.lines, "ab"), open(group.requests, "ab"))  # noqa: SIM115
            self._open[group] = handles
            self._last, self._handles = group, handles
        self._handles[0].write(line)
        if request is not None:
            self._handles[1].write(request)

    def close(self) -> None:
        for handles in self._open.values():
            for handle in handles:
                handle.close()
        self._open.clear()
        self._last = self._handles = None


def assemble_tables(
    task: BatchTask,
    record: RequestRecord,
    folder: str | Path,
    parsed_path: Path,
    unparsed_path: Path,
    scratch: Path,
) -> ParseSummary:
    """Write the day's tables from the record (every row must have an outcome)."""
    if scratch.exists():
        shutil.rmtree(scratch)
    scratch.mkdir(parents=True)
    groups: dict[tuple[str, int], _Group] = {}
    files = _ScratchFiles()
    without_line = scratch / "without-line.jsonl"
    rows = buckets.parquet_rows(Path(folder) / MANIFEST_FILE)
    day_ids = buckets.Buckets(scratch, "ids", _IDS, "custom_id", buckets.bucket_count(rows))
    try:
        with open(without_line, "wb") as unanswered:
            for ids, hashes in iter_manifest(folder):
                day_ids.write(pa.record_batch([pa.array(ids, pa.string())], schema=_IDS))
                outcomes = record.outcomes(hashes)
                lines = record.lines(hashes)
                for custom_id, request_hash in zip(ids, hashes, strict=True):
                    outcome = outcomes.get(request_hash)
                    if outcome is None or outcome.batch_id is None:
                        raise RuntimeError(f"{custom_id}: no outcome yet; the day is not settled")
                    line = lines.get(request_hash)
                    if line is None:
                        reason = Reason(outcome.reason)
                        row = [custom_id, reason.value, outcome.message, outcome.status_code,
                               outcome.batch_id, outcome.attempt, request_hash]  # fmt: skip
                        unanswered.write(to_json(row) + b"\n")
                        continue
                    if outcome.custom_id != custom_id:  # the same request answered another row
                        answer = from_json(line)
                        answer["custom_id"] = custom_id
                        line = to_json(answer)
                    key = (outcome.batch_id, outcome.attempt or 1)
                    group = groups.get(key)
                    if group is None:
                        stem = f"{key[0]}.a{key[1]}"
                        group = groups[key] = _Group(
                            scratch / f"{stem}.jsonl", scratch / f"{stem}.requests.jsonl"
                        )
                    request = {"custom_id": custom_id, "request_hash": request_hash}
                    files.write(group, line + b"\n", to_json(request) + b"\n")
        _add_extra_lines(record, groups, files)
        files.close()
        shared = _shared_ids(day_ids, folder)
        results = [
            ResultFiles(
                group.lines,
                batch_id=batch_id,
                status="completed",
                requested=group.requests,
                attempt=attempt,
                request_hashes=group.requests,
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
        files.close()
        day_ids.close()
        shutil.rmtree(scratch, ignore_errors=True)


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
    record: RequestRecord, groups: dict[tuple[str, int], _Group], files: _ScratchFiles
) -> None:
    """Append each batch's extra lines to one of its groups (after its answers: a second
    answer stays second). A second answer for a request this day does not take from that
    batch (a later attempt answered it, or its row is gone) is left out, as its first was.
    One batch at a time: its sends and the ids it answers today are read when needed."""
    files.close()  # what each group requested is read back below
    by_batch: dict[str, list[_Group]] = {}
    for (batch_id, _), group in groups.items():
        by_batch.setdefault(batch_id, []).append(group)
    for batch_id, batch_groups in by_batch.items():
        extra = record.extra_lines([batch_id]).get(batch_id)
        if not extra:
            continue
        sent = record.sends(batch_id)
        used: set[str] | None = None  # the ids this batch answers today, read once needed
        for line in extra:
            custom_id = _custom_id(line)
            if custom_id in sent:
                if used is None:
                    used = {c for g in batch_groups for c in requested_ids(g.requests)}
                if custom_id not in used:
                    continue
            files.write(batch_groups[0], line + b"\n")


def _custom_id(line: bytes) -> str | None:
    try:
        value = from_json(line)
    except ValueError:
        return None
    custom_id = value.get("custom_id") if isinstance(value, dict) else None
    return custom_id if isinstance(custom_id, str) else None
