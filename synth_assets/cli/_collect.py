"""``synth batch download-file`` and ``parse``: from a finished batch to tables."""

import tempfile
from pathlib import Path

import click
from pydantic_core import from_json
from rich.table import Table

from synth_assets.batch import ParseSummary, ResultFiles, SynthError, batch_error_summary

from . import _render as render
from ._common import batch_id_option, connect, import_response_model
from ._download import default_error_path, fetch, result_file_ids, write_empty
from ._results import output_format, write_results
from ._shared import EXISTING, TARGET, batch_id_opt, hint, response_model_opt


@click.command("download-file")
@batch_id_opt
@click.option(
    "--download-file-path", required=True, type=TARGET, help="Where the output file goes."
)
@click.option(
    "--error-file-path", type=TARGET, help="Where the error file goes [default: OUT.errors.jsonl]."
)
def download_file(batch_id: str, download_file_path: Path, error_file_path: Path | None) -> None:
    """Download a finished batch's output file and error file.

    Works for completed, expired and cancelled batches (their partial results included).
    Files are streamed and written atomically. When every request failed, the batch has no
    output file: the output path is written empty and the errors go to the error file.

    \b
    Example:
      synth batch download-file --batch-id batch_abc123 --download-file-path results.jsonl
    """
    errors_path = error_file_path or default_error_path(download_file_path)
    if errors_path.resolve() == download_file_path.resolve():
        raise click.UsageError("--error-file-path must differ from --download-file-path.")
    api = connect()
    found = api.batch(batch_id)
    output_id, error_id = result_file_ids(found)
    progress = render.stderr()
    failed, completed, total = render.counts(found)
    click.echo(
        f"batch {found.id} {found.status}: {completed} completed, {failed} failed of {total}"
    )
    if output_id:
        written = fetch(api, output_id, download_file_path, "output", progress)
        click.echo(f"output  {written.path}  ({render.human_bytes(written.bytes)})")
    else:
        write_empty(download_file_path)
        click.echo(
            f"note: batch {found.id} has no output file (no request succeeded); "
            f"{download_file_path} is written empty and the errors go to {errors_path}.",
            err=True,
        )
    if error_id:
        written = fetch(api, error_id, errors_path, "errors", progress)
        click.echo(f"errors  {written.path}  ({render.human_bytes(written.bytes)})")
    elif error_file_path is not None:
        write_empty(error_file_path)  # asked for by name: a script will read it
        click.echo(f"errors  {error_file_path}  (empty: no request failed)")
    error_arg = f" --error-file-path {errors_path}" if error_id or error_file_path else ""
    hint(
        f"parse: synth batch parse --file-path {download_file_path}{error_arg} "
        f"--batch-id {found.id} --response-model package.module:Class "
        "--parsed-out parsed.parquet --unparsed-out unparsed.parquet"
    )


@click.command()
@click.option("--file-path", required=True, type=EXISTING, help="The batch's output file.")
@click.option("--error-file-path", type=EXISTING, help="The batch's error file.")
@response_model_opt
@click.option("--parsed-out", required=True, type=TARGET, help="Parsed rows (.parquet/.jsonl).")
@click.option("--unparsed-out", required=True, type=TARGET, help="Unparsed rows and why.")
@click.option(
    "--requests-file", type=EXISTING, help="The submitted request file, to spot missing answers."
)
@click.option(
    "--batch-id",
    callback=lambda ctx, param, value: value and batch_id_option(ctx, param, value),
    help="The batch: its status names never-run requests (and its input file is used "
    "as --requests-file when that is not given).",
)
def parse(
    file_path: Path,
    error_file_path: Path | None,
    response_model: str,
    parsed_out: Path,
    unparsed_out: Path,
    requests_file: Path | None,
    batch_id: str | None,
) -> None:
    """Parse result files into parsed and unparsed tables (Parquet or JSONL, by extension).

    Every answer ends in exactly one of the two; unparsed rows say why (invalid_json,
    schema_mismatch, refusal, truncated, http_error, expired, missing, ...). With
    --requests-file or --batch-id, requests that got no answer are counted too.

    \b
    Examples:
      synth batch parse --file-path results.jsonl --error-file-path results.errors.jsonl \\
          --response-model synth_assets.tasks.spam:SinglePrediction \\
          --parsed-out parsed.parquet --unparsed-out unparsed.parquet
      synth batch parse --file-path results.jsonl --batch-id batch_abc123 \\
          --response-model models:Triage --parsed-out parsed.jsonl --unparsed-out unparsed.jsonl
    """
    output_format(parsed_out, unparsed_out)  # a wrong extension fails before any work
    for path in (file_path, error_file_path):
        if path is not None and _looks_like_requests(path):
            raise SynthError(
                f"{path} looks like a request file (its lines have url and body, no response); "
                "pass the batch's output file: synth batch download-file --batch-id ..."
            )
    model = import_response_model(response_model)
    status_, batch_error, requested = None, None, requests_file
    with tempfile.TemporaryDirectory(prefix="synth-parse-") as scratch:
        if batch_id:
            api = connect()
            found = api.batch(batch_id)
            status_, batch_error = found.status, batch_error_summary(found)
            if requested is None:
                requested = Path(scratch) / "requests.jsonl"
                try:
                    fetch(api, found.input_file_id, requested, "requests", render.stderr())
                except SynthError as exc:
                    raise SynthError(
                        f"cannot fetch the input file of batch {batch_id} ({exc}); pass the "
                        "file you submitted as --requests-file."
                    ) from None
        files = ResultFiles(file_path, error_file_path, batch_id, status_, requested, batch_error)
        summary = write_results(files, model, parsed_out, unparsed_out)
    _print_summary(summary, parsed_out, unparsed_out)


def _print_summary(summary: ParseSummary, parsed_out: Path, unparsed_out: Path) -> None:
    """Rows per table and per unparsed reason; whether every request is accounted for."""
    table = Table(box=None, show_header=False, pad_edge=False)
    table.add_column("what")
    table.add_column("rows", justify="right")
    table.add_column("detail", overflow="fold")
    table.add_row("parsed", str(summary.parsed), str(parsed_out))
    table.add_row("unparsed", str(summary.unparsed), str(unparsed_out))
    for reason, rows in summary.reasons.most_common():
        table.add_row(f"  {reason}", str(rows), "")
    table.add_row("tokens", str(summary.prompt_tokens), f"in, {summary.completion_tokens} out")
    if summary.requested is not None:
        # Duplicate and invalid lines are extra rows, not requests: parsed + the rest ==
        # requested.
        accounted = summary.parsed + summary.unparsed - summary.extra_lines
        table.add_row("requested", str(summary.requested), f"({accounted} accounted for)")
    render.stdout().print(table)
    if summary.requested is None:
        hint("add --requests-file or --batch-id to count requests that got no answer at all")


def _looks_like_requests(path: Path) -> bool:
    """True when the first line of ``path`` is a Batch-API request, not a result."""
    with open(path, "rb") as handle:
        for raw in handle:
            if not raw.strip():
                continue
            try:
                line = from_json(raw)
            except ValueError:
                return False
            return (
                isinstance(line, dict)
                and "body" in line
                and "url" in line
                and ("response" not in line and "error" not in line)
            )
    return False
