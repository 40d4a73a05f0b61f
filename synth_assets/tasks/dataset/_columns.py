"""A file's columns: the required ones and their types, UTF-8 checks, dates."""

import datetime as dt
import re
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from ._readers import Source
from ._spec import DatasetError, DatasetSpec

# How many offending ids or rows an error message names.
SAMPLE = 5
_DATE_RE = re.compile(r"(\d{4}-\d{2}-\d{2})(?:[T ].*)?", re.DOTALL)


def _rows(count: int) -> str:
    return f"{count} row" if count == 1 else f"{count} rows"


def _available(schema: pa.Schema) -> str:
    names = schema.names
    shown = ", ".join(names[:20]) + (", …" if len(names) > 20 else "")
    return shown or "none"


def require_columns(source: Source, spec: DatasetSpec, *, need_date: bool) -> None:
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


def has_column(source: Source, name: str) -> bool:
    return source.schema is not None and source.schema.get_field_index(name) >= 0


def check_type(kind: pa.DataType, source: Source, name: str, role: str) -> None:
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
        # JSONL and CSV columns are read as bytes (see _readers._open_csv), and some writers store
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


def string_column(
    column: pa.Array, source: Source, name: str, role: str
) -> tuple[pa.Array, dict[int, str]]:
    """The id or text column as valid-UTF-8 ``string``, and where it was not UTF-8."""
    check_type(column.type, source, name, role)
    if pa.types.is_integer(column.type):
        return pc.cast(column, pa.string()), {}
    return valid_utf8(column)


def valid_utf8(column: pa.Array) -> tuple[pa.Array, dict[int, str]]:
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


def dates_of(batch: pa.RecordBatch, source: Source, spec: DatasetSpec) -> tuple[pa.Array, pa.Array]:
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
        trimmed = pc.utf8_trim_whitespace(valid_utf8(column)[0])
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
class Offenders:
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


def ids_or_none(batch: pa.RecordBatch, source: Source, spec: DatasetSpec) -> pa.Array | None:
    # Messages about bad dates name rows by id; an unusable id column must not hide the
    # date problem, so fall back to row numbers.
    try:
        return string_column(batch.column(spec.id_column), source, spec.id_column, "id")[0]
    except DatasetError:
        return None


def raise_bad_dates(path: Path, spec: DatasetSpec, bad: Offenders) -> None:
    if bad.count:
        raise DatasetError(
            f"{path} has {_rows(bad.count)} without a valid date in column "
            f"{spec.date_column!r} ({', '.join(bad.names)}); give every row a YYYY-MM-DD "
            f"date so it belongs to a partition."
        )


def is_text_type(kind: pa.DataType) -> bool:
    return (
        pa.types.is_string(kind)
        or pa.types.is_large_string(kind)
        or pa.types.is_binary(kind)
        or pa.types.is_large_binary(kind)
    )
