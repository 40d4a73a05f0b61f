"""One function per pipeline step: inputs -> requests -> batches -> result files -> tables."""

import dataclasses
import shutil
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import openai
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from pydantic_core import from_json, to_json

from synth_assets.batch.client import Backend, translate_api_error
from synth_assets.batch.errors import SynthError
from synth_assets.batch.files import atomic_write
from synth_assets.batch.parse import ParseSummary, ResultFiles, write_tables
from synth_assets.batch.pricing import batch_cost, estimate_tokens
from synth_assets.batch.reasons import Reason
from synth_assets.batch.records import Unparsed
from synth_assets.batch.remote import (
    NOT_REUSABLE,
    BatchIndex,
    batch_error_summary,
    download_file,
    require_terminal,
    submit_file,
)
from synth_assets.batch.requests import Messages, RequestBuilder, RequestMode
from synth_assets.batch.retry import retry_plan
from synth_assets.batch.shards import Shard, write_shards, write_subset
from synth_assets.batch.tables import ModelColumns
from synth_assets.tasks.base import BatchTask, custom_id_for
from synth_assets.tasks.dataset import DatasetSpec, read_partition

_ROWS_PER_SLICE = 10_000
SHARDS_FILE = "shards.json"
INVALID_INPUTS_FILE = "invalid_inputs.jsonl"
_RAW_INPUT_CHARS = 2000  # of an invalid input's text kept in the unparsed table
DOWNLOADS_FILE = "downloads.json"


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
    with keep it in their ``problem`` column (they will not be sent)."""
    table = read_partition(spec, date, max_text_chars=max_text_chars)
    with atomic_write(path) as out:
        pq.write_table(table, out)
    problems = (
        table.num_rows - table.column("problem").null_count
        if "problem" in table.column_names
        else 0
    )
    return InputSummary(str(path), table.num_rows, table.column_names, problems)


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
    invalid_inputs: int = 0


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
    """Write the partition's request shards (deterministic: same input, same bytes).

    Input rows the loader marked with a ``problem`` are never sent: they are written to
    ``invalid_inputs.jsonl`` and end in the unparsed table as ``invalid_input``.
    """
    if out_dir.exists():
        shutil.rmtree(out_dir)  # shards of an earlier build (other limits) must not linger
    out_dir.mkdir(parents=True)
    characters = 0
    invalid = 0
    # Each request also carries the schema and envelope: count them once per request.
    overhead_chars = len(builder.encode("", []))

    def requests(rejects: BinaryIO) -> Iterator[tuple[str, Messages]]:
        nonlocal characters, invalid
        for row in _rows(snapshot):
            custom_id = custom_id_for(str(row["id"]))
            if row.get("problem"):
                invalid += 1
                text = str(row.get("text") or "")[:_RAW_INPUT_CHARS]
                rejects.write(
                    to_json({"custom_id": custom_id, "problem": row["problem"], "text": text})
                    + b"\n"
                )
                continue
            messages = task.to_messages(row)
            characters += overhead_chars + sum(len(str(m.get("content", ""))) for m in messages)
            yield custom_id, messages

    with open(out_dir / INVALID_INPUTS_FILE, "wb") as rejects:
        shards = write_shards(
            requests(rejects), builder, out_dir, max_requests=max_requests, max_bytes=max_bytes
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
        invalid_inputs=invalid,
    )


def invalid_inputs(requests_dir: Path) -> list[Unparsed]:
    """The partition's input rows that were never sent, as unparsed ``invalid_input`` rows."""
    path = requests_dir / INVALID_INPUTS_FILE
    if not path.exists():
        return []
    rows = [from_json(line) for line in path.read_bytes().splitlines() if line.strip()]
    return [
        Unparsed(r["custom_id"], Reason.INVALID_INPUT, r["problem"], r["text"], source="input")
        for r in rows
    ]


@dataclass(frozen=True, slots=True)
class SubmittedShard:
    """A shard and the batch that answers it; ``how``: new, event_log or api (reused)."""

    shard: str
    path: str
    sha256: str
    requests: int
    endpoint: str
    batch_id: str
    status_at_submit: str
    how: str
    model: str = ""
    attempt: int = 1

    def as_dict(self) -> dict[str, Any]:
        """Plain data for metadata."""
        return dataclasses.asdict(self)

    def as_shard(self) -> Shard:
        """The request file it was made from (to copy lines from for a resubmission)."""
        return Shard(self.path, self.requests, 0, self.sha256, self.model, self.endpoint, "", "")


def identity(task: BatchTask, date: str, shard: Shard, attempt: int = 1) -> dict[str, str]:
    """A shard's identity, stored in its batch's metadata: (task, partition, sha256, attempt).

    The attempt is part of it: a resubmission of the same failed requests has the same
    bytes as the previous one, and must not be mistaken for it."""
    return {
        "synth_task": task.name,
        "synth_partition": date,
        "synth_sha256": shard.sha256,
        "synth_attempt": str(attempt),
    }


