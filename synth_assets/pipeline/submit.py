"""Submitting a build's shards: one batch per shard, never created twice.

A shard's identity is (task, partition, sha256 of its file, attempt, round): the highest
attempt and round of its requests. The same requests sent again (a retry, fresh answers)
therefore get a new identity, while a re-run of the same build finds its batch again: first
in the record, then in the Batch API's own ``metadata`` (a run that crashed between
creating a batch and recording it pays nothing twice).
"""

import contextlib
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from itertools import islice
from operator import itemgetter
from pathlib import Path

import openai
from openai.types import Batch

from synth_assets.batch import (
    NOT_REUSABLE,
    BatchIndex,
    Shard,
    SynthError,
    create_batch,
    upload_file,
)
from synth_assets.tasks.base import BatchTask

from .estimate import Estimator
from .plan import Build, iter_sends
from .record import RequestRecord

# Request files uploaded at once, ahead of the shard whose batch is being created (HTTP:
# the threads wait on the network side by side).
UPLOAD_WORKERS = 4


@dataclass
class Budget:
    """The provider's limits on what may be submitted now: enqueued input tokens per model
    (across every task and partition in flight) and batch creations per hour. ``in_flight``
    and ``created_last_hour`` read the request records; None limits are unlimited."""

    token_limit: int | None
    per_hour: int | None
    in_flight: Callable[[str], int]
    created_last_hour: Callable[[], int]
    # Older days already waiting for room: first come, first served (a small day does not
    # overtake a large one forever).
    ahead: Sequence[str] = ()

    @property
    def limited(self) -> bool:
        """True when something may refuse a batch (a limit is set, or older days wait)."""
        return bool(self.ahead) or self.per_hour is not None or self.token_limit is not None

    def refusal(self, model: str, tokens: int, *, added_tokens: int, added: int) -> str | None:
        """Why a batch of ``tokens`` cannot be created now (None: it can), given what this
        submission already added."""
        if self.ahead:
            return f"behind {self.ahead[0]}, which waits for room first"
        if self.per_hour is not None and self.created_last_hour() + added >= self.per_hour:
            return f"{self.per_hour} batch creations per hour reached"
        if self.token_limit is None:
            return None
        if tokens > self.token_limit:
            raise SynthError(
                f"a request file of ~{tokens:,} input tokens can never fit under the enqueued-"
                f"token limit of {self.token_limit:,} for {model}; lower "
                "batch_api.max_requests_per_file."
            )
        queued = self.in_flight(model) + added_tokens
        if queued + tokens > self.token_limit:
            return (
                f"{queued:,} tokens of {model} in flight; this file's ~{tokens:,} would pass "
                f"the limit of {self.token_limit:,}"
            )
        return None


@dataclass(frozen=True, slots=True)
class Queued:
    """Shards of a build left to send once there is room, and why."""

    shards: int
    requests: int
    tokens: int
    why: str


@dataclass(frozen=True, slots=True)
class Submitted:
    """A shard and the batch that answers it; ``how``: new, record or api (found again)."""

    shard: str
    batch_id: str
    requests: int
    status: str
    how: str
    attempt: int
    round: int


def identity(task: BatchTask, date: str, shard: Shard, attempt: int, round_: int) -> dict[str, str]:
    """A shard's identity, stored in its batch's metadata."""
    return {
        "synth_task": task.name,
        "synth_partition": date,
        "synth_sha256": shard.sha256,
        "synth_attempt": str(attempt),
        "synth_round": str(round_),
    }


