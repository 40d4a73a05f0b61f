"""Chained tasks: another task's ``parsed`` table, for the same day, as this task's input.

The upstream's ``custom_id`` becomes the ``id`` (so a row keeps its key down the chain),
``text_column`` becomes ``text``, and the other answer fields ride along as extra columns
(all of them unless ``extra_columns`` names some), so a prompt can use them and the summary
can compare this task's answer with one of them.
"""

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.fs as pafs
import pyarrow.parquet as pq
from pydantic import BaseModel, ConfigDict, Field

from .dataset import ID_COLUMN, PROBLEM_COLUMN, TEXT_COLUMN, DatasetError

# Columns of a parsed table that the library adds to the answer fields (see the README).
LIBRARY_COLUMNS = frozenset(
    {
        "custom_id",
        "model",
        "batch_id",
        "request_id",
        "prompt_tokens",
        "completion_tokens",
        "total_tokens",
        "attempt",
        "request_hash",
    }
)


class UpstreamSpec(BaseModel):
    """Which task's ``parsed`` table feeds this one, and which of its columns to use."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    task: str = Field(description="The upstream task's name.")
    text_column: str = Field(description="The upstream answer field that becomes `text`.")
    extra_columns: list[str] | None = Field(
        default=None,
        description="Upstream answer fields passed through (default: every field).",
    )


def read_upstream(
    spec: UpstreamSpec,
    location: str,
    date: str,
    *,
    downstream: str,
    max_text_chars: int | None = None,
) -> pa.Table:
    """The upstream's parsed rows of ``date`` as an input table (``id``, ``text``, extras,
    ``problem``). Raises :class:`DatasetError` when the upstream has no table for the day."""
    try:
        table = pq.read_table(location)
    except (FileNotFoundError, pa.ArrowInvalid, OSError) as exc:
        if isinstance(exc, FileNotFoundError) or not _exists(location):
            raise DatasetError(
                f"{downstream} reads {spec.task}'s parsed table for {date}, which does not "
                f"exist yet ({location}); materialize {spec.task} for that day first."
            ) from None
        raise DatasetError(
            f"{spec.task}'s parsed table {location} cannot be read: {exc}."
        ) from None
    fields = [c for c in table.column_names if c not in LIBRARY_COLUMNS]
    if spec.text_column not in fields:
        raise DatasetError(
            f"{downstream}: upstream.text_column {spec.text_column!r} is not a field of "
            f"{spec.task}'s answers ({', '.join(fields)})."
        )
    extras = list(spec.extra_columns) if spec.extra_columns is not None else fields
    missing = [c for c in extras if c not in fields]
    if missing:
        raise DatasetError(
            f"{downstream}: upstream.extra_columns names {missing[0]!r}, which is not a field "
            f"of {spec.task}'s answers ({', '.join(fields)})."
        )
    texts = table.column(spec.text_column).cast(pa.string())
    problems = pc.if_else(
        pc.or_kleene(pc.is_null(texts), pc.equal(pc.utf8_trim_whitespace(texts), "")),
        pa.scalar("text is missing or empty", pa.string()),
        pa.scalar(None, pa.string()),
    )
    if max_text_chars is not None:
        over = pc.fill_null(pc.greater(pc.utf8_length(texts), max_text_chars), False)
        problems = pc.if_else(
            over,
            pa.scalar(f"text is over the budget of {max_text_chars:,} characters", pa.string()),
            problems,
        )
    columns = {ID_COLUMN: table.column("custom_id"), TEXT_COLUMN: texts}
    columns.update({c: table.column(c) for c in extras if c not in (ID_COLUMN, TEXT_COLUMN)})
    columns[PROBLEM_COLUMN] = problems
    return pa.table(columns)


def _exists(location: str) -> bool:
    try:
        filesystem, path = pafs.FileSystem.from_uri(location)
    except (pa.ArrowInvalid, ValueError):
        filesystem, path = pafs.LocalFileSystem(), location
    return filesystem.get_file_info(path).type != pafs.FileType.NotFound
