"""A seeded random mix of faults over several partitions, with the same invariants.

Four sample days plus a few unusable input rows per day (empty text, a repeated id,
undecodable bytes, a date of another day) run through the whole pipeline against one local
server injecting every per-request fault at modest random rates, failing some batches at
validation, with request files small enough that each day has several shards, and with the
server stopped (and the sensor ticking against nothing) between submission and collection.
The seed is printed; ``SYNTH_RELIABILITY_SEED=<n>`` replays a run.
"""

import json
import os
import random
import shutil
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
from inprocess_driver import collect_with_sensor, submit_partitions
from reliability_kit import (
    SAMPLE,
    TASK,
    TOTALS,
    assert_collected,
    assert_sensor_idle,
    check_partition,
    conservation_checks_passed,
    expected_ids,
)

from synth_assets.defs.resources import TaskSettings
from synth_assets.localbatch.faults import FaultKind

DATES = ["2026-11-01", "2026-11-02", "2026-11-03", "2026-11-04"]
SEED = int(os.environ.get("SYNTH_RELIABILITY_SEED") or 20261101)
MAX_ATTEMPTS = 3


def fault_spec(rng: random.Random) -> str:
    """Every per-request fault at a random modest rate, and some batches failing."""
    rates = {
        kind.value: round(rng.uniform(0.01, 0.05), 3)
        for kind in FaultKind
        if kind is not FaultKind.BATCH_FAILED
    }
    rates[FaultKind.BATCH_FAILED.value] = round(rng.uniform(0.05, 0.12), 3)
    return ",".join(f"{kind}={rate}" for kind, rate in rates.items())


def dataset_with_bad_rows(folder: Path, rng: random.Random, dates: list[str]) -> Path:
    """The sample days, each with a handful of rows that must never be sent."""
    for date in dates:
        day = folder / f"date={date}"
        day.mkdir(parents=True)
        shutil.copy(SAMPLE / f"date={date}" / "emails.jsonl", day / "emails.jsonl")
        first = json.loads((day / "emails.jsonl").read_text(encoding="utf-8").splitlines()[0])
        bad = [
            {**first, "email_id": f"{date}-empty", "body": "   "},
            {**first, "body": "the same id again"},  # a repeated id
            {
                **first,
                "email_id": f"{date}-elsewhere",
                "date": f"2026-10-{rng.randint(1, 30):02d}",
            },
        ]
        with open(day / "emails.jsonl", "ab") as out:
            for row in bad:
                out.write(json.dumps(row, ensure_ascii=False).encode() + b"\n")
            undecodable = json.dumps({**first, "email_id": f"{date}-bytes", "body": "@@"})
            out.write(undecodable.encode().replace(b"@@", b"caf\xe9 \xff") + b"\n")
    return folder


@dataclass(frozen=True)
class MixRun:
    """What one run of the mix did: the figures a replay with the same seed must repeat."""

    spec: str
    rows: int
    batches: int
    resubmitted: int
    reasons: dict[str, int]
    reports: list[Any]


def run_mix(make_rig: Any, folder: Path, seed: int, dates: list[str]) -> MixRun:
    """The whole mix on ``dates`` with its own server, instance and files; asserts the
    promises on every partition."""
    rng = random.Random(seed)
    spec = fault_spec(rng)
    dataset = dataset_with_bad_rows(folder / "emails", rng, dates)
    rig = make_rig(fixed_port=True, faults=spec, seed=seed, chunk_size=50, delay_s=0.02)
    settings = TaskSettings(dataset_path=str(dataset), max_attempts=MAX_ATTEMPTS)
    defs = rig.defs(task_settings=settings, max_requests_per_file=100)
    with dg.instance_for_test() as instance:
        submitted = submit_partitions(defs, TASK, dates, instance, log=lambda _: None)
        assert submitted.submitted == dates
        rig.stop()  # the server goes away; the sensor ticks against nothing and must wait
        down = collect_with_sensor(defs, instance, TASK, dates, timeout_s=0.01, log=lambda _: None)
        assert down.runs == [] and sorted(down.problems) == dates
        rig.start()
        outcome = collect_with_sensor(
            defs, instance, TASK, dates, timeout_s=150, interval_s=0.2, log=lambda _: None
        )

        assert_collected(outcome, dates)
        conservation_checks_passed(instance, outcome)
        reports = [
            check_partition(
                rig, instance, date, max_attempts=MAX_ATTEMPTS, dataset_path=str(dataset)
            )
            for date in dates
        ]
        assert_sensor_idle(rig, defs, instance, dates)
    reasons: Counter[str] = sum((r.reasons + r.extra_lines for r in reports), Counter())
    resubmitted = sum(
        b.request_counts.total
        for date in dates
        for b in rig.server_batches(date)
        if b.metadata["synth_attempt"] != "1"
    )
    assert sum(len(expected_ids(d, str(dataset))) for d in dates) == sum(r.rows for r in reports)
    return MixRun(
        spec=spec,
        rows=sum(r.rows for r in reports),
        batches=sum(r.server_batches for r in reports),
        resubmitted=resubmitted,
        reasons=dict(sorted(reasons.items())),
        reports=reports,
    )


@pytest.mark.timeout(180)
def test_seeded_random_mix_over_four_partitions(make_rig, tmp_path) -> None:
    mix = run_mix(make_rig, tmp_path, SEED, DATES)

    TOTALS.add("random mix", mix.reports)
    assert mix.reasons["invalid_input"] == 4 * len(DATES)  # never sent, still in unparsed
    assert mix.resubmitted > 0 and max(r.attempts for r in mix.reports) >= 2
    line = (
        f"random mix: seed={SEED} faults tried={len(mix.spec.split(','))} ({mix.spec}) + "
        f"server stop + bad input; partitions={len(DATES)} rows checked={mix.rows} "
        f"rows lost={sum(r.lost for r in mix.reports)} "
        f"duplicate submissions={sum(r.double_submissions for r in mix.reports)} "
        f"batches={mix.batches} resubmitted requests={mix.resubmitted} unparsed={mix.reasons}"
    )
    TOTALS.lines.append(line)
    print(line)


@pytest.mark.timeout(180)
def test_the_same_seed_replays_the_same_run(make_rig, tmp_path) -> None:
    """Faults are drawn from (seed, the batch's identity, custom_id), never from random ids,
    so a seed printed by a failing run replays it: same batches, retries and reasons."""
    dates = DATES[:2]
    first = run_mix(make_rig, tmp_path / "first", SEED + 1, dates)
    second = run_mix(make_rig, tmp_path / "second", SEED + 1, dates)

    assert first.resubmitted > 0
    assert (first.batches, first.resubmitted, first.reasons) == (
        second.batches,
        second.resubmitted,
        second.reasons,
    )
