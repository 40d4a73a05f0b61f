"""Seed grids: the input of a generation task, declared in YAML instead of read from files.

A grid is topics × personas × languages × intended labels, with ``per_cell`` rows per cell.
:func:`seed_batches` turns it into one day's input rows, always the same rows for the same
day and grid (nothing random, no clock), so a re-run of a day asks the same requests (and
pays for none of them twice) while each day asks for new emails: the day is part of every
row's id and of the columns a prompt can use.
"""

import hashlib
import itertools
from collections.abc import Iterator

import pyarrow as pa
from pydantic import BaseModel, ConfigDict, Field, field_validator

from .dataset import ID_COLUMN, PROBLEM_COLUMN, TEXT_COLUMN

MAX_PER_CELL = 1000
# The columns of an expanded grid, after id and text; prompts may use any of them.
SEED_COLUMNS = (
    "date",
    "topic",
    "persona",
    "language",
    "intended_label",
    "variant",
    "per_cell",
    "cell",
    "seed",
)
_TYPES = {"variant": pa.int32(), "per_cell": pa.int32(), "seed": pa.int64()}
# One day's input rows: id, text, the seed columns, problem (always empty: a seed row is
# never invalid).
SEED_SCHEMA = pa.schema(
    [
        pa.field(name, _TYPES.get(name, pa.string()))
        for name in (ID_COLUMN, TEXT_COLUMN, *SEED_COLUMNS, PROBLEM_COLUMN)
    ]
)
# Rows per batch of an expanded grid.
SEED_BATCH_ROWS = 50_000


class SeedGrid(BaseModel):
    """What to generate each day: every combination of the lists, ``per_cell`` times."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # (Bounds are checked by validators: Dagster's YAML resolution takes plain types only.)
    topics: list[str] = Field(description="What the emails are about.")
    personas: list[str] = Field(description="Who writes them.")
    languages: list[str] = Field(description="Language codes to write in (en, de, fr, …).")
    labels: list[str] = Field(description="The label each email is meant to have (spam, not_spam).")
    per_cell: int = Field(default=1, description="Rows per combination (1 to 1000).")

    @field_validator("per_cell")
    @classmethod
    def _per_cell(cls, value: int) -> int:
        if not 1 <= value <= MAX_PER_CELL:
            raise ValueError(f"must be between 1 and {MAX_PER_CELL}")
        return value

    @field_validator("topics", "personas", "languages", "labels")
    @classmethod
    def _distinct(cls, values: list[str]) -> list[str]:
        if not values:
            raise ValueError("needs at least one value")
        blank = [v for v in values if not v.strip()]
        if blank:
            raise ValueError("has an empty value")
        repeated = sorted({v for v in values if values.count(v) > 1})
        if repeated:
            raise ValueError(f"lists {repeated[0]!r} twice")
        return values

    @property
    def cells(self) -> int:
        """Number of combinations (topic, persona, language, label)."""
        return len(self.topics) * len(self.personas) * len(self.languages) * len(self.labels)

    def rows_per_day(self) -> int:
        """Rows one day expands to."""
        return self.cells * self.per_cell


def cell_key(topic: int, persona: int, language: int, label: int) -> str:
    """The name of a cell in the ``cell`` column: its four indexes."""
    return f"t{topic}-p{persona}-l{language}-c{label}"


def seed_batches(
    grid: SeedGrid, date: str, rows: int = SEED_BATCH_ROWS
) -> Iterator[pa.RecordBatch]:
    """One day's input rows (:data:`SEED_SCHEMA`), ``rows`` at a time, cell by cell and
    variant by variant: memory stays flat however large the grid.

    ``id`` is ``<date>-<cell>-<variant>`` (short enough to be the custom_id itself);
    ``text`` describes the cell in one line; ``seed`` is a stable number per row, handy as
    a variation key in a prompt.
    """
    values = _seed_rows(grid, date)
    types = SEED_SCHEMA.types[:-1]  # the problem column is added empty
    while chunk := list(itertools.islice(values, rows)):
        columns = [
            pa.array(column, dtype)
            for column, dtype in zip(zip(*chunk, strict=True), types, strict=True)
        ]
        columns.append(pa.nulls(len(chunk), pa.string()))
        yield pa.record_batch(columns, schema=SEED_SCHEMA)


def _seed_rows(grid: SeedGrid, date: str) -> Iterator[tuple[str | int, ...]]:
    """Each row's values in :data:`SEED_SCHEMA`'s order, without the problem."""
    combos = itertools.product(
        enumerate(grid.topics),
        enumerate(grid.personas),
        enumerate(grid.languages),
        enumerate(grid.labels),
    )
    per_cell = grid.per_cell
    for (ti, topic), (pi, persona), (li, language), (ci, label) in combos:
        cell = cell_key(ti, pi, li, ci)
        text = f"{topic} | {persona} | {language} | {label}"
        for variant in range(1, per_cell + 1):
            row_id = f"{date}-{cell}-{variant}"
            seed = int.from_bytes(hashlib.blake2b(row_id.encode(), digest_size=4).digest(), "big")
            yield (
                row_id,
                text,
                date,
                topic,
                persona,
                language,
                label,
                variant,
                per_cell,
                cell,
                seed,
            )
