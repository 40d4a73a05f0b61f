"""End to end: submit -> real sensor -> collect, against the real local server."""

import datetime as dt
import json
from pathlib import Path

import dagster as dg
import duckdb
import pyarrow.parquet as pq
from inprocess_driver import PipelineRun, collect_with_sensor, run_pipeline, submit_partitions

from synth_assets.cli._summary import print_summary
from synth_assets.defs import build_definitions
from synth_assets.defs.resources import BatchApiResource, StorageResource, TaskSettings
from synth_assets.pipeline.record import RECORD_FILE
from synth_assets.tasks import SPAM_TRIAGE

SAMPLE = Path(__file__).resolve().parents[2] / "data" / "emails"


def input_rows(date: str) -> int:
    return sum(1 for _ in (SAMPLE / f"date={date}" / "emails.jsonl").open())


def collect_runs(outcome: PipelineRun) -> list[str]:
    """The ids of the successful collect runs (the ones that publish tables)."""
    assert outcome.problems == {}, outcome.problems
    collects = [r for r in outcome.runs if r.job == "spam_triage_collect_job"]
    assert collects and all(r.success for r in collects), collects
    return [r.run_id for r in collects]


def checks(instance: dg.DagsterInstance, run_id: str | None) -> dict[str, bool]:
    """The asset-check outcomes of a collect run, by check name."""
    records = instance.get_records_for_run(
        run_id or "", of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION
    ).records
    return {
        r.event_log_entry.dagster_event.event_specific_data.check_name: (  # type: ignore[union-attr]
            r.event_log_entry.dagster_event.event_specific_data.passed  # type: ignore[union-attr]
        )
        for r in records
    }


def test_one_partition_end_to_end(stack, instance):
    date = "2026-11-01"
    outcome = run_pipeline(stack.defs(), SPAM_TRIAGE, [date], instance, timeout_s=60, log=print)

    assert outcome.submitted == [date]
    [run_id] = collect_runs(outcome)
    parsed = pq.read_table(stack.table("parsed", date))
    unparsed = pq.read_table(stack.table("unparsed", date))
    assert parsed.num_rows + unparsed.num_rows == input_rows(date)
    assert set(parsed["class_label"].to_pylist()) <= {"spam", "not_spam"}
    assert checks(instance, run_id) == {"conservation": True, "parse_rate": True}
    # the analytics asset read the table back and compared with the ground truth
    summary = instance.get_latest_materialization_event(
        dg.AssetKey(["spam_triage", "label_summary"])
    )
    metadata = summary.asset_materialization.metadata  # type: ignore[union-attr]
    assert metadata["compared_with_truth"].value == parsed.num_rows


def test_backfill_of_three_days_read_by_duckdb_with_hive_partitioning(stack, instance):
    dates = ["2026-11-02", "2026-11-03", "2026-11-04"]
    outcome = run_pipeline(stack.defs(), SPAM_TRIAGE, dates, instance, timeout_s=90, log=print)

    assert len(collect_runs(outcome)) == 3
    assert outcome.states == dict.fromkeys(dates, "settled")
    root = stack.root / "out" / "spam_triage"
    rows = duckdb.sql(
        f"select date, count(*) from read_parquet('{root}/parsed/*/*.parquet', "
        "hive_partitioning=true) group by date order by date"
    ).fetchall()
    assert [(d.isoformat(), n) for d, n in rows] == [(d, input_rows(d)) for d in dates]
    types = dict(
        duckdb.sql(
            f"describe select * from read_parquet('{root}/parsed/*/*.parquet', "
            "hive_partitioning=true)"
        )
        .select("column_name, column_type")
        .fetchall()
    )
    assert types["date"] == "DATE"
    assert types["class_label"] == "VARCHAR"
    assert types["custom_id"] == "VARCHAR"
    assert types["prompt_tokens"] == "BIGINT"
    dataset = pq.ParquetDataset(root / "unparsed", partitioning="hive")
    assert "reason" in dataset.schema.names


