"""What a dataset is: its configuration, its error, and the columns of a day's table."""

from dataclasses import dataclass, field
from typing import Literal, get_args

from synth_assets.batch import SynthError

DatasetFormat = Literal["auto", "jsonl", "csv", "parquet"]

# Names of the three columns every table returned by read_partition has.
ID_COLUMN = "id"
TEXT_COLUMN = "text"

# Null for a usable row; otherwise what is wrong with it (see read_partition).
PROBLEM_COLUMN = "problem"

# Internal column carrying each row's 1-based position in its file, for placeholder ids
# and the "already appears on row N" problem.
ROW_NUMBER = "__row_number"


class DatasetError(SynthError):
    """The input dataset cannot be read as configured; the message says what to fix."""


@dataclass(frozen=True)
class DatasetSpec:
    """Where a task's input rows live and which columns matter.

    ``path`` is a hive-layout folder (``<path>/date=YYYY-MM-DD/*.jsonl|csv|parquet``) or a
    single file holding every day, told apart by ``date_column``. ``format="auto"`` judges
    each file by its extension. ``id_column`` becomes the ``id`` column (the row's stable
    key), ``text_column`` the ``text`` column; ``extra_columns`` are passed through under
    their own names when the files have them.
    """

    path: str
    format: DatasetFormat = "auto"
    id_column: str = "email_id"
    text_column: str = "body"
    date_column: str = "date"
    extra_columns: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        """Reject configurations that could never read anything, before touching files."""
        if self.format not in get_args(DatasetFormat):
            choices = ", ".join(repr(f) for f in get_args(DatasetFormat))
            raise DatasetError(f"Dataset format {self.format!r} is not one of {choices}.")
        # A list is the natural thing to write in YAML/JSON config; store a tuple so the
        # spec stays hashable and immutable.
        object.__setattr__(self, "extra_columns", tuple(self.extra_columns))
        for name in ("id_column", "text_column", "date_column"):
            if not isinstance(getattr(self, name), str) or not getattr(self, name):
                raise DatasetError(f"DatasetSpec.{name} must be a non-empty column name.")
        clashes = [c for c in self.extra_columns if c in (ID_COLUMN, TEXT_COLUMN, PROBLEM_COLUMN)]
        if clashes:
            raise DatasetError(
                f"Extra column {clashes[0]!r} clashes with the output column of the same "
                f"name; drop it from extra_columns (the {clashes[0]} column is always there)."
            )
        if len(set(self.extra_columns)) != len(self.extra_columns):
            raise DatasetError(f"extra_columns {self.extra_columns} lists a column twice.")
