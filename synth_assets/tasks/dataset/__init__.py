"""Reading users' input datasets, one day at a time.

A dataset is either a hive-layout folder (``<path>/date=YYYY-MM-DD/*.{jsonl,csv,parquet}``)
or a single file with a date column. :func:`open_partition` streams one day's rows as Arrow
record batches with the columns ``id`` (string), ``text`` (string), the configured extra
columns and ``problem`` (string), in file order; :func:`read_partition` returns them as one
table, for days that fit in memory; :func:`list_partitions` lists the days available.

Two kinds of problem, handled differently, because nothing may be lost (every input row
ends in exactly one row of ``parsed`` or ``unparsed``):

- **Row-level** (empty or missing text, text that is not valid UTF-8, text over the
  character budget, a missing or repeated id, a row whose date disagrees with its hive
  folder): the row is kept, its ``problem`` says what is wrong, and the pipeline puts it
  in ``unparsed`` with reason ``invalid_input`` instead of sending it. One bad row never
  stops a day.
- **Dataset-level** (the path is missing, a file is unreadable or of an unknown type, a
  required column is missing or of a hopeless type, a row of a single-file dataset has no
  valid date so it belongs to no partition at all, or a day has rows and none is usable):
  :class:`DatasetError` with one sentence naming the file and what to fix.

Every returned row has a distinct ``id``, usable as a custom_id: a row without an id gets
the placeholder ``row-<file name>-<row number>``, and a repeated id keeps its value on its
first row while later rows get ``<id>#dup2``, ``<id>#dup3``… (see :func:`read_partition`).

Memory stays flat whatever the day's size: files are streamed in blocks, each file's
checked rows wait in a temporary Parquet file, and the day-wide view the ids need is an
exact on-disk table. The package's modules, each one idea:

- ``_spec``: :class:`DatasetSpec`, :class:`DatasetError` and the output column names;
- ``_layout``: the path, its ``date=`` folders and their files, formats by extension;
- ``_readers``: one file (JSONL, CSV, Parquet) opened as a stream of record batches;
- ``_columns``: required columns and their types, UTF-8 checks, dates;
- ``_validate``: row validation, one file's rows of one day with their problems, on disk;
- ``_ids``: a day's ids made distinct, so each row can be a custom_id;
- ``_day``: a day's rows streamed in the promised columns.

It imports only the standard library, pyarrow and the project's error base class; it is
used by the Dagster layer and the CLI but knows neither.
"""

import datetime as dt
import tempfile
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from ._columns import Offenders, dates_of, ids_or_none, raise_bad_dates, require_columns
from ._day import DayRows, day_schema
from ._ids import DayIds
from ._layout import (
    PARTITION_KEY,
    check_hive_root,
    existing_path,
    format_of,
    hive_dates,
    parse_partition_date,
    partition_files,
)
from ._readers import Source, scan
from ._spec import ID_COLUMN, PROBLEM_COLUMN, TEXT_COLUMN, DatasetError, DatasetFormat, DatasetSpec
from ._validate import OVER_BUDGET, Part, read_file

__all__ = [
    "ID_COLUMN",
    "PROBLEM_COLUMN",
    "TEXT_COLUMN",
    "DatasetError",
    "DatasetFormat",
    "DatasetSpec",
    "DayRows",
    "list_partitions",
    "open_partition",
    "read_partition",
]


def list_partitions(spec: DatasetSpec) -> list[str]:
    """Return the sorted ``YYYY-MM-DD`` dates the dataset has rows (or a folder) for.

    For a hive folder these are the ``date=`` subfolders (an empty folder counts: it is a
    day with zero rows). For a single file they are the distinct values of the date
    column, found by streaming the file; a row without a valid date raises, as it would
    belong to no partition.
    """
    root = existing_path(spec)
    if root.is_dir():
        return hive_dates(root)
    fmt = format_of(root, spec)
    dates: set[dt.date] = set()
    bad = Offenders()

    def collect(source: Source) -> None:
        require_columns(source, spec, need_date=True)
        for batch in source.batches:
            days, _ = dates_of(batch, source, spec)
            bad.add(pc.is_null(days), ids_or_none(batch, source, spec), source.rows_before)
            dates.update(d for d in pc.unique(days).to_pylist() if d is not None)

    def reset() -> None:
        dates.clear()
        bad.count, bad.names = 0, []

    scan(root, fmt, spec, collect, reset)
    raise_bad_dates(root, spec, bad)
    return sorted(d.isoformat() for d in dates)


