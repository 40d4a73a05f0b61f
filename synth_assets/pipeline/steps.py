"""One function per pipeline step: inputs -> requests -> batches -> result files -> tables."""

import dataclasses
import os
import shutil
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import openai
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from pydantic_core import from_json, to_json

from synth_assets.batch.client import Backend, translate_api_error
from synth_assets.batch.errors import SynthError
from synth_assets.batch.parse import ParseSummary, ResultFiles, write_tables
from synth_assets.batch.pricing import batch_cost, estimate_tokens
from synth_assets.batch.remote import (
    DEAD,
    batch_error_summary,
    download_file,
    find_batch,
    require_terminal,
    submit_file,
)
from synth_assets.batch.requests import Messages, RequestBuilder, RequestMode
from synth_assets.batch.shards import Shard, write_shards
from synth_assets.tasks.base import BatchTask, custom_id_for
from synth_assets.tasks.dataset import DatasetSpec, read_partition

_ROWS_PER_SLICE = 10_000
SHARDS_FILE = "shards.json"
DOWNLOADS_FILE = "downloads.json"


@dataclass(frozen=True, slots=True)
class InputSummary:
    """The input snapshot of one partition."""

    path: str
    rows: int
    columns: list[str]


def snapshot_inputs(spec: DatasetSpec, date: str, path: Path) -> InputSummary:
    """Read one day of the dataset (validated by the loader) into a Parquet snapshot."""
    table = read_partition(spec, date)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    pq.write_table(table, tmp)
    os.replace(tmp, path)
    return InputSummary(str(path), table.num_rows, table.column_names)


def _rows(snapshot: Path) -> Iterator[dict[str, Any]]:
    """The snapshot's rows as dicts, a slice at a time (memory bounded by the slice)."""
    for batch in pq.ParquetFile(snapshot).iter_batches(batch_size=_ROWS_PER_SLICE):
        yield from batch.to_pylist()


@dataclass(frozen=True, slots=True)
class RequestsSummary:
    """The request shards of one partition and what they should cost."""

    shards: list[Shard]
    requests: int
    bytes: int
    estimated_input_tokens: int
    estimated_input_cost_usd: float | None
    model: str


def builder_for(
    task: BatchTask,
    *,
    model: str | None = None,
    mode: str | None = None,
    max_tokens: int | None = None,
) -> RequestBuilder:
    """The request builder of a task, with deployment overrides applied."""
    params = dict(task.params)
    if max_tokens is not None:
        params["max_tokens"] = max_tokens
    return RequestBuilder(
        model=model or task.model,
        response_model=task.response_model,
        mode=RequestMode(mode) if mode else task.mode,
        params=params,
    )


def build_requests(
    task: BatchTask,
    snapshot: Path,
    out_dir: Path,
    builder: RequestBuilder,
    *,
    max_requests: int,
    max_bytes: int,
) -> RequestsSummary:
    """Write the partition's request shards (deterministic: same input, same bytes)."""
    if out_dir.exists():
        shutil.rmtree(out_dir)  # shards of an earlier build (other limits) must not linger
    characters = 0
    # Each request also carries the schema and envelope: count them once per request.
    overhead_chars = len(builder.encode("", []))

    def requests() -> Iterator[tuple[str, Messages]]:
        nonlocal characters
        for row in _rows(snapshot):
            messages = task.to_messages(row)
            characters += overhead_chars + sum(len(str(m.get("content", ""))) for m in messages)
            yield custom_id_for(str(row["id"])), messages

    shards = write_shards(
        requests(), builder, out_dir, max_requests=max_requests, max_bytes=max_bytes
    )
    write_json(out_dir / SHARDS_FILE, [dataclasses.asdict(s) for s in shards])
    tokens = estimate_tokens(characters)
    return RequestsSummary(
        shards=shards,
        requests=sum(s.requests for s in shards),
        bytes=sum(s.bytes for s in shards),
        estimated_input_tokens=tokens,
        estimated_input_cost_usd=batch_cost(builder.model, tokens, 0).usd,
        model=builder.model,
    )


@dataclass(frozen=True, slots=True)
class SubmittedShard:
    """A shard and the batch that answers it; ``how``: new, event_log or api (reused)."""

    shard: str
    path: str
    sha256: str
    requests: int
    endpoint: str
    batch_id: str
    status: str
    how: str

    def as_dict(self) -> dict[str, Any]:
        """Plain data for metadata."""
        return dataclasses.asdict(self)


def identity(task: BatchTask, date: str, shard: Shard) -> dict[str, str]:
    """A shard's identity, stored in its batch's metadata: (task, partition, sha256)."""
    return {"synth_task": task.name, "synth_partition": date, "synth_sha256": shard.sha256}


