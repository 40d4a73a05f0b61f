"""Asset checks on the parsed/unparsed tables: the two promises, measured on the files."""

from pathlib import Path

import dagster as dg
import pyarrow as pa
import pyarrow.compute as pc

from synth_assets.batch import is_extra_line
from synth_assets.pipeline import buckets
from synth_assets.pipeline import quality as quality_checks
from synth_assets.pipeline.plan import load_build
from synth_assets.pipeline.quality import Column
from synth_assets.tasks import BatchTask

from . import layout
from .resources import BatchApiResource, StorageResource, TaskSettings

_IDS = pa.schema([("custom_id", pa.string())])


def conservation_check(
    asset_key: dg.AssetKey,
    parsed_path: str,
    unparsed_path: str,
    requested: int,
    scratch: Path,
    *,
    bucket_rows: int | None = None,
) -> dg.AssetCheckResult:
    """ERROR unless parsed + unparsed (requested rows) == requested, each custom_id once.

    Read from the written tables, not from the parser's counters. Duplicate answers and
    invalid lines are extra rows and are counted apart. Flat in the day's rows: the ids
    stream through, a slice at a time, into hash buckets on disk under ``scratch``, and
    distinct ids are counted bucket by bucket (exact: equal ids share a bucket).
    """
    total = buckets.parquet_rows(parsed_path) + buckets.parquet_rows(unparsed_path)
    ids = buckets.Buckets(
        scratch, "ids", _IDS, "custom_id", buckets.bucket_count(total, bucket_rows)
    )
    parsed_rows = requested_unparsed = extra = nulls = 0
    for batch in buckets.slices(parsed_path, ["custom_id"]):
        parsed_rows += batch.num_rows
        nulls += batch.column(0).null_count
        ids.write(batch)
    for batch in buckets.slices(unparsed_path, ["reason", "custom_id"]):
        # Extra rows: duplicates, and lines naming no requested id (the parser's one rule).
        reasons, custom_ids = batch.column(0).to_pylist(), batch.column(1)
        is_extra = pa.array(
            [is_extra_line(r, c) for r, c in zip(reasons, custom_ids.to_pylist(), strict=True)],
            type=pa.bool_(),
        )
        requested_ids = pc.filter(custom_ids, pc.invert(is_extra))
        requested_unparsed += len(requested_ids)
        extra += batch.num_rows - len(requested_ids)
        nulls += requested_ids.null_count
        ids.write(pa.record_batch([requested_ids], schema=_IDS))
    ids.close()
    rows = parsed_rows + requested_unparsed
    distinct = sum(len(pc.unique(bucket.column(0))) for bucket in ids)
    passed = rows == requested and distinct == rows and nulls == 0
    return dg.AssetCheckResult(
        asset_key=asset_key,
        check_name="conservation",
        passed=passed,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={
            "requested": requested,
            "parsed": parsed_rows,
            "unparsed": requested_unparsed,
            "extra_lines": extra,
            "duplicate_custom_ids": rows - distinct,
        },
        description=None
        if passed
        else f"{rows} rows for {requested} requests ({rows - distinct} duplicated custom_ids)",
    )


def parse_rate_check(
    asset_key: dg.AssetKey, parsed_rows: int, requested: int, minimum: float
) -> dg.AssetCheckResult:
    """WARN when the share of requested rows that parsed is below ``minimum``."""
    rate = parsed_rows / requested if requested else 1.0
    return dg.AssetCheckResult(
        asset_key=asset_key,
        check_name="parse_rate",
        passed=rate >= minimum,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={"parse_rate": round(rate, 4), "minimum": minimum},
    )


def build_table_checks(
    task: BatchTask, parsed_key: dg.AssetKey, unparsed_key: dg.AssetKey
) -> list[dg.AssetChecksDefinition]:
    """The task's checks, run after each publication of its tables."""

    def published(
        date: str, storage: StorageResource, batch_api: BatchApiResource
    ) -> tuple[str, str, int]:
        """Where the day's published tables are, and its current row count (from the
        record)."""
        with layout.open_record(storage, task, batch_api.backend().identity) as record:
            row = record.partition(date)
            requested = load_build(row.manifest).rows if row else 0
        parsed = layout.table_location(storage, task, "parsed", date)
        unparsed = layout.table_location(storage, task, "unparsed", date)
        return parsed, unparsed, requested

    @dg.asset_check(
        asset=parsed_key,
        name="conservation",
        additional_deps=[unparsed_key],
        # A table that lost or doubled rows must not feed the analytics downstream.
        blocking=True,
        description="parsed + unparsed == the day's current input rows, each custom_id once "
        "(ERROR otherwise)",
    )
    def conservation(
        context: dg.AssetCheckExecutionContext,
        storage: StorageResource,
        batch_api: BatchApiResource,
    ) -> dg.AssetCheckResult:
        parsed, unparsed, requested = published(context.partition_key, storage, batch_api)
        with buckets.scratch_folder(storage.work_path(task.name, "scratch")) as scratch:
            return conservation_check(parsed_key, parsed, unparsed, requested, scratch)

    @dg.asset_check(
        asset=parsed_key,
        name="parse_rate",
        description="share of the day's rows that parsed; warns below the task's min_parse_rate "
        "(else task_settings.min_parse_rate)",
    )
    def parse_rate(
        context: dg.AssetCheckExecutionContext,
        storage: StorageResource,
        batch_api: BatchApiResource,
        task_settings: TaskSettings,
    ) -> dg.AssetCheckResult:
        parsed, _, requested = published(context.partition_key, storage, batch_api)
        # The task's own threshold (its YAML's min_parse_rate) wins over the deployment's.
        minimum = (
            task.min_parse_rate if task.min_parse_rate is not None else task_settings.min_parse_rate
        )
        return parse_rate_check(parsed_key, buckets.parquet_rows(parsed), requested, minimum)

    return [conservation, parse_rate]


