"""The fault matrix: the whole pipeline (library + local server + Dagster) once per fault.

Each case runs ``run_pipeline`` (submit job, the real ``batch_completion_sensor`` ticked
against the request record, the collect and resubmit runs it requests) on one sample day
against a local server told to misbehave, then asserts the project's two promises
(``check_partition``): every input row exactly once across parsed + unparsed, retryable
failures retried within the attempt budget, the server holding exactly the batches the
record knows (no request paid twice), and a sensor that has recovered (nothing waiting; a
fresh tick, even on a fresh Dagster instance, runs nothing new).
"""

from typing import Any

import dagster as dg
import pyarrow.parquet as pq
import pytest
from inprocess_driver import SENSOR_NAME, collect_with_sensor, run_pipeline, submit_partitions
from reliability_kit import (
    TASK,
    TOTALS,
    PartitionReport,
    Rig,
    assert_collected,
    assert_sensor_idle,
    check_partition,
    conservation_checks_passed,
    input_lines,
    retried_because,
)

DATE = "2026-11-06"  # the smallest sample day: 208 rows
RATE = 0.3


def quiet(_: str) -> None:
    """A log callback that keeps the test output short."""


def finish(
    rig: Rig,
    defs: dg.Definitions,
    instance: dg.DagsterInstance,
    case: str,
    outcome: Any,
    *,
    max_attempts: int,
) -> PartitionReport:
    """The invariants every case ends with; returns the partition's report."""
    assert_collected(outcome, [DATE])
    conservation_checks_passed(instance, outcome)
    report = check_partition(rig, instance, DATE, max_attempts=max_attempts)
    assert report.rows == input_lines(DATE) == 208
    assert_sensor_idle(rig, defs, instance, [DATE])
    TOTALS.add(case, [report])
    return report


# fault kind -> (reason its rows end with, retried by default?)
PER_REQUEST = {
    "http_429": ("http_error", True),
    "http_500": ("http_error", True),
    "request_error": ("request_error", False),
    "invalid_json": ("invalid_json", False),
    "schema_mismatch": ("schema_mismatch", False),
    "refusal": ("refusal", False),
    "truncated": ("truncated", False),
    "content_filter": ("content_filter", False),
    "missing": ("missing", True),
}


@pytest.mark.parametrize("kind", sorted(PER_REQUEST))
def test_per_request_fault(make_rig, instance, kind: str) -> None:
    reason, retried = PER_REQUEST[kind]
    # Retryable faults: a budget of 2 attempts shows the retry and keeps the case short;
    # the others keep the default budget to show they are not resubmitted anyway.
    max_attempts = 2 if retried else 3
    rig = make_rig(faults=f"{kind}={RATE}", seed=7, chunk_size=50)
    defs = rig.defs(max_attempts=max_attempts)

    outcome = run_pipeline(defs, TASK, [DATE], instance, timeout_s=60, log=quiet)

    report = finish(rig, defs, instance, kind, outcome, max_attempts=max_attempts)
    if retried:
        assert report.attempts == 2 and report.server_batches == 2
        why = retried_because(rig, DATE)
        assert set(why) == {kind}  # resubmitted because of this fault
        assert 0.15 * 208 < why[kind] < 0.45 * 208
        # the retry drew again: most of the failed rows were answered by attempt 2
        assert report.by_attempt[2] > report.reasons[reason]
        assert 0 < report.reasons[reason] < 0.25 * 208  # what is left failed twice
    else:
        assert report.attempts == 1 and report.server_batches == 1  # never paid twice
        assert 0.15 * 208 < report.reasons[reason] < 0.45 * 208
    assert set(report.reasons) == {reason}  # only the injected fault, and nothing else
    status = {"http_429": 429, "http_500": 500}.get(kind)
    if status is not None:
        unparsed = pq.read_table(rig.table("unparsed", DATE), columns=["status_code"])
        assert set(unparsed["status_code"].to_pylist()) == {status}


def test_duplicate_lines(make_rig, instance) -> None:
    rig = make_rig(faults=f"duplicate={RATE}", seed=7, chunk_size=50)
    defs = rig.defs()

    outcome = run_pipeline(defs, TASK, [DATE], instance, timeout_s=60, log=quiet)

    report = finish(rig, defs, instance, "duplicate", outcome, max_attempts=3)
    # every row answered once in parsed; each second answer is an extra line, not a row
    assert report.reasons == {}
    assert 0.15 * 208 < report.extra_lines["duplicate"] < 0.45 * 208
    assert report.server_batches == 1


