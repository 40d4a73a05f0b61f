"""Beyond the server's faults: runs that die or fail half-way, reruns, and races.

- a collect run killed after it created a resubmission batch but before Dagster recorded
  it: the rerun finds that batch by its metadata (no second resubmission);
- a collect run that fails because the server went away after the sensor requested it:
  the sensor should request it again once the server is back;
- a backfill over a finished partition whose first batch expired: nothing may be
  submitted again;
- two submissions of one partition at the same time: one batch;
- submissions on an account with many batches list them once, not once per shard.
"""

import threading
from pathlib import Path

import dagster as dg
import httpx
import openai
from reliability_kit import (
    TASK,
    TOTALS,
    assert_collected,
    assert_sensor_idle,
    check_partition,
    latest_output_metadata,
)

from synth_assets.batch.shards import Shard, write_shards
from synth_assets.defs import layout
from synth_assets.defs.resources import StorageResource
from synth_assets.defs.runs import (
    SENSOR_NAME,
    collect_with_sensor,
    latest_storage_id,
    run_pipeline,
    submit_partitions,
)
from synth_assets.defs.sensors import SensorCursor
from synth_assets.pipeline import steps

DATE = "2026-11-06"  # 208 rows


def quiet(_: str) -> None:
    """A log callback that keeps the test output short."""


def tick(defs: dg.Definitions, instance: dg.DagsterInstance, cursor: str) -> dg.SensorResult:
    """One evaluation of the real sensor."""
    return defs.resolve_sensor_def(SENSOR_NAME).evaluate_tick(
        dg.build_sensor_context(
            instance=instance,
            cursor=cursor,
            resources={"batch_api": defs.resources["batch_api"]},  # type: ignore[index]
            definitions=defs,
        )
    )


def test_collect_killed_after_creating_its_resubmission(make_rig, instance) -> None:
    rig = make_rig(faults="http_500=0.3", seed=5, chunk_size=50)
    defs = rig.defs(max_attempts=2)
    cursor = SensorCursor(after=latest_storage_id(instance, [TASK]))
    assert submit_partitions(defs, TASK, [DATE], instance, log=quiet) == [DATE]
    first = rig.wait_batch(DATE, lambda b: b.status == "completed")
    # A collect run got as far as creating attempt 2, then died before Dagster recorded it.
    storage = StorageResource(root=str(rig.root / "out"), work_dir=str(rig.root / "work"))
    submitted = latest_submitted(instance)
    crashed = steps.collect_attempt(
        rig.client,
        TASK,
        DATE,
        [{"attempt": 1, "batches": submitted, "why": {}}],
        layout.results_dir(storage, TASK, DATE),
        layout.requests_dir(storage, TASK, DATE),
        max_attempts=2,
        retry_reasons=["http_error"],
        max_requests=50_000,
        max_bytes=200 << 20,
    )
    assert len(crashed.pending) == 1 and len(rig.server_batches(DATE)) == 2

    outcome = collect_with_sensor(defs, instance, cursor, timeout_s=60, interval_s=0.1, log=quiet)

    assert_collected(outcome, [DATE])
    report = check_partition(rig, instance, DATE, max_attempts=2)
    assert report.server_batches == 2  # the rerun reused the orphan resubmission
    attempts = latest_output_metadata(instance, DATE)["attempts"]
    assert attempts[0]["batches"][0]["batch_id"] == first.id
    assert attempts[1]["batches"][0]["batch_id"] == crashed.pending[0]
    assert_sensor_idle(rig, defs, instance, [DATE])
    TOTALS.add("collect killed after resubmitting", [report])


def latest_submitted(instance: dg.DagsterInstance) -> list[dict]:
    records = instance.fetch_materializations(
        dg.AssetKey([TASK.name, "submitted_batch"]), limit=1, ascending=False
    ).records
    return records[0].asset_materialization.metadata["batches"].value  # type: ignore[union-attr,return-value]


