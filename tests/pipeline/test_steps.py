"""The input snapshot: a day of the dataset streamed into the partition's Parquet file."""

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from synth_assets.pipeline.steps import snapshot_inputs
from synth_assets.tasks.dataset import DatasetError, DatasetSpec, _validate, read_partition

DATE = "2026-11-01"


def test_the_snapshot_holds_the_days_rows_and_the_summary_counts_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_validate, "SPILL_BATCH_ROWS", 7)  # many slices, as a big day has
    rows = [
        {"email_id": f"e{n % 40}", "body": "" if n % 9 == 0 else f"text {n}"} for n in range(50)
    ]
    day = tmp_path / "inbox" / f"date={DATE}"
    day.mkdir(parents=True)
    (day / "emails.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    spec = DatasetSpec(str(tmp_path / "inbox"))
    snapshot = tmp_path / "work" / "inputs.parquet"

    summary = snapshot_inputs(spec, DATE, snapshot)

    expected = read_partition(spec, DATE)
    assert pq.read_table(snapshot).equals(expected)
    assert (summary.rows, summary.columns) == (50, ["id", "text", "problem"])
    # 6 empty texts, 10 repeated ids (one of them also empty): 15 rows never sent.
    assert summary.problems == 50 - expected.column("problem").null_count == 15
    assert [p.name for p in snapshot.parent.iterdir()] == ["inputs.parquet"]  # no leftovers


def test_a_bad_day_leaves_no_snapshot(tmp_path: Path) -> None:
    day = tmp_path / "inbox" / f"date={DATE}"
    day.mkdir(parents=True)
    (day / "emails.jsonl").write_text(json.dumps({"email_id": "a", "body": ""}) + "\n")
    snapshot = tmp_path / "work" / "inputs.parquet"

    with pytest.raises(DatasetError, match="no usable row"):
        snapshot_inputs(DatasetSpec(str(tmp_path / "inbox")), DATE, snapshot)

    assert list(snapshot.parent.iterdir()) == []
