"""Collecting finished batches into the record: download, classify, record. Pays nothing.

Each terminal batch is downloaded once (streamed, atomic) and its lines are classified
against the response model: the first line for a request it holds is that request's outcome
(the line is kept as served), later lines for it and lines naming no request are extra
lines. Requests with no line get the batch's reason (missing, expired, cancelled,
batch_failed). All of a batch goes into the record in one transaction, once.
"""

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import openai
from openai.types import Batch
from pydantic import BaseModel

from synth_assets.batch import (
    TERMINAL,
    LineClassifier,
    Reason,
    Unparsed,
    batch_error_summary,
    download_file,
    is_line,
    iter_blocks,
)

from .prune import prune_batch
from .record import Answer, RequestRecord, Send

# Requested ids that got no line: why, by the batch's final status.
_UNANSWERED = {
    "expired": (Reason.EXPIRED, "never run: the batch expired first"),
    "cancelled": (Reason.CANCELLED, "never run: the batch was cancelled"),
    "failed": (Reason.BATCH_FAILED, "the batch failed validation"),
}
_MISSING = (Reason.MISSING, "requested, but in neither the output nor the error file")


@dataclass
class Collected:
    """What one collect pass did."""

    collected: list[str] = field(default_factory=list)
    running: list[str] = field(default_factory=list)
    lost: list[str] = field(default_factory=list)
    # Refused for the provider's limits (token_limit_exceeded): its requests wait for room.
    over_limit: list[str] = field(default_factory=list)
    bytes: int = 0


def collect_batches(
    client: openai.OpenAI,
    record: RequestRecord,
    response_model: type[BaseModel],
    batch_ids: Iterable[str],
    results_dir: Path,
    log: Callable[[str], None] = lambda _: None,
    *,
    prune: bool = False,
) -> Collected:
    """Record the results of every terminal batch among ``batch_ids`` not collected yet;
    with ``prune``, delete each batch's files once it is recorded (see prune.py)."""
    done = Collected()
    for batch_id in batch_ids:
        known = record.batch(batch_id)
        if known is None or known.collected is not None:
            continue
        try:
            batch = client.batches.retrieve(batch_id)
        except openai.NotFoundError:
            record.forget_lost(batch_id)
            done.lost.append(batch_id)
            log(f"batch {batch_id} is unknown to the Batch API; its requests will be sent again")
            continue
        if batch.status not in TERMINAL:
            record.set_status(batch_id, batch.status)
            done.running.append(batch_id)
            continue
        if over_limit(batch):
            # Not a failure of its requests: the provider had no room. They are sent again
            # once there is (never batch_failed rows).
            record.forget_lost(batch_id, status="failed")
            done.over_limit.append(batch_id)
            log(f"batch {batch_id} was refused for the enqueued-token limit; its requests wait")
            continue
        files = []
        for source, file_id in (("output", batch.output_file_id), ("error", batch.error_file_id)):
            if file_id:
                target = results_dir / f"{batch_id}.{source}.jsonl"
                done.bytes += download_file(client, file_id, target)
                files.append((source, target))
        sends = record.sends(batch_id)
        answers, extra, usage = classify_results(
            response_model, batch_id, files, sends, batch.status, batch_error_summary(batch)
        )
        if record.record_results(batch_id, batch.status, answers, extra, usage):
            done.collected.append(batch_id)
            log(
                f"batch {batch_id} ({batch.status}): {len(answers)} outcomes recorded"
                + (f", {len(extra)} extra lines" if extra else "")
            )
        # -- pruning (prune.py): the record holds the batch now; its files are not needed.
        if prune:
            pruned = prune_batch(client, record, batch, results_dir, log)
            log(f"batch {batch_id}: {pruned.describe()}")
    return done


def classify_results(
    response_model: type[BaseModel],
    batch_id: str,
    files: Iterable[tuple[str, Path]],
    sends: dict[str, Send],
    status: str,
    batch_error: str | None = None,
) -> tuple[list[Answer], list[bytes], tuple[int, int]]:
    """One outcome per request of the batch (first line wins), the extra lines, and the
    input and output tokens the lines report."""
    classifier = LineClassifier(response_model, batch_id)
    answers: dict[str, Answer] = {}
    extra: list[bytes] = []
    prompt = completion = 0
    for source, path in files:
        for lines in iter_blocks(path):
            for raw in filter(is_line, lines):
                # The outcome as the tables decide it (classify.py): one decision per line.
                outcome = classifier.decide(raw, source)
                if isinstance(outcome, Unparsed):
                    custom_id, meta = outcome.custom_id, outcome.meta
                    prompt += (meta and meta.prompt_tokens) or 0
                    completion += (meta and meta.completion_tokens) or 0
                else:
                    custom_id = outcome[0]
                    prompt += outcome[4] or 0
                    completion += outcome[5] or 0
                if custom_id is None or custom_id not in sends or custom_id in answers:
                    extra.append(raw)
                elif isinstance(outcome, Unparsed):
                    answers[custom_id] = Answer(
                        custom_id, outcome.reason.value, outcome.status_code, outcome.message, raw
                    )
                else:
                    answers[custom_id] = Answer(custom_id, None, None, None, raw)
    reason, message = _UNANSWERED.get(status, _MISSING)
    if reason is Reason.BATCH_FAILED and batch_error:
        message = batch_error
    for custom_id in sends:
        if custom_id not in answers:
            answers[custom_id] = Answer(custom_id, reason.value, None, message, None)
    return list(answers.values()), extra, (prompt, completion)


def over_limit(batch: Batch) -> bool:
    """True for a batch the provider refused for its enqueued-token limit."""
    errors = batch.errors.data if batch.errors and batch.errors.data else []
    return batch.status == "failed" and any(e.code == "token_limit_exceeded" for e in errors)
