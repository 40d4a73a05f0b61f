"""The steps around the request record: reading a day of inputs, the request builder,
backend errors, and the label summary read back from the published table."""

import dataclasses
from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import openai
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from synth_assets.batch import (
    Backend,
    ModelColumns,
    RequestBuilder,
    RequestMode,
    atomic_write,
    translate_api_error,
)
from synth_assets.tasks.base import BatchTask, custom_id_for
from synth_assets.tasks.dataset import DatasetSpec, open_partition

from . import buckets


@dataclass(frozen=True, slots=True)
class InputSummary:
    """The input snapshot of one partition."""

    path: str
    rows: int
    columns: list[str]
    problems: int = 0


def snapshot_inputs(
    spec: DatasetSpec, date: str, path: Path, *, max_text_chars: int | None = None
) -> InputSummary:
    """Read one day of the dataset into a Parquet snapshot; rows the loader found a problem
    with keep it in their ``problem`` column (they will not be sent).

    The day streams through, a slice at a time: memory stays flat whatever its size. The
    loader's temporary files go beside the snapshot (same disk, cleaned up), and the
    snapshot appears whole or not at all.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    with open_partition(spec, date, max_text_chars=max_text_chars, scratch_dir=path.parent) as day:
        snapshot_batches(day.schema, day.batches(), path)
    # Counted by the loader as it read the day (the rows written, and those with a problem).
    return InputSummary(str(path), day.rows, day.schema.names, day.problems)


def snapshot_batches(
    schema: pa.Schema, batches: Iterable[pa.RecordBatch], path: Path
) -> InputSummary:
    """Write one day's input rows (``id``, ``text``, other columns, ``problem``), given a
    batch at a time, as the partition's Parquet snapshot: from a dataset, a seed grid or an
    upstream table. Memory holds one batch; the snapshot appears whole or not at all, and a day
    without rows is an empty snapshot with ``schema``."""
    rows = problems = 0
    with atomic_write(path) as out, pq.ParquetWriter(out, schema) as writer:
        for batch in batches:
            writer.write_batch(batch)
            rows += batch.num_rows
            if "problem" in schema.names:
                problems += batch.num_rows - batch.column("problem").null_count
    return InputSummary(str(path), rows, schema.names, problems)


def model_for(task: BatchTask, override: str | None = None) -> str:
    """The model a task's requests ask for, with a deployment override applied."""
    return override or task.model


def builder_for(
    task: BatchTask,
    *,
    model: str | None = None,
    mode: str | None = None,
    max_tokens: int | None = None,
) -> RequestBuilder:
    """The request builder of a task, with deployment overrides applied."""
    ModelColumns(task.response_model)  # refuse a model the tables cannot hold, before paying
    params = dict(task.params)
    if max_tokens is not None:
        params["max_tokens"] = max_tokens
    return RequestBuilder(
        model=model_for(task, model),
        response_model=task.response_model,
        mode=RequestMode(mode) if mode else task.mode,
        params=params,
    )


@contextmanager
def backend_errors(backend: Backend) -> Iterator[None]:
    """Turn the openai client's errors into one clear sentence (never showing the key)."""
    try:
        yield
    except openai.OpenAIError as exc:
        raise translate_api_error(exc, backend) from None


@dataclass(frozen=True, slots=True)
class LabelSummary:
    """Label counts of a partition and, when the input has ground truth, agreement."""

    counts: dict[str, int]
    compared: int
    agreed: int

    @property
    def agreement(self) -> float | None:
        """Share of compared rows whose label equals the ground truth."""
        return self.agreed / self.compared if self.compared else None


_TRUTH_SLICE_ROWS = 64 * 1024


def summarize_labels(
    task: BatchTask,
    parsed_path: str,
    snapshot: Path | None,
    scratch: Path | None = None,
    *,
    bucket_rows: int | None = None,
) -> LabelSummary:
    """Read the parsed table back and count labels; compare with ground truth if any.

    Flat in the day's rows: labels are counted a slice at a time, and the comparison with
    the truth is an exact join on disk (both sides hash-bucketed by custom_id into scratch
    files under ``scratch``, default beside the snapshot, then joined bucket by bucket;
    ``bucket_rows`` sets the rows per bucket aimed at).
    """
    if task.label_field is None:
        return LabelSummary({}, 0, 0)
    label = task.label_field
    counts: Counter[object] = Counter()
    for batch in buckets.slices(parsed_path, ["custom_id", label], _TRUTH_SLICE_ROWS):
        grouped = pa.Table.from_batches([batch]).group_by(label).aggregate([("custom_id", "count")])
        keys, values = grouped.column(label).to_pylist(), grouped.column("custom_id_count")
        counts.update(dict(zip(keys, values.to_pylist(), strict=True)))
    compared = agreed = 0
    if task.truth_column and snapshot is not None and snapshot.exists():
        with pq.ParquetFile(snapshot) as inputs:
            has_truth = task.truth_column in inputs.schema_arrow.names
            rows = inputs.metadata.num_rows + buckets.parquet_rows(parsed_path)
        if has_truth:
            compared, agreed = _compare_with_truth(
                task, parsed_path, snapshot, scratch or snapshot.parent, rows, bucket_rows
            )
    return LabelSummary({str(k): int(v) for k, v in counts.items()}, compared, agreed)


def _compare_with_truth(
    task: BatchTask,
    parsed_path: str,
    snapshot: Path,
    scratch: Path,
    rows: int,
    bucket_rows: int | None,
) -> tuple[int, int]:
    """(rows joined, rows whose label equals the truth): the parsed table inner-joined with
    the snapshot's truth on custom_id, one hash bucket at a time."""
    label, truth_column = task.label_field, task.truth_column
    assert label is not None and truth_column is not None
    count = buckets.bucket_count(rows, bucket_rows)
    with buckets.scratch_folder(scratch) as folder:
        with pq.ParquetFile(parsed_path) as parquet:
            label_type = parquet.schema_arrow.field(label).type
        with pq.ParquetFile(snapshot) as inputs:
            truth_type = inputs.schema_arrow.field(truth_column).type
        answers = buckets.Buckets(
            folder, "parsed", pa.schema([("custom_id", pa.string()), (label, label_type)]),
            "custom_id", count,
        )  # fmt: skip
        for batch in buckets.slices(parsed_path, ["custom_id", label], _TRUTH_SLICE_ROWS):
            answers.write(batch)
        answers.close()
        truth_schema = pa.schema([("custom_id", pa.string()), ("truth", truth_type)])
        truths = buckets.Buckets(folder, "truth", truth_schema, "custom_id", count)
        # Two columns, a slice at a time: the snapshot's texts never enter memory.
        for batch in buckets.slices(snapshot, ["id", truth_column], _TRUTH_SLICE_ROWS):
            ids = batch.column(0).to_pylist()
            keys = pa.array([custom_id_for(str(k)) for k in ids], pa.string())
            truths.write(pa.record_batch([keys, batch.column(1)], schema=truth_schema))
        truths.close()
        compared = agreed = 0
        for index in range(count):
            joined = answers.bucket(index).join(
                truths.bucket(index), "custom_id", join_type="inner"
            )
            compared += joined.num_rows
            agreed += pc.sum(pc.equal(joined[label], joined["truth"])).as_py() or 0
    return compared, agreed


def spec_with_path(spec: DatasetSpec, path: str | None, project_root: Path) -> DatasetSpec:
    """The dataset spec with an overridden path; relative paths are under the project."""
    location = Path(path or spec.path)
    if not location.is_absolute():
        location = project_root / location
    return dataclasses.replace(spec, path=str(location))
