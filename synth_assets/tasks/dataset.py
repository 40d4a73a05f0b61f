"""Reading users' input datasets, one day at a time.

A dataset is either a hive-layout folder (``<path>/date=YYYY-MM-DD/*.{jsonl,csv,parquet}``)
or a single file with a date column. :func:`read_partition` returns one day's rows as an
Arrow table with the columns ``id`` (string), ``text`` (string) and the configured extra
columns, in file order; :func:`list_partitions` lists the days available.

Every problem a user can cause raises :class:`DatasetError` with one sentence naming the
file and what to fix. Nothing is silently dropped: a row that cannot be attributed to a day,
has no id, has no text or repeats an id is an error, not a skipped row, because a row lost
here would be a row missing from ``parsed`` and ``unparsed`` with no trace.

Files are read with pyarrow's streaming readers in blocks, so memory stays proportional to
one day's rows even when a single file holds many days. JSONL and CSV readers infer column
types from the first block; when a later block disagrees (a column that is null in the
first 10,000 rows and text afterwards), that file is re-read whole, which lets pyarrow
unify the types over all blocks.

This module imports only the standard library, pyarrow and the project's error base class;
it is used by the Dagster layer and the CLI but knows neither.
"""

import datetime as dt
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, get_args

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.json as pa_json
import pyarrow.parquet as pq

from synth_assets.batch.errors import SynthError

__all__ = [
    "ID_COLUMN",
    "TEXT_COLUMN",
    "DatasetError",
    "DatasetFormat",
    "DatasetSpec",
    "list_partitions",
    "read_partition",
]

DatasetFormat = Literal["auto", "jsonl", "csv", "parquet"]

# Names of the two columns every table returned by read_partition has.
ID_COLUMN = "id"
TEXT_COLUMN = "text"

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

_FORMAT_NAMES = {"jsonl": "JSONL", "csv": "CSV", "parquet": "Parquet"}
# Internal column carrying each row's 1-based position in its file, for error messages.
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
        clashes = [c for c in self.extra_columns if c in (ID_COLUMN, TEXT_COLUMN)]
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
            days = _dates_of(batch, source, spec)
            bad.add(pc.is_null(days), _ids_or_none(batch, source, spec), source.rows_before)
            dates.update(d for d in pc.unique(days).to_pylist() if d is not None)

    def reset() -> None:
        dates.clear()
        bad.count, bad.names = 0, []

    _scan(root, fmt, spec, scan, reset)
    _raise_bad_dates(root, spec, bad)
    return sorted(d.isoformat() for d in dates)


def read_partition(spec: DatasetSpec, date: str) -> pa.Table:
    """Return the rows of day ``date`` (``YYYY-MM-DD``) as a table, in file order.

    Columns: ``id`` (string), ``text`` (string), then each of ``spec.extra_columns`` that
    the files have, in the order listed. For a hive folder the rows are those of
    ``<path>/date=<date>/`` (files in natural name order); a missing folder is a day
    without input and yields an empty table with ``id`` and ``text``. For a single file the
    rows are those whose date column (a date, a timestamp or a ``YYYY-MM-DD…`` string)
    falls on ``date``.

    Raises :class:`DatasetError` when the path does not exist, a file cannot be read, a
    column is missing, an id or a text is empty, an id repeats within the day, or a row
    sits in a hive folder its date column disagrees with.
    """
    day = _parse_partition_date(date)
    root = _existing_path(spec)
    if root.is_dir():
        _check_hive_root(root)
        folder = root / f"{PARTITION_KEY}={day.isoformat()}"
        if not folder.is_dir():
            return _empty_table()
        files = _partition_files(folder, spec)
        parts = [_read_file(path, fmt, spec, day, in_hive_folder=True) for path, fmt in files]
    else:
        parts = [_read_file(root, _format_of(root, spec), spec, day, in_hive_folder=False)]
    if not parts:
        return _empty_table()
    table = _concat(parts, spec, root)
    _check_unique_ids(table, parts, spec, day)
    return table


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
    except (pa.ArrowException, OSError) as exc:
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
        except (pa.ArrowException, OSError) as exc:
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
    # Our columns are read as text whatever they look like: ids like 00042 keep their
    # zeros, a body that happens to be "2026-11-01" stays a string, and dates are parsed
    # below with one rule for every format. Types of absent columns are ignored.
    convert = pa_csv.ConvertOptions(
        column_types={c: pa.string() for c in (spec.id_column, spec.text_column, spec.date_column)}
    )
    if whole:
        table = pa_csv.read_csv(path, read, parse, convert)
        return table.schema, iter(table.to_batches())
    reader = pa_csv.open_csv(path, read, parse, convert)
    return reader.schema, iter(reader)


