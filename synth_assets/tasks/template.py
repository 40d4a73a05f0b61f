"""Prompt templates declared in YAML: ``[[column]]`` placeholders over an input row.

Dagster resolves ``{{ … }}`` in a component's YAML when it loads it (environment variables,
the load context), so prompts use double square brackets instead: ``[[subject]]`` is the
row's ``subject`` value, ``[[ text ]]`` (spaces allowed) its text. A missing or null value
renders as an empty string; anything else as ``str(value)``. There is no escape: a literal
``[[`` that is not followed by a column name and ``]]`` stays as it is.

A build renders a day a slice of rows at a time (:meth:`PromptTemplate.messages_json`): string
columns are joined in Arrow, and each row costs one ``to_json`` of its text, not a dict, a
regex substitution and a list of message dicts.
"""

import re
from collections.abc import Mapping
from dataclasses import dataclass
from itertools import repeat
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from pydantic_core import to_json

from synth_assets.batch import Messages

PLACEHOLDER = re.compile(r"\[\[\s*([A-Za-z_][A-Za-z0-9_]*)\s*\]\]")


def placeholders(text: str) -> list[str]:
    """The column names a template uses, in order of first use."""
    return list(dict.fromkeys(PLACEHOLDER.findall(text)))


def render(text: str, row: Mapping[str, Any]) -> str:
    """``text`` with each ``[[column]]`` replaced by the row's value."""

    def value(match: re.Match[str]) -> str:
        found = row.get(match.group(1))
        return "" if found is None else str(found)

    return PLACEHOLDER.sub(value, text)


def render_column(text: str, batch: pa.RecordBatch) -> str | list[str]:
    """:func:`render` of ``text`` for every row of ``batch``; one str when it is the same for
    every row (no placeholder, or only columns the batch lacks)."""
    pieces = PLACEHOLDER.split(text)  # literal, column, literal, ..., literal
    parts: list[str | pa.Array] = []
    for index, piece in enumerate(pieces):
        part = _strings(batch, piece) if index % 2 else piece
        if not isinstance(part, str):
            parts.append(part)
        elif parts and isinstance(parts[-1], str):
            parts[-1] += part
        elif part:
            parts.append(part)
    if not any(isinstance(part, pa.Array) for part in parts):
        return "".join(parts)  # type: ignore[arg-type]
    return pc.binary_join_element_wise(*parts, "").to_pylist()


def _strings(batch: pa.RecordBatch, column: str) -> pa.Array | str:
    """A column's values as render writes them: null as "", strings as they are, any other
    value as ``str(value)`` of its Python value (Arrow's own casts write some differently,
    e.g. ``true`` for ``True``); "" for a column the batch lacks."""
    found = batch.schema.get_all_field_indices(column)
    if not found:
        return ""
    values = batch.column(found[-1])  # as a row dict would hold it: the last of that name
    kind = values.type
    if pa.types.is_null(kind):
        return ""
    if pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_string_view(kind):
        return pc.fill_null(values.cast(pa.string()), "")
    return pa.array(["" if v is None else str(v) for v in values.to_pylist()], pa.string())


@dataclass(frozen=True, slots=True)
class PromptTemplate:
    """A task's prompt: an optional system message and a user message, both templates.

    Calling it with a row returns the chat messages of that row (what
    ``BatchTask.to_messages`` is).
    """

    user: str
    system: str | None = None

    def columns(self) -> list[str]:
        """Every column the two templates use."""
        return placeholders((self.system or "") + "\n" + self.user)

    def __call__(self, row: Mapping[str, Any]) -> Messages:
        """The chat messages for one input row."""
        messages: Messages = []
        if self.system:
            messages.append({"role": "system", "content": render(self.system, row)})
        messages.append({"role": "user", "content": render(self.user, row)})
        return messages

    def messages_json(self, batch: pa.RecordBatch) -> list[bytes]:
        """``to_json(self(row))`` for every row of ``batch``, byte for byte, rendered a
        column at a time."""
        templates = [("system", self.system)] if self.system else []
        templates.append(("user", self.user))
        parts: list[bytes | list[str]] = [b"["]
        for index, (role, text) in enumerate(templates):
            # The dict __call__ makes, as to_json writes it: {"role":...,"content":...}.
            parts.append(b"," * bool(index) + b'{"role":' + to_json(role) + b',"content":')
            content = render_column(text, batch)
            parts.append(to_json(content) if isinstance(content, str) else content)
            parts.append(b"}")
        parts.append(b"]")
        return _json_rows(parts, batch.num_rows)


def _json_rows(parts: list[bytes | list[str]], rows: int) -> list[bytes]:
    """Each row's concatenation of ``parts``: a bytes is the same JSON in every row, a list
    holds each row's str, written as JSON."""
    merged: list[bytes | list[str]] = []
    for part in parts:
        if isinstance(part, bytes) and merged and isinstance(merged[-1], bytes):
            merged[-1] += part
        else:
            merged.append(part)
    if len(merged) == 3 and isinstance(merged[1], list):  # the usual shape: one varying part
        head, values, tail = merged
        return [head + to_json(value) + tail for value in values]  # type: ignore[operator]
    columns = [
        repeat(part, rows) if isinstance(part, bytes) else map(to_json, part) for part in merged
    ]
    return [b"".join(row) for row in zip(*columns, strict=True)]