class Submitter:
    """Finds a live batch for a shard's identity, or creates one; one listing of the
    account serves every shard of a submission (listed on first need)."""

    def __init__(self, client: openai.OpenAI, log: Callable[[str], None] = lambda _: None):
        self.client = client
        self.log = log
        self._index: BatchIndex | None = None

    def ensure(
        self,
        shard: Shard,
        wanted: dict[str, str],
        recorded: str | None = None,
        upload: Future[str] | None = None,
    ) -> tuple[Batch, str]:
        """The batch answering ``shard`` and how it was had: ``record`` (the id the record
        gave), ``api`` (found by its metadata) or ``new``.

        ``upload``: the shard's file, uploaded ahead (its file id); without it the file is
        uploaded here, once no batch was found. An upload left unused is deleted.
        """
        try:
            found = self._find(wanted, recorded)
        except BaseException:
            _discard(self.client, upload)  # no batch was made: the upload is not needed
            raise
        if found is not None:
            _discard(self.client, upload)
            return found
        assert self._index is not None  # listed by _find
        name = Path(shard.path).name
        if upload is None and not Path(shard.path).exists():
            # Pruned once its batch was created (prune_files), and that batch cannot be
            # used again: only a new build has the requests.
            raise SynthError(
                f"{name} was deleted once its batch was created (prune_files) and its batch "
                "cannot be reused; materialize batch_requests again to build the requests anew."
            )
        metadata = {**wanted, "synth_shard": name}
        file_id = upload.result() if upload is not None else upload_file(self.client, shard.path)
        try:
            batch = create_batch(self.client, file_id, endpoint=shard.endpoint, metadata=metadata)
        except openai.APIStatusError:
            # Refused (e.g. a 429): no batch uses the file. Not after a lost connection or a
            # timeout, when the batch may exist and read it.
            _discard_file(self.client, file_id)
            raise
        # Two submitters may have raced past the lookup: all agree on the oldest batch,
        # and a younger one is cancelled before it runs.
        self._index.refresh()
        oldest = self._index.find(wanted)
        if oldest is not None and oldest.id != batch.id:
            try:
                self.client.batches.cancel(batch.id)
                self.log(f"{name}: batch {batch.id} raced {oldest.id}; cancelled it")
            except openai.BadRequestError:
                # It finished before the cancel arrived: its answers are paid but unused.
                self.log(f"{name}: batch {batch.id} raced {oldest.id} and finished first")
            return oldest, "api"
        return batch, "new"

    def _find(self, wanted: dict[str, str], recorded: str | None) -> tuple[Batch, str] | None:
        """A live batch for the identity: the recorded one, else one found by metadata."""
        if recorded is not None:
            try:
                candidate = self.client.batches.retrieve(recorded)
            except openai.NotFoundError:  # the backend forgot it (e.g. a wiped local server)
                candidate = None
            if candidate is not None and candidate.status not in NOT_REUSABLE:
                return candidate, "record"
        self._index = self._index or BatchIndex(self.client)
        found = self._index.find(wanted)
        return (found, "api") if found is not None else None

    def listed(self, pairs: dict[str, str]) -> bool:
        """True when the account lists a batch, of any status, with these metadata pairs."""
        self._index = self._index or BatchIndex(self.client)
        return self._index.mentions(pairs)


def _discard_file(client: openai.OpenAI, file_id: str) -> None:
    """Delete an uploaded file no batch uses (best effort: left behind, it costs storage)."""
    with contextlib.suppress(openai.OpenAIError):
        client.files.delete(file_id)


def _discard(client: openai.OpenAI, upload: Future[str] | None) -> None:
    """Stop an upload made ahead, or delete its file once it is done."""
    if upload is None or upload.cancel():
        return
    try:
        file_id = upload.result()
    except (openai.OpenAIError, OSError):
        return  # it failed: nothing was stored
    _discard_file(client, file_id)