def _open_jsonl(path: Path, spec: DatasetSpec, *, whole: bool) -> _Opened:
    read = pa_json.ReadOptions(block_size=WHOLE_FILE_BLOCK_SIZE if whole else BLOCK_SIZE)
    # Peek at the first block's inferred schema to learn which of our columns exist, then
    # force those to string: pyarrow would otherwise turn "2026-11-01T01:30:00+02:00" into
    # a UTC timestamp (changing the day) and a body that looks like a date into a timestamp.
    # Forcing a column that is absent would invent an all-null column, hence the peek.
    peek = _peek_json_schema(path, read)
    forced = []
    for name in (spec.id_column, spec.text_column, spec.date_column):
        if peek.get_field_index(name) >= 0:
            kind = peek.field(name).type
            if pa.types.is_string(kind) or pa.types.is_timestamp(kind) or pa.types.is_null(kind):
                forced.append(pa.field(name, pa.string()))
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


def _as_string(column: pa.Array, source: _Source, name: str, role: str) -> pa.Array:
    """The id or text column as ``string``, or a DatasetError naming a hopeless type."""
    kind = column.type
    if pa.types.is_dictionary(kind):
        column = column.dictionary_decode()
        kind = column.type
    allowed = (
        pa.types.is_string(kind)
        or pa.types.is_large_string(kind)
        or pa.types.is_string_view(kind)
        or pa.types.is_null(kind)
        # Some writers store text as binary without the UTF-8 annotation.
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
    try:
        return pc.cast(column, pa.string())
    except pa.ArrowInvalid as exc:  # binary that is not valid UTF-8
        raise DatasetError(
            f"Column {name!r} in {source.path} is not valid UTF-8 text "
            f"({' '.join(str(exc).split())}); re-encode the file as UTF-8."
        ) from exc


def _dates_of(batch: pa.RecordBatch, source: _Source, spec: DatasetSpec) -> pa.Array:
    """The date column as date32; null where the value is missing or not a valid date."""
    column = batch.column(spec.date_column)
    kind = column.type
    if pa.types.is_dictionary(kind):
        column = column.dictionary_decode()
        kind = column.type
    if pa.types.is_date32(kind):
        return column
    if pa.types.is_date64(kind):
        return pc.cast(column, pa.date32())
    if pa.types.is_timestamp(kind):
        # An aware timestamp belongs to the day on its own wall clock, not UTC's.
        if kind.tz is not None:
            column = pc.local_timestamp(column)
        return pc.cast(pc.floor_temporal(column, unit="day"), pa.date32())
    if pa.types.is_null(kind):
        return pa.nulls(len(column), pa.date32())
    if pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_string_view(kind):
        return _parse_date_strings(pc.cast(column, pa.string()))
    raise DatasetError(
        f"Column {spec.date_column!r} in {source.path} has type {kind}; the date column "
        f"must hold dates, timestamps or YYYY-MM-DD strings — convert it or point "
        f"date_column at another column."
    )


def _parse_date_strings(column: pa.Array) -> pa.Array:
    # Parse each distinct value once in Python: a day's file has few distinct dates, and
    # date.fromisoformat rejects impossible days (2026-02-30) that strptime would roll over.
    trimmed = pc.utf8_trim_whitespace(column)
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
        return _as_string(batch.column(spec.id_column), source, spec.id_column, "id")
    except DatasetError:
        return None


def _raise_bad_dates(path: Path, spec: DatasetSpec, bad: _Offenders) -> None:
    if bad.count:
        raise DatasetError(
            f"{path} has {_rows(bad.count)} without a valid date in column "
            f"{spec.date_column!r} ({', '.join(bad.names)}); give every row a YYYY-MM-DD "
            f"date so it belongs to a partition."
        )


@dataclass
class _Part:
    """The rows one file contributes to a partition."""

    path: Path
    table: pa.Table


class _FileReader:
    """Reads one file's rows for one day, collecting problems over the whole file.

    Kept as state on an object (rather than returned per batch) so a whole-file retry can
    :meth:`reset` and start over without counting any row twice.
    """

    def __init__(self, spec: DatasetSpec, day: dt.date, *, in_hive_folder: bool) -> None:
        self.spec = spec
        self.day = pa.scalar(day, pa.date32())
        self.in_hive_folder = in_hive_folder
        self.reset()

    def reset(self) -> None:
        """Forget everything read so far."""
        self.kept: list[pa.RecordBatch] = []
        self.extras: list[pa.Field] = []
        self.bad_dates = _Offenders()
        self.misfiled = _Offenders()

    def consume(self, source: _Source) -> None:
        """Read every batch of ``source``, keeping the day's rows."""
        spec = self.spec
        _require_columns(source, spec, need_date=not self.in_hive_folder)
        if source.schema is None:
            return
        # Name and type only: a file's own field flags (not null, metadata) would make the
        # batches built below disagree with the schema they are assembled under.
        self.extras = [
            pa.field(c, source.schema.field(c).type)
            for c in spec.extra_columns
            if _has_column(source, c)
        ]
        has_date = _has_column(source, spec.date_column)
        names = [ID_COLUMN, TEXT_COLUMN, *(f.name for f in self.extras), _ROW]
        for batch in source.batches:
            ids = _as_string(batch.column(spec.id_column), source, spec.id_column, "id")
            texts = _as_string(batch.column(spec.text_column), source, spec.text_column, "text")
            keep = None
            if not self.in_hive_folder:
                days = _dates_of(batch, source, spec)
                self.bad_dates.add(pc.is_null(days), ids, source.rows_before)
                keep = pc.fill_null(pc.equal(days, self.day), False)
            elif has_date:
                # The folder is the partition; a row whose date says otherwise is misfiled.
                # A null date is no disagreement (the folder supplies it), an unparseable
                # one is.
                days = _dates_of(batch, source, spec)
                raw = batch.column(spec.date_column)
                wrong = pc.or_kleene(
                    pc.not_equal(days, self.day), pc.and_(pc.is_null(days), pc.is_valid(raw))
                )
                self.misfiled.add(wrong, ids, source.rows_before)
            # File row numbers ride along so rows without an id can still be named.
            first = source.rows_before + 1
            rows = pa.array(range(first, first + batch.num_rows), pa.int64())
            columns = [ids, texts, *(batch.column(f.name) for f in self.extras), rows]
            out = pa.RecordBatch.from_arrays(columns, names=names)
            if keep is not None:
                out = out.filter(keep)
            if out.num_rows:
                self.kept.append(out)

    def result(self, path: Path) -> _Part:
        """The kept rows as a table, after raising for any problem found."""
        spec, day = self.spec, self.day.as_py()
        _raise_bad_dates(path, spec, self.bad_dates)
        if self.misfiled.count:
            raise DatasetError(
                f"{path} has {_rows(self.misfiled.count)} whose {spec.date_column!r} is not "
                f"{day.isoformat()}, the date of its folder ({', '.join(self.misfiled.names)}); "
                f"move them to their own {PARTITION_KEY}= folder or fix the date column."
            )
        schema = pa.schema(
            [(ID_COLUMN, pa.string()), (TEXT_COLUMN, pa.string()), *self.extras, (_ROW, pa.int64())]
        )
        table = pa.Table.from_batches(self.kept, schema=schema)
        _check_rows(path, table, spec, day, self.in_hive_folder)
        return _Part(path, table.drop_columns([_ROW]))


def _read_file(
    path: Path, fmt: str, spec: DatasetSpec, day: dt.date, *, in_hive_folder: bool
) -> _Part:
    """Read one file's rows for ``day`` and check them (dates, ids, texts)."""
    reader = _FileReader(spec, day, in_hive_folder=in_hive_folder)
    _scan(path, fmt, spec, reader.consume, reader.reset)
    return reader.result(path)


def _check_rows(
    path: Path, table: pa.Table, spec: DatasetSpec, day: dt.date, in_hive_folder: bool
) -> None:
    where = "" if in_hive_folder else f" on {day.isoformat()}"
    ids = table.column(ID_COLUMN)
    no_id = pc.or_(pc.is_null(ids), pc.equal(pc.utf8_length(pc.fill_null(ids, "")), 0))
    count = pc.sum(no_id).as_py() or 0
    if count:
        rows = table.column(_ROW).filter(no_id).slice(0, SAMPLE).to_pylist()
        raise DatasetError(
            f"{path} has {_rows(count)}{where} with an empty or null id in column "
            f"{spec.id_column!r} (rows {', '.join(map(str, rows))}); give every row an id."
        )
    texts = table.column(TEXT_COLUMN)
    blank = pc.equal(pc.utf8_length(pc.utf8_trim_whitespace(pc.fill_null(texts, ""))), 0)
    count = pc.sum(blank).as_py() or 0
    if count:
        named = ids.filter(blank).slice(0, SAMPLE).to_pylist()
        raise DatasetError(
            f"{path} has {_rows(count)}{where} with empty or null text in column "
            f"{spec.text_column!r} (ids: {', '.join(named)}); fill in the text or remove "
            f"those rows."
        )


def _concat(parts: list[_Part], spec: DatasetSpec, root: Path) -> pa.Table:
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
    return table.select([ID_COLUMN, TEXT_COLUMN, *extras])


def _check_unique_ids(table: pa.Table, parts: list[_Part], spec: DatasetSpec, day: dt.date) -> None:
    counts = pc.value_counts(table.column(ID_COLUMN))
    repeated = counts.filter(pc.greater(counts.field("counts"), 1)).field("values")
    if len(repeated) == 0:
        return
    sample = repeated.slice(0, SAMPLE).to_pylist()
    involved = [
        str(part.path)
        for part in parts
        if pc.any(pc.is_in(part.table.column(ID_COLUMN), value_set=repeated)).as_py()
    ]
    if len(involved) == 1:
        where = f"{involved[0]} has"
    else:
        where = f"Files {', '.join(involved[:3])}{', …' if len(involved) > 3 else ''} have"
    raise DatasetError(
        f"{where} {len(repeated)} {'id that appears' if len(repeated) == 1 else 'ids that appear'}"
        f" more than once on {day.isoformat()} in "
        f"column {spec.id_column!r} ({', '.join(sample)}); make every id unique within a day."
    )


def _empty_table() -> pa.Table:
    return pa.schema([(ID_COLUMN, pa.string()), (TEXT_COLUMN, pa.string())]).empty_table()
