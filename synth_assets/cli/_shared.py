"""What the ``synth batch`` commands share: options, showing a batch, waiting for one."""

import sys
from pathlib import Path

import click
from openai.types import Batch
from rich.text import Text

from synth_assets.batch import SynthError, batch_error_summary

from . import _follow
from . import _render as render
from ._common import Api, batch_id_option

STATUSES = ("validating", "in_progress", "finalizing", "completed", "failed", "expired")
STATUSES += ("cancelling", "cancelled")
# Consecutive failed status checks that end a --wait.
_MAX_FAILED_POLLS = 5
EXISTING = click.Path(exists=True, dir_okay=False, path_type=Path)
TARGET = click.Path(dir_okay=False, writable=True, path_type=Path)

batch_id_opt = click.option(
    "--batch-id", required=True, callback=batch_id_option, help="The batch, e.g. batch_abc123."
)
json_opt = click.option("--json", "as_json", is_flag=True, help="Print the batch as JSON.")
poll_opt = click.option(
    "--poll-interval",
    type=click.FloatRange(min=0.05),
    default=5.0,
    show_default=True,
    help="Seconds between status checks while waiting.",
)
response_model_opt = click.option(
    "--response-model",
    required=True,
    metavar="package.module:Class",
    help="The pydantic model answers must match (the current directory is importable).",
)


def show(found: Batch, as_json: bool) -> None:
    """One batch: the one-row table, or a JSON line for scripts."""
    if as_json:
        click.echo(found.model_dump_json())
    else:
        render.print_batches([found])


def wait_for(api: Api, found: Batch, poll_interval: float) -> Batch:
    """Follow a batch to its end; Ctrl-C exits 130 and leaves the batch running.

    A wait can last hours: a few failed polls in a row (a network blip, a server restart)
    are waited out; only ``_MAX_FAILED_POLLS`` consecutive failures end the command.
    """
    last = found
    failures = 0

    def refresh() -> Batch:
        nonlocal last, failures
        try:
            last = api.batch(found.id)
            failures = 0
        except SynthError as exc:
            failures += 1
            if failures >= _MAX_FAILED_POLLS:
                raise
            click.echo(f"warning: {exc} (retrying)", err=True)
        return last

    try:
        return _follow.follow(found, refresh, interval=poll_interval)
    except _follow.Interrupted as exc:
        click.echo(str(exc), err=True)
        sys.exit(130)


def finish(found: Batch, as_json: bool) -> None:
    """After --wait: show the batch; anything but completed is an error (exit 1)."""
    show(found, as_json)
    failed, completed, total = render.counts(found)
    if found.status == "completed":
        if failed:
            click.echo(f"note: {failed} of {total} requests failed; see the error file.", err=True)
        if not as_json:
            hint(f"download: {download_command(found.id)}")
        return
    if found.status == "failed":
        reason = (batch_error_summary(found) or "no reason given").rstrip(".")
        raise SynthError(f"batch {found.id} failed: {reason}.")
    raise SynthError(
        f"batch {found.id} {found.status} with {completed} of {total} requests completed; "
        f"`{download_command(found.id)}` fetches what it has."
    )


def download_command(batch_id: str) -> str:
    """The command that fetches a batch's results (for hints)."""
    return f"synth batch download-file --batch-id {batch_id} --download-file-path results.jsonl"


def hint(message: str) -> None:
    """A next step, on stderr so that piped output stays data."""
    render.stderr().print(Text(message, style="dim"))
