"""Reading users' input datasets, one day at a time.

A dataset is either a hive-layout folder (``<path>/date=YYYY-MM-DD/*.{jsonl,csv,parquet}``)
or a single file with a date column. :func:`read_partition` returns one day's rows as an
Arrow table with the columns ``id`` (string), ``text`` (string), the configured extra
columns and ``problem`` (string), in file order; :func:`list_partitions` lists the days
available.

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

Files are read with pyarrow's streaming readers in blocks, so memory stays proportional to
one day's rows even when a single file holds many days. JSONL and CSV readers infer column
types from the first block; when a later block disagrees (a column that is null in the
first 10,000 rows and text afterwards), that file is re-read whole, which lets pyarrow
unify the types over all blocks. The id, text and date columns of JSONL and CSV files are
read as raw bytes and checked for UTF-8 here, so that one badly encoded row is marked
instead of failing (CSV) or silently corrupting (JSONL) the whole file.

This module imports only the standard library, pyarrow and the project's error base class;
it is used by the Dagster layer and the CLI but knows neither.
"""

import datetime as dt
import re
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.json as pa_json
import pyarrow.parquet as pq

from synth_assets.batch.errors import SynthError

__all__ = [
    "ID_COLUMN",
    "PROBLEM_COLUMN",
    "TEXT_COLUMN",
    "DatasetError",
    "DatasetFormat",
    "DatasetSpec",
    "list_partitions",
    "read_partition",
]

DatasetFormat = Literal["auto", "jsonl", "csv", "parquet"]

# Names of the three columns every table returned by read_partition has.
ID_COLUMN = "id"
TEXT_COLUMN = "text"
# Null for a usable row; otherwise what is wrong with it (see read_partition).
PROBLEM_COLUMN = "problem"

# Hive partition folders are named <PARTITION_KEY>=YYYY-MM-DD.
PARTITION_KEY = "date"

# Extension -> format for format="auto". ".json" is accepted as JSON Lines because many
# exporters (BigQuery, Spark, pandas' to_json(lines=True)) name JSON Lines files that way.
EXTENSIONS = {
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
    ".csv": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
}
# pyarrow's JSON and CSV readers decompress these transparently, judging by the file name.
COMPRESSIONS = (".gz", ".bz2", ".zst", ".lz4")

# Bytes per block for the streaming JSON/CSV readers: large enough that one block holds
# thousands of e-mails (better type inference, fewer batches), small enough to stream.
BLOCK_SIZE = 16 << 20
# Block size for the whole-file fallback; only a ceiling (pyarrow allocates what it reads),
# and large so that a pathological single line never "straddles two blocks".
WHOLE_FILE_BLOCK_SIZE = 1 << 28
# First block parsed to learn which columns a JSONL file has (see _open_jsonl).
PEEK_BLOCK_SIZE = 1 << 20
PARQUET_BATCH_ROWS = 65_536
# How many offending ids or rows an error message names.
SAMPLE = 5
# Longest value (id, date) quoted in a problem sentence; longer ones are cut with "…".
QUOTE_CHARS = 40

_FORMAT_NAMES = {"jsonl": "JSONL", "csv": "CSV", "parquet": "Parquet"}
# Internal column carrying each row's 1-based position in its file, for placeholder ids
# and the "already appears on row N" problem.
_ROW = "__row_number"
_DATE_RE = re.compile(r"(\d{4}-\d{2}-\d{2})(?:[T ].*)?", re.DOTALL)


class DatasetError(SynthError):
    """The input dataset cannot be read as configured; the message says what to fix."""


@dataclass(frozen=True)
class DatasetSpec:
    """Where a task's input rows live and which columns matter.

    ``path`` is a hive-layout folder (``<path>/date=YYYY-MM-DD/*.jsonl|csv|parquet``) or a
    single file holding every day, told apart by ``date_column``. ``format="auto"`` judges
    each file by its extension. ``id_column`` becomes the ``id`` column (the row's stable
    key), ``text_column`` the ``text`` column; ``extra_columns`` are passed through under
    their own names when the files have them.
    """

    path: str
    format: DatasetFormat = "auto"
    id_column: str = "email_id"
    text_column: str = "body"
    date_column: str = "date"
    extra_columns: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        """Reject configurations that could never read anything, before touching files."""
        if self.format not in get_args(DatasetFormat):
            choices = ", ".join(repr(f) for f in get_args(DatasetFormat))
            raise DatasetError(f"Dataset format {self.format!r} is not one of {choices}.")
        # A list is the natural thing to write in YAML/JSON config; store a tuple so the
        # spec stays hashable and immutable.
        object.__setattr__(self, "extra_columns", tuple(self.extra_columns))
        for name in ("id_column", "text_column", "date_column"):
            if not isinstance(getattr(self, name), str) or not getattr(self, name):
                raise DatasetError(f"DatasetSpec.{name} must be a non-empty column name.")
        clashes = [c for c in self.extra_columns if c in (ID_COLUMN, TEXT_COLUMN, PROBLEM_COLUMN)]
        if clashes:
            raise DatasetError(
                f"Extra column {clashes[0]!r} clashes with the output column of the same "
                f"name; drop it from extra_columns (the {clashes[0]} column is always there)."
            )
        if len(set(self.extra_columns)) != len(self.extra_columns):
            raise DatasetError(f"extra_columns {self.extra_columns} lists a column twice.")


