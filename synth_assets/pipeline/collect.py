"""Collecting finished batches into the record: download, classify, record. Pays nothing.

Each terminal batch is downloaded once (streamed, atomic) and its lines are classified
against the response model: the first line for a request it holds is that request's outcome
(the line is kept as served), later lines for it and lines naming no request are extra
lines. Requests with no line get the batch's reason (missing, expired, cancelled,
batch_failed). All of a batch goes into the record in one transaction, once.
"""

import contextlib
from collections import deque
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from itertools import starmap
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
from .record import Answer, RequestRecord

# Requested ids that got no line: why, by the batch's final status.
_UNANSWERED = {
    "expired": (Reason.EXPIRED, "never run: the batch expired first"),
    "cancelled": (Reason.CANCELLED, "never run: the batch was cancelled"),
    "failed": (Reason.BATCH_FAILED, "the batch failed validation"),
}
_MISSING = (Reason.MISSING, "requested, but in neither the output nor the error file")
# Batches retrieved and downloaded at once, ahead of the one being recorded (HTTP: the
# threads wait on the network side by side; a remote Batch API serves files slowly).
FETCH_WORKERS = 4
# An Answer's fields, as a plain tuple (see Outcomes).
_AnswerRow = tuple[str, str | None, int | None, str | None, bytes | None]


@dataclass
class Collected:
    """What one collect pass did."""

    collected: list[str] = field(default_factory=list)
    running: list[str] = field(default_factory=list)
    lost: list[str] = field(default_factory=list)
    # Refused for the provider's limits (token_limit_exceeded): its requests wait for room.
    over_limit: list[str] = field(default_factory=list)
    bytes: int = 0


class Outcomes:
    """A batch's outcomes, one per request: each :class:`Answer` is made as it is read.

    Until then an outcome is a plain tuple, which the cyclic GC stops tracking at its first
    look. 50,000 ``Answer`` objects (a tuple subclass, always tracked) would instead pile up
    in its oldest generation and set off a full collection, a traversal of the whole heap,
    about once a batch.
    """

    __slots__ = ("_rows",)

    def __init__(self, rows: list[_AnswerRow]):
        self._rows = rows

    def __len__(self) -> int:
        return len(self._rows)

    def __iter__(self) -> Iterator[Answer]:
        return starmap(Answer, self._rows)


def collect_batches(
    client: openai.OpenAI,
    record: RequestRecord,
    response_model: type[BaseModel],
    batch_ids: Iterable[str],
    results_dir: Path,
    log: Callable[[str], None] = lambda _: None,
    *,
    workers: int = FETCH_WORKERS,
    prune: bool = False,
) -> Collected:
    """Record the results of every terminal batch among ``batch_ids`` not collected yet.

    Up to ``workers`` batches are retrieved and downloaded at once, ahead of the one being
    recorded; results go into the record from this thread only, one batch per transaction,
    in the order of ``batch_ids``. With ``prune``, each batch's files are deleted once it
    is recorded (see prune.py).
    """
    done = Collected()
    todo = [b for b in batch_ids if (known := record.batch(b)) and known.collected is None]
    # Closed on the way out, error or not: fetches not started yet are dropped at once.
    with contextlib.closing(_fetched_in_order(client, todo, results_dir, workers)) as fetches:
        for batch_id, fetched in fetches:
            batch = fetched.batch
            if batch is None:
                record.forget_lost(batch_id)
                done.lost.append(batch_id)
                log(
                    f"batch {batch_id} is unknown to the Batch API; its requests will be sent again"
                )
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
            done.bytes += fetched.bytes
            answers, extra, usage = classify_results(
                response_model,
                batch_id,
                fetched.files,
                record.custom_ids(batch_id),
                batch.status,
                batch_error_summary(batch),
            )
            if record.record_results(batch_id, batch.status, answers, extra, usage):
                done.collected.append(batch_id)
                log(
                    f"batch {batch_id} ({batch.status}): {len(answers)} outcomes recorded"
                    + (f", {len(extra)} extra lines" if extra else "")
                )
            del answers, extra  # a batch's lines: not kept while the next one is classified
            # -- pruning (prune.py): the record holds the batch now; its files are not needed.
            if prune:
                pruned = prune_batch(client, record, batch, results_dir, log)
                log(f"batch {batch_id}: {pruned.describe()}")
    return done