def test_a_collect_run_that_failed_while_the_server_was_down_is_requested_again(
    make_rig, instance
) -> None:
    rig = make_rig(fixed_port=True)
    defs = rig.defs()
    cursor = SensorCursor(after=latest_storage_id(instance, [TASK])).dump()
    assert submit_partitions(defs, TASK, [DATE], instance, log=quiet) == [DATE]
    rig.wait_batch(DATE, lambda b: b.status == "completed")
    result = tick(defs, instance, cursor)
    [request] = result.run_requests or []
    rig.stop()  # the server goes away before the requested run starts
    failed = defs.resolve_job_def(request.job_name or "").execute_in_process(
        instance=instance,
        partition_key=request.partition_key,
        tags={**request.tags, "dagster/run_key": request.run_key or ""},
        raise_on_error=False,
    )
    assert not failed.success

    rig.start()
    outcome = collect_with_sensor(
        defs, instance, SensorCursor.load(result.cursor), timeout_s=20, interval_s=0.1, log=quiet
    )

    assert_collected(outcome, [DATE])
    check_partition(rig, instance, DATE, max_attempts=3)


def test_a_backfill_over_a_finished_partition_whose_batch_expired_submits_nothing(
    make_rig, instance
) -> None:
    rig = make_rig(expire_after_s=1.0, delay_s=0.3, chunk_size=40)
    defs = rig.defs()
    outcome = run_pipeline(defs, TASK, [DATE], instance, timeout_s=60, log=quiet)
    assert_collected(outcome, [DATE])
    check_partition(rig, instance, DATE, max_attempts=3)
    before = rig.server_batches(DATE)
    assert "expired" in {b.status for b in before}

    assert submit_partitions(defs, TASK, [DATE], instance, log=quiet) == [DATE]  # a backfill

    assert len(rig.server_batches(DATE)) == len(before)


def hello_shards(folder: Path, *, rows: int, per_shard: int) -> list[Shard]:
    """Request shards of ``rows`` small requests, ``per_shard`` to a file."""
    return write_shards(
        ((f"id{i}", [{"role": "user", "content": f"hello {i}"}]) for i in range(rows)),
        steps.builder_for(TASK),
        folder,
        max_requests=per_shard,
        max_bytes=1 << 20,
    )


def test_two_simultaneous_submissions_of_one_shard_create_one_batch(make_rig) -> None:
    rig = make_rig()
    shards = hello_shards(rig.root / "requests", rows=50, per_shard=1000)
    barrier = threading.Barrier(2)

    chosen: list[str] = []

    def submit() -> None:
        barrier.wait()
        chosen.extend(b.batch_id for b in steps.submit_shards(rig.client, TASK, DATE, shards, {}))

    threads = [threading.Thread(target=submit) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    # Both may create a batch; both then agree on the oldest and the younger is cancelled
    # before it runs: one batch answers, and both submitters use it.
    live = [b for b in rig.server_batches(DATE) if b.status not in ("cancelling", "cancelled")]
    assert len(live) == 1
    assert chosen == [live[0].id, live[0].id]


def test_submitting_shards_on_a_busy_account_lists_its_batches_once(make_rig) -> None:
    """Each lookup used to scan the whole batch list, twice per new shard; now the account
    is listed once per submission and, after each new batch, only its newest page."""
    rig = make_rig()
    builder = steps.builder_for(TASK)
    other = rig.client.files.create(
        file=("other.jsonl", builder.encode("x", [{"role": "user", "content": "hi"}])),
        purpose="batch",
    )
    for _ in range(250):  # someone else's batches: 3 pages of 100
        rig.client.batches.create(
            input_file_id=other.id,
            endpoint="/v1/chat/completions",
            completion_window="24h",
            metadata={"job": "someone else's"},
        )
    shards = hello_shards(rig.root / "requests", rows=60, per_shard=10)
    listings: list[str] = []

    def count(request: httpx.Request) -> None:
        if request.method == "GET" and request.url.path.endswith("/batches"):
            listings.append(str(request.url))

    client = openai.OpenAI(
        base_url=rig.url,
        api_key=rig.api_key,
        max_retries=0,
        http_client=httpx.Client(event_hooks={"request": [count]}),
    )
    first = steps.submit_shards(client, TASK, DATE, shards, {})
    assert [s.how for s in first] == ["new"] * 6
    assert len(listings) == 3 + 6  # the account once, then the first page after each batch

    listings.clear()
    again = steps.submit_shards(client, TASK, DATE, shards, {})
    assert [s.batch_id for s in again] == [s.batch_id for s in first]
    assert [s.how for s in again] == ["api"] * 6
    assert len(listings) == 3  # 256 batches: 3 pages, once
