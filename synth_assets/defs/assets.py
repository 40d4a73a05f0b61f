"""The asset factory: each BatchTask gets the same chain of daily-partitioned assets.

inputs -> batch_requests -> submitted_batch -> (sensor) -> batch_output -> parsed/unparsed
-> label_summary. Each asset is a thin wrapper over a step in ``synth_assets.pipeline``.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import dagster as dg
import pyarrow.parquet as pq

from synth_assets.batch.errors import SynthError
from synth_assets.batch.pricing import batch_cost
from synth_assets.batch.tables import ModelColumns
from synth_assets.pipeline import steps
from synth_assets.tasks import BatchTask

from . import layout
from .checks import conservation_check, parse_rate_check
from .metadata import schema_metadata, table_preview
from .resources import PROJECT_ROOT, BatchApiResource, StorageResource, TaskSettings


def partitions_for(task: BatchTask) -> dg.DailyPartitionsDefinition:
    """Daily partitions from the task's first day."""
    return dg.DailyPartitionsDefinition(start_date=task.start_date)


def asset_key(task: BatchTask, name: str) -> dg.AssetKey:
    """Assets of a task live under its name: ``spam_triage/parsed``."""
    return dg.AssetKey([task.name, name])


@contextmanager
def user_errors() -> Iterator[None]:
    """Show a user-fixable error as its one sentence, not as a traceback."""
    try:
        yield
    except SynthError as exc:
        raise dg.Failure(description=str(exc), allow_retries=False) from None


def latest_metadata(
    context: dg.AssetExecutionContext, key: dg.AssetKey, partition: str
) -> dict[str, Any] | None:
    """The metadata of the newest materialization of ``key`` for ``partition``."""
    result = context.instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=key, asset_partitions=[partition]), limit=1, ascending=False
    )
    if not result.records:
        return None
    materialization = result.records[0].asset_materialization
    return {k: v.value for k, v in (materialization.metadata if materialization else {}).items()}


def _field_descriptions(task: BatchTask) -> dict[str, str]:
    """Column descriptions from the response model (Field descriptions, enum choices)."""
    described = {}
    for name, info in task.response_model.model_fields.items():
        text = info.description or ""
        choices = getattr(info.annotation, "__members__", None)
        if choices:
            values = ", ".join(str(m.value) for m in choices.values())
            text = f"{text} (one of: {values})".strip()
        if text:
            described[info.serialization_alias or name] = text
    return described


def _batch_ids(attempt: dict[str, Any]) -> list[str]:
    return [b["batch_id"] for b in attempt["batches"]]


def _attempts_markdown(progress: steps.Attempts) -> str:
    """Which batches belong to which attempt, their status, and why each resubmission."""
    status = {d.batch_id: (d.status, d.completed, d.failed) for d in progress.downloaded}
    lines = ["| attempt | batch | requests | status | completed | failed | why resubmitted |"]
    lines.append("|---|---|---|---|---|---|---|")
    for attempt in progress.attempts:
        why = ", ".join(f"{k} {v}" for k, v in attempt.get("why", {}).items()) or "-"
        for batch in attempt["batches"]:
            state, done, failed = status.get(batch["batch_id"], ("submitted", "", ""))
            lines.append(
                f"| {attempt['attempt']} | {batch['batch_id']} | {batch['requests']} | {state} "
                f"| {done} | {failed} | {why} |"
            )
    if len(lines) == 2:
        return "*no batches: the partition has no input rows*"
    return "\n".join(lines)