def submit_shards(
    client: openai.OpenAI,
    task: BatchTask,
    date: str,
    shards: list[Shard],
    recorded: Mapping[str, str],
    log: Callable[[str], None] = lambda _: None,
) -> list[SubmittedShard]:
    """Make sure each shard has a live batch, creating one only when none exists.

    ``recorded`` maps sha256 -> batch id from earlier materializations (the event log);
    then the Batch API's own metadata is searched, which saves the case of a batch created
    by a run that crashed before recording it. Dead batches (failed, expired, cancelled)
    are not reused.
    """
    submitted = []
    for shard in shards:
        batch, how = None, "new"
        if shard.sha256 in recorded:
            try:
                candidate = client.batches.retrieve(recorded[shard.sha256])
            except openai.NotFoundError:  # the backend forgot it (e.g. a wiped local server)
                candidate = None
            if candidate is not None and candidate.status not in DEAD:
                batch, how = candidate, "event_log"
        if batch is None:
            batch = find_batch(client, identity(task, date, shard))
            how = "api" if batch else "new"
        if batch is None:
            meta = {**identity(task, date, shard), "synth_shard": Path(shard.path).name}
            batch = submit_file(client, shard.path, endpoint=shard.endpoint, metadata=meta)
        log(f"{Path(shard.path).name}: batch {batch.id} ({how}, {batch.status})")
        submitted.append(
            SubmittedShard(
                shard=Path(shard.path).name,
                path=shard.path,
                sha256=shard.sha256,
                requests=shard.requests,
                endpoint=shard.endpoint,
                batch_id=batch.id,
                status=batch.status,
                how=how,
            )
        )
    return submitted


@dataclass(frozen=True, slots=True)
class DownloadedBatch:
    """The result files of one batch as downloaded."""

    batch_id: str
    status: str
    request_path: str
    output_path: str | None
    error_path: str | None
    bytes: int
    completed: int
    failed: int
    batch_error: str | None
    model: str | None = None

    def result_files(self) -> ResultFiles:
        """What the parser needs, the request file included for conservation."""
        return ResultFiles(
            self.output_path,
            self.error_path,
            batch_id=self.batch_id,
            status=self.status,
            requested=self.request_path,
            batch_error=self.batch_error,
        )


def download_results(
    client: openai.OpenAI, submitted: list[Mapping[str, Any]], out_dir: Path
) -> list[DownloadedBatch]:
    """Download the output and error files of every (terminal) batch of a partition."""
    downloaded = []
    for entry in submitted:
        batch = client.batches.retrieve(entry["batch_id"])
        require_terminal(batch)
        paths: dict[str, str | None] = {"output": None, "error": None}
        size = 0
        for kind, file_id in (("output", batch.output_file_id), ("error", batch.error_file_id)):
            if file_id:
                target = out_dir / f"{batch.id}.{kind}.jsonl"
                size += download_file(client, file_id, target)
                paths[kind] = str(target)
        counts = batch.request_counts
        downloaded.append(
            DownloadedBatch(
                batch_id=batch.id,
                status=batch.status,
                request_path=entry["path"],
                output_path=paths["output"],
                error_path=paths["error"],
                bytes=size,
                completed=counts.completed if counts else 0,
                failed=counts.failed if counts else 0,
                batch_error=batch_error_summary(batch),
                model=batch.model,
            )
        )
    write_json(out_dir / DOWNLOADS_FILE, [dataclasses.asdict(d) for d in downloaded])
    return downloaded


def load_shards(requests_dir: Path) -> list[Shard]:
    """The shards batch_requests wrote for a partition."""
    return [Shard(**s) for s in read_json(requests_dir / SHARDS_FILE, "batch_requests")]


def load_downloads(results_dir: Path) -> list[DownloadedBatch]:
    """The batches batch_output downloaded for a partition."""
    return [DownloadedBatch(**d) for d in read_json(results_dir / DOWNLOADS_FILE, "batch_output")]


@contextmanager
def backend_errors(backend: Backend) -> Iterator[None]:
    """Turn the openai client's errors into one clear sentence (never showing the key)."""
    try:
        yield
    except openai.OpenAIError as exc:
        raise translate_api_error(exc, backend) from None


def write_partition_tables(
    task: BatchTask,
    results: list[ResultFiles],
    parsed_path: Path,
    unparsed_path: Path,
    workers: int | None = None,
) -> ParseSummary:
    """Parse every batch of a partition into its parsed and unparsed Parquet files."""
    return write_tables(
        results,
        response_model=task.response_model,
        parsed_path=parsed_path,
        unparsed_path=unparsed_path,
        workers=workers,
    )


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
        inputs = pq.read_table(snapshot)
        if task.truth_column in inputs.column_names:
            keys = pa.array([custom_id_for(str(k)) for k in inputs.column("id").to_pylist()])
            truth = pa.table({"custom_id": keys, "truth": inputs.column(task.truth_column)})
            joined = parsed.join(truth, "custom_id", join_type="inner")
            compared = joined.num_rows
            agreed = pc.sum(pc.equal(joined[task.label_field], joined["truth"])).as_py() or 0
    return LabelSummary({str(k): int(v) for k, v in by_label.items()}, compared, agreed)


def spec_with_path(spec: DatasetSpec, path: str | None, project_root: Path) -> DatasetSpec:
    """The dataset spec with an overridden path; relative paths are under the project."""
    location = Path(path or spec.path)
    if not location.is_absolute():
        location = project_root / location
    return dataclasses.replace(spec, path=str(location))


def write_json(path: Path, data: Any) -> None:
    """Write a small JSON file atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(to_json(data, indent=2))
    os.replace(tmp, path)


def read_json(path: Path, what: str) -> Any:
    """Read a small JSON file the pipeline wrote, or say which step to run first."""
    if not path.is_file():
        raise SynthError(f"{path} does not exist; materialize {what} for this partition first.")
    return from_json(path.read_bytes())
