"""Metadata the Dagster UI renders natively: column schemas and table previews."""

from typing import Any

import dagster as dg
import pyarrow as pa

# What the library's own columns hold (the response model's fields describe themselves).
COLUMN_DESCRIPTIONS = {
    "custom_id": "the input row's key (its custom_id in the batch)",
    "model": "the model that answered",
    "batch_id": "the batch the answer came from",
    "request_id": "the API's request id",
    "prompt_tokens": "input tokens of this request",
    "completion_tokens": "output tokens of this request",
    "total_tokens": "prompt + completion tokens",
    "attempt": "1 = first submission, 2.. = resubmissions of retryable failures",
    "request_hash": "sha256 of the request (all but its custom_id): which request answered",
    "reason": "why there is no valid answer (see README: unparsed reasons)",
    "status_code": "HTTP status of the result line, when it has one",
    "error_code": "the API's error code, when it gave one",
    "message": "the API's error message, or the validation errors",
    "raw": "the model's answer, or the whole line when there is none",
    "source": "output, error, input (never sent) or request (never answered)",
}


def schema_metadata(
    schema: pa.Schema, descriptions: dict[str, str] | None = None
) -> dict[str, Any]:
    """``dagster/column_schema`` for an Arrow schema (nested types shown as Arrow spells them)."""
    known = {**COLUMN_DESCRIPTIONS, **(descriptions or {})}
    columns = [
        dg.TableColumn(
            name=f.name,
            type=str(f.type),
            description=known.get(f.name),
            constraints=dg.TableColumnConstraints(nullable=f.nullable),
        )
        for f in schema
    ]
    return {"dagster/column_schema": dg.TableSchema(columns=columns)}


def _cell(value: Any, width: int = 60) -> str:
    text = "" if value is None else str(value)
    text = text.replace("|", "\\|").replace("\n", " ")
    return text if len(text) <= width else text[: width - 1] + "…"


def table_preview(table: pa.Table, limit: int = 10) -> dg.MetadataValue:
    """The first rows of a table, rendered in place by the UI (nested values as text)."""
    head = table.slice(0, limit).to_pylist()
    if not head:
        return dg.MetadataValue.md(f"*empty table* ({len(table.schema)} columns)")
    schema = dg.TableSchema(columns=[dg.TableColumn(f.name, str(f.type)) for f in table.schema])
    records = [dg.TableRecord({k: _scalar(v) for k, v in row.items()}) for row in head]
    return dg.MetadataValue.table(records=records, schema=schema)


def _scalar(value: Any) -> Any:
    if value is None or isinstance(value, str | int | float | bool):
        return _cell(value) if isinstance(value, str) else value
    return _cell(value)