def test_rematerializing_submitted_batch_creates_no_new_batch(stack, instance):
    defs = stack.defs()
    date = "2026-11-05"
    submit_partitions(defs, SPAM_TRIAGE, [date], instance)
    before = stack.batch_count()
    assert before == 1

    # again (the record says the requests are in flight), then with a fresh instance
    submit_partitions(defs, SPAM_TRIAGE, [date], instance)
    with dg.instance_for_test() as amnesiac:
        submit_partitions(defs, SPAM_TRIAGE, [date], amnesiac)
    assert stack.batch_count() == before
    record = instance.get_latest_materialization_event(
        dg.AssetKey(["spam_triage", "batch_requests"])
    )
    assert record.asset_materialization.metadata["requests_to_send"].value == 0  # type: ignore[union-attr]

    # the record itself lost: the same requests are built again, and the Batch API's own
    # metadata finds their batch
    (stack.root / "work" / "spam_triage" / RECORD_FILE).unlink()
    submit_partitions(defs, SPAM_TRIAGE, [date], instance)
    assert stack.batch_count() == before
    record = instance.get_latest_materialization_event(
        dg.AssetKey(["spam_triage", "submitted_batch"])
    )
    metadata = record.asset_materialization.metadata  # type: ignore[union-attr]
    assert metadata["found_again"].value == 1 and metadata["created"].value == 0


def test_partition_with_several_shards_completes_only_when_all_do(make_stack, instance):
    stack = make_stack(delay_s=0.3, chunk_size=20)
    defs = stack.defs(max_requests_per_file=100)
    date = "2026-11-06"  # 208 rows -> 3 shards
    submit_partitions(defs, SPAM_TRIAGE, [date], instance)
    assert stack.batch_count() == 3

    first = collect_with_sensor(defs, instance, SPAM_TRIAGE, [date], timeout_s=0.1)
    assert first.runs == []  # batches still running: the sensor waits, no run
    assert first.problems[date].startswith("still waiting for")

    done = collect_with_sensor(defs, instance, SPAM_TRIAGE, [date], timeout_s=60)
    assert len(collect_runs(done)) == 1
    parsed = pq.read_table(stack.table("parsed", date))
    unparsed = pq.read_table(stack.table("unparsed", date))
    assert parsed.num_rows + unparsed.num_rows == input_rows(date) == 208
    assert len(set(parsed["batch_id"].to_pylist())) == 3


def test_failed_batch_ends_in_unparsed_as_batch_failed(make_stack, instance):
    stack = make_stack(faults="batch_failed=1")
    date = "2026-11-07"
    outcome = run_pipeline(stack.defs(), SPAM_TRIAGE, [date], instance, timeout_s=60)

    [run_id] = collect_runs(outcome)
    unparsed = pq.read_table(stack.table("unparsed", date))
    assert unparsed.num_rows == input_rows(date)
    assert set(unparsed["reason"].to_pylist()) == {"batch_failed"}
    assert pq.read_table(stack.table("parsed", date)).num_rows == 0
    assert checks(instance, run_id) == {"conservation": True, "parse_rate": False}


def test_expired_batch_keeps_partial_output_and_marks_the_rest_expired(make_stack, instance):
    stack = make_stack(expire_after_s=1.0, delay_s=0.4, chunk_size=50)
    date = "2026-11-01"
    defs = build_definitions(  # one attempt: expired requests are not resubmitted here
        resources={
            "batch_api": BatchApiResource(base_url=stack.url),
            "storage": StorageResource(
                root=str(stack.root / "out"), work_dir=str(stack.root / "work")
            ),
            "task_settings": TaskSettings(max_attempts=1),
        }
    )
    outcome = run_pipeline(defs, SPAM_TRIAGE, [date], instance, timeout_s=60)

    collect_runs(outcome)
    parsed = pq.read_table(stack.table("parsed", date))
    reasons = pq.read_table(stack.table("unparsed", date))["reason"].to_pylist()
    assert 0 < parsed.num_rows < input_rows(date)  # partial results are kept
    assert set(reasons) == {"expired"}
    assert parsed.num_rows + len(reasons) == input_rows(date)


def test_empty_partition_materializes_typed_empty_tables_without_a_batch(stack, instance):
    date = "2026-11-20"  # no sample data that day
    outcome = run_pipeline(stack.defs(), SPAM_TRIAGE, [date], instance, timeout_s=30)

    collect_runs(outcome)
    assert stack.batch_count() == 0
    parsed = pq.read_table(stack.table("parsed", date))
    assert parsed.num_rows == 0
    assert parsed.schema.field("class_label").type == "string"
    record = instance.get_latest_materialization_event(dg.AssetKey(["spam_triage", "parsed"]))
    assert "no input rows" in record.asset_materialization.metadata["note"].value  # type: ignore[union-attr]


