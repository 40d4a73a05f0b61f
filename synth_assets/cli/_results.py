"""``synth batch parse`` output: Parquet through the library, or JSONL lines.

Both formats hold the same columns: the parsed table is custom_id, the response model's
fields, then model / batch_id / request_id / token counts; the unparsed table is the
library's ``UNPARSED_SCHEMA`` (reason, status and error codes, message, raw content).
"""

from contextlib import ExitStack
from pathlib import Path

import click
from pydantic import BaseModel
from pydantic_core import to_json

from synth_assets.batch import (
    Parsed,
    ParseSummary,
    ResultFiles,
    atomic_write,
    iter_results,
    parsed_schema,
    paused_gc,
    requested_ids,
    write_tables,
)

_FORMATS = {".parquet": "parquet", ".pq": "parquet", ".jsonl": "jsonl", ".ndjson": "jsonl"}


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
        parsed = stack.enter_context(atomic_write(parsed_out))
        unparsed = stack.enter_context(atomic_write(unparsed_out))
        for record in iter_results(files, response_model):
            summary.add(record)
            target = parsed if isinstance(record, Parsed) else unparsed
            target.write(to_json(record.as_row()) + b"\n")
    return summary
