"""Row validation: one file's rows of one day, each with what is wrong with it."""

import datetime as dt
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from ._columns import (
    Offenders,
    check_type,
    dates_of,
    has_column,
    ids_or_none,
    is_text_type,
    raise_bad_dates,
    require_columns,
    string_column,
    valid_utf8,
)
from ._readers import Source, scan
from ._spec import ID_COLUMN, PROBLEM_COLUMN, ROW_NUMBER, TEXT_COLUMN, DatasetSpec

# Longest value (id, date) quoted in a problem sentence; longer ones are cut with "…".
QUOTE_CHARS = 40

# Kinds of problem, counted per day to name the most common one when no row is usable.
# Each row's own sentence in the problem column is more precise (values, offsets, rows).
DUPLICATE = "id repeats an earlier row"
OVER_BUDGET = "text is over the character budget"

# Rows per batch read back from a file's spill (about 5 MB of e-mails).
SPILL_BATCH_ROWS = 8_192


def quote(value: object) -> str:
    """A value for a problem sentence: repr-quoted, cut to QUOTE_CHARS characters."""
    if isinstance(value, bytes):
        value = value.decode("utf-8", errors="replace")
    text = value.strip() if isinstance(value, str) else str(value)
    if len(text) > QUOTE_CHARS:
        text = text[: QUOTE_CHARS - 1] + "…"
    return repr(text)


class _Marks:
    """The problems of one batch's rows, adding to a count of rows per kind of problem."""

    def __init__(self, num_rows: int, counts: Counter[str]) -> None:
        self.num_rows = num_rows
        self.counts = counts
        self.rows: dict[int, list[str]] = {}

    def add(self, position: int, kind: str, clause: str) -> None:
        """Record that the row at ``position`` has a problem of ``kind``, as ``clause``."""
        self.rows.setdefault(position, []).append(clause)
        self.counts[kind] += 1

    def where(
        self,
        mask: pa.Array,
        kind: str,
        clause: str | Callable[[Any], str],
        values: pa.Array | None = None,
    ) -> None:
        """Record a problem for each row where ``mask`` is true (null counts as false).

        ``clause`` is the row's sentence, or a function making it from the row's entry in
        ``values`` (taken in one go: indexing an Arrow array row by row is slow).
        """
        mask = pc.fill_null(mask, False)
        if not pc.any(mask).as_py():
            return
        positions = pc.indices_nonzero(mask).to_pylist()
        if isinstance(clause, str):
            for position in positions:
                self.add(position, kind, clause)
            return
        assert values is not None
        for position, value in zip(positions, values.filter(mask).to_pylist(), strict=True):
            self.add(position, kind, clause(value))

    def blank(self, values: pa.Array, role: str) -> None:
        """Record missing, empty and whitespace-only values of the id or text column."""
        length = pc.utf8_length(values)
        self.where(pc.is_null(values), f"{role} is missing", f"{role} is missing")
        self.where(pc.equal(length, 0), f"{role} is empty", f"{role} is empty")
        only_space = pc.and_(
            pc.greater(length, 0), pc.equal(pc.utf8_length(pc.utf8_trim_whitespace(values)), 0)
        )
        self.where(only_space, f"{role} is only whitespace", f"{role} is only whitespace")

    def not_utf8(self, bad: dict[int, str], what: str) -> None:
        """Record the rows :func:`valid_utf8` found not UTF-8 in ``what`` (a column)."""
        for position, detail in bad.items():
            self.add(
                position, f"{what} is not valid UTF-8", f"{what} is not valid UTF-8 ({detail})"
            )

    def array(self) -> pa.Array:
        """The batch's ``problem`` column: clauses joined by "; ", null for a good row."""
        if not self.rows:
            return pa.nulls(self.num_rows, pa.string())
        return pa.array(
            ["; ".join(self.rows[i]) if i in self.rows else None for i in range(self.num_rows)],
            pa.string(),
        )


