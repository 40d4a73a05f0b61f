"""The asset factory: each BatchTask gets the same chain of daily-partitioned assets.

inputs -> batch_requests -> submitted_batch -> (sensor) -> batch_output -> parsed/unparsed
-> label_summary. Each asset is a thin wrapper over a step in ``synth_assets.pipeline``; the
state of each day lives in the task's request record, which the sensor reads too.
"""

import dataclasses
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import dagster as dg
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from pydantic import Field

from synth_assets.batch import ModelColumns, SynthError, batch_cost
from synth_assets.pipeline import (
    buckets,
    collect,
    estimate,
    plan,
    progress,
    prune,
    publish,
    steps,
    submit,
)
from synth_assets.pipeline.record import RequestRecord, State
from synth_assets.pipeline.settings import project_dir
from synth_assets.tasks import BatchTask
from synth_assets.tasks.seeds import SEED_SCHEMA, seed_batches
from synth_assets.tasks.upstream import open_upstream

from . import layout
from .automation import chain_condition
from .checks import build_quality_checks, build_table_checks
from .metadata import schema_metadata, table_preview
from .resources import BatchApiResource, StorageResource, TaskSettings


def partitions_for(task: BatchTask) -> dg.DailyPartitionsDefinition:
    """Daily partitions from the task's first day, in UTC (stated, not left to a default:
    the spend caps, the schedule and the day folders all count UTC days)."""
    return dg.DailyPartitionsDefinition(start_date=task.start_date, timezone="UTC")


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


# The run tag that asks the same as ``fresh_answers`` (how `synth backfill --fresh-answers`
# asks it: `dagster job backfill` takes tags, not config).
FRESH_ANSWERS_TAG = "synth/fresh_answers"


class BuildConfig(dg.Config):
    """Options of a build (set them in the launchpad for one partition or a backfill, or
    tag the run ``synth/fresh_answers=true``)."""

    fresh_answers: bool = Field(
        default=False,
        description="Send every current row again, even those with a final answer on this "
        "backend (pays for all of them); their new answers replace the old ones.",
    )


