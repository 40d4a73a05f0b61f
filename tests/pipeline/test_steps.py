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


def test_the_label_summary_compares_with_the_truth_a_slice_of_inputs_at_a_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import pyarrow as pa

    from synth_assets.pipeline import steps
    from synth_assets.tasks import SPAM_TRIAGE

    label, truth = SPAM_TRIAGE.label_field, SPAM_TRIAGE.truth_column
    assert label is not None and truth is not None
    monkeypatch.setattr(steps, "_TRUTH_SLICE_ROWS", 2)  # 5 inputs: three slices
    snapshot = tmp_path / "inputs.parquet"
    ids = ["a", "b", "c", "d", "x" * 80]  # the last id's custom_id is a hash
    pq.write_table(
        pa.table({"id": ids, "text": ["t"] * 5, truth: ["spam", "ham", "spam", "ham", "spam"]}),
        snapshot,
    )
    parsed = tmp_path / "parsed.parquet"
    answered = ["a", "b", "c", steps.custom_id_for("x" * 80)]  # d has no answer
    pq.write_table(
        pa.table({"custom_id": answered, label: ["spam", "spam", "spam", "spam"]}), parsed
    )

    summary = steps.summarize_labels(SPAM_TRIAGE, str(parsed), snapshot)

    assert summary.counts == {"spam": 4}
    assert (summary.compared, summary.agreed) == (4, 3)
