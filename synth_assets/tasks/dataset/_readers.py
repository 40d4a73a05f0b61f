"""Opening one data file (JSONL, CSV or Parquet) as a stream of record batches.

Files are read with pyarrow's streaming readers in blocks, so memory stays flat whatever
the file's size. JSONL and CSV readers infer column types from the first block; when a
later block disagrees (a column that is null in the first 10,000 rows and text afterwards),
that file is re-read whole, which lets pyarrow unify the types over all blocks. The id,
text and date columns of JSONL and CSV files are read as raw bytes (checked for UTF-8 in
``_columns``), so that one badly encoded row is marked instead of failing (CSV) or silently
corrupting (JSONL) the whole file."""

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.json as pa_json
import pyarrow.parquet as pq

from ._spec import DatasetError, DatasetSpec

# Bytes per block for the streaming JSON/CSV readers: large enough that one block holds
# thousands of e-mails (better type inference, fewer batches), small enough to stream. The
# readers read some 30 blocks ahead: at 16 MB that was ~500 MB held, at 2 MB it is ~80 MB
# (and no slower, bench/snapshot.py).
BLOCK_SIZE = 2 << 20

# Block size for the whole-file fallback; only a ceiling (pyarrow allocates what it reads),
# and large so that a pathological single line never "straddles two blocks".
WHOLE_FILE_BLOCK_SIZE = 1 << 28

# First block parsed to learn which columns a JSONL file has (see _open_jsonl).
PEEK_BLOCK_SIZE = 1 << 20
PARQUET_BATCH_ROWS = 65_536

_FORMAT_NAMES = {"jsonl": "JSONL", "csv": "CSV", "parquet": "Parquet"}

# What the per-format openers return: the file's schema and an iterator of its batches.
_Opened = tuple[pa.Schema, Iterator[pa.RecordBatch]]


class _RetryWholeFile(Exception):
    """Internal: the streaming reader hit a type-inference limit; re-read the file whole."""


@dataclass
class Source:
    """One opened data file: its schema and its batches (None schema = empty file)."""

    path: Path
    fmt: str
    schema: pa.Schema | None
    batches: Iterator[pa.RecordBatch]
    rows_before: int = 0  # rows of this file consumed before the current batch


def scan(
    path: Path,
    fmt: str,
    spec: DatasetSpec,
    consume: Callable[[Source], None],
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


def _open(path: Path, fmt: str, spec: DatasetSpec, *, whole: bool) -> Source:
    try:
        if fmt == "parquet":
            schema, batches = _open_parquet(path, spec)
        elif fmt == "csv":
            schema, batches = _open_csv(path, spec, whole=whole)
        else:
            schema, batches = _open_jsonl(path, spec, whole=whole)
    except (pa.ArrowException, OSError, UnicodeDecodeError) as exc:
        if _is_empty_file_error(exc):
            return Source(path, fmt, None, iter(()))
        raise _read_error(path, fmt, exc, whole) from exc
    source = Source(path, fmt, schema, iter(()))
    source.batches = _guarded(source, batches, whole)
    return source


def _guarded(
    source: Source, batches: Iterator[pa.RecordBatch], whole: bool
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
    # pre_buffer=False: with the default, iter_batches keeps what it read until the file ends.
    parquet = pq.ParquetFile(path, pre_buffer=False)
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
    # file on one row that is not UTF-8, a binary one lets valid_utf8 mark just that row.
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
    # UTF-8 into string columns unchecked; valid_utf8 checks (and marks) them per row.
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