def test_daily_schedule_submits_yesterday(stack):
    defs = stack.defs()
    schedule = defs.resolve_schedule_def("spam_triage_daily_schedule")
    context = dg.build_schedule_context(
        scheduled_execution_time=dt.datetime(2026, 11, 5, 1, 0, tzinfo=dt.UTC)
    )
    requests = schedule.evaluate_tick(context).run_requests

    assert [r.partition_key for r in requests or []] == ["2026-11-04"]
    assert schedule.job_name == "spam_triage_submit_job"


def test_definitions_load(stack):
    defs = stack.defs()
    dg.Definitions.validate_loadable(defs)
    keys = {k.to_user_string() for k in defs.resolve_all_asset_keys()}
    assert {
        "spam_triage/emails",
        "spam_triage/batch_requests",
        "spam_triage/submitted_batch",
        "spam_triage/batch_output",
        "spam_triage/parsed",
        "spam_triage/unparsed",
        "spam_triage/label_summary",
    } <= keys
    sensor = defs.resolve_sensor_def("batch_completion_sensor")
    assert sensor.default_status == dg.DefaultSensorStatus.RUNNING


def test_tables_under_a_url_root_are_staged_then_published(stack, instance, capsys):
    url_root = f"file://{stack.root}/bucket/tables"
    defs = build_definitions(
        resources={
            "batch_api": BatchApiResource(base_url=stack.url),
            "storage": StorageResource(root=url_root, work_dir=str(stack.root / "work")),
        }
    )
    date = "2026-11-02"
    outcome = run_pipeline(defs, SPAM_TRIAGE, [date], instance, timeout_s=60)

    collect_runs(outcome)
    published = stack.root / "bucket" / "tables" / "spam_triage" / "parsed" / f"date={date}"
    table = pq.read_table(published / "part-0.parquet")
    assert table.num_rows == input_rows(date)
    # label_summary read the table back through the URL
    summary = instance.get_latest_materialization_event(
        dg.AssetKey(["spam_triage", "label_summary"])
    )
    assert summary.asset_materialization.metadata["compared_with_truth"].value == table.num_rows  # type: ignore[union-attr]
    # The CLI's summary reads the tables where this run wrote them (the URL root).
    capsys.readouterr()
    print_summary(defs, SPAM_TRIAGE, [date], outcome, since=0)
    printed = capsys.readouterr().out
    assert "not collected" not in printed
    assert str(table.num_rows) in printed.split(date, 1)[1].split()[0:2]
    assert f"Parquet tables: {url_root}/spam_triage/{{parsed,unparsed}}" in printed


def test_bad_input_rows_are_kept_as_invalid_input_and_never_sent(stack, instance, tmp_path):
    date = "2026-11-01"
    folder = tmp_path / "inbox" / f"date={date}"
    folder.mkdir(parents=True)
    good = [
        {"email_id": f"ok-{i}", "date": date, "subject": "hi", "body": f"Meeting at {i} pm"}
        for i in range(5)
    ]
    lines = [json.dumps(row).encode() for row in good]
    lines += [
        json.dumps({"email_id": "empty", "date": date, "body": "   "}).encode(),
        json.dumps({"email_id": "ok-0", "date": date, "body": "a second ok-0"}).encode(),
        json.dumps({"email_id": "huge", "date": date, "body": "x" * 5000}).encode(),
        b'{"email_id": "latin1", "date": "' + date.encode() + b'", "body": "caf\xe9"}',
    ]
    (folder / "emails.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    defs = build_definitions(
        resources={
            "batch_api": BatchApiResource(base_url=stack.url),
            "storage": StorageResource(
                root=str(stack.root / "out"), work_dir=str(stack.root / "work")
            ),
            "task_settings": TaskSettings(
                dataset_path=str(tmp_path / "inbox"), max_text_chars=1000
            ),
        }
    )

    outcome = run_pipeline(defs, SPAM_TRIAGE, [date], instance, timeout_s=60)

    collect_runs(outcome)
    batches = list(stack.client.batches.list())
    assert [b.request_counts.total for b in batches] == [5]  # only the good rows were sent
    parsed = pq.read_table(stack.table("parsed", date))
    unparsed = pq.read_table(stack.table("unparsed", date)).to_pylist()
    invalid = {r["custom_id"]: r["message"] for r in unparsed if r["reason"] == "invalid_input"}
    assert parsed.num_rows + len(unparsed) == 9
    assert set(invalid) == {"empty", "ok-0#dup2", "huge", "latin1"}
    assert "whitespace" in invalid["empty"] and "UTF-8" in invalid["latin1"]
    assert checks(instance, collect_runs(outcome)[0])["conservation"] is True
