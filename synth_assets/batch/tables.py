"""Arrow schemas for response models, and streaming Parquet writers.

A response model becomes typed columns: enums and Literals -> string, nested models ->
struct, lists -> list, Optional -> nullable, dates -> date32; datetimes, times, UUIDs and
Decimals -> their ISO / exact text; a field with a union of several types or a recursive
model inside -> its JSON text. Rows go through pydantic's JSON-mode dump (so validators and
serializers apply) into Arrow, dates are then cast from text.
"""

import datetime as dt
import decimal
import enum
import os
import types
import typing
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

import pyarrow as pa
import pyarrow.parquet as pq
from pydantic import BaseModel, TypeAdapter
from pydantic_core import to_json

from .errors import UnsupportedModelError
from .files import temp_path

# Columns the library adds around the response model's fields in the parsed table.
PARSED_META = pa.schema(
    [
        ("model", pa.string()),
        ("batch_id", pa.string()),
        ("request_id", pa.string()),
        ("prompt_tokens", pa.int64()),
        ("completion_tokens", pa.int64()),
        ("total_tokens", pa.int64()),
        ("attempt", pa.int32()),
        ("request_hash", pa.string()),
    ]
)
META_COLUMNS = tuple(PARSED_META.names)
UNPARSED_SCHEMA = pa.schema(
    [
        ("custom_id", pa.string()),
        ("reason", pa.string()),
        ("status_code", pa.int32()),
        ("error_code", pa.string()),
        ("message", pa.string()),
        ("raw", pa.large_string()),
        ("source", pa.string()),
        *PARSED_META,
    ]
)
RESERVED_COLUMNS = frozenset(["custom_id", *PARSED_META.names])
ROW_GROUP_ROWS = 64 * 1024

_SCALARS: dict[Any, pa.DataType] = {
    str: pa.string(),
    int: pa.int64(),
    float: pa.float64(),
    bool: pa.bool_(),
    bytes: pa.string(),  # pydantic dumps bytes as UTF-8 text in JSON mode
    dt.date: pa.date32(),
    # Answers mix naive and offset datetimes, which no single Arrow timestamp type holds
    # losslessly: keep them as ISO 8601 text (DuckDB: `cast(col as timestamptz)`).
    dt.datetime: pa.string(),
    dt.time: pa.string(),
    uuid.UUID: pa.string(),
    decimal.Decimal: pa.string(),  # exact: JSON mode dumps Decimals as strings
}


class _NotColumnar(Exception):
    """A type with no single Arrow type: a union of several types, a recursive model."""


def _arrow_type(annotation: Any, where: str, models: tuple[type, ...]) -> tuple[pa.DataType, bool]:
    """Return (arrow type, nullable) for one annotation; ``models``: the enclosing models."""
    origin = get_origin(annotation)
    if origin is typing.Annotated:
        return _arrow_type(get_args(annotation)[0], where, models)
    if origin in (typing.Union, types.UnionType):
        members = [a for a in get_args(annotation) if a is not type(None)]
        if len(members) != 1:
            raise _NotColumnar
        return _arrow_type(members[0], where, models)[0], len(members) < len(get_args(annotation))
    if origin is Literal:
        values = get_args(annotation)
        if all(isinstance(v, bool) for v in values):
            return pa.bool_(), False
        if all(isinstance(v, int) and not isinstance(v, bool) for v in values):
            return pa.int64(), False
        return pa.string(), False
    if origin in (list, tuple, set, frozenset, Sequence):
        args = [a for a in get_args(annotation) if a is not Ellipsis]
        if len(set(args)) != 1:
            raise _NotColumnar
        item, item_nullable = _arrow_type(args[0], f"{where}[]", models)
        return pa.list_(pa.field("item", item, nullable=item_nullable)), False
    if isinstance(annotation, type):
        if issubclass(annotation, BaseModel):
            if annotation in models:
                raise _NotColumnar  # recursive: no fixed depth of struct
            fields = [
                pa.field(
                    column, *_arrow_type(info.annotation, f"{where}.{name}", (*models, annotation))
                )
                for name, column, info in _model_fields(annotation)
            ]
            return pa.struct(fields), False
        if issubclass(annotation, enum.Enum):
            values = [m.value for m in annotation]
            if all(isinstance(v, int) and not isinstance(v, bool) for v in values):
                return pa.int64(), False
            return pa.string(), False
        for python_type in (bool, dt.datetime, *_SCALARS):
            if issubclass(annotation, python_type):
                return _SCALARS[python_type], False
    raise UnsupportedModelError(
        f"field {where} has type {annotation!r}, which has no Parquet column type; "
        "use str, int, float, bool, an enum, a date, a list or a nested model."
    )


def _model_fields(model: type[BaseModel]) -> list[tuple[str, str, Any]]:
    """(name, column name, FieldInfo) of a model's fields, in order."""
    return [
        (name, info.serialization_alias or name, info) for name, info in model.model_fields.items()
    ]


