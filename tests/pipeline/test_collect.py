"""Collecting: batches are fetched several at a time, yet recorded one by one, in order."""

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import openai
from test_submit import DATE, build_of

from synth_assets.batch import TERMINAL
from synth_assets.pipeline.collect import collect_batches
from synth_assets.pipeline.plan import iter_manifest
from synth_assets.pipeline.record import RequestRecord
from synth_assets.pipeline.submit import submit_build
from synth_assets.tasks import SPAM_TRIAGE


def test_batches_fetched_ahead_are_recorded_in_the_order_given(
    tmp_path: Path,
    start_localbatch: Callable[..., Any],
    make_client: Callable[..., openai.OpenAI],
) -> None:
    client = make_client(start_localbatch(thread=True).base_url)
    with RequestRecord(tmp_path / "record.sqlite", "local") as record:
        build = build_of(tmp_path, record, rows=50, per_file=10)
        submitted, _ = submit_build(client, record, SPAM_TRIAGE, DATE, build)
        ids = [s.batch_id for s in submitted]
        for batch_id in ids:
            while client.batches.retrieve(batch_id).status not in TERMINAL:
                time.sleep(0.05)
        # A batch the server never heard of, amid the others: lost, in its turn.
        lost = "batch_" + "0" * 32
        record.record_batch(
            lost, partition=DATE, sha256="x", attempt=1, round_=1, path="x", status="validating",
            sends=[],
        )  # fmt: skip
        order = [ids[3], ids[0], lost, ids[4], ids[2], ids[1]]

        done = collect_batches(
            client, record, SPAM_TRIAGE.response_model, order, tmp_path / "results", workers=3
        )

        assert done.collected == [b for b in order if b != lost]
        assert done.lost == [lost]
        collected_at = {b.batch_id: b.collected for b in record.batches(DATE)}
        assert sorted(order, key=lambda b: collected_at[b] or 0) == order
        hashes = [h for _, chunk in iter_manifest(build.folder) for h in chunk]
        outcomes = record.outcomes(hashes)
        assert len(outcomes) == 50
        assert all(o.answered and o.pending_batch is None for o in outcomes.values())
        # Collected already: a second pass fetches and records nothing.
        again = collect_batches(client, record, SPAM_TRIAGE.response_model, order, tmp_path / "r2")
        assert again.collected == again.lost == [] and not (tmp_path / "r2").exists()
