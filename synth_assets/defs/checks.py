"""Asset checks on the parsed/unparsed tables: the two promises, measured on the files."""

import dagster as dg
import pyarrow as pa
import pyarrow.compute as pc

from synth_assets.batch.parse import ParseSummary
from synth_assets.batch.reasons import Reason


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
    asset_key: dg.AssetKey, summary: ParseSummary, minimum: float
) -> dg.AssetCheckResult:
    """WARN when the share of requested rows that parsed is below ``minimum``."""
    requested = summary.requested or 0
    rate = summary.parsed / requested if requested else 1.0
    return dg.AssetCheckResult(
        asset_key=asset_key,
        check_name="parse_rate",
        passed=rate >= minimum,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={"parse_rate": round(rate, 4), "minimum": minimum},
    )
