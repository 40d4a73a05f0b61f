"""``synth batch list``, ``status`` and ``cancel``: looking at batches and stopping them."""

import click
import openai
from openai.types import Batch

from synth_assets.batch import TERMINAL, iter_batches

from . import _follow
from . import _render as render
from ._common import connect
from ._shared import (
    STATUSES,
    batch_id_opt,
    download_command,
    hint,
    json_opt,
    poll_opt,
    show,
    wait_for,
)


@click.command("list")
@click.option(
    "--limit",
    type=click.IntRange(min=0),
    default=20,
    show_default=True,
    help="Batches to show, newest first; 0 shows every one.",
)
@click.option(
    "--status",
    "statuses",
    multiple=True,
    type=click.Choice(STATUSES),
    help="Only batches in this status (repeatable).",
)
@click.option("--watch", is_flag=True, help="Refresh the table until Ctrl-C.")
@click.option(
    "--interval",
    type=click.FloatRange(min=0.05),
    default=5.0,
    show_default=True,
    help="Seconds between refreshes with --watch.",
)
@click.option("--page-size", type=click.IntRange(1, 100), default=100, hidden=True)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON batch per line.")
def list_batches(
    limit: int,
    statuses: tuple[str, ...],
    watch: bool,
    interval: float,
    page_size: int,
    as_json: bool,
) -> None:
    """List batches, newest first, paging through the API.

    Batch ids and statuses are never cut short, whatever the terminal width; the other
    columns shrink or give way first.

    \b
    Examples:
      synth batch list
      synth batch list --status in_progress --status finalizing --watch
      synth batch list --limit 0 --json | jq -r .id
    """
    if watch and as_json:
        raise click.UsageError("--watch redraws a table; it does not combine with --json.")
    api = connect()

    def fetch_rows() -> list[Batch]:
        # Without a status filter, ask for no more than will be shown.
        size = min(page_size, limit) if limit and not statuses else page_size
        rows: list[Batch] = []
        with api.errors():
            for item in iter_batches(api.client, page_size=size):
                if not statuses or item.status in statuses:
                    rows.append(item)
                    if limit and len(rows) >= limit:
                        break
        return rows

    if watch:
        out = render.stdout()
        _follow.watch(
            lambda: render.fitted_table(render.batch_columns(fetch_rows()), out)[0],
            interval=interval,
            out=out,
        )
        return
    rows = fetch_rows()
    if as_json:
        for row in rows:
            click.echo(row.model_dump_json())
    elif rows:
        render.print_batches(rows)
    else:
        which = " or ".join(statuses) + " " if statuses else ""
        click.echo(f"no {which}batches on {api.backend.label}.", err=True)


@click.command()
@batch_id_opt
@json_opt
def status(batch_id: str, as_json: bool) -> None:
    """Show one batch: status, request counts, times, file ids, errors, metadata.

    \b
    Example:
      synth batch status --batch-id batch_abc123
    """
    found = connect().batch(batch_id)
    if as_json:
        click.echo(found.model_dump_json(indent=2))
        return
    render.stdout().print(render.batch_details(found), soft_wrap=True)
    if found.status in TERMINAL and (found.output_file_id or found.error_file_id):
        hint(f"download: {download_command(found.id)}")


@click.command()
@batch_id_opt
@click.option("--wait", is_flag=True, help="Follow the batch until it is cancelled.")
@poll_opt
@json_opt
def cancel(batch_id: str, wait: bool, poll_interval: float, as_json: bool) -> None:
    """Cancel a batch; returns as soon as the API accepts (status cancelling).

    Requests already answered keep their results (download-file fetches them). A batch that
    has already ended is left alone: the command says so and exits 0, since nothing of it is
    running any more, which is what cancelling asks for.

    \b
    Examples:
      synth batch cancel --batch-id batch_abc123
      synth batch cancel --batch-id batch_abc123 --wait
    """
    api = connect()
    found = api.batch(batch_id)
    if found.status not in TERMINAL and found.status != "cancelling":
        try:
            found = api.client.batches.cancel(batch_id)
        except openai.APIStatusError as exc:
            # It may have ended between our look and our cancel: then say that, not "409".
            found = api.batch(batch_id)
            if found.status not in TERMINAL:
                raise api.translate(exc) from None
        except openai.OpenAIError as exc:
            raise api.translate(exc) from None
        else:
            show(found, as_json)
            if wait:
                show(wait_for(api, found, poll_interval), as_json)
            return
    already = "nothing to cancel" if found.status in TERMINAL else "it will end shortly"
    click.echo(f"batch {batch_id} is already {found.status}; {already}.", err=True)
    show(found, as_json)
    if wait and found.status not in TERMINAL:
        show(wait_for(api, found, poll_interval), as_json)