def build_task_assets(task: BatchTask) -> list[dg.AssetsDefinition | dg.AssetChecksDefinition]:
    """The assets and checks of one task."""
    partitions = partitions_for(task)
    common: dict[str, Any] = {"partitions_def": partitions, "group_name": task.name}
    inputs_key = asset_key(task, task.input_name)
    requests_key = asset_key(task, "batch_requests")
    submitted_key = asset_key(task, "submitted_batch")
    output_key = asset_key(task, "batch_output")
    parsed_key, unparsed_key = asset_key(task, "parsed"), asset_key(task, "unparsed")

    # A chained task's day is submitted once its upstream's table for that day is published.
    chained: dict[str, Any] = (
        {"automation_condition": chain_condition()} if task.upstream is not None else {}
    )
    upstream_parsed = (
        [dg.AssetKey([task.upstream.task, "parsed"])] if task.upstream is not None else []
    )

    @dg.asset(
        key=inputs_key,
        deps=upstream_parsed,
        kinds={"parquet"},
        description=_inputs_description(task),
        **chained,
        **common,
    )
    def inputs(
        context: dg.AssetExecutionContext, storage: StorageResource, task_settings: TaskSettings
    ) -> dg.MaterializeResult:
        date = context.partition_key
        snapshot = layout.inputs_snapshot(storage, task, date)
        with user_errors():
            if task.seeds is not None:
                source = "seeds in the task's YAML"
                batches = seed_batches(task.seeds, date)
                summary = steps.snapshot_batches(SEED_SCHEMA, batches, snapshot)
            elif task.upstream is not None:
                source = layout.table_location(storage, task.upstream.task, "parsed", date)
                with open_upstream(
                    task.upstream,
                    source,
                    date,
                    downstream=task.name,
                    max_text_chars=task_settings.max_text_chars,
                ) as day:
                    summary = steps.snapshot_batches(day.schema, day.batches(), snapshot)
            else:
                assert task.dataset is not None
                spec = steps.spec_with_path(task.dataset, task_settings.dataset_path, project_dir())
                source = spec.path
                summary = steps.snapshot_inputs(
                    spec, date, snapshot, max_text_chars=task_settings.max_text_chars
                )
        metadata: dict[str, Any] = {
            "dagster/row_count": summary.rows,
            "snapshot": dg.MetadataValue.path(summary.path),
            "source": dg.MetadataValue.path(source),
            "rows_with_a_problem": summary.problems,  # kept, never sent: invalid_input
        }
        if summary.rows == 0:
            metadata["note"] = f"no input rows for {date}: the day's tables will be empty"
        else:
            metadata["preview"] = table_preview(_head(summary.path, 5), limit=5)
        return dg.MaterializeResult(metadata=metadata)

    @dg.asset(
        key=requests_key,
        deps=[inputs_key],
        kinds={"openai", "json"},
        description="The day's requests: a manifest of every current row and the request files "
        "of those without a final answer on this backend (the request record decides).",
        **chained,
        **common,
    )
    def batch_requests(
        context: dg.AssetExecutionContext,
        config: BuildConfig,
        storage: StorageResource,
        batch_api: BatchApiResource,
        task_settings: TaskSettings,
    ) -> dg.MaterializeResult:
        date = context.partition_key
        backend = batch_api.backend()
        with user_errors(), layout.open_day(storage, task, backend.identity, date) as record:
            builder = steps.builder_for(
                task,
                model=task_settings.model,
                mode=task_settings.request_mode(),
                max_tokens=task_settings.max_tokens,
            )
            generation = record.next_generation(date)
            folder = layout.build_dir(storage, task, date, generation)
            build = plan.build_requests(
                task,
                layout.inputs_snapshot(storage, task, date),
                folder,
                builder,
                record,
                task_settings.policy(),
                fresh=config.fresh_answers or context.run.tags.get(FRESH_ANSWERS_TAG) == "true",
                max_requests=batch_api.max_requests_per_file,
                max_bytes=batch_api.max_bytes_per_file,
            )
            # Above a spend cap the day stops here: nothing recorded, nothing uploaded.
            estimate.check_spend(
                date,
                build.estimate,
                per_partition=task_settings.max_cost_usd_per_partition,
                per_day=task_settings.max_cost_usd_per_day,
                spent_today=layout.spent_today(storage, backend.identity),
            )
            record.start_build(date, generation, str(folder))
        plan.prune_builds(folder)
        cost = build.estimate.usd
        context.log.info(
            f"{date}: {build.rows} rows; sending {build.requests} requests to {backend.label} "
            f"({plan.describe_kinds(build.kinds)}); estimate: {build.estimate.describe()}"
        )
        return dg.MaterializeResult(
            metadata={
                "rows": build.rows,
                "requests_to_send": build.requests,
                "rows_by_need": dg.MetadataValue.json(build.kinds),
                "shards": len(build.shards),
                "bytes": build.bytes,
                "model": build.model,
                "backend": backend.label,
                "generation": generation,
                "fresh_answers_round": build.round,
                "invalid_inputs": build.invalid_inputs,
                "estimated_input_tokens": build.estimate.input_tokens,
                "estimated_output_tokens": build.estimate.output_tokens
                if build.estimate.output_known
                else dg.MetadataValue.text("unknown until a batch of this model is collected"),
                "estimated_cost_usd": dg.MetadataValue.float(cost)
                if cost is not None
                else dg.MetadataValue.text(f"unknown: no price for {build.model}"),
                # reported / estimated input tokens so far: how far off the raw estimate was
                "token_calibration": dg.MetadataValue.float(round(build.estimate.calibration, 4))
                if build.estimate.calibration
                else dg.MetadataValue.text("none yet (bytes / 4)"),
                "folder": dg.MetadataValue.path(build.folder),
            }
        )

    @dg.asset(
        key=submitted_key,
        deps=[requests_key],
        kinds={"openai"},
        description="One Batch-API batch per request file, never created twice (found again "
        "by identity in the request record, then in the Batch API's metadata).",
        **chained,
        **common,
    )
    def submitted_batch(
        context: dg.AssetExecutionContext,
        batch_api: BatchApiResource,
        storage: StorageResource,
        task_settings: TaskSettings,
    ) -> dg.MaterializeResult:
        date = context.partition_key
        backend = batch_api.backend()
        with user_errors(), layout.open_day(storage, task, backend.identity, date) as record:
            folder = progress.current_build(record, date, backend)
            build = plan.load_build(folder)
            if build.requests:
                context.log.info(f"submitting {build.requests} requests to {backend.label}")
            budget = layout.budget(
                storage,
                backend.identity,
                token_limit=batch_api.enqueued_token_limit,
                per_hour=batch_api.max_batches_per_hour,
                date=date,
            )
            with steps.backend_errors(backend), batch_api.open_client() as client:
                submitted, queued = submit.submit_build(
                    client,
                    record,
                    task,
                    date,
                    build,
                    context.log.info,
                    budget=budget,
                    prune=storage.prune_files,
                )
            waits = (build.model, queued.tokens) if queued else None
            state = progress.settle_submitted(
                record,
                date,
                build,
                task_settings.policy(),
                [s.batch_id for s in submitted],
                queued=waits,
            )
            if state == State.SETTLED and storage.prune_files:
                # Published for this state already (a re-run with nothing new): pruning turned
                # on since then sweeps the day now, not only at its next publish.
                _prune_published_day(context, batch_api, storage, task, record, folder)
            in_flight = budget.in_flight(build.model)
        return dg.MaterializeResult(
            metadata={
                "batches": dg.MetadataValue.json([dataclasses.asdict(s) for s in submitted]),
                "batch_ids": ", ".join(s.batch_id for s in submitted) or "(none: nothing to send)",
                "requests": sum(s.requests for s in submitted),
                "created": sum(s.how == "new" for s in submitted),
                "found_again": sum(s.how != "new" for s in submitted),
                "backend": backend.label,
                "state": state,
                "waiting_for_room": dg.MetadataValue.text(
                    f"{queued.shards} file(s), {queued.requests} requests: {queued.why}"
                )
                if queued
                else "none",
                "tokens_in_flight": in_flight,
            }
        )

    @dg.asset(
        key=output_key,
        deps=[submitted_key],
        kinds={"openai", "json"},
        description="The output and error files of the day's finished batches, as served, "
        "recorded request by request in the request record (with storage.prune_files the "
        "files go once recorded; the record keeps each line). Pays nothing.",
        **common,
    )
    def batch_output(
        context: dg.AssetExecutionContext,
        batch_api: BatchApiResource,
        storage: StorageResource,
        task_settings: TaskSettings,
    ) -> dg.MaterializeResult:
        date = context.partition_key
        backend = batch_api.backend()
        with user_errors(), layout.open_day(storage, task, backend.identity, date) as record:
            folder = progress.current_build(record, date, backend)
            waiting = progress.waiting_batches(record, date)
            with steps.backend_errors(backend), batch_api.open_client() as client:
                collected = collect.collect_batches(
                    client,
                    record,
                    task.response_model,
                    waiting,
                    layout.results_dir(storage, task),
                    log=context.log.info,
                    prune=storage.prune_files,
                )
            # Requests of a batch refused for the token limit wait, and not at once.
            not_before = time.time() + batch_api.limit_retry_s if collected.over_limit else None
            model = steps.model_for(task, task_settings.model)
            state = progress.settle(
                record,
                date,
                folder,
                task_settings.policy(),
                queued=(model, 0) if collected.over_limit else None,
                not_before=not_before,
            ).state
            batches = record.batches(date)
        table = [
            "| batch | attempt | round | requests | status | collected | est. tokens | reported |",
            "|---|---|---|---|---|---|---|---|",
        ]
        table += [
            f"| {b.batch_id} | {b.attempt} | {b.round} | {b.requests} | {b.status} "
            f"| {'yes' if b.collected else 'no'} | {b.est_tokens or '-'} "
            f"| {b.actual_tokens if b.actual_tokens is not None else '-'} |"
            for b in batches
        ]
        estimated = sum(b.est_tokens or 0 for b in batches if b.actual_tokens)
        reported = sum(b.actual_tokens or 0 for b in batches if b.est_tokens)
        return dg.MaterializeResult(
            metadata={
                "collected": dg.MetadataValue.json(collected.collected),
                "still_running": dg.MetadataValue.json(collected.running),
                "lost": dg.MetadataValue.json(collected.lost),
                "refused_for_token_limit": dg.MetadataValue.json(collected.over_limit),
                # How far the offline estimate was from what the backend counted.
                "token_estimate_error": dg.MetadataValue.text(
                    f"{(estimated - reported) / reported:+.1%} ({estimated:,} estimated, "
                    f"{reported:,} reported)"
                )
                if reported
                else "nothing reported yet",
                "bytes": collected.bytes,
                "state": state,
                "batches_of_the_day": dg.MetadataValue.md("\n".join(table)),
                "folder": dg.MetadataValue.path(str(layout.results_dir(storage, task))),
            }
        )

    @dg.multi_asset(
        specs=[
            dg.AssetSpec(
                parsed_key,
                deps=[output_key],
                kinds={"parquet"},
                description=f"Validated {task.response_model.__name__} rows, one per current "
                "input row; materialized once per settled state of the day.",
                skippable=True,
                **common,
            ),
            dg.AssetSpec(
                unparsed_key,
                deps=[output_key],
                kinds={"parquet"},
                description="Rows without a valid answer, with the reason (see the README's "
                "reason table), plus extra lines (second answers, strays).",
                skippable=True,
                **common,
            ),
        ],
        partitions_def=partitions,
        name=f"{task.name}_tables",
    )
    def tables(
        context: dg.AssetExecutionContext,
        batch_api: BatchApiResource,
        storage: StorageResource,
        task_settings: TaskSettings,
    ) -> Iterator[dg.MaterializeResult]:
        date = context.partition_key
        parsed_path = layout.table_write_path(storage, task, "parsed", date)
        unparsed_path = layout.table_write_path(storage, task, "unparsed", date)
        backend = batch_api.backend()
        with user_errors(), layout.open_day(storage, task, backend.identity, date) as record:
            folder = progress.current_build(record, date, backend)
            day = progress.settle(record, date, folder, task_settings.policy())
            if day.state != State.READY:
                context.log.info(f"{date}: {day.why_not_ready}; tables unchanged")
                return
            summary = publish.assemble_tables(
                task,
                record,
                folder,
                parsed_path,
                unparsed_path,
                layout.scratch_dir(storage, task, date),
            )
            for table, path in (("parsed", parsed_path), ("unparsed", unparsed_path)):
                storage.publish(path, layout.table_location(storage, task, table, date))
            record.published(date, day.progress.digest)
            if storage.prune_files:  # the record holds this state: what is left of the day goes
                _prune_published_day(context, batch_api, storage, task, record, folder)
        # From the files' footers and a few columns: the day's rows never enter memory.
        parsed_rows, parsed_schema = _footer(parsed_path)
        unparsed_rows, unparsed_schema = _footer(unparsed_path)
        models = _distinct(parsed_path, "model") or {task.model}
        cost = batch_cost(sorted(models)[0], summary.prompt_tokens, summary.completion_tokens)
        shared = {
            "requested": summary.requested or 0,
            "settled": day.progress.settled_as,
            "prompt_tokens": summary.prompt_tokens,
            "completion_tokens": summary.completion_tokens,
            "cost_usd": dg.MetadataValue.float(round(cost.usd, 6))
            if cost.usd is not None
            else dg.MetadataValue.text(str(cost)),
        }
        if not day.progress.rows:
            shared["note"] = f"no input rows for {date}: empty tables with the full schema"
        model_columns = ModelColumns(task.response_model)
        yield dg.MaterializeResult(
            asset_key=parsed_key,
            metadata={
                "dagster/row_count": parsed_rows,
                **schema_metadata(parsed_schema, _field_descriptions(task)),
                "preview": table_preview(
                    _head(parsed_path, 10, ["custom_id", *(f.name for f in model_columns.fields)])
                ),
                "path": dg.MetadataValue.path(layout.table_location(storage, task, "parsed", date)),
                **shared,
            },
        )
        yield dg.MaterializeResult(
            asset_key=unparsed_key,
            metadata={
                "dagster/row_count": unparsed_rows,
                **schema_metadata(unparsed_schema),
                "reasons": dg.MetadataValue.json(dict(summary.reasons)),
                "preview": table_preview(
                    _head(
                        unparsed_path,
                        10,
                        ["custom_id", "reason", "status_code", "error_code", "message", "attempt"],
                    )
                ),
                "path": dg.MetadataValue.path(
                    layout.table_location(storage, task, "unparsed", date)
                ),
                **shared,
            },
        )

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
            task,
            location,
            layout.inputs_snapshot(storage, task, date),
            scratch=storage.work_path(task.name, "scratch"),
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

    checks = [
        *build_table_checks(task, parsed_key, unparsed_key),
        *build_quality_checks(task, parsed_key),
    ]
    return [inputs, batch_requests, submitted_batch, batch_output, tables, label_summary, *checks]


