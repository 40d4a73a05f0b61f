"""Crash safety: what a run killed at each step leaves behind, and the rerun that follows.

A killed process leaves exactly what these tests arrange: a batch created but never
recorded, an uploaded file without a batch, half-written temporary files. The rerun must
create no second batch and lose or double no row.
"""

from pathlib import Path

import dagster as dg
import pyarrow.parquet as pq
from inprocess_driver import collect_with_sensor, run_pipeline, submit_partitions

from synth_assets.batch import Unparsed, parse_results
from synth_assets.defs import build_definitions
from synth_assets.defs.resources import BatchApiResource, StorageResource, TaskSettings
from synth_assets.pipeline.plan import load_build
from synth_assets.pipeline.record import RECORD_FILE, RequestRecord
from synth_assets.tasks import SPAM_TRIAGE
from synth_assets.tasks.spam import SinglePrediction

SAMPLE = Path(__file__).resolve().parents[2] / "data" / "emails"


def input_rows(date: str) -> int:
    return sum(1 for _ in (SAMPLE / f"date={date}" / "emails.jsonl").open())


def test_batch_created_but_never_recorded_is_found_by_its_metadata(stack, instance):
    defs = stack.defs()
    date = "2026-11-03"
    # A first run built the shards and created the batch, then died before the record and
    # Dagster heard of it: only the Batch API knows the batch.
    submit_partitions(defs, SPAM_TRIAGE, [date], instance)
    assert stack.batch_count() == 1
    (stack.root / "work" / "spam_triage" / RECORD_FILE).unlink()
    with dg.instance_for_test() as after_the_crash:
        outcome = run_pipeline(defs, SPAM_TRIAGE, [date], after_the_crash, timeout_s=60)
        record = after_the_crash.get_latest_materialization_event(
            dg.AssetKey(["spam_triage", "submitted_batch"])
        )

    assert stack.batch_count() == 1
    batches = record.asset_materialization.metadata["batches"].value  # type: ignore[union-attr]
    assert [b["how"] for b in batches] == ["api"]
    assert outcome.problems == {} and outcome.states == {date: "settled"}
    assert pq.read_table(stack.table("parsed", date)).num_rows == input_rows(date)


def test_upload_without_batch_leaves_no_second_batch(stack, instance):
    date = "2026-11-04"
    defs = stack.defs()
    submit_partitions(defs, SPAM_TRIAGE, [date], instance)  # builds the shard
    with RequestRecord(stack.root / "work" / "spam_triage" / RECORD_FILE, stack.url) as record:
        shard = load_build(record.partition(date).manifest).shards[0]  # type: ignore[union-attr]
    with open(shard.path, "rb") as handle:  # a run that died between upload and create
        stack.client.files.create(file=handle, purpose="batch")

    run_pipeline(defs, SPAM_TRIAGE, [date], instance, timeout_s=60)

    assert stack.batch_count() == 1


def test_leftovers_of_killed_downloads_and_writes_do_not_leak_into_tables(stack, instance):
    date = "2026-11-06"
    defs = stack.defs()
    submit_partitions(defs, SPAM_TRIAGE, [date], instance)
    [batch] = stack.client.batches.list()
    results = stack.root / "work" / "spam_triage" / "results"
    tables = stack.root / "out" / "spam_triage"
    parsed_dir = tables / "parsed" / f"date={date}"
    # What a collect run killed half-way leaves: a partial download, a partial Parquet file
    results.mkdir(parents=True)
    (results / f".{batch.id}.output.jsonl.part").write_bytes(b'{"custom_id": "truncat')
    parsed_dir.mkdir(parents=True)
    (parsed_dir / ".part-0.parquet.tmp").write_bytes(b"PAR1 half a file")

    outcome = collect_with_sensor(defs, instance, SPAM_TRIAGE, [date], timeout_s=60)

    assert outcome.problems == {}
    parsed = pq.read_table(parsed_dir / "part-0.parquet")
    unparsed = pq.read_table(tables / "unparsed" / f"date={date}" / "part-0.parquet")
    assert parsed.num_rows + unparsed.num_rows == input_rows(date)
    assert len(set(parsed["custom_id"].to_pylist())) == parsed.num_rows
    assert not list(results.glob(".*.part"))
    assert not (parsed_dir / ".part-0.parquet.tmp").exists()
    assert stack.batch_count() == 1


