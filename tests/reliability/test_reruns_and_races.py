"""Beyond the server's faults: runs that die or fail half-way, reruns, and races.

- a resubmit run killed after it created its batch but before the record heard of it: the
  rerun finds that batch by its metadata (no second resubmission);
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
from inprocess_driver import (
    SENSOR_NAME,
    collect_with_sensor,
    execute_run_request,
    run_pipeline,
    submit_partitions,
)
from reliability_kit import (
    TASK,
    TOTALS,
    assert_collected,
    assert_sensor_idle,
    check_partition,
)

from synth_assets.batch.remote import BatchIndex, submit_file
from synth_assets.batch.shards import Shard, write_shards
from synth_assets.defs import layout
from synth_assets.defs.resources import StorageResource
from synth_assets.pipeline import steps
from synth_assets.pipeline.plan import Policy, build_requests, iter_sends
from synth_assets.pipeline.record import State
from synth_assets.pipeline.submit import Submitter, identity

DATE = "2026-11-06"  # 208 rows


def quiet(_: str) -> None:
    """A log callback that keeps the test output short."""


def tick(defs: dg.Definitions, instance: dg.DagsterInstance) -> dg.SensorResult:
    """One evaluation of the real sensor."""
    return defs.resolve_sensor_def(SENSOR_NAME).evaluate_tick(
        dg.build_sensor_context(
            instance=instance,
            resources={name: defs.resources[name] for name in ("batch_api", "storage")},  # type: ignore[index]
            definitions=defs,
        )
    )


def test_resubmission_killed_after_creating_its_batch_pays_nothing_twice(
    make_rig, instance
) -> None:
    rig = make_rig(faults="http_500=0.3", seed=5, chunk_size=50)
    defs = rig.defs(max_attempts=2)
    assert submit_partitions(defs, TASK, [DATE], instance, log=quiet).submitted == [DATE]
    first = rig.wait_batch(DATE, lambda b: b.status == "completed")
    [collect] = tick(defs, instance).run_requests or []
    assert execute_run_request(defs, instance, collect, quiet, None).success
    assert rig.partition_state(DATE) == State.RESUBMIT  # the 500s are to be sent again
    # A resubmit run built the retries and created their batch, then died before the
    # record heard of it.
    storage = StorageResource(root=str(rig.root / "out"), work_dir=str(rig.root / "work"))
    folder = rig.root / "crashed-build"
    with rig.record() as record:
        build = build_requests(
            TASK,
            layout.inputs_snapshot(storage, TASK, DATE),
            folder,
            steps.builder_for(TASK),
            record,
            Policy(max_attempts=2),
            max_requests=50_000,
            max_bytes=200 << 20,
        )
    [shard] = build.shards
    assert {attempt for _, _, attempt, _ in iter_sends(folder)} == {2}
    orphan = submit_file(
        rig.client, shard.path, endpoint=shard.endpoint, metadata=identity(TASK, DATE, shard, 2, 1)
    )
    assert len(rig.server_batches(DATE)) == 2

    outcome = collect_with_sensor(
        defs, instance, TASK, [DATE], timeout_s=60, interval_s=0.1, log=quiet
    )

    assert_collected(outcome, [DATE])
    report = check_partition(rig, instance, DATE, max_attempts=2)
    assert report.server_batches == 2  # the resubmit run found the orphan by its metadata
    assert {b.id for b in rig.server_batches(DATE)} == {first.id, orphan.id}
    assert_sensor_idle(rig, defs, instance, [DATE])
    TOTALS.add("resubmission killed after creating its batch", [report])


def test_a_collect_run_that_failed_while_the_server_was_down_is_requested_again(
    make_rig, instance
) -> None:
    # The server went away before the requested run started.
    rig, defs, request = collect_failed_with_the_server_down(make_rig, instance)

    rig.start()
    outcome = collect_with_sensor(
        defs, instance, TASK, [DATE], timeout_s=20, interval_s=0.1, log=quiet
    )

    assert_collected(outcome, [DATE])
    assert [r.run_key for r in outcome.runs] != [request.run_key]  # asked again, new key
    check_partition(rig, instance, DATE, max_attempts=3)


def test_a_collect_request_lost_with_its_daemon_is_made_again_a_minute_later(
    make_rig, instance
) -> None:
    """`synth demo` stopped (Ctrl-C) right after a tick asked for a collect run: the daemon
    died before creating it. The next demo's sensor must not wait on it for long."""
    import sqlite3

    rig = make_rig()
    defs = rig.defs()
    assert submit_partitions(defs, TASK, [DATE], instance, log=quiet).submitted == [DATE]
    rig.wait_batch(DATE, lambda b: b.status == "completed")
    [lost] = tick(defs, instance).run_requests or []  # never launched
    assert not tick(defs, instance).run_requests  # at first, it may still be on its way

    # A minute later (the record's clock moved back instead of waiting).
    with sqlite3.connect(rig.files / "work" / TASK.name / "record.sqlite") as db:
        db.execute("UPDATE partitions SET run_requested = run_requested - 61")
    [again] = tick(defs, instance).run_requests or []

    assert again.run_key != lost.run_key
    assert execute_run_request(defs, instance, again, quiet, None).success
    check_partition(rig, instance, DATE, max_attempts=3)