def read_partition(spec: DatasetSpec, date: str, *, max_text_chars: int | None = None) -> pa.Table:
    """Return every row of day ``date`` (``YYYY-MM-DD``), good and bad, in file order.

    A convenience for days that fit in memory, built on :func:`open_partition` (which
    streams them: the pipeline's snapshot uses it).

    Columns: ``id`` (string), ``text`` (string), then each of ``spec.extra_columns`` that
    the files have, in the order listed, then ``problem`` (string). For a hive folder the
    rows are those of ``<path>/date=<date>/`` (files in natural name order); a missing
    folder is a day without input and yields an empty table with ``id``, ``text`` and
    ``problem``. For a single file the rows are those whose date column (a date, a
    timestamp or a ``YYYY-MM-DD…`` string) falls on ``date``; rows of other days are not
    this day's rows.

    ``problem`` is null for a usable row. Otherwise the row must not be sent (it belongs in
    ``unparsed`` with reason ``invalid_input``) and ``problem`` says why: one or more of
    these clauses, in this order, joined by ``"; "``, lower case, no final full stop:

    - ``id 'a' already appears on row 1 of emails.jsonl`` (a repeated id, see below);
    - ``id is not valid UTF-8 (byte 0xff at offset 3)``;
    - ``id is missing`` (null or absent), ``id is empty``, ``id is only whitespace``;
    - ``date 2026-11-02 is outside the partition 2026-11-01`` or ``date 'soon' is not a
      valid YYYY-MM-DD date`` (hive folders only: a null or blank date takes the
      folder's);
    - ``text is not valid UTF-8 (byte 0xff at offset 12)``;
    - ``text is missing`` (null or absent), ``text is empty``, ``text is only whitespace``;
    - ``text has 250,000 characters, over the budget of 100,000``;
    - ``column 'subject' is not valid UTF-8 (byte 0xfe at offset 0)`` (a text extra
      column of a JSONL or CSV file).

    UTF-8 offsets count bytes from the start of the value, from 0, and name the first bad
    byte; the returned value has each invalid byte sequence replaced by U+FFFD. Characters
    are Unicode code points. Row numbers count a file's records from 1 (not its CSV
    header, nor blank JSONL lines). Quoted values are cut to 40 characters.

    Nothing is dropped, and every ``id`` is distinct across the returned rows, so each can
    be a custom_id:

    - an id that repeats an earlier row's (in any file of the day) stays with the first
      row, whatever that row's other problems; each later row gets ``<id>#dup<k>``, k
      counting up from 2 and skipping any value that is another row's id;
    - a row whose id is missing, empty or only whitespace gets ``row-<file name>-<row
      number>`` (plus ``#dup<k>`` in the unlikely case a real id already has that value).

    Both depend only on the day's files, so a re-read gives the same ids.

    ``max_text_chars`` is the character budget of one text (None: no limit); a longer
    text is marked rather than sent to a model whose context it would overflow.

    Raises :class:`DatasetError` (one sentence naming the file) when the path does not
    exist, a file cannot be read or has an unknown type, a required column is missing, has
    an unusable type or appears twice, extra columns' types disagree between files, a row
    of a single-file dataset has no valid date (it belongs to no partition, so no day
    could report it), ``max_text_chars`` is not a positive integer, or the day has rows
    and every one of them has a problem (the message names the most common kind).
    """
    with open_partition(spec, date, max_text_chars=max_text_chars) as day:
        return pa.Table.from_batches(list(day.batches()), schema=day.schema)