def test_batch_failed_at_validation(make_rig, instance) -> None:
    rig = make_rig(faults="batch_failed=1", seed=7)
    defs = rig.defs()

    outcome = run_pipeline(defs, TASK, [DATE], instance, timeout_s=60, log=quiet)

    report = finish(rig, defs, instance, "batch_failed", outcome, max_attempts=3)
    assert report.reasons == {"batch_failed": 208}  # every row kept, with the reason
    assert report.server_batches == 1  # a batch that fails validation is not resubmitted


def test_expiry(make_rig, instance) -> None:
    # Each batch expires after 1 s, having run a few 40-row chunks: each attempt answers
    # part of what is left, and the rest is resubmitted (expired is retryable).
    rig = make_rig(expire_after_s=1.0, delay_s=0.3, chunk_size=40)
    defs = rig.defs(max_attempts=3)

    outcome = run_pipeline(defs, TASK, [DATE], instance, timeout_s=60, log=quiet)

    report = finish(rig, defs, instance, "expiry", outcome, max_attempts=3)
    assert report.attempts >= 2
    assert set(retried_because(rig, DATE)) == {"expired"}
    assert report.reasons.keys() <= {"expired"}
    assert report.by_attempt[1] > 0 and report.by_attempt[2] > 0


def test_cancellation(make_rig, instance) -> None:
    rig = make_rig(delay_s=0.25, chunk_size=20)
    defs = rig.defs(max_attempts=2)
    assert submit_partitions(defs, TASK, [DATE], instance, log=quiet).submitted == [DATE]
    batch = rig.wait_batch(DATE, lambda b: (b.request_counts.completed or 0) >= 20)

    # someone cancels the running batch through the real client
    rig.client.batches.cancel(batch.id)
    outcome = collect_with_sensor(defs, instance, TASK, [DATE], timeout_s=60, log=quiet)

    report = finish(rig, defs, instance, "cancellation", outcome, max_attempts=2)
    cancelled = rig.client.batches.retrieve(batch.id)
    assert cancelled.status == "cancelled"
    assert set(retried_because(rig, DATE)) == {"cancelled"}  # what never ran is sent again
    assert report.server_batches == 2
    assert report.reasons == {}  # attempt 2 answered everything cancelled
    assert report.by_attempt[1] == (cancelled.request_counts.completed or 0)


def test_server_killed_and_restarted_mid_batch(make_rig, instance) -> None:
    rig = make_rig(process=True, fixed_port=True, delay_s=0.2, chunk_size=20)
    defs = rig.defs()
    assert submit_partitions(defs, TASK, [DATE], instance, log=quiet).submitted == [DATE]
    batch = rig.wait_batch(DATE, lambda b: (b.request_counts.completed or 0) >= 40)
    assert batch.status == "in_progress"

    rig.kill()  # SIGKILL mid-batch
    rig.start()  # same data dir, same port: the Definitions' URL still works
    outcome = collect_with_sensor(defs, instance, TASK, [DATE], timeout_s=60, log=quiet)

    report = finish(rig, defs, instance, "server restart", outcome, max_attempts=3)
    assert report.server_batches == 1  # the restarted server resumed the batch
    assert report.reasons == {} and report.extra_lines == {}  # no request answered twice
    assert report.by_attempt == {1: 208}


def test_server_unreachable_during_a_sensor_tick(make_rig, instance) -> None:
    rig = make_rig(fixed_port=True, delay_s=0.1, chunk_size=40)
    defs = rig.defs()
    assert submit_partitions(defs, TASK, [DATE], instance, log=quiet).submitted == [DATE]

    rig.stop()
    # the sensor ticks while the server is down: no crash, a one-sentence skip reason,
    # and the partition stays waiting in the record
    sensor = defs.resolve_sensor_def(SENSOR_NAME)
    context = dg.build_sensor_context(
        instance=instance,
        resources={name: defs.resources[name] for name in ("batch_api", "storage")},  # type: ignore[index]
        definitions=defs,
    )
    tick = sensor.evaluate_tick(context)
    assert not tick.run_requests
    assert tick.skip_message and tick.skip_message.startswith("cannot reach the Batch API at")
    assert "Traceback" not in tick.skip_message and "\n" not in tick.skip_message.strip()
    assert rig.partition_state(DATE) == "waiting"
    # the same through the runner with a tiny timeout
    down = collect_with_sensor(defs, instance, TASK, [DATE], timeout_s=0.01, log=quiet)
    assert down.runs == [] and down.problems[DATE].startswith("still waiting for 1 batch")
    assert len(instance.get_runs()) == 1  # only the submit run: nothing was collected

    rig.start()  # back, same data dir and port
    outcome = collect_with_sensor(
        defs, instance, TASK, [DATE], timeout_s=60, interval_s=0.1, log=quiet
    )

    report = finish(rig, defs, instance, "server unreachable", outcome, max_attempts=3)
    assert report.server_batches == 1
    assert report.by_attempt == {1: 208}
