"""Metadata the Dagster UI renders natively: column schemas and table previews."""

from typing import Any

import dagster as dg
import pyarrow as pa


def schema_metadata(schema: pa.Schema) -> dict[str, Any]:
    """``dagster/column_schema`` for an Arrow schema (nested types shown as Arrow spells them)."""
    columns = [
        dg.TableColumn(
            name=f.name,
            type=str(f.type),
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
    """The first rows of a table as a Markdown table."""
    head = table.slice(0, limit).to_pylist()
    if not head:
        return dg.MetadataValue.md(f"*empty table* ({len(table.schema)} columns)")
    names = table.column_names
    lines = [
        "| " + " | ".join(names) + " |",
        "|" + "---|" * len(names),
        *("| " + " | ".join(_cell(row[n]) for n in names) + " |" for row in head),
    ]
    return dg.MetadataValue.md("\n".join(lines))
