"""Submitting a build's shards: one batch per shard, never created twice.

A shard's identity is (task, partition, sha256 of its file, attempt, round): the highest
attempt and round of its requests. The same requests sent again (a retry, fresh answers)
therefore get a new identity, while a re-run of the same build finds its batch again: first
in the record, then in the Batch API's own ``metadata`` (a run that crashed between
creating a batch and recording it pays nothing twice).
"""

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import openai
from openai.types import Batch

from synth_assets.batch.remote import NOT_REUSABLE, BatchIndex, submit_file
from synth_assets.batch.shards import Shard
from synth_assets.tasks.base import BatchTask

from .plan import Build, iter_sends
from .record import RequestRecord, Send


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
        self, shard: Shard, wanted: dict[str, str], recorded: str | None = None
    ) -> tuple[Batch, str]:
        """The batch answering ``shard`` and how it was had: ``record`` (the id the record
        gave), ``api`` (found by its metadata) or ``new``."""
        if recorded is not None:
            try:
                candidate = self.client.batches.retrieve(recorded)
            except openai.NotFoundError:  # the backend forgot it (e.g. a wiped local server)
                candidate = None
            if candidate is not None and candidate.status not in NOT_REUSABLE:
                return candidate, "record"
        self._index = self._index or BatchIndex(self.client)
        found = self._index.find(wanted)
        if found is not None:
            return found, "api"
        name = Path(shard.path).name
        metadata = {**wanted, "synth_shard": name}
        batch = submit_file(self.client, shard.path, endpoint=shard.endpoint, metadata=metadata)
        # Two submitters may have raced past the lookup: all agree on the oldest batch,
        # and a younger one is cancelled before it runs.
        self._index.refresh()
        oldest = self._index.find(wanted)
        if oldest is not None and oldest.id != batch.id:
            self.client.batches.cancel(batch.id)
            self.log(f"{name}: batch {batch.id} raced {oldest.id}; cancelled it")
            return oldest, "api"
        return batch, "new"


def submit_build(
    client: openai.OpenAI,
    record: RequestRecord,
    task: BatchTask,
    date: str,
    build: Build,
    log: Callable[[str], None] = lambda _: None,
) -> list[Submitted]:
    """Make sure each shard of ``build`` has a live batch, and record it with its requests."""
    sends = iter_sends(build.folder)
    submitter = Submitter(client, log)
    submitted = []
    for shard in build.shards:
        requests = [Send(*next(sends)) for _ in range(shard.requests)]
        attempt = max(s.attempt for s in requests)
        round_ = max(s.round for s in requests)
        wanted = identity(task, date, shard, attempt, round_)
        recorded = record.batch_for(date, shard.sha256, attempt, round_)
        batch, how = submitter.ensure(shard, wanted, recorded)
        record.record_batch(
            batch.id,
            partition=date,
            sha256=shard.sha256,
            attempt=attempt,
            round_=round_,
            path=shard.path,
            status=batch.status,
            sends=requests,
        )
        name = Path(shard.path).name
        log(f"{name}: batch {batch.id} ({how}, {batch.status}, {shard.requests} requests)")
        submitted.append(
            Submitted(name, batch.id, shard.requests, batch.status, how, attempt, round_)
        )
    return submitted
