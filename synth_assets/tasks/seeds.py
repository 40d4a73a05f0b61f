"""Seed grids: the input of a generation task, declared in YAML instead of read from files.

A grid is topics × personas × languages × intended labels, with ``per_cell`` rows per cell.
:func:`expand_seeds` turns it into one day's input rows, always the same rows for the same
day and grid (nothing random, no clock), so a re-run of a day asks the same requests (and
pays for none of them twice) while each day asks for new emails: the day is part of every
row's id and of the columns a prompt can use.
"""

import hashlib
import itertools

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


def expand_seeds(grid: SeedGrid, date: str) -> pa.Table:
    """One day's input rows: ``id``, ``text``, the :data:`SEED_COLUMNS`, ``problem``.

    ``id`` is ``<date>-<cell>-<variant>`` (short enough to be the custom_id itself);
    ``text`` describes the cell in one line; ``seed`` is a stable number per row, handy as
    a variation key in a prompt.
    """
    columns: dict[str, list[object]] = {name: [] for name in (ID_COLUMN, TEXT_COLUMN)}
    columns.update({name: [] for name in SEED_COLUMNS})
    combos = itertools.product(
        enumerate(grid.topics),
        enumerate(grid.personas),
        enumerate(grid.languages),
        enumerate(grid.labels),
    )
    for (ti, topic), (pi, persona), (li, language), (ci, label) in combos:
        cell = cell_key(ti, pi, li, ci)
        for variant in range(1, grid.per_cell + 1):
            row_id = f"{date}-{cell}-{variant}"
            digest = hashlib.blake2b(row_id.encode(), digest_size=4).digest()
            values = {
                ID_COLUMN: row_id,
                TEXT_COLUMN: f"{topic} | {persona} | {language} | {label}",
                "date": date,
                "topic": topic,
                "persona": persona,
                "language": language,
                "intended_label": label,
                "variant": variant,
                "per_cell": grid.per_cell,
                "cell": cell,
                "seed": int.from_bytes(digest, "big"),
            }
            for name, value in values.items():
                columns[name].append(value)
    types = {"variant": pa.int32(), "per_cell": pa.int32(), "seed": pa.int64()}
    arrays = {
        name: pa.array(values, types.get(name, pa.string())) for name, values in columns.items()
    }
    arrays[PROBLEM_COLUMN] = pa.nulls(len(columns[ID_COLUMN]), pa.string())
    return pa.table(arrays)