def submit_build(
    client: openai.OpenAI,
    record: RequestRecord,
    task: BatchTask,
    date: str,
    build: Build,
    log: Callable[[str], None] = lambda _: None,
    *,
    budget: Budget | None = None,
    estimator: Estimator | None = None,
    workers: int = UPLOAD_WORKERS,
    prune: bool = False,
) -> tuple[list[Submitted], Queued | None]:
    """Make sure each shard of ``build`` has a live batch, and record it with its requests.

    With a ``budget``, a shard with no batch yet is created only while the provider's
    limits leave room; the first that does not fit, and those after it (their order is the
    order the day drains in), are returned as :class:`Queued`. A 429 on create queues too.

    Without limits, up to ``workers`` request files upload at once, ahead of the shard whose
    batch is being created: only files no batch of the day was made from yet (so a re-run
    uploads nothing), and an upload left unused is deleted. Batches are created, checked
    for races and recorded one at a time, in shard order, from this thread.

    With ``prune``, a shard's local file is deleted once its batch is recorded: the backend
    holds its copy until the batch is collected, and requests sent again are always built
    anew from the input snapshot (pruning halves a large day's peak disk use).
    """
    sends = iter_sends(build.folder)
    submitter = Submitter(client, log)
    estimator = estimator or Estimator(record, build.model)
    submitted: list[Submitted] = []
    added_tokens = 0
    ahead = workers if budget is None or not budget.limited else 0
    made = {b.sha256 for b in record.batches(date)} if ahead else set()
    uploads: dict[int, Future[str]] = {}  # shard position -> its upload, started ahead
    started = 0  # shards up to here were considered for an upload ahead
    with ThreadPoolExecutor(max(1, ahead), thread_name_prefix="submit-upload") as pool:
        try:
            for position, shard in enumerate(build.shards):
                for later in range(started, min(position + ahead, len(build.shards))):
                    upcoming = build.shards[later]
                    if upcoming.sha256 not in made and not submitter.listed(
                        {"synth_task": task.name, "synth_partition": date,
                         "synth_sha256": upcoming.sha256}
                    ):  # fmt: skip
                        uploads[later] = pool.submit(upload_file, client, upcoming.path)
                started = max(started, position + ahead)
                # Plain (custom_id, hash, attempt, round) tuples: a Send per row costs more
                # than the row's insert.
                requests = list(islice(sends, shard.requests))
                attempt = max(map(itemgetter(2), requests))
                round_ = max(map(itemgetter(3), requests))
                wanted = identity(task, date, shard, attempt, round_)
                recorded = record.batch_for(date, shard.sha256, attempt, round_)
                tokens = estimator.tokens(shard.bytes)
                why = None
                if budget is not None and recorded is None:
                    why = budget.refusal(
                        build.model, tokens, added_tokens=added_tokens, added=position
                    )
                upload = uploads.pop(position, None)  # ensure uses it or deletes it
                try:
                    batch, how = (
                        (None, "") if why else submitter.ensure(shard, wanted, recorded, upload)
                    )
                except openai.RateLimitError as exc:
                    batch, how, why = None, "", f"the Batch API answered 429 ({exc.message})"
                if batch is None:
                    rest = build.shards[position:]
                    queued = Queued(
                        len(rest),
                        sum(s.requests for s in rest),
                        sum(estimator.tokens(s.bytes) for s in rest),
                        why or "no room",
                    )
                    log(f"{queued.shards} request file(s) wait for room: {queued.why}")
                    return submitted, queued
                added_tokens += tokens if how == "new" else 0
                cost = estimator.estimate(shard.requests, shard.bytes).usd
                record.record_batch(
                    batch.id,
                    partition=date,
                    sha256=shard.sha256,
                    attempt=attempt,
                    round_=round_,
                    path=shard.path,
                    status=batch.status,
                    sends=requests,
                    model=build.model,
                    est_tokens=tokens,
                    est_cost=cost,
                )
                del requests
                if prune:
                    Path(shard.path).unlink(missing_ok=True)
                name = Path(shard.path).name
                log(f"{name}: batch {batch.id} ({how}, {batch.status}, {shard.requests} requests)")
                submitted.append(
                    Submitted(name, batch.id, shard.requests, batch.status, how, attempt, round_)
                )
        finally:
            for upload in uploads.values():  # a failure or a queue stopped the submission
                _discard(client, upload)
    return submitted, None
