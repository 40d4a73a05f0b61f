"""Chained tasks: another task's ``parsed`` table, for the same day, as this task's input.

The upstream's ``custom_id`` becomes the ``id`` (so a row keeps its key down the chain),
``text_column`` becomes ``text``, and the other answer fields ride along as extra columns
(all of them unless ``extra_columns`` names some), so a prompt can use them and the summary
can compare this task's answer with one of them.
"""

from collections.abc import Iterator
from contextlib import contextmanager

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.fs as pafs
import pyarrow.parquet as pq
from pydantic import BaseModel, ConfigDict, Field

from .dataset import ID_COLUMN, PROBLEM_COLUMN, TEXT_COLUMN, DatasetError

# Columns of a parsed table that the library adds to the answer fields (see the README).
LIBRARY_COLUMNS = frozenset(
    {
        "custom_id",
        "model",
        "batch_id",
        "request_id",
        "prompt_tokens",
        "completion_tokens",
        "total_tokens",
        "attempt",
        "request_hash",
    }
)


class UpstreamSpec(BaseModel):
    """Which task's ``parsed`` table feeds this one, and which of its columns to use."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    task: str = Field(description="The upstream task's name.")
    text_column: str = Field(description="The upstream answer field that becomes `text`.")
    extra_columns: list[str] | None = Field(
        default=None,
        description="Upstream answer fields passed through (default: every field).",
    )


# Rows read from the upstream table at a time (about 5 MB of e-mails, as the dataset's
# spill batches). A snapshot of 2M 600-character e-mails peaked at 285 MB with 8k-row
# slices, 300 MB with 16k and 558 MB with 64k (the allocator keeps what large slices freed).
SLICE_ROWS = 8_192


class UpstreamDay:
    """The upstream's parsed rows of one day, open for reading as this task's input rows
    (``id``, ``text``, extras, ``problem``), a slice at a time. Made by
    :func:`open_upstream`, which has already checked the columns."""

    def __init__(
        self,
        parquet: pq.ParquetFile,
        spec: UpstreamSpec,
        location: str,
        extras: list[str],
        *,
        max_text_chars: int | None,
        rows: int,
    ) -> None:
        self._parquet = parquet
        self._spec = spec
        self._location = location
        self._max_text_chars = max_text_chars
        self._rows = rows
        source = parquet.schema_arrow
        # Named like id or text, an answer field would only be replaced: it is not kept.
        self._extras = [c for c in extras if c not in (ID_COLUMN, TEXT_COLUMN)]
        # Built as the rows are (see _input_rows): a dict, so a field named like the problem
        # column keeps its place and takes the problems.
        types = {ID_COLUMN: source.field("custom_id").type, TEXT_COLUMN: pa.string()}
        types.update({c: source.field(c).type for c in self._extras})
        types[PROBLEM_COLUMN] = pa.string()
        self.schema = pa.schema([pa.field(name, dtype) for name, dtype in types.items()])
        # Only the columns the input uses are read.
        self._columns = list(dict.fromkeys(["custom_id", spec.text_column, *self._extras]))

    def batches(self) -> Iterator[pa.RecordBatch]:
        """The input rows, :data:`SLICE_ROWS` (or the ``rows`` given) at a time, in the
        upstream table's order."""
        reader = self._parquet.iter_batches(batch_size=self._rows, columns=self._columns)
        while True:
            try:
                batch = next(reader, None)
            except (pa.ArrowInvalid, OSError) as exc:
                raise _unreadable(self._spec, self._location, exc) from None
            if batch is None:
                return
            yield self._input_rows(batch)

    def _input_rows(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        texts = batch.column(self._spec.text_column).cast(pa.string())
        problems = pc.if_else(
            pc.or_kleene(pc.is_null(texts), pc.equal(pc.utf8_trim_whitespace(texts), "")),
            pa.scalar("text is missing or empty", pa.string()),
            pa.scalar(None, pa.string()),
        )
        budget = self._max_text_chars
        if budget is not None:
            over = pc.fill_null(pc.greater(pc.utf8_length(texts), budget), False)
            problems = pc.if_else(
                over,
                pa.scalar(f"text is over the budget of {budget:,} characters", pa.string()),
                problems,
            )
        columns = {ID_COLUMN: batch.column("custom_id"), TEXT_COLUMN: texts}
        columns.update({c: batch.column(c) for c in self._extras})
        columns[PROBLEM_COLUMN] = problems
        return pa.record_batch(list(columns.values()), schema=self.schema)


@contextmanager
def open_upstream(
    spec: UpstreamSpec,
    location: str,
    date: str,
    *,
    downstream: str,
    max_text_chars: int | None = None,
    rows: int = SLICE_ROWS,
) -> Iterator[UpstreamDay]:
    """Open the upstream's parsed table of ``date`` (a path or a URL) as this task's input.

    Only the footer is read before the columns are checked; rows come later, a slice at a
    time (:meth:`UpstreamDay.batches`), so memory stays flat whatever the day's size.
    Raises :class:`DatasetError` when the upstream has no table for the day, the table
    cannot be read, or ``spec`` names a column it does not have.
    """
    try:
        # pre_buffer=False: with the default, iter_batches keeps what it read until the file ends.
        parquet = pq.ParquetFile(location, pre_buffer=False)
    except (FileNotFoundError, pa.ArrowInvalid, OSError) as exc:
        if isinstance(exc, FileNotFoundError) or not _exists(location):
            raise DatasetError(
                f"{downstream} reads {spec.task}'s parsed table for {date}, which does not "
                f"exist yet ({location}); materialize {spec.task} for that day first."
            ) from None
        raise _unreadable(spec, location, exc) from None
    with parquet:
        names = parquet.schema_arrow.names
        fields = [c for c in names if c not in LIBRARY_COLUMNS]
        if spec.text_column not in fields:
            raise DatasetError(
                f"{downstream}: upstream.text_column {spec.text_column!r} is not a field of "
                f"{spec.task}'s answers ({', '.join(fields)})."
            )
        extras = list(spec.extra_columns) if spec.extra_columns is not None else fields
        missing = [c for c in extras if c not in fields]
        if missing:
            raise DatasetError(
                f"{downstream}: upstream.extra_columns names {missing[0]!r}, which is not a "
                f"field of {spec.task}'s answers ({', '.join(fields)})."
            )
        yield UpstreamDay(parquet, spec, location, extras, max_text_chars=max_text_chars, rows=rows)


def _unreadable(spec: UpstreamSpec, location: str, exc: Exception) -> DatasetError:
    # One sentence: pyarrow's message may end with its own period.
    reason = str(exc).rstrip(". ")
    return DatasetError(f"{spec.task}'s parsed table {location} cannot be read: {reason}.")


def _exists(location: str) -> bool:
    try:
        filesystem, path = pafs.FileSystem.from_uri(location)
    except (pa.ArrowInvalid, ValueError):
        filesystem, path = pafs.LocalFileSystem(), location
    return filesystem.get_file_info(path).type != pafs.FileType.NotFound