@dataclass(frozen=True, slots=True)
class _Fetched:
    """A batch as the Batch API showed it, and its result files once it is terminal."""

    batch: Batch | None  # None: the Batch API does not know it
    files: list[tuple[str, Path]]
    bytes: int


def _fetch(client: openai.OpenAI, batch_id: str, results_dir: Path) -> _Fetched:
    """Retrieve a batch; download the output and error files of a terminal one (streamed,
    atomic). Runs in a worker thread: it touches the Batch API and the files only."""
    try:
        batch = client.batches.retrieve(batch_id)
    except openai.NotFoundError:
        return _Fetched(None, [], 0)
    files: list[tuple[str, Path]] = []
    nbytes = 0
    if batch.status in TERMINAL and not over_limit(batch):
        for source, file_id in (("output", batch.output_file_id), ("error", batch.error_file_id)):
            if file_id:
                target = results_dir / f"{batch_id}.{source}.jsonl"
                nbytes += download_file(client, file_id, target)
                files.append((source, target))
    return _Fetched(batch, files, nbytes)


def _fetched_in_order(
    client: openai.OpenAI, batch_ids: Sequence[str], results_dir: Path, workers: int
) -> Iterator[tuple[str, _Fetched]]:
    """Each batch of ``batch_ids`` with its fetch, in order, fetching up to ``workers``
    ahead (the openai client is thread-safe; only HTTP and file writes run in the threads).
    A failed fetch raises when its batch's turn comes, after the batches before it."""
    if workers < 1:
        raise ValueError("workers must be at least 1")
    with ThreadPoolExecutor(workers, thread_name_prefix="collect-fetch") as pool:
        ahead: deque[tuple[str, Future[_Fetched]]] = deque()
        ids = iter(batch_ids)
        try:
            while True:
                while len(ahead) < workers and (batch_id := next(ids, None)) is not None:
                    ahead.append((batch_id, pool.submit(_fetch, client, batch_id, results_dir)))
                if not ahead:
                    return
                batch_id, future = ahead.popleft()
                yield batch_id, future.result()
        finally:
            for _, future in ahead:  # the caller stopped: fetch no further
                future.cancel()


def classify_results(
    response_model: type[BaseModel],
    batch_id: str,
    files: Iterable[tuple[str, Path]],
    sends: Collection[str],
    status: str,
    batch_error: str | None = None,
) -> tuple[Outcomes, list[bytes], tuple[int, int]]:
    """One outcome per request of the batch (first line wins), the extra lines, and the
    input and output tokens the lines report. ``sends``: the custom_ids the batch was sent
    (a set, or the record's ``sends`` mapping)."""
    classifier = LineClassifier(response_model, batch_id)
    answers: dict[str, _AnswerRow] = {}
    extra: list[bytes] = []
    prompt = completion = 0
    fast_check, classify = classifier.fast_check, classifier.classify
    for source, path in files:
        for lines in iter_blocks(path):
            for raw in lines:
                # The outcome as the tables decide it (LineClassifier.decide), each line
                # parsed once: the common valid line on the fast path, any other in full.
                fast = fast_check(raw)
                if fast is not None:
                    custom_id, line_prompt, line_completion = fast
                    answer = (custom_id, None, None, None, raw)
                elif not is_line(raw):
                    continue
                else:
                    outcome = classify(raw, source)
                    custom_id, meta = outcome.custom_id, outcome.meta
                    line_prompt = meta and meta.prompt_tokens
                    line_completion = meta and meta.completion_tokens
                    if isinstance(outcome, Unparsed):
                        why = (outcome.reason.value, outcome.status_code, outcome.message)
                        answer = (custom_id, *why, raw)
                    else:
                        answer = (outcome.custom_id, None, None, None, raw)
                prompt += line_prompt or 0
                completion += line_completion or 0
                if custom_id is None or custom_id not in sends or custom_id in answers:
                    extra.append(raw)
                else:
                    answers[custom_id] = answer
    reason, message = _UNANSWERED.get(status, _MISSING)
    if reason is Reason.BATCH_FAILED and batch_error:
        message = batch_error
    for custom_id in sends:
        if custom_id not in answers:
            answers[custom_id] = (custom_id, reason.value, None, message, None)
    return Outcomes(list(answers.values())), extra, (prompt, completion)


def over_limit(batch: Batch) -> bool:
    """True for a batch the provider refused for its enqueued-token limit."""
    errors = batch.errors.data if batch.errors and batch.errors.data else []
    return batch.status == "failed" and any(e.code == "token_limit_exceeded" for e in errors)