@dataclass
class Part:
    """The rows one file contributes to a partition, kept on disk, and its problems.

    ``schema`` lists ``id``, ``text``, the file's extra columns, ``problem`` and the file's
    row numbers; ``spill`` is the Parquet file holding the rows (None when the file has no
    row for the day); ``good`` counts the rows without a problem.
    """

    path: Path
    schema: pa.Schema
    spill: Path | None
    rows: int
    good: int
    counts: Counter[str]

    def batches(self, columns: Sequence[str] | None = None) -> Iterator[pa.RecordBatch]:
        """The rows, a slice at a time, in file order."""
        if self.spill is None:
            return
        # Row group by row group (each one batch of the source file): ParquetFile.iter_batches
        # holds buffers that grow with the file (about 120 MB per million e-mails).
        spill = pq.ParquetFile(self.spill)
        for index in range(spill.num_row_groups):
            group = spill.read_row_group(index, columns=list(columns) if columns else None)
            yield from group.to_batches(max_chunksize=SPILL_BATCH_ROWS)


class _FileReader:
    """Reads one file's rows for one day, marking row problems and collecting file ones.

    The rows kept go to ``spill`` (Parquet) batch by batch, so memory holds one batch.
    Kept as state on an object (rather than returned per batch) so a whole-file retry can
    :meth:`reset` and start over without counting any row twice.
    """

    def __init__(
        self,
        spec: DatasetSpec,
        day: dt.date,
        budget: int | None,
        spill: Path,
        *,
        in_hive_folder: bool,
    ) -> None:
        self.spec = spec
        self.day = pa.scalar(day, pa.date32())
        self.budget = budget
        self.spill = spill
        self.in_hive_folder = in_hive_folder
        self.writer: pq.ParquetWriter | None = None
        self.reset()

    def reset(self) -> None:
        """Forget everything read so far."""
        self.close()
        self.spill.unlink(missing_ok=True)
        self.rows = self.good = 0
        self.extras: list[pa.Field] = []
        # Extra columns checked for UTF-8 (see consume).
        self.checked: set[str] = set()
        self.bad_dates = Offenders()
        self.counts: Counter[str] = Counter()

    def consume(self, source: Source) -> None:
        """Read every batch of ``source``, keeping the day's rows with their problems."""
        spec = self.spec
        require_columns(source, spec, need_date=not self.in_hive_folder)
        if source.schema is None:
            return
        # In JSONL and CSV files a text extra column (the sender, the subject) may hold
        # bytes that are not UTF-8 too: JSON copies them unchecked, CSV infers binary.
        # Parquet binary columns are real binary data and pass through as they are.
        self.checked = {
            c
            for c in spec.extra_columns
            if source.fmt != "parquet"
            and has_column(source, c)
            and is_text_type(source.schema.field(c).type)
        }
        # Name and type only: a file's own field flags (not null, metadata) would make the
        # batches built below disagree with the schema they are assembled under.
        self.extras = [
            pa.field(c, pa.string() if c in self.checked else source.schema.field(c).type)
            for c in spec.extra_columns
            if has_column(source, c)
        ]
        # Types first, so a hopeless id or text column is named even when a date problem
        # (or an empty file) comes first.
        for name, role in ((spec.id_column, "id"), (spec.text_column, "text")):
            check_type(source.schema.field(name).type, source, name, role)
        has_date = has_column(source, spec.date_column)
        names = [ID_COLUMN, TEXT_COLUMN, *(f.name for f in self.extras), PROBLEM_COLUMN, ROW_NUMBER]
        for batch in source.batches:
            # File row numbers ride along for placeholder ids and duplicate messages.
            first = source.rows_before + 1
            rows = pa.array(range(first, first + batch.num_rows), pa.int64())
            if not self.in_hive_folder:
                batch, rows = self._select_day(batch, rows, source)
            marks = _Marks(batch.num_rows, self.counts)
            ids, bad = string_column(batch.column(spec.id_column), source, spec.id_column, "id")
            marks.not_utf8(bad, "id")
            marks.blank(ids, "id")
            if self.in_hive_folder and has_date:
                self._check_dates(batch, source, marks)
            texts = self._texts(batch, source, marks)
            extras = []
            for extra in self.extras:
                column = batch.column(extra.name)
                if extra.name in self.checked:
                    column, bad = valid_utf8(column)
                    marks.not_utf8(bad, f"column {extra.name!r}")
                extras.append(column)
            out = pa.RecordBatch.from_arrays(
                [ids, texts, *extras, marks.array(), rows], names=names
            )
            if out.num_rows:
                self._keep(out)

    def _keep(self, batch: pa.RecordBatch) -> None:
        if self.writer is None:
            # Spills are read back once, at once: fast compression, no dictionaries.
            self.writer = pq.ParquetWriter(
                self.spill, self.schema(), compression="lz4", use_dictionary=False
            )
        self.writer.write_batch(batch)
        self.rows += batch.num_rows
        self.good += batch.column(PROBLEM_COLUMN).null_count

    def close(self) -> None:
        """Finish the spill (if any row was kept)."""
        if self.writer is not None:
            self.writer.close()
            self.writer = None

    def _select_day(
        self, batch: pa.RecordBatch, rows: pa.Array, source: Source
    ) -> tuple[pa.RecordBatch, pa.Array]:
        """A single file's rows of this day; rows of no day at all are collected to raise.

        A row without a valid date belongs to no partition, so no day's ``unparsed`` table
        could report it: that stays a dataset-level error, or the row would be lost.
        """
        days, _ = dates_of(batch, source, self.spec)
        undated = pc.is_null(days)
        if pc.any(undated).as_py():
            ids = ids_or_none(batch, source, self.spec)
            self.bad_dates.add(undated, ids, source.rows_before)
        keep = pc.fill_null(pc.equal(days, self.day), False)
        return batch.filter(keep), rows.filter(keep)

    def _check_dates(self, batch: pa.RecordBatch, source: Source, marks: _Marks) -> None:
        """Mark rows of a hive folder whose date column names another day, or no date."""
        days, given = dates_of(batch, source, self.spec)
        day = self.day.as_py().isoformat()
        marks.where(
            pc.not_equal(days, self.day),
            "date is outside the partition",
            lambda other: f"date {other.isoformat()} is outside the partition {day}",
            days,
        )
        # A missing date is no disagreement (the folder supplies it), an unparseable one is.
        raw = batch.column(self.spec.date_column)
        marks.where(
            pc.and_(pc.is_null(days), given),
            "date is not a valid YYYY-MM-DD date",
            lambda value: f"date {quote(value)} is not a valid YYYY-MM-DD date",
            raw,
        )

    def _texts(self, batch: pa.RecordBatch, source: Source, marks: _Marks) -> pa.Array:
        """The text column, with its empty, non-UTF-8 and over-budget rows marked."""
        name = self.spec.text_column
        texts, bad = string_column(batch.column(name), source, name, "text")
        marks.not_utf8(bad, "text")
        marks.blank(texts, "text")
        budget = self.budget
        if budget is not None:
            length = pc.utf8_length(texts)
            marks.where(
                pc.greater(length, budget),
                OVER_BUDGET,
                lambda chars: f"text has {chars:,} characters, over the budget of {budget:,}",
                length,
            )
        return texts

    def schema(self) -> pa.Schema:
        return pa.schema(
            [
                (ID_COLUMN, pa.string()),
                (TEXT_COLUMN, pa.string()),
                *self.extras,
                (PROBLEM_COLUMN, pa.string()),
                (ROW_NUMBER, pa.int64()),
            ]
        )

    def result(self, path: Path) -> Part:
        """The kept rows as a part, after raising for any file-level problem found."""
        self.close()
        raise_bad_dates(path, self.spec, self.bad_dates)
        spill = self.spill if self.rows else None
        return Part(path, self.schema(), spill, self.rows, self.good, self.counts)


def read_file(
    path: Path,
    fmt: str,
    spec: DatasetSpec,
    day: dt.date,
    budget: int | None,
    spill: Path,
    *,
    in_hive_folder: bool,
) -> Part:
    """Read one file's rows for ``day``, marking the rows that have problems; the rows go
    to ``spill`` (a Parquet file), and the returned part reads them back."""
    reader = _FileReader(spec, day, budget, spill, in_hive_folder=in_hive_folder)
    try:
        scan(path, fmt, spec, reader.consume, reader.reset)
        return reader.result(path)
    finally:
        reader.close()
