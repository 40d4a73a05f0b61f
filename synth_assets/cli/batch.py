"""``synth batch ...``: the tutorial's Batch-API commands, done properly.

Every command talks to the backend :func:`synth_assets.batch.client.resolve_backend` picks
(OPENAI_BASE_URL, else OpenAI with OPENAI_API_KEY, else the local server). Results go to
stdout, progress and notes to stderr; user errors are one ``error:`` sentence and exit 1,
usage errors exit 2, and Ctrl-C while following a batch exits 130 (the batch goes on).

This module holds the group and the two commands that make batches; ``_manage`` holds
list / status / cancel, ``_collect`` download-file / parse.
"""

from pathlib import Path

import click
from openai.types import Batch
from pydantic_core import to_json
from rich.text import Text

from synth_assets.batch import (
    ENDPOINTS,
    MAX_BYTES_PER_FILE,
    MAX_REQUESTS_PER_FILE,
    RequestBuilder,
    RequestMode,
    SynthError,
    batch_cost,
    estimate_tokens,
    find_batch,
    submit_file,
    validate_request_file,
)

from . import _render as render
from ._collect import download_file, parse
from ._common import (
    Api,
    check_metadata,
    connect,
    first_request,
    import_response_model,
    parse_pairs,
    parse_params,
    sha256_file,
)
from ._manage import cancel, list_batches, status
from ._messages import MessageSource, build_request_files
from ._shared import (
    EXISTING,
    TARGET,
    finish,
    hint,
    json_opt,
    poll_opt,
    response_model_opt,
    show,
    wait_for,
)

# How far back create-from-file looks for a live batch of the same file (100 per page).
_REUSE_PAGES = 10


@click.group(name="batch")
def batch() -> None:
    """Create, follow, download and parse Batch-API batches.

    The backend is OPENAI_BASE_URL if set, else OpenAI with OPENAI_API_KEY, else the local
    server at http://127.0.0.1:8765/v1 (start it with `synth localbatch serve`).

    \b
    The tutorial's sequence:
      synth batch create --messages-file messages.jsonl --model gpt-4o-mini \\
          --response-model synth_assets.tasks.spam:SinglePrediction --output-file requests.jsonl
      synth batch create-from-file --file-path requests.jsonl --wait
      synth batch list
      synth batch download-file --batch-id batch_abc123 --download-file-path results.jsonl
      synth batch parse --file-path results.jsonl --error-file-path results.errors.jsonl \\
          --response-model synth_assets.tasks.spam:SinglePrediction \\
          --parsed-out parsed.parquet --unparsed-out unparsed.parquet
    """


@batch.command("create-from-file")
@click.option("--file-path", required=True, type=EXISTING, help="A Batch-API request file.")
@click.option("--model", help="Refuse the file unless its requests ask for this model.")
@click.option("--description", help="Stored in the batch's metadata as 'description'.")
@click.option("--completion-window", default="24h", show_default=True)
@click.option(
    "--metadata", multiple=True, metavar="KEY=VALUE", callback=parse_pairs, help="Repeatable."
)
@click.option("--wait", is_flag=True, help="Follow the batch with a progress bar until it ends.")
@poll_opt
@click.option(
    "--resubmit", is_flag=True, help="Submit even if a live batch already answers this file."
)
@click.option(
    "--dry-run",
    is_flag=True,
    help="Validate and print requests, estimated tokens and cost; upload nothing.",
)
@json_opt
def create_from_file(
    file_path: Path,
    model: str | None,
    description: str | None,
    completion_window: str,
    metadata: dict[str, str],
    wait: bool,
    poll_interval: float,
    resubmit: bool,
    dry_run: bool,
    as_json: bool,
) -> None:
    """Validate a request file, upload it and create its batch.

    Nothing is uploaded unless every line is valid; each problem is listed with its line.
    A file a live (or completed) batch already answers is not paid for twice: that batch is
    shown instead, unless --resubmit. With --wait the command ends when the batch does and
    exits 1 unless it completed.

    \b
    Examples:
      synth batch create-from-file --file-path requests.jsonl
      synth batch create-from-file --file-path requests.jsonl --wait --metadata team=ml
      synth batch create-from-file --file-path requests.jsonl --dry-run
    """
    meta = {**({"description": description} if description else {}), **metadata}
    # Our identity keys are added last (a user's key of that name cannot hide them).
    meta.update(synth_sha256="", synth_file=file_path.name[:512])
    check_metadata(meta)  # a usage error, before the file is even read
    problems = validate_request_file(file_path)
    if problems:
        for problem in problems:
            where = f"{file_path}:{problem.line}" if problem.line else str(file_path)
            click.echo(f"{where}: {problem.message} [{problem.code}]", err=True)
        raise SynthError(
            f"{file_path} has {len(problems)} problem(s), listed above; nothing was uploaded."
        )
    first = first_request(file_path)
    file_model = first["body"]["model"]
    if model and file_model != model:
        raise SynthError(f"{file_path} asks for model {file_model!r}, not {model!r} (--model).")
    meta["synth_sha256"] = sha256 = sha256_file(file_path)
    if dry_run:
        _print_dry_run(file_path, file_model, as_json)
        return
    api = connect()
    with api.errors():
        existing = None if resubmit else _live_batch_for(api, sha256)
        if existing is not None:
            click.echo(
                f"batch {existing.id} ({existing.status}) already answers this file (same "
                "sha256); not submitting it again. Pass --resubmit to pay for it twice.",
                err=True,
            )
            created = existing
        else:
            click.echo(f"submitting {file_path.name} to {api.backend.label}", err=True)
            created = submit_file(
                api.client,
                file_path,
                endpoint=first["url"],
                metadata=meta,
                completion_window=completion_window,
            )
    show(created, as_json)
    if wait:
        finish(wait_for(api, created, poll_interval), as_json)
    elif not as_json:
        hint(f"follow it: synth batch status --batch-id {created.id}")


