"""``synth batch parse`` output: Parquet through the library, or JSONL lines.

Both formats hold the same columns: the parsed table is custom_id, the response model's
fields, then model / batch_id / request_id / token counts; the unparsed table is the
library's ``UNPARSED_SCHEMA`` (reason, status and error codes, message, raw content).
"""

import os
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import BinaryIO

import click
from pydantic import BaseModel
from pydantic_core import to_json

from synth_assets.batch.parse import (
    ParseSummary,
    ResultFiles,
    iter_results,
    paused_gc,
    requested_ids,
    write_tables,
)
from synth_assets.batch.records import Parsed
from synth_assets.batch.tables import parsed_schema

_FORMATS = {".parquet": "parquet", ".pq": "parquet", ".jsonl": "jsonl", ".ndjson": "jsonl"}
_BUFFER = 1 << 20


def output_format(parsed_out: Path, unparsed_out: Path) -> str:
    """``parquet`` or ``jsonl``, from the two paths' extensions (which must agree)."""
    found = []
    for option, path in (("--parsed-out", parsed_out), ("--unparsed-out", unparsed_out)):
        fmt = _FORMATS.get(path.suffix.lower())
        if fmt is None:
            raise click.BadParameter(
                f"{path.name!r} ends in neither .parquet nor .jsonl.", param_hint=option
            )
        found.append(fmt)
    if found[0] != found[1]:
        raise click.UsageError("--parsed-out and --unparsed-out must both be .parquet or .jsonl.")
    if parsed_out.resolve() == unparsed_out.resolve():
        raise click.UsageError("--parsed-out and --unparsed-out must be different files.")
    return found[0]


def write_results(
    files: ResultFiles,
    response_model: type[BaseModel],
    parsed_out: Path,
    unparsed_out: Path,
) -> ParseSummary:
    """Parse ``files`` into the two outputs (format by extension); return the counts."""
    if output_format(parsed_out, unparsed_out) == "parquet":
        return write_tables(
            files, response_model=response_model, parsed_path=parsed_out, unparsed_path=unparsed_out
        )
    # Same refusals as the Parquet path (e.g. a field named like one of our own columns).
    parsed_schema(response_model)
    summary = ParseSummary()
    if files.requested is not None:
        summary.requested = len(requested_ids(files.requested))
    with ExitStack() as stack, paused_gc():
        parsed = stack.enter_context(_atomic(parsed_out))
        unparsed = stack.enter_context(_atomic(unparsed_out))
        for record in iter_results(files, response_model):
            summary.add(record)
            target = parsed if isinstance(record, Parsed) else unparsed
            target.write(to_json(record.as_row()) + b"\n")
    return summary


@contextmanager
def _atomic(path: Path) -> Iterator[BinaryIO]:
    """Write under a temporary name, rename when complete: no reader sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        with open(tmp, "wb", buffering=_BUFFER) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
