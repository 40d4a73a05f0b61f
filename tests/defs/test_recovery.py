"""Crash safety: what a run killed at each step leaves behind, and the rerun that follows.

A killed process leaves exactly what these tests arrange: a batch created but never
recorded, an uploaded file without a batch, half-written temporary files. The rerun must
create no second batch and lose or double no row.
"""

from pathlib import Path

import dagster as dg
import pyarrow.parquet as pq

from synth_assets.defs import build_definitions
from synth_assets.defs.resources import BatchApiResource, StorageResource, TaskSettings
from synth_assets.defs.runs import run_pipeline, submit_partitions
from synth_assets.pipeline import steps
from synth_assets.tasks import SPAM_TRIAGE

SAMPLE = Path(__file__).resolve().parents[2] / "data" / "emails"


def input_rows(date: str) -> int:
    return sum(1 for _ in (SAMPLE / f"date={date}" / "emails.jsonl").open())


def test_batch_created_but_never_recorded_is_found_by_its_metadata(stack, instance):
    defs = stack.defs()
    date = "2026-11-03"
    # A first run built the shards and created the batch, then died before Dagster
    # recorded the materialization: only the Batch API knows the batch.
    submit_partitions(defs, SPAM_TRIAGE, [date], instance)
    assert stack.batch_count() == 1
    with dg.instance_for_test() as after_the_crash:
        outcome = run_pipeline(defs, SPAM_TRIAGE, [date], after_the_crash, timeout_s=60)
        record = after_the_crash.get_latest_materialization_event(
            dg.AssetKey(["spam_triage", "submitted_batch"])
        )

    assert stack.batch_count() == 1
    batches = record.asset_materialization.metadata["batches"].value  # type: ignore[union-attr]
    assert [b["how"] for b in batches] == ["api"]
    assert [c.success for c in outcome.collected] == [True]


def test_upload_without_batch_leaves_no_second_batch(stack, instance):
    date = "2026-11-04"
    defs = stack.defs()
    submit_partitions(defs, SPAM_TRIAGE, [date], instance)  # builds the shard
    storage = StorageResource(root=str(stack.root / "out"), work_dir=str(stack.root / "work"))
    shard = steps.load_shards(storage.work_path("spam_triage", "requests", f"date={date}"))[0]
    with open(shard.path, "rb") as handle:  # a run that died between upload and create
        stack.client.files.create(file=handle, purpose="batch")

    run_pipeline(defs, SPAM_TRIAGE, [date], instance, timeout_s=60)

    assert stack.batch_count() == 1


def test_leftovers_of_killed_downloads_and_writes_do_not_leak_into_tables(stack, instance):
    date = "2026-11-06"
    defs = stack.defs()
    run_pipeline(defs, SPAM_TRIAGE, [date], instance, timeout_s=60)
    results = stack.root / "work" / "spam_triage" / "results" / f"date={date}"
    tables = stack.root / "out" / "spam_triage"
    # What kills in the middle leave: a partial download, a partial Parquet file
    for output in results.glob("*.output.jsonl"):
        (results / f".{output.name}.part").write_bytes(b'{"custom_id": "truncat')
    parsed_dir = tables / "parsed" / f"date={date}"
    (parsed_dir / ".part-0.parquet.tmp").write_bytes(b"PAR1 half a file")

    # The sensor only runs a collect once per set of batches: rerun it by hand
    job = defs.resolve_job_def("spam_triage_collect_job")
    assert job.execute_in_process(instance=instance, partition_key=date).success

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

    assert outcome.waiting == []
    assert all(c.success for c in outcome.collected)
    assert stack.batch_count() == 3  # attempt 1, then two resubmissions (the default budget)
    tables = stack.root / "out" / "spam_triage"
    parsed = pq.read_table(tables / "parsed" / f"date={date}" / "part-0.parquet")
    unparsed = pq.read_table(tables / "unparsed" / f"date={date}" / "part-0.parquet")
    assert parsed.num_rows + unparsed.num_rows == input_rows(date)  # no duplicate rows
    assert len(set(parsed["custom_id"].to_pylist() + unparsed["custom_id"].to_pylist())) == (
        input_rows(date)
    )
    attempts = set(parsed["attempt"].to_pylist())
    assert attempts == {1, 2, 3}  # rows answered by resubmissions
    reasons = unparsed["reason"].to_pylist()
    # what is left of the transient faults after three tries: about 0.3 ** 3 of the rows
    assert reasons.count("http_error") + reasons.count("missing") < 0.1 * input_rows(date)
    record = instance.get_latest_materialization_event(dg.AssetKey(["spam_triage", "batch_output"]))
    metadata = record.asset_materialization.metadata  # type: ignore[union-attr]
    attempts = metadata["attempts"].value
    assert [a["attempt"] for a in attempts] == [1, 2, 3]
    # schema mismatches are the model's own answer: never a reason to resubmit
    assert all(set(a["why"]) <= {"http_500", "missing"} for a in attempts)
    assert metadata["final"].value is True


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