def _live_batch_for(api: Api, sha256: str) -> Batch | None:
    return find_batch(api.client, {"synth_sha256": sha256}, max_pages=_REUSE_PAGES)


@batch.command()
@click.option("--messages-file", required=True, type=EXISTING, help="JSONL, one request a line.")
@response_model_opt
@click.option("--model", required=True, help="The model every request asks for.")
@click.option("--output-file", required=True, type=TARGET, help="The request file to write.")
@click.option(
    "--mode",
    type=click.Choice([m.value for m in RequestMode]),
    default=RequestMode.JSON_SCHEMA.value,
    show_default=True,
    help="Strict structured outputs, or one forced function tool.",
)
@click.option("--endpoint", type=click.Choice(ENDPOINTS), default=ENDPOINTS[0], show_default=True)
@click.option("--id-field", help="Take each custom_id from this field (default: request-<n>).")
@click.option("--text-field", help="Rows, not messages: this field becomes the user message.")
@click.option("--system", help="A system message before --text-field's user message.")
@click.option(
    "--param",
    "params",
    multiple=True,
    metavar="KEY=JSON",
    callback=parse_params,
    help="A generation parameter, e.g. temperature=0 (repeatable).",
)
@click.option(
    "--max-requests",
    type=click.IntRange(min=1),
    default=MAX_REQUESTS_PER_FILE,
    show_default=True,
    help="Requests per file before splitting.",
)
@click.option(
    "--max-bytes",
    type=click.IntRange(min=1),
    default=MAX_BYTES_PER_FILE,
    show_default=True,
    help="Bytes per file before splitting.",
)
def create(
    messages_file: Path,
    response_model: str,
    model: str,
    output_file: Path,
    mode: str,
    endpoint: str,
    id_field: str | None,
    text_field: str | None,
    system: str | None,
    params: dict[str, object],
    max_requests: int,
    max_bytes: int,
) -> None:
    """Build a Batch-API request file from a JSONL of message lists (or rows).

    Each line is a JSON list of chat messages, an object with a "messages" list, or (with
    --text-field) any object. Beyond --max-requests or --max-bytes the output is split into
    OUTPUT-00000.jsonl, OUTPUT-00001.jsonl, ... beside OUTPUT. Nothing is uploaded.

    \b
    Examples:
      synth batch create --messages-file messages.jsonl --model gpt-4o-mini \\
          --response-model synth_assets.tasks.spam:SinglePrediction --output-file requests.jsonl
      synth batch create --messages-file emails.jsonl --text-field body --id-field email_id \\
          --system "Classify this email." --model gpt-4o-mini --param temperature=0 \\
          --response-model synth_assets.tasks.spam:SinglePrediction --output-file requests.jsonl
    """
    if system and not text_field:
        raise click.UsageError("--system goes with --text-field (messages carry their own).")
    builder = RequestBuilder(
        model=model,
        response_model=import_response_model(response_model),
        mode=mode,
        endpoint=endpoint,
        params=params,
    )
    source = MessageSource(messages_file, id_field, text_field, system)
    shards = build_request_files(
        source, builder, output_file, max_requests=max_requests, max_bytes=max_bytes
    )
    render.print_fitted(
        [
            render.Column("File", [Text(s.path) for s in shards]),
            render.Column("Requests", [Text(str(s.requests)) for s in shards], "right"),
            render.Column("Size", [Text(render.human_bytes(s.bytes)) for s in shards], "right"),
            render.Column("sha256", [Text(s.sha256[:16]) for s in shards], priority=1, floor=8),
        ]
    )
    for shard in shards:
        hint(f"submit: synth batch create-from-file --file-path {shard.path}")


for _command in (list_batches, status, cancel, download_file, parse):
    batch.add_command(_command)


def _print_dry_run(path: Path, model: str, as_json: bool) -> None:
    """What submitting ``path`` would send and cost, estimated offline; nothing is sent."""
    with open(path, "rb") as handle:
        requests = sum(1 for line in handle if line.strip())
    size = path.stat().st_size
    tokens = estimate_tokens(size)  # the request line's bytes / 4, as the pipeline counts
    cost = batch_cost(model, tokens, 0)
    if as_json:
        click.echo(
            to_json(
                {"file": str(path), "requests": requests, "bytes": size, "shards": 1,
                 "model": model, "estimated_input_tokens": tokens,
                 "estimated_input_cost_usd": cost.usd}
            ).decode()
        )  # fmt: skip
        return
    click.echo(f"{path}: {requests:,} requests, {render.human_bytes(size)}, 1 file, model {model}")
    click.echo(f"estimated input: ~{tokens:,} tokens (bytes / 4), {cost} at batch prices")
    click.echo("output tokens add to this; nothing was uploaded (dry run).")
