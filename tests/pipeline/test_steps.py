"""The input snapshot: a day of the dataset, of an upstream table or of a seed grid streamed
into the partition's Parquet file."""

import json
from collections.abc import Iterator
from hashlib import blake2b
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from synth_assets.pipeline.steps import snapshot_batches, snapshot_inputs
from synth_assets.tasks.dataset import DatasetError, DatasetSpec, _validate, read_partition
from synth_assets.tasks.seeds import SEED_SCHEMA, SeedGrid, seed_batches
from synth_assets.tasks.upstream import UpstreamSpec, open_upstream

DATE = "2026-11-01"
EMPTY = "text is missing or empty"


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


def test_an_upstream_day_is_snapshotted_a_slice_at_a_time_as_the_whole_table_was(
    tmp_path: Path,
) -> None:
    upstream = tmp_path / "emails" / "parsed" / f"date={DATE}" / "part-0.parquet"
    upstream.parent.mkdir(parents=True)
    parsed = pa.table(
        {
            "custom_id": [f"e{n}" for n in range(7)],
            "body": ["hi", "", None, "yo", "x" * 30, "ok", "end"],
            "language": ["en", "de", "en", "fr", "en", "de", "en"],
            "batch_id": ["b"] * 7,
            "total_tokens": pa.array(range(7), pa.int64()),
        }
    )
    pq.write_table(parsed, upstream, row_group_size=3)
    spec = UpstreamSpec(task="emails", text_column="body", extra_columns=["language"])
    snapshot = tmp_path / "work" / "inputs.parquet"

    with open_upstream(
        spec, str(upstream), DATE, downstream="triage", max_text_chars=20, rows=2
    ) as day:
        summary = snapshot_batches(day.schema, day.batches(), snapshot)

    # The snapshot the whole upstream table in memory made, written by hand.
    problems = [None, EMPTY, EMPTY, None, "text is over the budget of 20 characters", None, None]
    expected = pa.table(
        {
            "id": parsed["custom_id"],
            "text": parsed["body"],
            "language": parsed["language"],
            "problem": pa.array(problems, pa.string()),
        }
    )
    pq.write_table(expected, tmp_path / "expected.parquet")
    assert pq.read_table(snapshot).equals(pq.read_table(tmp_path / "expected.parquet"))
    assert pq.read_schema(snapshot).equals(pq.read_schema(tmp_path / "expected.parquet"))
    assert (summary.rows, summary.columns, summary.problems) == (
        7,
        ["id", "text", "language", "problem"],
        3,
    )


def test_a_seed_grid_is_snapshotted_batch_by_batch_as_the_whole_grid_was(
    tmp_path: Path,
) -> None:
    grid = SeedGrid(topics=["a", "b"], personas=["p"], languages=["en"], labels=["s"], per_cell=3)
    snapshot = tmp_path / "inputs.parquet"

    summary = snapshot_batches(SEED_SCHEMA, seed_batches(grid, DATE, rows=4), snapshot)

    # The snapshot the whole grid in memory made, written by hand (seeds: blake2b of the id).
    ids = [f"{DATE}-t{t}-p0-l0-c0-{v}" for t in (0, 1) for v in (1, 2, 3)]
    expected = pa.table(
        {
            "id": ids,
            "text": ["a | p | en | s"] * 3 + ["b | p | en | s"] * 3,
            "date": [DATE] * 6,
            "topic": ["a"] * 3 + ["b"] * 3,
            "persona": ["p"] * 6,
            "language": ["en"] * 6,
            "intended_label": ["s"] * 6,
            "variant": pa.array([1, 2, 3] * 2, pa.int32()),
            "per_cell": pa.array([3] * 6, pa.int32()),
            "cell": ["t0-p0-l0-c0"] * 3 + ["t1-p0-l0-c0"] * 3,
            "seed": pa.array(
                [int.from_bytes(blake2b(i.encode(), digest_size=4).digest()) for i in ids],
                pa.int64(),
            ),
            "problem": pa.nulls(6, pa.string()),
        }
    )
    pq.write_table(expected, tmp_path / "expected.parquet")
    assert pq.read_table(snapshot).equals(pq.read_table(tmp_path / "expected.parquet"))
    assert pq.ParquetFile(snapshot).metadata.num_row_groups == 2  # one a batch
    assert (summary.rows, summary.columns, summary.problems) == (6, SEED_SCHEMA.names, 0)


def test_a_day_without_rows_is_an_empty_snapshot_with_the_columns(tmp_path: Path) -> None:
    snapshot = tmp_path / "work" / "inputs.parquet"

    summary = snapshot_batches(SEED_SCHEMA, iter([]), snapshot)

    assert pq.read_table(snapshot).equals(SEED_SCHEMA.empty_table())
    assert (summary.rows, summary.columns, summary.problems) == (0, SEED_SCHEMA.names, 0)


def test_rows_that_fail_midway_leave_the_last_snapshot_as_it_was(tmp_path: Path) -> None:
    schema = pa.schema([("id", pa.string()), ("text", pa.string()), ("problem", pa.string())])
    snapshot = tmp_path / "inputs.parquet"
    first = pa.record_batch([["a"], ["t"], [None]], schema=schema)
    snapshot_batches(schema, [first], snapshot)

    def failing() -> Iterator[pa.RecordBatch]:
        yield pa.record_batch([["b"], ["u"], ["bad"]], schema=schema)
        raise DatasetError("the upstream table cannot be read")

    with pytest.raises(DatasetError):
        snapshot_batches(schema, failing(), snapshot)

    assert pq.read_table(snapshot).equals(pa.Table.from_batches([first]))
    assert [p.name for p in tmp_path.iterdir()] == ["inputs.parquet"]  # no leftovers


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