def build_quality_checks(
    task: BatchTask, parsed_key: dg.AssetKey
) -> list[dg.AssetChecksDefinition]:
    """Checks on generated text, for a task with ``quality:`` (WARN: they describe the data,
    they do not lose or double rows). A seed-grid task also gets ``seed_coverage``."""
    quality = task.quality
    if quality is None:
        return []
    field = quality.text_field
    checks: list[dg.AssetChecksDefinition] = []

    def texts(context: dg.AssetCheckExecutionContext, storage: StorageResource) -> Column:
        """The day's generated texts, read from the parsed table a slice at a time."""
        return Column(layout.table_location(storage, task, "parsed", context.partition_key), field)

    def answered(
        context: dg.AssetCheckExecutionContext, storage: StorageResource, columns: list[str]
    ) -> quality_checks.Answered:
        """Each input row (``columns`` of it) with its parsed row, joined on disk."""
        date = context.partition_key
        return quality_checks.answered_from_files(
            layout.table_location(storage, task, "parsed", date),
            layout.inputs_snapshot(storage, task, date),
            [field],
            columns,
            storage.work_path(task.name, "scratch"),
        )

    def result(name: str, outcome: quality_checks.CheckOutcome) -> dg.AssetCheckResult:
        return dg.AssetCheckResult(
            asset_key=parsed_key,
            check_name=name,
            passed=outcome.passed,
            severity=dg.AssetCheckSeverity.WARN,
            metadata=outcome.metadata,
            description=outcome.summary,
        )

    @dg.asset_check(
        asset=parsed_key,
        name="near_duplicates",
        description=f"share of rows whose {field} nearly repeats an earlier row's (normalized "
        f"text, then MinHash over word shingles); warns above {quality.max_near_duplicate_rate}",
    )
    def near_duplicates(
        context: dg.AssetCheckExecutionContext, storage: StorageResource
    ) -> dg.AssetCheckResult:
        return result(
            "near_duplicates",
            quality_checks.near_duplicate_check(
                texts(context, storage),
                quality.max_near_duplicate_rate,
                storage.work_path(task.name, "scratch"),
            ),
        )

    @dg.asset_check(
        asset=parsed_key,
        name="length_spread",
        description=f"spread of the {field} lengths (coefficient of variation); warns below "
        f"{quality.min_length_spread} (texts of one length suggest a template, not writing)",
    )
    def length_spread(
        context: dg.AssetCheckExecutionContext, storage: StorageResource
    ) -> dg.AssetCheckResult:
        return result(
            "length_spread",
            quality_checks.length_spread_check(texts(context, storage), quality.min_length_spread),
        )

    checks += [near_duplicates, length_spread]
    if task.seeds is not None:

        @dg.asset_check(
            asset=parsed_key,
            name="seed_coverage",
            description="every cell of the seed grid (topic × persona × language × intended "
            "label) has at least one parsed row",
        )
        def seed_coverage(
            context: dg.AssetCheckExecutionContext, storage: StorageResource
        ) -> dg.AssetCheckResult:
            rows = answered(context, storage, list(quality_checks.COVERAGE_COLUMNS))
            return result("seed_coverage", quality_checks.coverage_check(rows))

        checks.append(seed_coverage)
    language_column = quality.language_column
    if language_column is not None:

        @dg.asset_check(
            asset=parsed_key,
            name="language_as_asked",
            description=f"share of rows whose {field} is written in the language the input's "
            f"{language_column} asked for; warns below {quality.min_language_match}",
        )
        def language_as_asked(
            context: dg.AssetCheckExecutionContext, storage: StorageResource
        ) -> dg.AssetCheckResult:
            rows = answered(context, storage, [language_column])
            return result(
                "language_as_asked",
                quality_checks.language_check(
                    rows, field, language_column, quality.min_language_match
                ),
            )

        checks.append(language_as_asked)
    return checks
