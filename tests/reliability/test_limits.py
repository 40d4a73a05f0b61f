"""Within the provider's limits and the user's budget.

The local server enforces an enqueued-token limit that fits about two sample days at once
(as OpenAI does per model and tier): a backfill of the seven days drains through it with
every row answered and no ``batch_failed`` row, whether the pipeline knows the limit (days
wait for room) or not (refused batches are sent again later). Spend caps stop a day before
anything is uploaded, with one sentence, and lose nothing.
"""

import pyarrow.parquet as pq
from inprocess_driver import run_pipeline
from reliability_kit import TASK, TOTALS, assert_collected, check_partition

from synth_assets.defs.resources import TaskSettings

DATES = [f"2026-11-0{day}" for day in range(1, 8)]
LIMIT = 250_000  # tokens (bytes / 4): the sample days hold 69,000 to 129,000 each
# Seconds between a batch's chunks of 50 where the server must see batches overlap (the
# pipeline not knowing the limit): a day's batch runs for several seconds, longer than a
# submit run takes even on a loaded machine.
SLOW_S = 1.0


def quiet(_: str) -> None:
    """A log callback that keeps the test output short."""


def reasons(rig, dates) -> set[str]:  # type: ignore[no-untyped-def]
    return {
        reason
        for date in dates
        for reason in pq.read_table(rig.table("unparsed", date))["reason"].to_pylist()
    }


def test_a_backfill_drains_through_the_enqueued_token_limit(make_rig, instance) -> None:
    rig = make_rig(enqueued_token_limit=LIMIT, delay_s=0.15, chunk_size=50)
    defs = rig.defs(enqueued_token_limit=LIMIT)

    outcome = run_pipeline(defs, TASK, DATES, instance, timeout_s=150, log=quiet)

    assert_collected(outcome, DATES)
    reports = [check_partition(rig, instance, date, max_attempts=3) for date in DATES]
    TOTALS.add("backfill through the token limit", reports)
    batches = rig.server_batches()
    assert [b.status for b in batches] == ["completed"] * 7  # the server refused none
    assert "batch_failed" not in reasons(rig, DATES)
    # some days waited for room, and were sent by the sensor once there was
    waited = [r for r in outcome.runs if r.job.endswith("_submit_job") and r.run_key]
    assert waited, "no day waited for queue room: the limit was never reached"


def test_refused_batches_are_sent_again_when_the_pipeline_does_not_know_the_limit(
    make_rig, instance
) -> None:
    rig = make_rig(enqueued_token_limit=LIMIT, delay_s=SLOW_S, chunk_size=50)
    defs = rig.defs(limit_retry_s=0.3)  # no enqueued_token_limit configured here

    outcome = run_pipeline(defs, TASK, DATES, instance, timeout_s=150, log=quiet)

    assert_collected(outcome, DATES)
    reports = [check_partition(rig, instance, date, max_attempts=3) for date in DATES]
    TOTALS.add("token_limit_exceeded, sent again", reports)
    refused = [b for b in rig.server_batches() if b.status == "failed"]
    assert refused, "the server never refused a batch: the test did not reach its limit"
    assert {e.code for b in refused for e in b.errors.data} == {"token_limit_exceeded"}  # type: ignore[union-attr]
    assert "batch_failed" not in reasons(rig, DATES)  # try later, never a failure of the rows


def test_a_spend_cap_stops_a_day_before_anything_is_uploaded(make_rig, instance) -> None:
    rig = make_rig()
    date = DATES[5]  # 208 rows, about $0.005 at gpt-4o-mini batch prices
    capped = rig.defs(task_settings=TaskSettings(max_cost_usd_per_partition=0.001))

    refused = run_pipeline(capped, TASK, [date], instance, timeout_s=20, log=quiet)

    why = refused.problems[date]
    assert why.startswith(f"the submit run failed: {date} would cost 208 requests, ~")
    assert "over task_settings.max_cost_usd_per_partition ($0.0010); nothing was sent" in why
    assert list(rig.client.files.list()) == [] and rig.server_batches() == []
    # nothing lost: under a higher cap the day runs in full
    done = run_pipeline(
        rig.defs(task_settings=TaskSettings(max_cost_usd_per_partition=1.0)),
        TASK,
        [date],
        instance,
        timeout_s=60,
        log=quiet,
    )
    assert_collected(done, [date])
    check_partition(rig, instance, date, max_attempts=3)


def test_a_daily_cap_counts_every_day_submitted_today(make_rig, instance) -> None:
    rig = make_rig()
    defs = rig.defs(task_settings=TaskSettings(max_cost_usd_per_day=0.009))

    outcome = run_pipeline(defs, TASK, DATES[5:7], instance, timeout_s=60, log=quiet)

    assert outcome.states[DATES[5]] == "settled"  # ~$0.005
    why = outcome.problems[DATES[6]]  # ~$0.008 more would pass $0.009
    assert "submitted today (UTC): over task_settings.max_cost_usd_per_day ($0.0090)" in why
    assert len(rig.server_batches()) == 1