def list_partitions(spec: DatasetSpec) -> list[str]:
    """Return the sorted ``YYYY-MM-DD`` dates the dataset has rows (or a folder) for.

    For a hive folder these are the ``date=`` subfolders (an empty folder counts: it is a
    day with zero rows). For a single file they are the distinct values of the date
    column, found by streaming the file; a row without a valid date raises, as it would
    belong to no partition.
    """
    root = _existing_path(spec)
    if root.is_dir():
        return _hive_dates(root)
    fmt = _format_of(root, spec)
    dates: set[dt.date] = set()
    bad = _Offenders()

    def scan(source: _Source) -> None:
        _require_columns(source, spec, need_date=True)
        for batch in source.batches:
            days, _ = _dates_of(batch, source, spec)
            bad.add(pc.is_null(days), _ids_or_none(batch, source, spec), source.rows_before)
            dates.update(d for d in pc.unique(days).to_pylist() if d is not None)

    def reset() -> None:
        dates.clear()
        bad.count, bad.names = 0, []

    _scan(root, fmt, spec, scan, reset)
    _raise_bad_dates(root, spec, bad)
    return sorted(d.isoformat() for d in dates)


def read_partition(spec: DatasetSpec, date: str, *, max_text_chars: int | None = None) -> pa.Table:
    """Return every row of day ``date`` (``YYYY-MM-DD``), good and bad, in file order.

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
    day = _parse_partition_date(date)
    budget = _check_budget(max_text_chars)
    root = _existing_path(spec)
    if root.is_dir():
        _check_hive_root(root)
        folder = root / f"{PARTITION_KEY}={day.isoformat()}"
        if not folder.is_dir():
            return _empty_table()
        files = _partition_files(folder, spec)
        where = folder
        parts = [
            _read_file(path, fmt, spec, day, budget, in_hive_folder=True) for path, fmt in files
        ]
    else:
        where = root
        parts = [_read_file(root, _format_of(root, spec), spec, day, budget, in_hive_folder=False)]
    if not parts:
        return _empty_table()
    counts: Counter[str] = Counter()
    for part in parts:
        counts.update(part.counts)
    _settle_ids(parts, counts)
    table = _concat(parts, spec)
    _raise_if_unusable(table, parts, where, day, counts)
    return table


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


# --------------------------------------------------------------------------------------
# Paths, folders and formats
# --------------------------------------------------------------------------------------


def _existing_path(spec: DatasetSpec) -> Path:
    path = Path(spec.path).expanduser()
    if not path.exists():
        raise DatasetError(
            f"Dataset path {path} does not exist; point the dataset path at a file or at a "
            f"folder of {PARTITION_KEY}=YYYY-MM-DD subfolders."
        )
    return path


def _parse_partition_date(date: str) -> dt.date:
    # fromisoformat alone also accepts "20261101" (3.11+); partitions are always dashed.
    if isinstance(date, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", date):
        try:
            return dt.date.fromisoformat(date)
        except ValueError:
            pass
    raise DatasetError(f"Partition {date!r} is not a YYYY-MM-DD date; pass one like 2026-11-01.")


def _hidden(path: Path) -> bool:
    # Hive/Spark convention: _SUCCESS, _metadata, .crc and editor files are not data.
    return path.name.startswith((".", "_"))


def _hive_dates(root: Path) -> list[str]:
    dates = []
    for entry in root.iterdir():
        if _hidden(entry) or not entry.is_dir() or not entry.name.startswith(f"{PARTITION_KEY}="):
            continue
        value = entry.name.partition("=")[2]
        try:
            dates.append(_parse_partition_date(value).isoformat())
        except DatasetError:
            raise DatasetError(
                f"Folder {entry} is not a valid partition; rename it to "
                f"{PARTITION_KEY}=YYYY-MM-DD or move it out of {root}."
            ) from None
    if not dates:
        _check_hive_root(root)
    return sorted(dates)


def _check_hive_root(root: Path) -> None:
    """A folder with data files but no date= subfolders is a mistake, not an empty dataset."""
    loose = []
    for entry in root.iterdir():
        if entry.is_dir() and entry.name.startswith(f"{PARTITION_KEY}="):
            return
        if entry.is_file() and not _hidden(entry) and _known_extension(entry):
            loose.append(entry.name)
    if loose:
        raise DatasetError(
            f"{root} holds data files ({', '.join(sorted(loose)[:3])}) but no "
            f"{PARTITION_KEY}=YYYY-MM-DD subfolders; point the dataset path at the file "
            f"itself or move the files into one {PARTITION_KEY}=YYYY-MM-DD folder per day."
        )


def _natural_key(name: str) -> list[object]:
    # part-2 before part-10, as a human (and most writers' numbering) expects.
    return [int(tok) if tok.isdigit() else tok for tok in re.split(r"(\d+)", name)]


def _partition_files(folder: Path, spec: DatasetSpec) -> list[tuple[Path, str]]:
    files = []
    for entry in sorted(folder.iterdir(), key=lambda p: _natural_key(p.name)):
        if _hidden(entry):
            continue
        if entry.is_dir():
            raise DatasetError(
                f"{entry} is a folder inside partition {folder.name}; put the day's files "
                f"directly in {folder} (nested partitions are not supported)."
            )
        files.append((entry, _format_of(entry, spec)))
    return files


def _known_extension(path: Path) -> str | None:
    name = path.name.lower()
    for compression in COMPRESSIONS:
        if name.endswith(compression):
            name = name.removesuffix(compression)
            break
    fmt = EXTENSIONS.get(Path(name).suffix)
    # pyarrow decompresses JSON and CSV by extension, but not a whole Parquet file.
    if fmt == "parquet" and name != path.name.lower():
        return None
    return fmt


def _format_of(path: Path, spec: DatasetSpec) -> str:
    if spec.format != "auto":
        return spec.format
    fmt = _known_extension(path)
    if fmt is None:
        raise DatasetError(
            f"Cannot tell the format of {path} from its extension; rename it to .jsonl, "
            f".csv or .parquet, or set the dataset format explicitly."
        )
    return fmt


# --------------------------------------------------------------------------------------
# Opening files as streams of record batches
# --------------------------------------------------------------------------------------


# What the per-format openers return: the file's schema and an iterator of its batches.
_Opened = tuple[pa.Schema, Iterator[pa.RecordBatch]]


class _RetryWholeFile(Exception):
    """Internal: the streaming reader hit a type-inference limit; re-read the file whole."""


@dataclass
class _Source:
    """One opened data file: its schema and its batches (None schema = empty file)."""

    path: Path
    fmt: str
    schema: pa.Schema | None
    batches: Iterator[pa.RecordBatch]
    rows_before: int = 0  # rows of this file consumed before the current batch


def _scan(
    path: Path,
    fmt: str,
    spec: DatasetSpec,
    consume: Callable[[_Source], None],
    reset: Callable[[], None],
) -> None:
    """Run ``consume`` over the file's batches, re-reading the file whole if needed.

    ``reset`` clears whatever ``consume`` accumulated, so a retry starts from scratch and
    no row is counted twice.
    """
    try:
        consume(_open(path, fmt, spec, whole=False))
    except _RetryWholeFile:
        reset()
        consume(_open(path, fmt, spec, whole=True))


def _open(path: Path, fmt: str, spec: DatasetSpec, *, whole: bool) -> _Source:
    try:
        if fmt == "parquet":
            schema, batches = _open_parquet(path, spec)
        elif fmt == "csv":
            schema, batches = _open_csv(path, spec, whole=whole)
        else:
            schema, batches = _open_jsonl(path, spec, whole=whole)
    except (pa.ArrowException, OSError, UnicodeDecodeError) as exc:
        if _is_empty_file_error(exc):
            return _Source(path, fmt, None, iter(()))
        raise _read_error(path, fmt, exc, whole) from exc
    source = _Source(path, fmt, schema, iter(()))
    source.batches = _guarded(source, batches, whole)
    return source


def _guarded(
    source: _Source, batches: Iterator[pa.RecordBatch], whole: bool
) -> Iterator[pa.RecordBatch]:
    """Yield batches, turning reader errors into DatasetError (or a whole-file retry)."""
    while True:
        try:
            batch = next(batches)
        except StopIteration:
            return
        except (pa.ArrowException, OSError, UnicodeDecodeError) as exc:
            raise _read_error(source.path, source.fmt, exc, whole) from exc
        yield batch
        source.rows_before += batch.num_rows


def _open_parquet(path: Path, spec: DatasetSpec) -> _Opened:
    parquet = pq.ParquetFile(path)
    schema = parquet.schema_arrow
    wanted = {spec.id_column, spec.text_column, spec.date_column, *spec.extra_columns}
    # Column projection: a wide file costs only the columns we use.
    columns = [name for name in schema.names if name in wanted]
    return schema, parquet.iter_batches(batch_size=PARQUET_BATCH_ROWS, columns=columns)


def _open_csv(path: Path, spec: DatasetSpec, *, whole: bool) -> _Opened:
    read = pa_csv.ReadOptions(block_size=WHOLE_FILE_BLOCK_SIZE if whole else BLOCK_SIZE)
    # E-mail bodies contain newlines inside quoted fields.
    parse = pa_csv.ParseOptions(newlines_in_values=True)
    # Our columns are read as raw text whatever they look like: ids like 00042 keep their
    # zeros, a body that happens to be "2026-11-01" stays text, and dates are parsed below
    # with one rule for every format. Bytes, not strings: a string column fails the whole
    # file on one row that is not UTF-8, a binary one lets _valid_utf8 mark just that row.
    # Types of absent columns are ignored.
    convert = pa_csv.ConvertOptions(
        column_types={c: pa.binary() for c in (spec.id_column, spec.text_column, spec.date_column)}
    )
    if whole:
        table = pa_csv.read_csv(path, read, parse, convert)
        return table.schema, iter(table.to_batches())
    reader = pa_csv.open_csv(path, read, parse, convert)
    return reader.schema, iter(reader)


def _open_jsonl(path: Path, spec: DatasetSpec, *, whole: bool) -> _Opened:
    read = pa_json.ReadOptions(block_size=WHOLE_FILE_BLOCK_SIZE if whole else BLOCK_SIZE)
    # Peek at the first block's inferred schema to learn which of our columns exist, then
    # force those to raw text: pyarrow would otherwise turn "2026-11-01T01:30:00+02:00"
    # into a UTC timestamp (changing the day) and a body that looks like a date into a
    # timestamp. Bytes rather than strings because pyarrow's JSON reader copies invalid
    # UTF-8 into string columns unchecked; _valid_utf8 checks (and marks) them per row.
    # Forcing a column that is absent would invent an all-null column, hence the peek.
    peek = _peek_json_schema(path, read)
    forced = []
    for name in (spec.id_column, spec.text_column, spec.date_column):
        if peek.get_field_index(name) >= 0:
            kind = peek.field(name).type
            if pa.types.is_string(kind) or pa.types.is_timestamp(kind) or pa.types.is_null(kind):
                forced.append(pa.field(name, pa.binary()))
    parse = pa_json.ParseOptions(
        explicit_schema=pa.schema(forced), unexpected_field_behavior="infer"
    )
    if whole:
        table = pa_json.read_json(path, read, parse)
        schema, batches = table.schema, iter(table.to_batches())
    else:
        reader = pa_json.open_json(path, read, parse)
        schema, batches = reader.schema, iter(reader)
    # Forced fields come first in pyarrow's schema; report columns in the file's order.
    order = {name: i for i, name in enumerate(peek.names)}
    fields = sorted(schema, key=lambda f: order.get(f.name, len(order)))
    return pa.schema(fields), batches


def _peek_json_schema(path: Path, read: pa_json.ReadOptions) -> pa.Schema:
    # A small first block keeps the peek cheap; a first line longer than that block needs
    # the real block size.
    try:
        return pa_json.open_json(
            path, read_options=pa_json.ReadOptions(block_size=PEEK_BLOCK_SIZE)
        ).schema
    except pa.ArrowInvalid as exc:
        if "straddl" not in str(exc):
            raise
        return pa_json.open_json(path, read_options=read).schema


def _is_empty_file_error(exc: BaseException) -> bool:
    # A 0-byte (or blank) JSONL/CSV file is a day's file with no rows yet, not corruption.
    return isinstance(exc, pa.ArrowInvalid) and any(
        s in str(exc) for s in ("Empty JSON file", "Empty JSON stream", "Empty CSV file")
    )


def _read_error(path: Path, fmt: str, exc: BaseException, whole: bool) -> Exception:
    message = str(exc)
    # Streaming readers fix types from the first block; these messages mean a later block
    # disagrees or a line is longer than a block, which a whole-file read can handle.
    retryable = ("changed from", "unexpected field", "straddl", "conversion error")
    if not whole and isinstance(exc, pa.ArrowInvalid) and any(s in message for s in retryable):
        return _RetryWholeFile()
    reason = " ".join(message.split()).rstrip(".").replace(". ", "; ")
    if len(reason) > 300:
        reason = reason[:300] + "…"
    if isinstance(exc, OSError) and not isinstance(exc, pa.ArrowException):
        reason = exc.strerror or reason
    if isinstance(exc, UnicodeDecodeError):
        # Values are checked row by row; only a column name can end up here (a JSON key).
        bad = exc.object[exc.start]
        reason = f"a column name is not valid UTF-8 (byte 0x{bad:02x} at offset {exc.start})"
    hint = {
        "jsonl": "make every line one JSON object",
        "csv": "save it as UTF-8 CSV with a header row",
        "parquet": "re-export it",
    }[fmt]
    return DatasetError(
        f"Cannot read {path} as {_FORMAT_NAMES[fmt]} ({reason}); fix the file ({hint}), "
        f"or remove it from the dataset."
    )


# --------------------------------------------------------------------------------------
# Columns, dates and rows
# --------------------------------------------------------------------------------------


def _rows(count: int) -> str:
    return f"{count} row" if count == 1 else f"{count} rows"


def _available(schema: pa.Schema) -> str:
    names = schema.names
    shown = ", ".join(names[:20]) + (", …" if len(names) > 20 else "")
    return shown or "none"


def _require_columns(source: _Source, spec: DatasetSpec, *, need_date: bool) -> None:
    schema = source.schema
    if schema is None:  # empty file: no columns to check, no rows to read
        return
    roles = [("id", spec.id_column, "id_column"), ("text", spec.text_column, "text_column")]
    if need_date:
        roles.append(("date", spec.date_column, "date_column"))
    for role, name, setting in roles:
        count = schema.names.count(name)
        if count == 0:
            raise DatasetError(
                f"{source.path} has no column {name!r} (the {role} column); available "
                f"columns: {_available(schema)} — set {setting} to one of them or fix the file."
            )
        if count > 1:
            raise DatasetError(
                f"{source.path} has {count} columns named {name!r}; rename all but one so "
                f"the {role} column is unambiguous."
            )


def _has_column(source: _Source, name: str) -> bool:
    return source.schema is not None and source.schema.get_field_index(name) >= 0


def _check_type(kind: pa.DataType, source: _Source, name: str, role: str) -> None:
    """Raise for an id or text column type no row could be read from (a list, a float…).

    That is a mistake in the configuration or the file, not in one row.
    """
    if pa.types.is_dictionary(kind):
        kind = kind.value_type
    allowed = (
        pa.types.is_string(kind)
        or pa.types.is_large_string(kind)
        or pa.types.is_string_view(kind)
        or pa.types.is_null(kind)
        # JSONL and CSV columns are read as bytes (see _open_csv), and some writers store
        # text as binary without the UTF-8 annotation.
        or pa.types.is_binary(kind)
        or pa.types.is_large_binary(kind)
        # Integer ids are common (database keys); they become their decimal text.
        or (role == "id" and pa.types.is_integer(kind))
    )
    if not allowed:
        expected = "strings or integers" if role == "id" else "strings"
        raise DatasetError(
            f"Column {name!r} in {source.path} has type {kind}, but the {role} column must "
            f"hold {expected}; point {role}_column at another column or convert it."
        )


def _string_column(
    column: pa.Array, source: _Source, name: str, role: str
) -> tuple[pa.Array, dict[int, str]]:
    """The id or text column as valid-UTF-8 ``string``, and where it was not UTF-8."""
    _check_type(column.type, source, name, role)
    if pa.types.is_integer(column.type):
        return pc.cast(column, pa.string()), {}
    return _valid_utf8(column)


def _valid_utf8(column: pa.Array) -> tuple[pa.Array, dict[int, str]]:
    """``column`` (string or binary) as ``string`` holding only valid UTF-8, and the bad rows.

    A value that is not valid UTF-8 is kept with each invalid byte sequence replaced by
    U+FFFD; the returned dict maps its position to ``"byte 0xff at offset 12"`` (its first
    invalid byte, offset 0-based into the value's bytes). Readers do not all check:
    pyarrow's JSON reader copies invalid bytes into string columns as they are, and the
    CSV reader, told to, hands them over as binary.
    """
    kind = column.type
    if pa.types.is_dictionary(kind):
        column = column.dictionary_decode()
        kind = column.type
    if pa.types.is_null(kind):
        return pa.nulls(len(column), pa.string()), {}
    if pa.types.is_string(kind):
        raw = column.view(pa.binary())
    elif pa.types.is_large_string(kind):
        raw = column.view(pa.large_binary())
    elif pa.types.is_string_view(kind):
        raw = pc.cast(column, pa.binary())
    else:
        raw = column
    try:
        # Fast path: the cast validates the whole batch in C++ and fails on any bad byte.
        return pc.cast(raw, pa.string()), {}
    except pa.ArrowInvalid:
        pass
    # Slow path, only for a batch with bad bytes: find them value by value.
    values: list[str | None] = []
    bad: dict[int, str] = {}
    for position, value in enumerate(raw.to_pylist()):
        if value is None:
            values.append(None)
            continue
        try:
            values.append(value.decode("utf-8"))
        except UnicodeDecodeError as exc:
            bad[position] = f"byte 0x{value[exc.start]:02x} at offset {exc.start}"
            values.append(value.decode("utf-8", errors="replace"))
    return pa.array(values, pa.string()), bad


def _dates_of(
    batch: pa.RecordBatch, source: _Source, spec: DatasetSpec
) -> tuple[pa.Array, pa.Array]:
    """The date column as date32, and where it holds a value at all.

    The first is null where the value is missing or not a valid date; the second is false
    for nulls and blank strings, which in a hive folder take the folder's date (an empty
    CSV cell is the usual way to say "no date").
    """
    column = batch.column(spec.date_column)
    kind = column.type
    if pa.types.is_dictionary(kind):
        column = column.dictionary_decode()
        kind = column.type
    if pa.types.is_date32(kind):
        return column, pc.is_valid(column)
    if pa.types.is_date64(kind):
        return pc.cast(column, pa.date32()), pc.is_valid(column)
    if pa.types.is_timestamp(kind):
        # An aware timestamp belongs to the day on its own wall clock, not UTC's.
        if kind.tz is not None:
            column = pc.local_timestamp(column)
        return pc.cast(pc.floor_temporal(column, unit="day"), pa.date32()), pc.is_valid(column)
    if pa.types.is_null(kind):
        return pa.nulls(len(column), pa.date32()), pa.array([False] * len(column))
    if (
        pa.types.is_string(kind)
        or pa.types.is_large_string(kind)
        or pa.types.is_string_view(kind)
        or pa.types.is_binary(kind)
        or pa.types.is_large_binary(kind)
    ):
        # A date with bytes that are not UTF-8 is simply not a valid date.
        trimmed = pc.utf8_trim_whitespace(_valid_utf8(column)[0])
        given = pc.fill_null(pc.greater(pc.utf8_length(trimmed), 0), False)
        return _parse_date_strings(trimmed), given
    raise DatasetError(
        f"Column {spec.date_column!r} in {source.path} has type {kind}; the date column "
        f"must hold dates, timestamps or YYYY-MM-DD strings — convert it or point "
        f"date_column at another column."
    )


def _parse_date_strings(trimmed: pa.Array) -> pa.Array:
    # Parse each distinct value once in Python: a day's file has few distinct dates, and
    # date.fromisoformat rejects impossible days (2026-02-30) that strptime would roll over.
    distinct = pc.unique(trimmed)
    parsed = []
    for value in distinct.to_pylist():
        match = _DATE_RE.fullmatch(value) if value is not None else None
        try:
            parsed.append(dt.date.fromisoformat(match.group(1)) if match else None)
        except ValueError:
            parsed.append(None)
    positions = pc.index_in(trimmed, value_set=distinct)
    return pc.take(pa.array(parsed, pa.date32()), positions)


@dataclass
class _Offenders:
    """Rows with one kind of problem: counted over a whole file, the first few named."""

    count: int = 0
    names: list[str] = field(default_factory=list)

    def add(self, mask: pa.Array, ids: pa.Array | None, rows_before: int) -> None:
        """Count the rows where ``mask`` is true; name them by id, or by row number."""
        mask = pc.fill_null(mask, False)
        count = pc.sum(mask).as_py() or 0
        if not count:
            return
        self.count += count
        if len(self.names) < SAMPLE:
            positions = pc.indices_nonzero(mask).slice(0, SAMPLE - len(self.names)).to_pylist()
            values = ids.take(positions).to_pylist() if ids is not None else [None] * len(positions)
            self.names += [
                value if value else f"row {rows_before + position + 1}"
                for value, position in zip(values, positions, strict=True)
            ]


def _ids_or_none(batch: pa.RecordBatch, source: _Source, spec: DatasetSpec) -> pa.Array | None:
    # Messages about bad dates name rows by id; an unusable id column must not hide the
    # date problem, so fall back to row numbers.
    try:
        return _string_column(batch.column(spec.id_column), source, spec.id_column, "id")[0]
    except DatasetError:
        return None


def _raise_bad_dates(path: Path, spec: DatasetSpec, bad: _Offenders) -> None:
    if bad.count:
        raise DatasetError(
            f"{path} has {_rows(bad.count)} without a valid date in column "
            f"{spec.date_column!r} ({', '.join(bad.names)}); give every row a YYYY-MM-DD "
            f"date so it belongs to a partition."
        )


# --------------------------------------------------------------------------------------
# Row-level problems
# --------------------------------------------------------------------------------------

# Kinds of problem, counted per day to name the most common one when no row is usable.
# Each row's own sentence in the problem column is more precise (values, offsets, rows).
_DUPLICATE = "id repeats an earlier row"
_OVER_BUDGET = "text is over the character budget"


def _quote(value: object) -> str:
    """A value for a problem sentence: repr-quoted, cut to QUOTE_CHARS characters."""
    if isinstance(value, bytes):
        value = value.decode("utf-8", errors="replace")
    text = value.strip() if isinstance(value, str) else str(value)
    if len(text) > QUOTE_CHARS:
        text = text[: QUOTE_CHARS - 1] + "…"
    return repr(text)


def _blank(values: pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
    """True where a string is null, empty or only whitespace."""
    trimmed = pc.utf8_trim_whitespace(values)
    return pc.fill_null(pc.equal(pc.utf8_length(trimmed), 0), True)


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
        """Record the rows :func:`_valid_utf8` found not UTF-8 in ``what`` (a column)."""
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
class _Part:
    """The rows one file contributes to a partition, and its problems counted by kind."""

    path: Path
    table: pa.Table
    counts: Counter[str]


def _is_text_type(kind: pa.DataType) -> bool:
    return (
        pa.types.is_string(kind)
        or pa.types.is_large_string(kind)
        or pa.types.is_binary(kind)
        or pa.types.is_large_binary(kind)
    )


class _FileReader:
    """Reads one file's rows for one day, marking row problems and collecting file ones.

    Kept as state on an object (rather than returned per batch) so a whole-file retry can
    :meth:`reset` and start over without counting any row twice.
    """

    def __init__(
        self, spec: DatasetSpec, day: dt.date, budget: int | None, *, in_hive_folder: bool
    ) -> None:
        self.spec = spec
        self.day = pa.scalar(day, pa.date32())
        self.budget = budget
        self.in_hive_folder = in_hive_folder
        self.reset()

    def reset(self) -> None:
        """Forget everything read so far."""
        self.kept: list[pa.RecordBatch] = []
        self.extras: list[pa.Field] = []
        # Extra columns checked for UTF-8 (see consume).
        self.checked: set[str] = set()
        self.bad_dates = _Offenders()
        self.counts: Counter[str] = Counter()

    def consume(self, source: _Source) -> None:
        """Read every batch of ``source``, keeping the day's rows with their problems."""
        spec = self.spec
        _require_columns(source, spec, need_date=not self.in_hive_folder)
        if source.schema is None:
            return
        # In JSONL and CSV files a text extra column (the sender, the subject) may hold
        # bytes that are not UTF-8 too: JSON copies them unchecked, CSV infers binary.
        # Parquet binary columns are real binary data and pass through as they are.
        self.checked = {
            c
            for c in spec.extra_columns
            if source.fmt != "parquet"
            and _has_column(source, c)
            and _is_text_type(source.schema.field(c).type)
        }
        # Name and type only: a file's own field flags (not null, metadata) would make the
        # batches built below disagree with the schema they are assembled under.
        self.extras = [
            pa.field(c, pa.string() if c in self.checked else source.schema.field(c).type)
            for c in spec.extra_columns
            if _has_column(source, c)
        ]
        # Types first, so a hopeless id or text column is named even when a date problem
        # (or an empty file) comes first.
        for name, role in ((spec.id_column, "id"), (spec.text_column, "text")):
            _check_type(source.schema.field(name).type, source, name, role)
        has_date = _has_column(source, spec.date_column)
        names = [ID_COLUMN, TEXT_COLUMN, *(f.name for f in self.extras), PROBLEM_COLUMN, _ROW]
        for batch in source.batches:
            # File row numbers ride along for placeholder ids and duplicate messages.
            first = source.rows_before + 1
            rows = pa.array(range(first, first + batch.num_rows), pa.int64())
            if not self.in_hive_folder:
                batch, rows = self._select_day(batch, rows, source)
            marks = _Marks(batch.num_rows, self.counts)
            ids, bad = _string_column(batch.column(spec.id_column), source, spec.id_column, "id")
            marks.not_utf8(bad, "id")
            marks.blank(ids, "id")
            if self.in_hive_folder and has_date:
                self._check_dates(batch, source, marks)
            texts = self._texts(batch, source, marks)
            extras = []
            for extra in self.extras:
                column = batch.column(extra.name)
                if extra.name in self.checked:
                    column, bad = _valid_utf8(column)
                    marks.not_utf8(bad, f"column {extra.name!r}")
                extras.append(column)
            out = pa.RecordBatch.from_arrays(
                [ids, texts, *extras, marks.array(), rows], names=names
            )
            if out.num_rows:
                self.kept.append(out)

    def _select_day(
        self, batch: pa.RecordBatch, rows: pa.Array, source: _Source
    ) -> tuple[pa.RecordBatch, pa.Array]:
        """A single file's rows of this day; rows of no day at all are collected to raise.

        A row without a valid date belongs to no partition, so no day's ``unparsed`` table
        could report it: that stays a dataset-level error, or the row would be lost.
        """
        days, _ = _dates_of(batch, source, self.spec)
        undated = pc.is_null(days)
        if pc.any(undated).as_py():
            ids = _ids_or_none(batch, source, self.spec)
            self.bad_dates.add(undated, ids, source.rows_before)
        keep = pc.fill_null(pc.equal(days, self.day), False)
        return batch.filter(keep), rows.filter(keep)

    def _check_dates(self, batch: pa.RecordBatch, source: _Source, marks: _Marks) -> None:
        """Mark rows of a hive folder whose date column names another day, or no date."""
        days, given = _dates_of(batch, source, self.spec)
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
            lambda value: f"date {_quote(value)} is not a valid YYYY-MM-DD date",
            raw,
        )

    def _texts(self, batch: pa.RecordBatch, source: _Source, marks: _Marks) -> pa.Array:
        """The text column, with its empty, non-UTF-8 and over-budget rows marked."""
        name = self.spec.text_column
        texts, bad = _string_column(batch.column(name), source, name, "text")
        marks.not_utf8(bad, "text")
        marks.blank(texts, "text")
        budget = self.budget
        if budget is not None:
            length = pc.utf8_length(texts)
            marks.where(
                pc.greater(length, budget),
                _OVER_BUDGET,
                lambda chars: f"text has {chars:,} characters, over the budget of {budget:,}",
                length,
            )
        return texts

    def result(self, path: Path) -> _Part:
        """The kept rows as a table, after raising for any file-level problem found."""
        _raise_bad_dates(path, self.spec, self.bad_dates)
        schema = pa.schema(
            [
                (ID_COLUMN, pa.string()),
                (TEXT_COLUMN, pa.string()),
                *self.extras,
                (PROBLEM_COLUMN, pa.string()),
                (_ROW, pa.int64()),
            ]
        )
        return _Part(path, pa.Table.from_batches(self.kept, schema=schema), self.counts)