def collect_failed_with_the_server_down(make_rig, instance):  # type: ignore[no-untyped-def]
    """A day submitted and answered, whose requested collect run failed (server stopped)."""
    rig = make_rig(fixed_port=True)
    defs = rig.defs()
    assert submit_partitions(defs, TASK, [DATE], instance, log=quiet).submitted == [DATE]
    rig.wait_batch(DATE, lambda b: b.status == "completed")
    [request] = tick(defs, instance).run_requests or []
    rig.stop()
    assert not execute_run_request(defs, instance, request, quiet, None).success
    return rig, defs, request


def test_with_dagster_run_retries_a_failed_run_is_left_to_them(make_rig) -> None:
    """`synth`'s instance turns Dagster's run retries on: a failed collect run marked for a
    retry is not requested again by the sensor; the retry (same run key) collects the day.
    Once the retries are spent, the day is failed with a note, not asked again."""
    retries = {"run_retries": {"enabled": True, "max_retries": 1}}
    with dg.instance_for_test(overrides=retries) as instance:
        rig, defs, request = collect_failed_with_the_server_down(make_rig, instance)
        [failed] = instance.get_runs(dg.RunsFilter(tags={"dagster/run_key": request.run_key}))
        assert failed.tags["dagster/will_retry"] == "true"

        assert not tick(defs, instance).run_requests  # the retry is Dagster's to launch
        rig.start()
        # The retry, as the daemon launches it: the same job, partition and run key.
        assert execute_run_request(defs, instance, request, quiet, None).success
        assert rig.partition_state(DATE) in (State.READY, State.SETTLED, State.RESUBMIT)
        check_partition(rig, instance, DATE, max_attempts=3)

    no_retries_left = {"run_retries": {"enabled": True, "max_retries": 0}}
    with dg.instance_for_test(overrides=no_retries_left) as instance:
        rig, defs, request = collect_failed_with_the_server_down(make_rig, instance)
        assert not tick(defs, instance).run_requests
        assert rig.partition_state(DATE) == State.FAILED
        with rig.record() as record:
            row = record.partition(DATE)
            assert row is not None and "after Dagster's run retries" in (row.note or "")
        rig.start()


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

    backfill = submit_partitions(defs, TASK, [DATE], instance, log=quiet)

    assert backfill.submitted == [DATE]
    assert len(rig.server_batches(DATE)) == len(before)
    assert rig.partition_state(DATE) == State.SETTLED  # nothing to collect or publish


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
    # A slow backend (5 chunks, 0.5 s apart): on a loaded machine a fast one could finish
    # the younger batch before its submitter cancels it.
    rig = make_rig(chunk_size=10, delay_s=0.5)
    shards = hello_shards(rig.root / "requests", rows=50, per_shard=1000)
    barrier = threading.Barrier(2)

    chosen: list[str] = []

    def submit() -> None:
        barrier.wait()
        submitter = Submitter(rig.client)
        chosen.extend(submitter.ensure(s, identity(TASK, DATE, s, 1, 1))[0].id for s in shards)

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


def test_a_raced_batch_that_finished_before_its_cancel_is_left_and_the_oldest_used(
    make_rig,
) -> None:
    """The younger batch of a race may finish before its submitter cancels it (a fast
    backend): the submission still settles on the oldest instead of failing."""
    rig = make_rig()
    (shard,) = hello_shards(rig.root / "requests", rows=5, per_shard=10)
    wanted = identity(TASK, DATE, shard, 1, 1)

    def finish_first(request: httpx.Request) -> None:
        # Hold a cancel until its batch is done, as a slow network would.
        if request.url.path.endswith("/cancel"):
            batch_id = request.url.path.split("/")[-2]
            rig.wait_terminal(batch_id)

    client = openai.OpenAI(
        base_url=rig.url,
        api_key=rig.api_key,
        max_retries=0,
        http_client=httpx.Client(event_hooks={"request": [finish_first]}),
    )
    submitter = Submitter(client)
    submitter._index = BatchIndex(client)  # listed now, before ``older`` exists
    older = submit_file(rig.client, shard.path, endpoint=shard.endpoint, metadata=wanted)
    # The submitter's listing predates ``older``: it creates a second batch, then finds
    # ``older`` on its refresh.
    batch, how = submitter.ensure(shard, wanted)
    assert (batch.id, how) == (older.id, "api")
    statuses = sorted(b.status for b in rig.server_batches(DATE))
    assert statuses.count("completed") >= 1 and len(statuses) == 2


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
    first = submit_all(client, shards)
    assert [how for _, how in first] == ["new"] * 6
    assert len(listings) == 3 + 6  # the account once, then the first page after each batch

    listings.clear()
    again = submit_all(client, shards)
    assert [b for b, _ in again] == [b for b, _ in first]
    assert [how for _, how in again] == ["api"] * 6
    assert len(listings) == 3  # 256 batches: 3 pages, once


def submit_all(client: openai.OpenAI, shards: list[Shard]) -> list[tuple[str, str]]:
    """One submission of ``shards`` (one shared listing): (batch id, how) per shard."""
    submitter = Submitter(client)
    found = [submitter.ensure(shard, identity(TASK, DATE, shard, 1, 1)) for shard in shards]
    return [(batch.id, how) for batch, how in found]
