"""Rich tables for batches: ids and statuses are never cut, other columns give way first.

Rich shrinks every column of a table that is wider than the terminal, ids included. So the
widths are decided here: Batch ID and Status always get their full width; the other columns
shrink to an ellipsis, then drop out (lowest priority first); when even the two that matter
do not fit, the table is printed wider than the terminal and the terminal wraps the line, so
a copied id is still whole.
"""

import datetime as dt
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from openai.types import Batch
from rich import box
from rich.console import Console, Group, RenderableType
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text

from synth_assets.batch import TERMINAL

STATUS_STYLE = {
    "completed": "green",
    "failed": "red",
    "expired": "yellow",
    "cancelled": "yellow",
    "cancelling": "yellow",
    "validating": "cyan",
    "in_progress": "cyan",
    "finalizing": "cyan",
}
# Width for output piped without COLUMNS: wide enough for every column of every table.
_PIPED_WIDTH = 1000


def stdout() -> Console:
    """The console for results (tables a script may read).

    Piped without COLUMNS, there is no terminal to fit: tables keep their natural width
    instead of rich's default 80 columns, so a log or ``grep`` sees every column.
    """
    console = Console(soft_wrap=False, highlight=False)
    if not console.is_terminal and not os.environ.get("COLUMNS"):
        console = Console(soft_wrap=False, highlight=False, width=_PIPED_WIDTH)
    return console


def stderr() -> Console:
    """The console for progress and notes, which must not pollute piped output."""
    return Console(stderr=True, soft_wrap=True, highlight=False)  # a log line is never split


def timestamp(seconds: int | None) -> str:
    """A Unix time as local ``YYYY-MM-DD HH:MM:SS`` (the tutorial's format), or ''."""
    if not seconds:
        return ""
    return dt.datetime.fromtimestamp(seconds).strftime("%Y-%m-%d %H:%M:%S")


def counts(batch: Batch) -> tuple[int, int, int]:
    """(failed, completed, total) of a batch; a validating batch has none yet."""
    c = batch.request_counts
    return (c.failed, c.completed, c.total) if c else (0, 0, 0)


def progress(batch: Batch) -> str:
    """Share of requests answered (completed or failed), e.g. ``67%``; ``-`` before counts."""
    failed, completed, total = counts(batch)
    if not total:
        return "-"
    return f"{100 * (completed + failed) // total}%"


def status_text(status: str) -> Text:
    """A status, coloured by what it means (colour is dropped when piped or NO_COLOR)."""
    return Text(status, style=STATUS_STYLE.get(status, ""))


@dataclass(frozen=True, slots=True)
class Column:
    """One column: header, cells, and whether it may shrink or drop (``priority`` > 0)."""

    header: str
    cells: list[Text]
    justify: str = "left"
    priority: int = 0  # 0: never cut; higher numbers are dropped first
    floor: int | None = None  # narrowest useful width when shrunk; None: drop, never shrink

    @property
    def natural(self) -> int:
        """The width that shows every cell whole."""
        return max([len(self.header), *(c.cell_len for c in self.cells)])


def fitted_table(columns: Sequence[Column], console: Console) -> tuple[Table, int]:
    """A table that fits ``console.width`` if it can; returns it and the width it needs."""
    widths = {c.header: c.natural for c in columns}
    kept = list(columns)
    while True:
        table = _table(kept, widths)
        need = Measurement.get(console, console.options.update(width=10_000), table).maximum
        excess = need - console.width
        if excess <= 0:
            return table, need
        # A cut number would be a wrong number: only columns with a floor shrink.
        shrinkable = [c for c in kept if c.priority and c.floor and widths[c.header] > c.floor]
        if shrinkable:
            widest = max(shrinkable, key=lambda c: widths[c.header])
            widths[widest.header] = max(widest.floor or 0, widths[widest.header] - excess)
            continue
        optional = [c for c in kept if c.priority]
        if not optional:
            return table, need
        kept.remove(max(optional, key=lambda c: c.priority))
        widths = {c.header: c.natural for c in kept}  # a dropped column frees room for others


