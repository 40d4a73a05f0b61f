"""Collecting: batches are fetched several at a time, yet recorded one by one, in order, each
request with the outcome the tables give its first line."""

import gc
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import openai
from test_submit import DATE, build_of

from synth_assets.batch import (
    TERMINAL,
    LineClassifier,
    Reason,
    Unparsed,
    download_file,
    is_line,
    iter_lines,
)
from synth_assets.localbatch.faults import FaultKind
from synth_assets.pipeline.collect import classify_results, collect_batches
from synth_assets.pipeline.plan import iter_manifest
from synth_assets.pipeline.record import Answer, RequestRecord
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


def submitted_day(
    tmp_path: Path, client: openai.OpenAI, record: RequestRecord, *, rows: int, per_file: int
) -> list[str]:
    """The batch ids of a submitted day of ``rows`` e-mails, once every batch is terminal."""
    build = build_of(tmp_path, record, rows=rows, per_file=per_file)
    submitted, _ = submit_build(client, record, SPAM_TRIAGE, DATE, build)
    ids = [s.batch_id for s in submitted]
    for batch_id in ids:
        while client.batches.retrieve(batch_id).status not in TERMINAL:
            time.sleep(0.05)
    return ids


# Every per-request fault the server can inject, at 8% each.
EVERY_FAULT = ",".join(f"{k}=0.08" for k in FaultKind if k is not FaultKind.BATCH_FAILED)


def test_each_request_is_recorded_with_the_outcome_the_tables_give_its_first_line(
    tmp_path: Path,
    start_localbatch: Callable[..., Any],
    make_client: Callable[..., openai.OpenAI],
) -> None:
    client = make_client(start_localbatch(thread=True, faults=EVERY_FAULT, seed=5).base_url)
    results = tmp_path / "results"
    with RequestRecord(tmp_path / "record.sqlite", "local") as record:
        ids = submitted_day(tmp_path, client, record, rows=300, per_file=100)

        done = collect_batches(client, record, SPAM_TRIAGE.response_model, ids, results)

        assert done.collected == ids
        classify = LineClassifier(SPAM_TRIAGE.response_model)
        reasons = set()
        for batch_id in ids:
            sends = record.sends(batch_id)
            # custom_id -> (reason, status code, message, line) of its first line
            expected: dict[str, tuple[str | None, int | None, str | None, bytes | None]] = {}
            for source in ("output", "error"):
                path = results / f"{batch_id}.{source}.jsonl"
                for raw in iter_lines(path) if path.exists() else []:
                    if not is_line(raw):
                        continue
                    outcome = classify.decide(raw, source)
                    if isinstance(outcome, Unparsed):
                        why = (outcome.reason.value, outcome.status_code, outcome.message, raw)
                        expected.setdefault(outcome.custom_id or "", why)
                    else:
                        expected.setdefault(outcome[0], (None, None, None, raw))
            hashes = [s.hash for s in sends.values()]
            recorded, lines = record.outcomes(hashes), record.lines(hashes)
            for custom_id, send in sends.items():
                outcome = recorded[send.hash]
                got = (outcome.reason, outcome.status_code, outcome.message, lines.get(send.hash))
                if custom_id in expected:
                    assert got == expected[custom_id], custom_id
                else:  # no line for it
                    assert got[0] == Reason.MISSING and got[3] is None, custom_id
                reasons.add(got[0])
        # The draws hit every kind of outcome (a duplicate's first answer parses).
        assert reasons == {None} | {
            r.value
            for r in (
                Reason.HTTP_ERROR, Reason.REQUEST_ERROR, Reason.INVALID_JSON,
                Reason.SCHEMA_MISMATCH, Reason.REFUSAL, Reason.TRUNCATED,
                Reason.CONTENT_FILTER, Reason.MISSING,
            )
        }  # fmt: skip


def served_batch(
    tmp_path: Path, client: openai.OpenAI, record: RequestRecord, rows: int
) -> tuple[str, Path]:
    """A day of ``rows`` submitted as one batch, and its output file as served."""
    (batch_id,) = submitted_day(tmp_path, client, record, rows=rows, per_file=rows)
    batch = client.batches.retrieve(batch_id)
    assert batch.output_file_id is not None
    served = tmp_path / "served.jsonl"
    download_file(client, batch.output_file_id, served)
    return batch_id, served


def test_a_batch_s_outcomes_leave_nothing_per_line_for_the_garbage_collector(
    tmp_path: Path,
    start_localbatch: Callable[..., Any],
    make_client: Callable[..., openai.OpenAI],
) -> None:
    """Tracked objects kept per line would make every full collection of the process
    re-traverse them: at 50,000 lines a batch, about one full collection per batch."""
    client = make_client(start_localbatch(thread=True).base_url)
    with RequestRecord(tmp_path / "record.sqlite", "local") as record:
        batch_id, output = served_batch(tmp_path, client, record, rows=600)
        sends = record.custom_ids(batch_id)
        model = SPAM_TRIAGE.response_model
        classify_results(model, batch_id, [("output", output)], sends, "completed")  # warm-up

        gc.collect()
        before = len(gc.get_objects())
        answers, extra, _ = classify_results(
            model, batch_id, [("output", output)], sends, "completed"
        )
        gc.collect()
        kept = len(gc.get_objects()) - before

        assert len(answers) == 600 and extra == []
        assert kept < 60
        # Each outcome is an Answer when read.
        assert {a.custom_id for a in answers} == sends
        assert all(isinstance(a, Answer) and a.reason is None and a.line for a in answers)


def test_each_outcome_carries_its_own_first_line_whatever_lies_between(
    tmp_path: Path,
    start_localbatch: Callable[..., Any],
    make_client: Callable[..., openai.OpenAI],
) -> None:
    client = make_client(start_localbatch(thread=True).base_url)
    with RequestRecord(tmp_path / "record.sqlite", "local") as record:
        batch_id, served = served_batch(tmp_path, client, record, rows=4)
        a, b, c, _ = list(iter_lines(served))  # the fourth request gets no line
        # Served lines rearranged with what a file may also hold: a CRLF ending, blank
        # lines, a second answer, a line that is not JSON; an error file after it.
        output = tmp_path / "output.jsonl"
        output.write_bytes(b"\n".join([a + b"\r", b"", b"not json", b, a, b"  ", c]) + b"\n")
        error = tmp_path / "error.jsonl"
        error.write_bytes(b + b"\n")
        files = [("output", output), ("error", error)]

        answers, extra, _ = classify_results(
            SPAM_TRIAGE.response_model, batch_id, files, record.custom_ids(batch_id), "completed"
        )

        lines = {answer.custom_id: answer.line for answer in answers}
        classify = LineClassifier(SPAM_TRIAGE.response_model)
        first = {classify.fast_row(line)[0]: line for line in (a, b, c)}  # type: ignore[index]
        assert lines == {i: first.get(i) for i in record.custom_ids(batch_id)}
        assert extra == [b"not json", a, b]