def submit_shards(
    client: openai.OpenAI,
    task: BatchTask,
    date: str,
    shards: list[Shard],
    recorded: Mapping[str, str],
    log: Callable[[str], None] = lambda _: None,
    attempt: int = 1,
) -> list[SubmittedShard]:
    """Make sure each shard has a live batch, creating one only when none exists.

    ``recorded`` maps sha256 -> batch id from earlier materializations (the event log);
    then the Batch API's own metadata is searched, which saves the case of a batch created
    by a run that crashed before recording it. Dead batches (failed, expired, cancelled)
    are not reused.
    """
    submitted = []
    index: BatchIndex | None = None  # listed on first need: recorded batches need none
    for shard in shards:
        batch, how = None, "new"
        if shard.sha256 in recorded:
            try:
                candidate = client.batches.retrieve(recorded[shard.sha256])
            except openai.NotFoundError:  # the backend forgot it (e.g. a wiped local server)
                candidate = None
            if candidate is not None and candidate.status not in NOT_REUSABLE:
                batch, how = candidate, "event_log"
        if batch is None:
            index = index or BatchIndex(client)
            batch = index.find(identity(task, date, shard, attempt))
            how = "api" if batch else "new"
        if batch is None:
            assert index is not None
            meta = {**identity(task, date, shard, attempt), "synth_shard": Path(shard.path).name}
            batch = submit_file(client, shard.path, endpoint=shard.endpoint, metadata=meta)
            # Two submitters may have raced past the lookup: all agree on the oldest batch,
            # and a younger one is cancelled before it runs.
            index.refresh()
            oldest = index.find(identity(task, date, shard, attempt))
            if oldest is not None and oldest.id != batch.id:
                client.batches.cancel(batch.id)
                log(f"{Path(shard.path).name}: batch {batch.id} raced {oldest.id}; cancelled it")
                batch, how = oldest, "api"
        log(f"{Path(shard.path).name}: batch {batch.id} ({how}, {batch.status})")
        submitted.append(
            SubmittedShard(
                shard=Path(shard.path).name,
                path=shard.path,
                sha256=shard.sha256,
                requests=shard.requests,
                endpoint=shard.endpoint,
                batch_id=batch.id,
                status_at_submit=batch.status,
                how=how,
                model=shard.model,
                attempt=attempt,
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
    attempt: int = 1

    def result_files(self) -> ResultFiles:
        """What the parser needs, the request file included for conservation."""
        return ResultFiles(
            self.output_path,
            self.error_path,
            batch_id=self.batch_id,
            status=self.status,
            requested=self.request_path,
            batch_error=self.batch_error,
            attempt=self.attempt,
        )


def download_results(
    client: openai.OpenAI, submitted: Iterable[Mapping[str, Any]], out_dir: Path
) -> list[DownloadedBatch]:
    """Download the output and error files of (terminal) batches, streamed and atomic."""
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
                attempt=entry.get("attempt", 1),
            )
        )
    return downloaded


@dataclass
class Attempts:
    """A partition's submissions: attempt 1 (the shards), then each resubmission."""

    attempts: list[dict[str, Any]]  # {"attempt", "batches": [SubmittedShard dicts], "why"}
    downloaded: list[DownloadedBatch]
    pending: list[str]  # batch ids of a resubmission just made (the sensor waits for them)

    @property
    def final(self) -> bool:
        """True when no resubmission is under way: the tables hold the last outcomes."""
        return not self.pending


def collect_attempt(
    client: openai.OpenAI,
    task: BatchTask,
    date: str,
    attempts: list[dict[str, Any]],
    results_dir: Path,
    requests_dir: Path,
    *,
    max_attempts: int,
    retry_reasons: Collection[str],
    max_requests: int,
    max_bytes: int,
    log: Callable[[str], None] = lambda _: None,
) -> Attempts:
    """Download the newest attempt's results; resubmit its retryable failures if the
    attempt budget allows (as attempt n+1, idempotent by identity like attempt 1).

    ``downloads.json`` keeps every attempt's files for the tables (last outcome wins).
    """
    current = attempts[-1]
    number = current["attempt"]
    earlier = [
        d
        for d in (load_downloads(results_dir) if (results_dir / DOWNLOADS_FILE).exists() else [])
        if d.attempt < number
    ]
    fresh = download_results(client, current["batches"], results_dir)
    downloaded = earlier + fresh
    write_json(results_dir / DOWNLOADS_FILE, [dataclasses.asdict(d) for d in downloaded])
    pending: list[str] = []
    if number < max_attempts and fresh:
        ids, why = retry_plan([d.result_files() for d in fresh], task.response_model, retry_reasons)
        if ids:
            sources = [SubmittedShard(**b).as_shard() for b in current["batches"]]
            folder = requests_dir / f"attempt-{number + 1}"
            if folder.exists():
                shutil.rmtree(folder)
            shards = write_subset(
                sources, ids, folder, max_requests=max_requests, max_bytes=max_bytes
            )
            log(f"attempt {number + 1}: resubmitting {len(ids)} requests ({dict(why)})")
            submitted = submit_shards(client, task, date, shards, {}, log, attempt=number + 1)
            attempts = [
                *attempts,
                {
                    "attempt": number + 1,
                    "batches": [b.as_dict() for b in submitted],
                    "why": dict(why),
                },
            ]
            pending = [b.batch_id for b in submitted]
    return Attempts(attempts, downloaded, pending)


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
    rejected_inputs: list[Unparsed] = (),  # type: ignore[assignment]
    workers: int | None = None,
) -> ParseSummary:
    """Parse every batch of a partition into its parsed and unparsed Parquet files."""
    return write_tables(
        results,
        response_model=task.response_model,
        parsed_path=parsed_path,
        unparsed_path=unparsed_path,
        rejected_inputs=rejected_inputs,
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
    with atomic_write(path) as out:
        out.write(to_json(data, indent=2))


def read_json(path: Path, what: str) -> Any:
    """Read a small JSON file the pipeline wrote, or say which step to run first."""
    if not path.is_file():
        raise SynthError(f"{path} does not exist; materialize {what} for this partition first.")
    return from_json(path.read_bytes())