def _prune_published_day(
    context: dg.AssetExecutionContext,
    batch_api: BatchApiResource,
    storage: StorageResource,
    task: BatchTask,
    record: RequestRecord,
    folder: str,
) -> None:
    """Delete what is left of a day whose tables are published for its current state."""
    date = context.partition_key
    with batch_api.open_client() as client:
        pruned = prune.prune_day(
            client, record, date, Path(folder).parent, layout.results_dir(storage, task),
            context.log.info,
        )  # fmt: skip
    context.log.info(f"{date}: {pruned.describe()}")


def _head(path: str | Path, rows: int, columns: list[str] | None = None) -> pa.Table:
    """The first ``rows`` rows of a Parquet file (``columns`` of it, in that order, when
    given), without reading the rest of the day."""
    with pq.ParquetFile(path, pre_buffer=False) as parquet:
        schema = parquet.schema_arrow
        if columns is not None:
            schema = pa.schema([schema.field(name) for name in columns])
        first = next(parquet.iter_batches(batch_size=rows, columns=columns), None)
    if first is None:
        return schema.empty_table()
    return pa.Table.from_batches([first]).select(schema.names)


def _footer(path: str | Path) -> tuple[int, pa.Schema]:
    """A Parquet file's row count and Arrow schema, from its footer alone."""
    with pq.ParquetFile(path) as parquet:
        return parquet.metadata.num_rows, parquet.schema_arrow


