"""Prompt templates: a slice of rows rendered a column at a time is what each row renders to."""

import datetime as dt

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic_core import to_json

from synth_assets.tasks.template import PromptTemplate, render_column

# Any text Arrow can hold: every code point but the surrogates, control characters included.
texts = st.text(st.characters(blacklist_categories=("Cs",)), max_size=40)


def one_by_one(template: PromptTemplate, batch: pa.RecordBatch) -> list[bytes]:
    """The JSON of each row's messages, the way a row at a time makes them."""
    return [to_json(template(row)) for row in batch.to_pylist()]


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.tuples(st.none() | texts, st.none() | texts), min_size=1, max_size=8),
    st.none() | texts,
    texts,
)
def test_any_text_renders_to_the_same_json_as_row_by_row(
    rows: list[tuple[str | None, str | None]], system: str | None, literal: str
) -> None:
    batch = pa.RecordBatch.from_pydict(
        {"text": [r[0] for r in rows], "subject": [r[1] for r in rows]},
        schema=pa.schema([("text", pa.string()), ("subject", pa.large_string())]),
    )
    template = PromptTemplate(
        user=f"{literal}[[subject]]{literal}[[ text ]][[text]]",
        system=None if system is None else f"{system}[[subject]]",
    )

    assert template.messages_json(batch) == one_by_one(template, batch)


TYPED = pa.RecordBatch.from_pydict(
    {
        "n": pa.array([0, -7, None], pa.int64()),
        "x": pa.array([0.1, float("nan"), None]),
        "flag": pa.array([True, None, False]),
        "when": pa.array([dt.datetime(2026, 11, 1, 8), None, dt.datetime(2026, 1, 2)]),
        "tags": pa.array([["a"], None, []]),
        "raw": pa.array([b"\x00", None, b""]),
        "nothing": pa.nulls(3),
        "text": ["a", "b", "c"],
    }
)


@pytest.mark.parametrize(
    "template",
    [
        PromptTemplate(user="[[n]] [[x]] [[flag]] [[when]] [[tags]] [[raw]] [[nothing]]"),
        # Python's str() of each value, not Arrow's cast (True, not true).
        PromptTemplate(user="[[flag]]", system="[[x]]"),
        # No placeholder, or only columns the rows lack: the same messages for every row.
        PromptTemplate(user="Classify.", system="Be brief."),
        PromptTemplate(user="[[missing]] and [[ missing ]]"),
        # Not placeholders: kept as they are.
        PromptTemplate(user="[[ 1bad ]] [[text [[text]]]] [x]] [[]]"),
        PromptTemplate(user="", system=""),
    ],
    ids=["types", "system", "constant", "missing", "not-placeholders", "empty"],
)
def test_columns_of_every_type_render_as_row_by_row(template: PromptTemplate) -> None:
    assert template.messages_json(TYPED) == one_by_one(template, TYPED)


def test_a_slice_without_rows_renders_no_messages() -> None:
    template = PromptTemplate(user="[[text]]", system="Be brief.")

    assert template.messages_json(TYPED.slice(0, 0)) == []


def test_a_column_is_rendered_once_for_the_slice_or_once_for_all_rows() -> None:
    assert render_column("[[text]]!", TYPED) == ["a!", "b!", "c!"]
    assert render_column("no [[column]] here", TYPED) == "no  here"
