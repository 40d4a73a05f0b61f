"""Making a day's ids distinct, so that each row can be a custom_id."""

from collections import Counter

import pyarrow as pa
import pyarrow.compute as pc

from ._spec import ID_COLUMN, PROBLEM_COLUMN, ROW_NUMBER
from ._validate import DUPLICATE, Part, quote


def _derived(base: str, taken: set[str], k: int = 2) -> tuple[str, int]:
    """``<base>#dup<k>`` for the lowest k from ``k`` on that no row has taken, and that k."""
    while f"{base}#dup{k}" in taken:
        k += 1
    return f"{base}#dup{k}", k


def settle_ids(parts: list[Part], counts: Counter[str]) -> None:
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
        rows = table.column(ROW_NUMBER).to_pylist()
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
                clause = f"id {quote(value)} already appears on row {seen_row} of {seen_in}"
                # The id comes first in a row's problems; this one is found last.
                problems[i] = clause if problems[i] is None else f"{clause}; {problems[i]}"
                counts[DUPLICATE] += 1
            else:
                first_row[value] = (name, row)
        part.table = table.set_column(
            table.schema.get_field_index(ID_COLUMN), ID_COLUMN, pa.array(values, pa.string())
        ).set_column(
            table.schema.get_field_index(PROBLEM_COLUMN),
            PROBLEM_COLUMN,
            pa.array(problems, pa.string()),
        )


def _blank(values: pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
    """True where a string is null, empty or only whitespace."""
    trimmed = pc.utf8_trim_whitespace(values)
    return pc.fill_null(pc.equal(pc.utf8_length(trimmed), 0), True)