def _table(columns: Sequence[Column], widths: dict[str, int]) -> Table:
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    for column in columns:
        width = widths[column.header]
        table.add_column(
            column.header,
            justify=column.justify,  # type: ignore[arg-type]
            no_wrap=True,
            overflow="ellipsis" if column.priority else "fold",
            width=width,
            min_width=width,
        )
    for row in zip(*(c.cells for c in columns), strict=True):
        table.add_row(*row)
    return table


def print_fitted(columns: Sequence[Column], console: Console | None = None) -> None:
    """Print a fitted table; wider than the terminal only when ids alone need it."""
    console = console or stdout()
    table, need = fitted_table(columns, console)
    if need > console.width:
        console = Console(
            width=need,
            file=console.file,
            soft_wrap=False,
            highlight=False,
            color_system=console.color_system,  # type: ignore[arg-type]
        )
    console.print(table)


def batch_columns(batches: Iterable[Batch]) -> list[Column]:
    """The tutorial's columns (Batch ID, Created At, Status, Failed, Completed, Total), plus
    Progress; lower-priority columns give way first on a narrow terminal."""
    rows = list(batches)
    numbers = [counts(b) for b in rows]
    return [
        Column("Batch ID", [Text(b.id) for b in rows]),
        # Shrunk, it keeps the date ("2026-07-15…"); narrower than that it drops out.
        Column("Created At", [Text(timestamp(b.created_at)) for b in rows], priority=5, floor=11),
        Column("Status", [status_text(b.status) for b in rows]),
        Column("Failed", [Text(str(n[0])) for n in numbers], "right", priority=3),
        Column("Completed", [Text(str(n[1])) for n in numbers], "right", priority=1),
        Column("Total", [Text(str(n[2])) for n in numbers], "right", priority=2),
        Column("Progress", [Text(progress(b)) for b in rows], "right", priority=4),
    ]


def print_batches(batches: Iterable[Batch], console: Console | None = None) -> None:
    """The batch table of ``list`` and of every command that shows a batch."""
    print_fitted(batch_columns(batches), console)


def batch_details(batch: Batch) -> RenderableType:
    """Everything ``status`` shows about one batch: counts, times, files, errors, metadata.

    Plain ``label  value`` lines rather than a table: values (ids, error messages) are never
    cut or padded, and a narrow terminal simply wraps them.
    """
    failed, completed, total = counts(batch)
    finished = batch.status in TERMINAL
    rows: list[tuple[str, str | Text]] = [
        ("Batch ID", batch.id),
        ("Status", status_text(batch.status)),
        ("Endpoint", batch.endpoint),
        ("Model", batch.model or "(unknown)"),
        ("Requests", f"{completed} completed, {failed} failed, {total} total ({progress(batch)})"),
        ("Input file", batch.input_file_id),
        ("Output file", batch.output_file_id or ("(none)" if finished else "(none yet)")),
        ("Error file", batch.error_file_id or "(none)"),
    ]
    for label, field in (
        ("Created at", "created_at"),
        ("In progress at", "in_progress_at"),
        ("Finalizing at", "finalizing_at"),
        ("Completed at", "completed_at"),
        ("Failed at", "failed_at"),
        ("Cancelling at", "cancelling_at"),
        ("Cancelled at", "cancelled_at"),
        ("Expired at", "expired_at"),
        ("Expires at", "expires_at"),
    ):
        if getattr(batch, field, None):
            rows.append((label, timestamp(getattr(batch, field))))
    if batch.usage:
        usage = batch.usage
        tokens = f"{usage.input_tokens} in, {usage.output_tokens} out, {usage.total_tokens} total"
        rows.append(("Tokens", tokens))
    for key, value in (batch.metadata or {}).items():
        rows.append((f"metadata.{key}", value))
    for error in batch.errors.data if batch.errors and batch.errors.data else []:
        where = f"line {error.line}: " if error.line is not None else ""
        rows.append(("Error", Text(f"{where}{error.message} [{error.code}]", style="red")))
    width = max(len(label) for label, _ in rows) + 2
    lines = [
        Text(label.ljust(width), style="bold") + (value if isinstance(value, Text) else Text(value))
        for label, value in rows
    ]
    return Group(*lines)


def human_bytes(size: int) -> str:
    """``1.2 MB``-style sizes for humans (exact byte counts stay in --json output)."""
    value = float(size)
    for unit in ("B", "kB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{size} B"