def _read_file(
    path: Path,
    fmt: str,
    spec: DatasetSpec,
    day: dt.date,
    budget: int | None,
    *,
    in_hive_folder: bool,
) -> _Part:
    """Read one file's rows for ``day``, marking the rows that have problems."""
    reader = _FileReader(spec, day, budget, in_hive_folder=in_hive_folder)
    _scan(path, fmt, spec, reader.consume, reader.reset)
    return reader.result(path)


def _derived(base: str, taken: set[str], k: int = 2) -> tuple[str, int]:
    """``<base>#dup<k>`` for the lowest k from ``k`` on that no row has taken, and that k."""
    while f"{base}#dup{k}" in taken:
        k += 1
    return f"{base}#dup{k}", k


def _settle_ids(parts: list[_Part], counts: Counter[str]) -> None:
    """Make the day's ids distinct, in place, so each row can be a custom_id.

    A blank id becomes ``row-<file name>-<row number>``; an id seen on an earlier row of
    the day (in any file) becomes ``<id>#dup<k>`` and its row is marked. Every real id is
    reserved up front for its first row, so no derived id can take the id of a row further
    down. The Python loop runs only on a day with a blank or repeated id; a clean day
    costs two vectorized passes.
    """
    ids = pa.chunked_array([part.table.column(ID_COLUMN) for part in parts], pa.string())
    if len(ids) == 0:
        return
    blank = _blank(ids)
    if not pc.any(blank).as_py() and pc.count_distinct(ids).as_py() == len(ids):
        return
    taken: set[str] = set(pc.unique(ids.filter(pc.invert(blank))).to_pylist())
    first_row: dict[str, tuple[str, int]] = {}
    next_k: dict[str, int] = {}  # where the search for a free #dup<k> resumes, per id
    for part in parts:
        name = part.path.name
        table = part.table
        values = table.column(ID_COLUMN).to_pylist()
        problems = table.column(PROBLEM_COLUMN).to_pylist()
        rows = table.column(_ROW).to_pylist()
        blanks = _blank(table.column(ID_COLUMN)).to_pylist()
        for i, (value, row) in enumerate(zip(values, rows, strict=True)):
            if blanks[i]:
                placeholder = f"row-{name}-{row}"
                values[i] = (
                    placeholder if placeholder not in taken else _derived(placeholder, taken)[0]
                )
                taken.add(values[i])
            elif value in first_row:
                values[i], k = _derived(value, taken, next_k.get(value, 2))
                next_k[value] = k + 1
                taken.add(values[i])
                seen_in, seen_row = first_row[value]
                clause = f"id {_quote(value)} already appears on row {seen_row} of {seen_in}"
                # The id comes first in a row's problems; this one is found last.
                problems[i] = clause if problems[i] is None else f"{clause}; {problems[i]}"
                counts[_DUPLICATE] += 1
            else:
                first_row[value] = (name, row)
        part.table = table.set_column(
            table.schema.get_field_index(ID_COLUMN), ID_COLUMN, pa.array(values, pa.string())
        ).set_column(
            table.schema.get_field_index(PROBLEM_COLUMN),
            PROBLEM_COLUMN,
            pa.array(problems, pa.string()),
        )