def _distinct(path: str | Path, column: str) -> set[Any]:
    """The distinct non-null values of one column of a Parquet file, read a slice at a time."""
    values: set[Any] = set()
    for batch in buckets.slices(path, [column]):
        values.update(pc.unique(batch.column(0)).drop_null().to_pylist())
    return values


def _inputs_description(task: BatchTask) -> str:
    if task.seeds is not None:
        grid = task.seeds
        return (
            f"One day of seed rows: {len(grid.topics)} topics × {len(grid.personas)} personas × "
            f"{len(grid.languages)} languages × {len(grid.labels)} intended labels × "
            f"{grid.per_cell} = {grid.rows_per_day()} rows, the same for the same day."
        )
    if task.upstream is not None:
        return f"{task.upstream.task}'s parsed table for the same day, as this task's input."
    assert task.dataset is not None
    return f"One day of the input dataset ({task.dataset.path}), validated."


def submit_selection(task: BatchTask) -> list[dg.AssetKey]:
    """The assets a submit run materializes."""
    return [asset_key(task, n) for n in (task.input_name, "batch_requests", "submitted_batch")]


def collect_selection(task: BatchTask) -> list[dg.AssetKey]:
    """The assets a collect run (requested by the sensor) materializes."""
    return [asset_key(task, n) for n in ("batch_output", "parsed", "unparsed", "label_summary")]