def _columns(response_model: type[BaseModel]) -> list[tuple[pa.Field, bool]]:
    """The model's top-level columns, each with True when it is stored as JSON text.

    A field holding something with no single Arrow type anywhere inside it (a union of
    several types, a recursive model) is stored whole as its JSON text.
    """
    columns = []
    for name, column, info in _model_fields(response_model):
        where = f"{response_model.__name__}.{name}"
        try:
            arrow_type, nullable = _arrow_type(info.annotation, where, (response_model,))
            json_text = False
        except _NotColumnar:
            arrow_type, nullable, json_text = pa.string(), True, True
        field = pa.field(column, arrow_type, nullable=nullable or not info.is_required())
        columns.append((field, json_text))
    return columns


def model_fields(response_model: type[BaseModel]) -> list[pa.Field]:
    """Return the Arrow fields of a response model, one per model field, in order."""
    return [field for field, _ in _columns(response_model)]


def _as_json_types(data_type: pa.DataType) -> pa.DataType:
    """The same type with temporals as strings: what JSON-mode dumps hold before the cast."""
    if pa.types.is_temporal(data_type):
        return pa.string()
    if pa.types.is_struct(data_type):
        return pa.struct([f.with_type(_as_json_types(f.type)) for f in data_type])
    if pa.types.is_list(data_type):
        return pa.list_(data_type.value_field.with_type(_as_json_types(data_type.value_type)))
    return data_type


class ModelColumns:
    """Converts validated model instances into Arrow columns, fast, for one response model."""

    def __init__(self, response_model: type[BaseModel]) -> None:
        columns = _columns(response_model)
        self.fields = [field for field, _ in columns]
        clashes = RESERVED_COLUMNS.intersection(f.name for f in self.fields)
        if clashes:
            raise UnsupportedModelError(
                f"{response_model.__name__} has field(s) {sorted(clashes)} that clash with the "
                "parsed table's own columns; rename them."
            )
        self.schema = pa.schema(self.fields)
        self._json_schema = pa.schema([f.with_type(_as_json_types(f.type)) for f in self.fields])
        self._needs_cast = self._json_schema != self.schema
        self._json_text = [field.name for field, json_text in columns if json_text]
        self._adapter = TypeAdapter(list[response_model])  # type: ignore[valid-type]

    def table(self, instances: list[BaseModel]) -> pa.Table:
        """Return a table with one row per instance and one column per model field."""
        rows = self._adapter.dump_python(instances, mode="json", by_alias=True)
        if self._json_text:
            for row in rows:
                for name in self._json_text:
                    if row[name] is not None:
                        row[name] = to_json(row[name]).decode()
        table = pa.Table.from_pylist(rows, schema=self._json_schema)
        return table.cast(self.schema) if self._needs_cast else table


def parsed_schema(response_model: type[BaseModel]) -> pa.Schema:
    """The parsed table's schema: custom_id, the model's fields, then model/batch/usage."""
    return pa.schema(
        [pa.field("custom_id", pa.string()), *ModelColumns(response_model).fields, *PARSED_META]
    )


# One value per row: a dictionary for them is built and then abandoned, which only costs
# time (for the label model, most of the writer's); other columns repeat values.
_UNIQUE_COLUMNS = frozenset({"custom_id", "request_id", "request_hash"})


def leaf_paths(name: str, dtype: pa.DataType) -> Iterator[str]:
    """Parquet's dotted path of each leaf column under the Arrow field ``name``."""
    if pa.types.is_struct(dtype):
        for child in dtype:
            yield from leaf_paths(f"{name}.{child.name}", child.type)
    elif pa.types.is_list(dtype) or pa.types.is_large_list(dtype):
        yield from leaf_paths(f"{name}.list.element", dtype.value_type)
    else:
        yield name


class ParquetSink:
    """Writes tables to one Parquet file in row groups, atomically (temporary name + rename)."""

    def __init__(self, path: str | os.PathLike[str], schema: pa.Schema) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.tmp = temp_path(self.path, ".tmp")
        self.schema = schema
        self.rows = 0
        self._pending: list[pa.Table] = []
        self._pending_rows = 0
        dictionary = [
            path
            for field in schema
            if field.name not in _UNIQUE_COLUMNS
            for path in leaf_paths(field.name, field.type)
        ]
        self._writer = pq.ParquetWriter(
            self.tmp, schema, compression="zstd", use_dictionary=dictionary
        )

    def write(self, table: pa.Table) -> None:
        """Queue ``table``; full row groups are written as they fill."""
        if table.num_rows == 0:
            return
        self._pending.append(table)
        self._pending_rows += table.num_rows
        self.rows += table.num_rows
        if self._pending_rows >= ROW_GROUP_ROWS:
            self._flush()

    def _flush(self) -> None:
        if self._pending:
            self._writer.write_table(pa.concat_tables(self._pending), row_group_size=ROW_GROUP_ROWS)
            self._pending, self._pending_rows = [], 0

    def close(self) -> None:
        """Write what is left and move the file into place."""
        self._flush()
        self._writer.close()
        os.replace(self.tmp, self.path)

    def abort(self) -> None:
        """Drop the partial file (the previous file at ``path``, if any, is untouched)."""
        self._writer.close()
        self.tmp.unlink(missing_ok=True)

    def __enter__(self) -> "ParquetSink":
        return self

    def __exit__(self, exc_type: object, *_: object) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()
