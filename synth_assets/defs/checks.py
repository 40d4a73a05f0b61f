"""Asset checks on the parsed/unparsed tables: the two promises, measured on the files."""

import dagster as dg
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from synth_assets.batch.reasons import Reason
from synth_assets.pipeline.plan import load_build
from synth_assets.tasks import BatchTask

from . import layout
from .resources import BatchApiResource, StorageResource, TaskSettings


def conservation_check(
    asset_key: dg.AssetKey, parsed: pa.Table, unparsed: pa.Table, requested: int
) -> dg.AssetCheckResult:
    """ERROR unless parsed + unparsed (requested rows) == requested, each custom_id once.

    Read from the written tables, not from the parser's counters. Duplicate answers and
    invalid lines are extra rows and are counted apart.
    """
    # Extra rows (see records.is_extra_line): duplicates, and lines naming no requested id.
    is_extra = pc.or_(
        pc.equal(unparsed["reason"], Reason.DUPLICATE.value), pc.is_null(unparsed["custom_id"])
    )
    requested_unparsed = unparsed.filter(pc.invert(is_extra))
    ids = pa.chunked_array(
        [*parsed["custom_id"].chunks, *requested_unparsed["custom_id"].chunks], type=pa.string()
    )
    rows = len(ids)
    distinct = len(pc.unique(ids))
    passed = rows == requested and distinct == rows and ids.null_count == 0
    return dg.AssetCheckResult(
        asset_key=asset_key,
        check_name="conservation",
        passed=passed,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={
            "requested": requested,
            "parsed": parsed.num_rows,
            "unparsed": requested_unparsed.num_rows,
            "extra_lines": unparsed.num_rows - requested_unparsed.num_rows,
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
    ) -> tuple[pa.Table, pa.Table, int]:
        """The day's published tables and its current row count (from the record)."""
        with layout.open_record(storage, task, batch_api.backend().identity) as record:
            row = record.partition(date)
            requested = load_build(row.manifest).rows if row else 0
        parsed = pq.read_table(layout.table_location(storage, task, "parsed", date))
        unparsed = pq.read_table(layout.table_location(storage, task, "unparsed", date))
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
        return conservation_check(parsed_key, parsed, unparsed, requested)

    @dg.asset_check(
        asset=parsed_key,
        name="parse_rate",
        description="share of the day's rows that parsed; warns below task_settings.min_parse_rate",
    )
    def parse_rate(
        context: dg.AssetCheckExecutionContext,
        storage: StorageResource,
        batch_api: BatchApiResource,
        task_settings: TaskSettings,
    ) -> dg.AssetCheckResult:
        parsed, _, requested = published(context.partition_key, storage, batch_api)
        return parse_rate_check(
            parsed_key, parsed.num_rows, requested, task_settings.min_parse_rate
        )

    return [conservation, parse_rate]
