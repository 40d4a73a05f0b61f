"""The conservation check, read from the written tables a slice at a time, with its ids
joined in hash buckets on disk: exact whatever the bucket size."""

from pathlib import Path

import dagster as dg
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from synth_assets.batch import UNPARSED_SCHEMA
from synth_assets.defs.checks import conservation_check

KEY = dg.AssetKey(["spam_triage", "parsed"])


def _tables(
    tmp_path: Path, parsed_ids: list[str], unparsed: list[tuple[str | None, str]]
) -> tuple[str, str]:
    parsed = tmp_path / "parsed.parquet"
    # Small row groups: the check reads many slices, as on a big day.
    pq.write_table(pa.table({"custom_id": parsed_ids, "label": ["spam"] * len(parsed_ids)}),
                   parsed, row_group_size=97)  # fmt: skip
    rows = [{"custom_id": c, "reason": r} for c, r in unparsed]
    unparsed_path = tmp_path / "unparsed.parquet"
    pq.write_table(pa.Table.from_pylist(rows, schema=UNPARSED_SCHEMA), unparsed_path,
                   row_group_size=13)  # fmt: skip
    return str(parsed), str(unparsed_path)


@pytest.mark.parametrize("bucket_rows", [None, 7, 100])
def test_conservation_counts_every_row_once_across_buckets(
    tmp_path: Path, bucket_rows: int | None
) -> None:
    parsed_ids = [f"row-{n}" for n in range(2000)]
    unparsed = [(f"row-{n}", "http_error") for n in range(2000, 2300)]
    # Extra lines: a second answer and a stray line; neither is a requested row.
    extras = [("row-5", "duplicate"), (None, "invalid_line")]
    parsed, unparsed_path = _tables(tmp_path, parsed_ids, unparsed + extras)
    scratch = tmp_path / "scratch"
    scratch.mkdir()

    result = conservation_check(KEY, parsed, unparsed_path, 2300, scratch, bucket_rows=bucket_rows)

    assert result.passed
    metadata = {k: v.value for k, v in result.metadata.items()}
    assert metadata == {
        "requested": 2300, "parsed": 2000, "unparsed": 300, "extra_lines": 2,
        "duplicate_custom_ids": 0,
    }  # fmt: skip


@pytest.mark.parametrize("bucket_rows", [None, 7])
def test_conservation_finds_an_id_both_parsed_and_unparsed(
    tmp_path: Path, bucket_rows: int | None
) -> None:
    parsed_ids = [f"row-{n}" for n in range(1000)]
    # row-17 and row-999 have a parsed row and a (non-extra) unparsed row; row-3 is parsed twice.
    unparsed = [("row-17", "missing"), ("row-999", "invalid_line"), ("row-1000", "expired")]
    parsed, unparsed_path = _tables(tmp_path, [*parsed_ids, "row-3"], unparsed)
    scratch = tmp_path / "scratch"
    scratch.mkdir()

    result = conservation_check(KEY, parsed, unparsed_path, 1004, scratch, bucket_rows=bucket_rows)

    assert not result.passed
    assert result.metadata["duplicate_custom_ids"].value == 3
    assert result.description == "1004 rows for 1004 requests (3 duplicated custom_ids)"