@contextmanager
def open_partition(
    spec: DatasetSpec,
    date: str,
    *,
    max_text_chars: int | None = None,
    scratch_dir: str | Path | None = None,
) -> Iterator[DayRows]:
    """Day ``date``'s rows as a stream: the same rows, columns, ids and problems as
    :func:`read_partition`, in memory one slice at a time, whatever the day's size.

    Entering reads the day's files once (every :class:`DatasetError` is raised then, before
    a row is yielded), keeping each file's checked rows in a temporary Parquet file under
    ``scratch_dir`` (default: the system's temporary folder; give one on the disk the rows
    are going to, as a day may be gigabytes), and settles the ids over the whole day (see
    ``_ids``). The :class:`DayRows` it gives has the day's ``schema``, ``rows`` and
    ``problems`` counts, and ``batches()`` the rows; the temporary files are deleted on
    exit.
    """
    day = parse_partition_date(date)
    budget = _check_budget(max_text_chars)
    root = existing_path(spec)
    if root.is_dir():
        check_hive_root(root)
        folder = root / f"{PARTITION_KEY}={day.isoformat()}"
        files = partition_files(folder, spec) if folder.is_dir() else []
        where, in_hive_folder = folder, True
    else:
        files = [(root, format_of(root, spec))]
        where, in_hive_folder = root, False
    if not files:
        yield DayRows.empty()
        return
    with tempfile.TemporaryDirectory(prefix=".synth-day-", dir=scratch_dir) as scratch:
        parts = [
            read_file(
                path,
                fmt,
                spec,
                day,
                budget,
                Path(scratch) / f"part-{number}.parquet",
                in_hive_folder=in_hive_folder,
            )
            for number, (path, fmt) in enumerate(files)
        ]
        schema = day_schema(parts, spec)
        counts: Counter[str] = Counter()
        for part in parts:
            counts.update(part.counts)
        with DayIds(parts, Path(scratch)) as ids:
            ids.count(counts)
            total = sum(part.rows for part in parts)
            usable = sum(part.good for part in parts) - ids.good_duplicates
            _raise_if_unusable(total, usable, parts, where, day, counts)
            yield DayRows(schema, parts, ids, total, total - usable)


def _check_budget(max_text_chars: int | None) -> int | None:
    if max_text_chars is None:
        return None
    # bool is an int, but True as a budget of one character is surely a mistake.
    if (
        isinstance(max_text_chars, bool)
        or not isinstance(max_text_chars, int)
        or max_text_chars < 1
    ):
        raise DatasetError(
            f"max_text_chars {max_text_chars!r} is not a positive number of characters; "
            f"pass one like 100000, or None for no limit."
        )
    return max_text_chars


def _raise_if_unusable(
    total: int, usable: int, parts: list[Part], where: Path, day: dt.date, counts: Counter[str]
) -> None:
    """Stop the day when it has rows and every one has a problem.

    Such a day is almost always a dataset mistake (the wrong text column, a file in the
    wrong encoding, a budget set far too low) rather than bad rows, and running it would
    only fill ``unparsed``.
    """
    if total == 0 or usable:
        return
    files = [part for part in parts if part.rows]
    place = str(files[0].path) if len(files) == 1 else f"{where} ({len(files)} files)"
    if total == 1:
        # One row repeats no earlier one: its problem is the one the file gave it.
        only = next(files[0].batches([PROBLEM_COLUMN])).column(0)[0].as_py()
        detail = f'its only row has a problem, "{only}"'
    else:
        kind, count = counts.most_common(1)[0]
        detail = f'all {total:,} rows have a problem, most often "{kind}" ({count:,} rows)'
    kinds = {kind for kind, _ in counts.most_common(1)}
    fix = (
        "raise max_text_chars or shorten the texts"
        if OVER_BUDGET in kinds
        else "fix those rows or remove them from the dataset"
    )
    raise DatasetError(f"{place} has no usable row for {day.isoformat()}: {detail}; {fix}.")
