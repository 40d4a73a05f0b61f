"""A day's rows as a stream of record batches, in the columns ``read_partition`` promises."""

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import pyarrow as pa

from ._ids import DayIds
from ._spec import ID_COLUMN, PROBLEM_COLUMN, TEXT_COLUMN, DatasetError, DatasetSpec
from ._validate import Part


@dataclass
class DayRows:
    """One day of a dataset, read and checked, its rows still on disk.

    ``schema``: ``id``, ``text``, the extra columns any file has (in the order configured),
    ``problem``. ``rows``: how many rows; ``problems``: how many of them have a problem.
    ``batches()`` yields the rows in file order, a slice at a time, once.
    """

    schema: pa.Schema
    parts: Sequence[Part] = field(default=())
    ids: DayIds | None = None
    rows: int = 0
    problems: int = 0

    @classmethod
    def empty(cls) -> "DayRows":
        """A day without input: no rows, the three columns every day has."""
        columns = (ID_COLUMN, TEXT_COLUMN, PROBLEM_COLUMN)
        return cls(pa.schema([(name, pa.string()) for name in columns]))

    def batches(self) -> Iterator[pa.RecordBatch]:
        """The day's rows with distinct ids, in ``schema``'s columns and types."""
        seq = 0
        for index, part in enumerate(self.parts):
            for batch in part.batches():
                settled = self.ids.settle(index, batch, seq) if self.ids else batch
                seq += batch.num_rows
                yield _conform(settled, self.schema)


def day_schema(parts: Sequence[Part], spec: DatasetSpec) -> pa.Schema:
    """The columns of the day's rows, over all its files' columns.

    A file without one of the extra columns gets nulls; compatible types are widened
    (int64 in one file, double in another), as ``pa.concat_tables`` would.
    """
    try:
        unified = pa.unify_schemas([part.schema for part in parts], promote_options="permissive")
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        names = ", ".join(str(part.path) for part in parts[:3])
        raise DatasetError(
            f"Files {names} disagree on the types of their extra columns "
            f"({' '.join(str(exc).split())}); make each column's type the same in every file."
        ) from exc
    extras = [c for c in spec.extra_columns if c in unified.names]
    return pa.schema(
        [unified.field(name) for name in (ID_COLUMN, TEXT_COLUMN, *extras, PROBLEM_COLUMN)]
    )


def _conform(batch: pa.RecordBatch, schema: pa.Schema) -> pa.RecordBatch:
    arrays = []
    for target in schema:
        index = batch.schema.get_field_index(target.name)
        if index < 0:
            arrays.append(pa.nulls(batch.num_rows, target.type))
            continue
        column = batch.column(index)
        arrays.append(column if column.type == target.type else column.cast(target.type))
    return pa.RecordBatch.from_arrays(arrays, schema=schema)