def test_transient_failures_are_resubmitted_within_the_attempt_budget(make_stack, instance):
    stack = make_stack(faults="http_500=0.2,missing=0.1,schema_mismatch=0.05", seed=11)
    date = "2026-11-05"
    outcome = run_pipeline(stack.defs(), SPAM_TRIAGE, [date], instance, timeout_s=120)

    assert outcome.problems == {} and all(r.success for r in outcome.runs)
    batches = list(stack.client.batches.list())
    assert sorted(b.metadata["synth_attempt"] for b in batches) == ["1", "2", "3"]
    tables = stack.root / "out" / "spam_triage"
    parsed = pq.read_table(tables / "parsed" / f"date={date}" / "part-0.parquet")
    unparsed = pq.read_table(tables / "unparsed" / f"date={date}" / "part-0.parquet")
    assert parsed.num_rows + unparsed.num_rows == input_rows(date)  # no duplicate rows
    assert len(set(parsed["custom_id"].to_pylist() + unparsed["custom_id"].to_pylist())) == (
        input_rows(date)
    )
    assert set(parsed["attempt"].to_pylist()) == {1, 2, 3}  # rows answered by resubmissions
    rows = unparsed.to_pylist()
    # what is left of the transient faults after three tries: about 0.3 ** 3 of the rows
    left = [r for r in rows if r["reason"] in ("http_error", "missing")]
    assert len(left) < 0.1 * input_rows(date) and all(r["attempt"] == 3 for r in left)
    # schema mismatches are the model's own answer: never a reason to resubmit
    by_attempt = {b.metadata["synth_attempt"]: b for b in batches}
    first, second = by_attempt["1"], by_attempt["2"]
    (stack.root / "first.jsonl").write_bytes(
        stack.client.files.content(first.output_file_id).read()  # type: ignore[arg-type]
    )
    mismatched = {
        r.custom_id
        for r in parse_results(stack.root / "first.jsonl", response_model=SinglePrediction)
        if isinstance(r, Unparsed) and r.reason == "schema_mismatch"
    }
    resent = stack.client.files.content(second.input_file_id).read().decode()
    assert mismatched and not any(f'"custom_id":"{c}"' in resent for c in mismatched)
    # the tables were published once, when the day settled, and say how it settled
    parsed_key = dg.AssetKey(["spam_triage", "parsed"])
    materializations = instance.fetch_materializations(parsed_key, limit=10).records
    assert len(materializations) == 1
    settled = materializations[0].asset_materialization.metadata["settled"].value  # type: ignore[union-attr]
    assert settled == "final" if not left else settled.startswith("budget spent")


def test_no_resubmission_when_the_budget_is_one_attempt(make_stack, instance):
    stack = make_stack(faults="http_500=0.2", seed=5)
    defs = build_definitions(
        resources={
            "batch_api": BatchApiResource(base_url=stack.url),
            "storage": StorageResource(
                root=str(stack.root / "out"), work_dir=str(stack.root / "work")
            ),
            "task_settings": TaskSettings(max_attempts=1),
        }
    )
    date = "2026-11-06"
    run_pipeline(defs, SPAM_TRIAGE, [date], instance, timeout_s=60)

    assert stack.batch_count() == 1
    unparsed = pq.read_table(
        stack.root / "out" / "spam_triage" / "unparsed" / f"date={date}" / "part-0.parquet"
    )
    assert unparsed.num_rows > 0
    assert set(unparsed["reason"].to_pylist()) == {"http_error"}