def build_task_assets(task: BatchTask) -> list[dg.AssetsDefinition]:
    """The assets and checks of one task."""
    partitions = partitions_for(task)
    common: dict[str, Any] = {"partitions_def": partitions, "group_name": task.name}
    inputs_key = asset_key(task, task.input_name)
    requests_key = asset_key(task, "batch_requests")
    submitted_key = asset_key(task, "submitted_batch")
    output_key = asset_key(task, "batch_output")
    parsed_key, unparsed_key = asset_key(task, "parsed"), asset_key(task, "unparsed")

    @dg.asset(
        key=inputs_key,
        kinds={"parquet"},
        description=f"One day of the input dataset ({task.dataset.path}), validated.",
        **common,
    )
    def inputs(
        context: dg.AssetExecutionContext, storage: StorageResource, task_settings: TaskSettings
    ) -> dg.MaterializeResult:
        date = context.partition_key
        spec = steps.spec_with_path(task.dataset, task_settings.dataset_path, PROJECT_ROOT)
        with user_errors():
            summary = steps.snapshot_inputs(
                spec,
                date,
                layout.inputs_snapshot(storage, task, date),
                max_text_chars=task_settings.max_text_chars,
            )
        metadata: dict[str, Any] = {
            "dagster/row_count": summary.rows,
            "snapshot": dg.MetadataValue.path(summary.path),
            "source": dg.MetadataValue.path(spec.path),
            "rows_with_a_problem": summary.problems,  # kept, never sent: invalid_input
        }
        if summary.rows == 0:
            metadata["note"] = f"no input rows for {date}: the day's tables will be empty"
        else:
            metadata["preview"] = table_preview(pq.read_table(summary.path), limit=5)
        return dg.MaterializeResult(metadata=metadata)

    @dg.asset(
        key=requests_key,
        deps=[inputs_key],
        kinds={"openai", "json"},
        description="Batch-API request files (shards within the per-file limits).",
        **common,
    )
    def batch_requests(
        context: dg.AssetExecutionContext,
        storage: StorageResource,
        batch_api: BatchApiResource,
        task_settings: TaskSettings,
    ) -> dg.MaterializeResult:
        date = context.partition_key
        with user_errors():
            builder = steps.builder_for(
                task,
                model=task_settings.model,
                mode=task_settings.mode,
                max_tokens=task_settings.max_tokens,
            )
            summary = steps.build_requests(
                task,
                layout.inputs_snapshot(storage, task, date),
                layout.requests_dir(storage, task, date),
                builder,
                max_requests=batch_api.max_requests_per_file,
                max_bytes=batch_api.max_bytes_per_file,
            )
        cost = summary.estimated_input_cost_usd
        metadata: dict[str, Any] = {
            "requests": summary.requests,
            "shards": len(summary.shards),
            "bytes": summary.bytes,
            "model": summary.model,
            "estimated_input_tokens": summary.estimated_input_tokens,
            "estimated_input_cost_usd": dg.MetadataValue.float(cost)
            if cost is not None
            else dg.MetadataValue.text(f"unknown: no price for {summary.model}"),
            "folder": dg.MetadataValue.path(str(layout.requests_dir(storage, task, date))),
        }
        metadata["invalid_inputs"] = summary.invalid_inputs
        if summary.requests == 0:
            metadata["note"] = "no request to send: no request file, no batch will be submitted"
        return dg.MaterializeResult(metadata=metadata)

    @dg.asset(
        key=submitted_key,
        deps=[requests_key],
        kinds={"openai"},
        description="One Batch-API batch per shard, never submitted twice (reused by identity).",
        **common,
    )
    def submitted_batch(
        context: dg.AssetExecutionContext, batch_api: BatchApiResource, storage: StorageResource
    ) -> dg.MaterializeResult:
        date = context.partition_key
        with user_errors():
            shards = steps.load_shards(layout.requests_dir(storage, task, date))
            previous = latest_metadata(context, submitted_key, date) or {}
            recorded = {b["sha256"]: b["batch_id"] for b in previous.get("batches", [])}
            backend = batch_api.backend()
            with steps.backend_errors(backend):
                submitted = steps.submit_shards(
                    batch_api.client(), task, date, shards, recorded, log=context.log.info
                )
        batches = [s.as_dict() for s in submitted]
        return dg.MaterializeResult(
            metadata={
                "batches": dg.MetadataValue.json(batches),
                "batch_ids": ", ".join(s.batch_id for s in submitted) or "(none: no requests)",
                "requests": sum(s.requests for s in submitted),
                "created": sum(s.how == "new" for s in submitted),
                "reused": sum(s.how != "new" for s in submitted),
                "backend": backend.label,
            }
        )

    @dg.asset(
        key=output_key,
        deps=[submitted_key],
        kinds={"openai", "json"},
        description="The output and error files of the partition's batches, as served; "
        "requests that failed for a retryable reason are resubmitted as a next attempt.",
        **common,
    )
    def batch_output(
        context: dg.AssetExecutionContext,
        batch_api: BatchApiResource,
        storage: StorageResource,
        task_settings: TaskSettings,
    ) -> dg.MaterializeResult:
        date = context.partition_key
        submitted = latest_metadata(context, submitted_key, date)
        if submitted is None:
            raise dg.Failure(
                description=f"{submitted_key.to_user_string()} has no materialization for "
                f"{date}; materialize it first.",
                allow_retries=False,
            )
        first = {"attempt": 1, "batches": submitted["batches"], "why": {}}
        history = (latest_metadata(context, output_key, date) or {}).get("attempts") or []
        if not history or _batch_ids(history[0]) != _batch_ids(first):
            history = [first]  # a new submission starts a new history
        with user_errors(), steps.backend_errors(batch_api.backend()):
            progress = steps.collect_attempt(
                batch_api.client(),
                task,
                date,
                history,
                layout.results_dir(storage, task, date),
                layout.requests_dir(storage, task, date),
                max_attempts=task_settings.max_attempts,
                retry_reasons=task_settings.retry_reasons,
                max_requests=batch_api.max_requests_per_file,
                max_bytes=batch_api.max_bytes_per_file,
                log=context.log.info,
            )
        return dg.MaterializeResult(
            metadata={
                "attempts": dg.MetadataValue.json(progress.attempts),
                "attempts_table": dg.MetadataValue.md(_attempts_markdown(progress)),
                "pending_batches": dg.MetadataValue.json(progress.pending),
                "final": progress.final,
                "bytes": sum(d.bytes for d in progress.downloaded),
                "folder": dg.MetadataValue.path(str(layout.results_dir(storage, task, date))),
            }
        )

    @dg.multi_asset(
        specs=[
            dg.AssetSpec(
                parsed_key,
                deps=[output_key],
                kinds={"parquet"},
                description=f"Validated {task.response_model.__name__} rows, one per input.",
                **common,
            ),
            dg.AssetSpec(
                unparsed_key,
                deps=[output_key],
                kinds={"parquet"},
                description="Rows without a valid answer, with the reason (DESIGN.md taxonomy).",
                **common,
            ),
        ],
        check_specs=[
            dg.AssetCheckSpec(
                "conservation",
                asset=parsed_key,
                # A table that lost or doubled rows must not feed the analytics downstream.
                blocking=True,
                description="parsed + unparsed == requested rows, each custom_id once "
                "(ERROR otherwise)",
            ),
            dg.AssetCheckSpec(
                "parse_rate",
                asset=parsed_key,
                description="share of requested rows that parsed; warns below "
                "task_settings.min_parse_rate",
            ),
        ],
        partitions_def=partitions,
        name=f"{task.name}_tables",
    )
    def tables(
        context: dg.AssetExecutionContext, storage: StorageResource, task_settings: TaskSettings
    ) -> Iterator[dg.MaterializeResult | dg.AssetCheckResult]:
        date = context.partition_key
        parsed_path = layout.table_write_path(storage, task, "parsed", date)
        unparsed_path = layout.table_write_path(storage, task, "unparsed", date)
        with user_errors():
            downloaded = steps.load_downloads(layout.results_dir(storage, task, date))
            summary = steps.write_partition_tables(
                task,
                [d.result_files() for d in downloaded],
                parsed_path,
                unparsed_path,
                rejected_inputs=steps.invalid_inputs(layout.requests_dir(storage, task, date)),
            )
        for table, path in (("parsed", parsed_path), ("unparsed", unparsed_path)):
            storage.publish(path, layout.table_location(storage, task, table, date))
        models = {d.model for d in downloaded if d.model} or {task.model}
        cost = batch_cost(sorted(models)[0], summary.prompt_tokens, summary.completion_tokens)
        shared = {
            "requested": summary.requested or 0,
            "prompt_tokens": summary.prompt_tokens,
            "completion_tokens": summary.completion_tokens,
            "cost_usd": dg.MetadataValue.float(round(cost.usd, 6))
            if cost.usd is not None
            else dg.MetadataValue.text(str(cost)),
        }
        if not downloaded:
            shared["note"] = f"no input rows for {date}: empty tables with the full schema"
        model_columns = ModelColumns(task.response_model)
        parsed_table = pq.read_table(parsed_path)
        unparsed_table = pq.read_table(unparsed_path)
        yield dg.MaterializeResult(
            asset_key=parsed_key,
            metadata={
                "dagster/row_count": parsed_table.num_rows,
                **schema_metadata(parsed_table.schema, _field_descriptions(task)),
                "preview": table_preview(
                    parsed_table.select(["custom_id", *(f.name for f in model_columns.fields)])
                ),
                "path": dg.MetadataValue.path(layout.table_location(storage, task, "parsed", date)),
                **shared,
            },
        )
        yield dg.MaterializeResult(
            asset_key=unparsed_key,
            metadata={
                "dagster/row_count": unparsed_table.num_rows,
                **schema_metadata(unparsed_table.schema),
                "reasons": dg.MetadataValue.json(dict(summary.reasons)),
                "preview": table_preview(
                    unparsed_table.select(
                        ["custom_id", "reason", "status_code", "error_code", "message", "attempt"]
                    )
                ),
                "path": dg.MetadataValue.path(
                    layout.table_location(storage, task, "unparsed", date)
                ),
            },
        )
        yield conservation_check(parsed_key, parsed_table, unparsed_table, summary.requested or 0)
        yield parse_rate_check(parsed_key, summary, task_settings.min_parse_rate)

    @dg.asset(
        key=asset_key(task, "label_summary"),
        deps=[parsed_key],
        kinds={"parquet"},
        description="Daily label counts read back from the parsed table, and agreement with "
        "the dataset's ground truth when it has one.",
        **common,
    )
    def label_summary(
        context: dg.AssetExecutionContext, storage: StorageResource
    ) -> dg.MaterializeResult:
        date = context.partition_key
        location = layout.table_location(storage, task, "parsed", date)
        summary = steps.summarize_labels(
            task, location, layout.inputs_snapshot(storage, task, date)
        )
        rows = "\n".join(
            f"| {label} | {count} |" for label, count in sorted(summary.counts.items())
        )
        metadata: dict[str, Any] = {
            "labels": dg.MetadataValue.md(f"| label | rows |\n|---|---|\n{rows}"),
            "compared_with_truth": summary.compared,
        }
        if summary.agreement is not None:
            metadata["agreement"] = dg.MetadataValue.float(round(summary.agreement, 4))
        return dg.MaterializeResult(metadata=metadata)

    return [inputs, batch_requests, submitted_batch, batch_output, tables, label_summary]


def submit_selection(task: BatchTask) -> list[dg.AssetKey]:
    """The assets a submit run materializes."""
    return [asset_key(task, n) for n in (task.input_name, "batch_requests", "submitted_batch")]


def collect_selection(task: BatchTask) -> list[dg.AssetKey]:
    """The assets a collect run (requested by the sensor) materializes."""
    return [asset_key(task, n) for n in ("batch_output", "parsed", "unparsed", "label_summary")]
