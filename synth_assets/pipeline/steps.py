"""The steps around the request record: reading a day of inputs, the request builder,
backend errors, and the label summary read back from the published table."""

import dataclasses
from collections.abc import Iterator
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
    with (
        open_partition(spec, date, max_text_chars=max_text_chars, scratch_dir=path.parent) as day,
        atomic_write(path) as out,
        pq.ParquetWriter(out, day.schema) as writer,
    ):
        for batch in day.batches():
            writer.write_batch(batch)
    return InputSummary(str(path), day.rows, day.schema.names, day.problems)


def snapshot_table(table: pa.Table, path: Path) -> InputSummary:
    """Write one day's input rows (``id``, ``text``, other columns, ``problem``) as the
    partition's Parquet snapshot: from a dataset, a seed grid or an upstream table."""
    with atomic_write(path) as out:
        pq.write_table(table, out)
    problems = (
        table.num_rows - table.column("problem").null_count
        if "problem" in table.column_names
        else 0
    )
    return InputSummary(str(path), table.num_rows, table.column_names, problems)


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


_TRUTH_SLICE_ROWS = 500_000


def summarize_labels(task: BatchTask, parsed_path: str, snapshot: Path | None) -> LabelSummary:
    """Read the parsed table back and count labels; compare with ground truth if any."""
    if task.label_field is None:
        return LabelSummary({}, 0, 0)
    parsed = pq.read_table(parsed_path, columns=["custom_id", task.label_field])
    counts = parsed.group_by(task.label_field).aggregate([("custom_id", "count")])
    by_label = dict(
        zip(
            counts.column(task.label_field).to_pylist(),
            counts.column("custom_id_count").to_pylist(),
            strict=True,
        )
    )
    compared = agreed = 0
    if task.truth_column and snapshot is not None and snapshot.exists():
        inputs = pq.ParquetFile(snapshot, pre_buffer=False)  # see plan._slices
        if task.truth_column in inputs.schema_arrow.names:
            # Two columns, a slice at a time: the snapshot's texts never enter memory.
            slices = inputs.iter_batches(_TRUTH_SLICE_ROWS, columns=["id", task.truth_column])
            for inputs_slice in slices:
                ids = inputs_slice.column(0).to_pylist()
                keys = pa.array([custom_id_for(str(k)) for k in ids], pa.string())
                truth = pa.table({"custom_id": keys, "truth": inputs_slice.column(1)})
                joined = parsed.join(truth, "custom_id", join_type="inner")
                compared += joined.num_rows
                same = pc.equal(joined[task.label_field], joined["truth"])
                agreed += pc.sum(same).as_py() or 0
    return LabelSummary({str(k): int(v) for k, v in by_label.items()}, compared, agreed)


def spec_with_path(spec: DatasetSpec, path: str | None, project_root: Path) -> DatasetSpec:
    """The dataset spec with an overridden path; relative paths are under the project."""
    location = Path(path or spec.path)
    if not location.is_absolute():
        location = project_root / location
    return dataclasses.replace(spec, path=str(location))