def _concat(parts: list[_Part], spec: DatasetSpec) -> pa.Table:
    tables = [part.table for part in parts]
    try:
        # "permissive" fills an extra column missing from one file with nulls and widens
        # compatible types (int64 in one file, double in another).
        table = pa.concat_tables(tables, promote_options="permissive")
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        names = ", ".join(str(part.path) for part in parts[:3])
        raise DatasetError(
            f"Files {names} disagree on the types of their extra columns "
            f"({' '.join(str(exc).split())}); make each column's type the same in every file."
        ) from exc
    extras = [c for c in spec.extra_columns if c in table.column_names]
    return table.select([ID_COLUMN, TEXT_COLUMN, *extras, PROBLEM_COLUMN])


def _raise_if_unusable(
    table: pa.Table, parts: list[_Part], where: Path, day: dt.date, counts: Counter[str]
) -> None:
    """Stop the day when it has rows and every one has a problem.

    Such a day is almost always a dataset mistake (the wrong text column, a file in the
    wrong encoding, a budget set far too low) rather than bad rows, and running it would
    only fill ``unparsed``.
    """
    total = table.num_rows
    if total == 0 or table.column(PROBLEM_COLUMN).null_count:
        return
    files = [part.path for part in parts if part.table.num_rows]
    place = str(files[0]) if len(files) == 1 else f"{where} ({len(files)} files)"
    if total == 1:
        detail = f'its only row has a problem, "{table.column(PROBLEM_COLUMN)[0].as_py()}"'
    else:
        kind, count = counts.most_common(1)[0]
        detail = f'all {total:,} rows have a problem, most often "{kind}" ({count:,} rows)'
    kinds = {kind for kind, _ in counts.most_common(1)}
    fix = (
        "raise max_text_chars or shorten the texts"
        if _OVER_BUDGET in kinds
        else "fix those rows or remove them from the dataset"
    )
    raise DatasetError(f"{place} has no usable row for {day.isoformat()}: {detail}; {fix}.")


def _empty_table() -> pa.Table:
    return pa.schema(
        [(ID_COLUMN, pa.string()), (TEXT_COLUMN, pa.string()), (PROBLEM_COLUMN, pa.string())]
    ).empty_table()
