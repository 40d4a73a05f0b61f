"""A day's parsed / unparsed tables, assembled from the record for its current rows.

Each current row takes its request's outcome: the answer line as served (under the row's own
custom_id when the same request answered another row), or a reason without a line. The
lines are grouped by (batch, attempt) into scratch files and go through the library's
streaming parser, so the tables are exactly what parsing those batches would give, for the
rows that exist now: a removed row leaves them, an edited row carries its new answer.
Extra lines of the batches involved (second answers, strays) are kept as extra rows.
"""

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from pydantic_core import from_json, to_json

from synth_assets.batch import LineMeta, ParseSummary, Reason, ResultFiles, Unparsed, write_tables
from synth_assets.tasks.base import BatchTask

from .plan import invalid_inputs, iter_manifest
from .record import RequestRecord


@dataclass
class _Group:
    """The lines of one (batch, attempt), written to a scratch file."""

    path: Path
    handle: BinaryIO
    requested: list[str]
    hashes: dict[str, str]


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
    without_line: list[Unparsed] = []
    try:
        for ids, hashes in iter_manifest(folder):
            outcomes = record.outcomes(hashes)
            lines = record.lines(hashes)
            for custom_id, request_hash in zip(ids, hashes, strict=True):
                outcome = outcomes.get(request_hash)
                if outcome is None or outcome.batch_id is None:
                    raise RuntimeError(f"{custom_id}: no outcome yet; the day is not settled")
                line = lines.get(request_hash)
                if line is None:
                    meta = LineMeta(
                        batch_id=outcome.batch_id,
                        attempt=outcome.attempt,
                        request_hash=request_hash,
                    )
                    without_line.append(
                        Unparsed(
                            custom_id,
                            Reason(outcome.reason),
                            outcome.message,
                            source="request",
                            status_code=outcome.status_code,
                            meta=meta,
                        )
                    )
                    continue
                if outcome.custom_id != custom_id:  # the same request answered another row
                    answer = from_json(line)
                    answer["custom_id"] = custom_id
                    line = to_json(answer)
                key = (outcome.batch_id, outcome.attempt or 1)
                group = groups.get(key)
                if group is None:
                    path = scratch / f"{key[0]}.a{key[1]}.jsonl"
                    group = groups[key] = _Group(path, open(path, "wb"), [], {})  # noqa: SIM115
                group.handle.write(line + b"\n")
                group.requested.append(custom_id)
                group.hashes[custom_id] = request_hash
        _add_extra_lines(record, groups)
        for group in groups.values():
            group.handle.close()
        results = [
            ResultFiles(
                group.path,
                batch_id=batch_id,
                status="completed",
                requested=group.requested,
                attempt=attempt,
                request_hashes=group.hashes,
            )
            for (batch_id, attempt), group in groups.items()
        ]
        return write_tables(
            results,
            response_model=task.response_model,
            parsed_path=parsed_path,
            unparsed_path=unparsed_path,
            rejected_inputs=[*invalid_inputs(folder), *without_line],
        )
    finally:
        for group in groups.values():
            group.handle.close()
        shutil.rmtree(scratch, ignore_errors=True)


def _add_extra_lines(record: RequestRecord, groups: dict[tuple[str, int], _Group]) -> None:
    """Append each batch's extra lines to one of its groups (after its answers: a second
    answer stays second). A second answer for a request this day does not take from that
    batch (a later attempt answered it, or its row is gone) is left out, as its first was."""
    firsts: dict[str, _Group] = {}
    used: dict[str, set[str]] = {}
    for (batch_id, _), group in groups.items():
        firsts.setdefault(batch_id, group)
        used.setdefault(batch_id, set()).update(group.requested)
    for batch_id, extra in record.extra_lines(list(firsts)).items():
        sent = record.sends(batch_id)
        for line in extra:
            custom_id = _custom_id(line)
            if custom_id in sent and custom_id not in used[batch_id]:
                continue
            firsts[batch_id].handle.write(line + b"\n")


def _custom_id(line: bytes) -> str | None:
    try:
        value = from_json(line)
    except ValueError:
        return None
    custom_id = value.get("custom_id") if isinstance(value, dict) else None
    return custom_id if isinstance(custom_id, str) else None
