"""Following batches over time: ``--wait`` (one batch, to a terminal state) and ``--watch``.

A batch can spend minutes in ``finalizing`` with every request already answered; the
progress bar says so instead of sitting at 100% looking stuck. Waiting never changes the
batch: Ctrl-C stops following, and the batch carries on.
"""

import time
from collections.abc import Callable

from openai.types import Batch
from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.text import Text

from synth_assets.batch import TERMINAL

from ._render import counts, stderr, timestamp

# What each live status means for someone watching a progress bar.
_PHASE = {
    "validating": "validating the input file",
    "in_progress": "running",
    "finalizing": "finalizing: writing the result files",
    "cancelling": "cancelling: finishing requests already started",
}


class Interrupted(Exception):
    """The user stopped following a batch with Ctrl-C (the batch itself goes on).

    Not a SynthError: the command exits 130, as a shell expects after Ctrl-C.
    """


def describe(batch: Batch) -> str:
    """One line about where a batch stands, for logs and non-terminal output."""
    failed, completed, total = counts(batch)
    phase = _PHASE.get(batch.status, batch.status)
    done = f" ({completed} completed, {failed} failed of {total})" if total else ""
    return f"batch {batch.id}: {phase}{done}"


def follow(
    batch: Batch,
    refresh: Callable[[], Batch],
    *,
    interval: float,
    console: Console | None = None,
) -> Batch:
    """Poll ``refresh`` every ``interval`` seconds until the batch is terminal; return it.

    On a terminal: a progress bar of answered requests whose label is the phase. Elsewhere
    (a log, CI): one line per change. Ctrl-C raises :class:`Interrupted` with what to do next.
    """
    console = console or stderr()
    if console.is_terminal:
        return _follow_bar(batch, refresh, interval, console)
    last = ""
    try:
        while True:
            line = describe(batch)
            if line != last:
                console.print(Text(line))
                last = line
            if batch.status in TERMINAL:
                return batch
            time.sleep(interval)
            batch = refresh()
    except KeyboardInterrupt:
        raise _interrupted(batch) from None


def _follow_bar(
    batch: Batch, refresh: Callable[[], Batch], interval: float, console: Console
) -> Batch:
    columns = (
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, transient=False) as bar:
        task = bar.add_task(batch.id, total=None)
        try:
            while True:
                failed, completed, total = counts(batch)
                bar.update(
                    task,
                    description=f"{batch.id} [bold]{_PHASE.get(batch.status, batch.status)}",
                    completed=completed + failed,
                    total=total or None,  # None: an indeterminate bar while validating
                )
                if batch.status in TERMINAL:
                    bar.update(task, description=f"{batch.id} [bold]{batch.status}")
                    return batch
                time.sleep(interval)
                batch = refresh()
        except KeyboardInterrupt:
            raise _interrupted(batch) from None


def _interrupted(batch: Batch) -> Interrupted:
    return Interrupted(
        f"stopped following batch {batch.id} ({batch.status}); it goes on without you: "
        f"`synth batch status --batch-id {batch.id}` shows where it is."
    )


def watch(
    render: Callable[[], RenderableType],
    *,
    interval: float,
    out: Console,
) -> None:
    """Re-render until Ctrl-C (which is how a watch ends, so it is not an error).

    On a terminal the table is redrawn in place; piped, each refresh is printed in turn
    under a time stamp, which is what a log wants.
    """
    try:
        if out.is_terminal:
            with Live(_stamped(render()), console=out, auto_refresh=False) as live:
                while True:
                    time.sleep(interval)
                    live.update(_stamped(render()), refresh=True)
        while True:
            out.print(_stamped(render()))
            out.file.flush()
            time.sleep(interval)
    except KeyboardInterrupt:
        return


def _stamped(renderable: RenderableType) -> RenderableType:
    now = timestamp(int(time.time()))
    return Group(Text(f"as of {now} (Ctrl-C to stop)", style="dim"), renderable)
