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


@pytest.mark.parametrize("bucket_rows", [None, 50])
def test_the_label_summary_joins_many_rows_bucket_by_bucket_exactly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, bucket_rows: int | None
) -> None:
    import random

    import pyarrow as pa
    import pyarrow.compute as pc

    from synth_assets.pipeline import steps
    from synth_assets.tasks import SPAM_TRIAGE

    label, truth = SPAM_TRIAGE.label_field, SPAM_TRIAGE.truth_column
    assert label is not None and truth is not None
    monkeypatch.setattr(steps, "_TRUTH_SLICE_ROWS", 37)  # many slices, as a big day has
    rng = random.Random(13)
    labels = ["spam", "not_spam", None]
    ids = [f"row-{n}" for n in range(3000)] + ["x" * 80]  # the last id's custom_id is a hash
    snapshot = tmp_path / "inputs.parquet"
    truths = [rng.choice(labels[:2]) for _ in ids]
    pq.write_table(pa.table({"id": ids, "text": ["t"] * len(ids), truth: truths}), snapshot)
    # Answers in another order, some rows unanswered, one answered twice, one unknown id.
    answered = [steps.custom_id_for(i) for i in ids if rng.random() < 0.9]
    rng.shuffle(answered)
    answered += [answered[0], "not-an-input"]
    parsed = tmp_path / "parsed.parquet"
    answers = [rng.choice(labels) for _ in answered]
    pq.write_table(pa.table({"custom_id": answered, label: answers}), parsed, row_group_size=101)
    scratch = tmp_path / "scratch"

    summary = steps.summarize_labels(
        SPAM_TRIAGE, str(parsed), snapshot, scratch, bucket_rows=bucket_rows
    )

    # The same figures from the whole day in memory.
    whole = pq.read_table(parsed).join(
        pa.table({"custom_id": [steps.custom_id_for(i) for i in ids], "truth": truths}),
        "custom_id",
        join_type="inner",
    )
    assert summary.compared == whole.num_rows
    assert summary.agreed == pc.sum(pc.equal(whole[label], whole["truth"])).as_py()
    assert summary.counts == {str(k): answers.count(k) for k in set(answers)}
    assert list(scratch.iterdir()) == []  # the bucket files are gone
