"""Pruning a day's request and result files once the record holds what they said.

Off by default (``SYNTH_PRUNE_FILES`` / ``storage.prune_files``). When on, a shard's local
file goes as soon as its batch is recorded (``submit_build(prune=True)``: the backend
holds its copy), the batch's other files as soon as its results are in the record
(:func:`prune_batch`, called by the collect step), and once a day's tables are published
for its current state every file of the day that is left goes too (:func:`prune_day`, a
sweep that also catches batches collected while pruning was off, refused batches, and
deletions that failed before; a day already published is swept by its submit run).

What goes, and why nothing needs it again:

- the request shards of the day's builds (``requests/date=D/g<N>/requests-NNNNN.jsonl``):
  a request sent again (a retry, a lost or refused batch, fresh answers) is built again
  from the input snapshot in a new build, never read from an old shard (the resubmit run
  builds before it submits; only ``submitted_batch`` materialized alone, on a build one of
  whose batches failed, would read a shard again, and it then says in one sentence to
  materialize ``batch_requests`` too);
- the downloaded output and error files (``results/<batch>.{output,error}.jsonl``): the
  record keeps each request's outcome with its result line as served, and the batch's
  extra lines, which is all the tables are assembled from (``publish.py``; a line that lost
  to an earlier valid answer of its request is in neither);
- on the backend, each collected batch's uploaded input file and its output and error
  files (``client.files.delete``; the batch object itself stays, so it is still found
  again by its identity and never paid twice).

What stays: the request record, each build's manifest, plan, sends and invalid inputs
(the tables, the sensor and the checks read them), the input snapshot (the label summary
reads it; the next submit run writes it again), and the tables. A re-run of a pruned day
with nothing new therefore sends nothing and publishes nothing; an edited or added row is
built, sent and answered as usual. Not covered: a day whose record is lost. Its batches
are found again by their metadata, but their files are gone, so their results cannot be
downloaded again: send such days again with ``fresh_answers``.
"""

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import openai
from openai.types import Batch

from .plan import PLAN_FILE, load_build
from .record import RequestRecord

RESULT_SOURCES = ("output", "error")


@dataclass
class Pruned:
    """What a prune deleted: local files and their bytes, and files on the backend."""

    local_files: int = 0
    local_bytes: int = 0
    backend_files: int = 0

    def add(self, other: "Pruned") -> None:
        """Count ``other`` in too."""
        self.local_files += other.local_files
        self.local_bytes += other.local_bytes
        self.backend_files += other.backend_files

    def describe(self) -> str:
        """For a log line: ``pruned 3 local files (1.2 MB) and 3 files on the backend``."""
        return (
            f"pruned {self.local_files} local files ({self.local_bytes / 1e6:,.1f} MB) and "
            f"{self.backend_files} files on the backend"
        )


def result_files(results_dir: Path, batch_id: str) -> list[Path]:
    """Where the collect step downloads a batch's output and error files."""
    return [results_dir / f"{batch_id}.{source}.jsonl" for source in RESULT_SOURCES]


def prune_batch(
    client: openai.OpenAI,
    record: RequestRecord,
    batch: Batch,
    results_dir: Path,
    log: Callable[[str], None] = lambda _: None,
) -> Pruned:
    """Delete the files of a batch whose results are in the record: its input, output and
    error files on the backend, its downloaded files, and the shard it was created from.

    A batch not collected yet is left alone (its files are still needed)."""
    known = record.batch(batch.id)
    if known is None or known.collected is None:
        return Pruned()
    pruned = Pruned()
    for file_id in (batch.input_file_id, batch.output_file_id, batch.error_file_id):
        if file_id and _delete_remote(client, file_id, log):
            pruned.backend_files += 1
    pruned.add(_delete_local([*result_files(results_dir, batch.id), Path(known.path)]))
    return pruned


def prune_day(
    client: openai.OpenAI,
    record: RequestRecord,
    date: str,
    day_dir: Path,
    results_dir: Path,
    log: Callable[[str], None] = lambda _: None,
) -> Pruned:
    """Delete what is left of a published day's files (see the module docstring).

    ``day_dir`` is the day's folder of builds (``requests/date=D``). Each collected batch
    of the day is looked up on the backend for its file ids (one call per batch; a batch
    the backend no longer knows has nothing left there)."""
    pruned = Pruned()
    for known in record.batches(date):
        if known.collected is None:
            continue  # in flight still (a batch of an older build nobody waits for)
        try:
            batch = client.batches.retrieve(known.batch_id)
        except openai.NotFoundError:  # nothing left on the backend; the local files go
            local = [*result_files(results_dir, known.batch_id), Path(known.path)]
            pruned.add(_delete_local(local))
            continue
        except openai.APIError as exc:
            log(f"could not look up batch {known.batch_id} now ({type(exc).__name__}); "
                "a later prune of the day deletes its files")  # fmt: skip
            continue
        pruned.add(prune_batch(client, record, batch, results_dir, log))
    pruned.add(_delete_local(_shards(day_dir)))
    return pruned


def _shards(day_dir: Path) -> list[Path]:
    """The request shards of every build of the day, as their plans list them."""
    shards: list[Path] = []
    for plan in sorted(day_dir.glob(f"g*/{PLAN_FILE}")):
        shards += [Path(shard.path) for shard in load_build(plan.parent).shards]
    return shards


def _delete_local(paths: Iterable[Path]) -> Pruned:
    pruned = Pruned()
    for path in paths:
        try:
            size = path.stat().st_size
            path.unlink()
        except FileNotFoundError:
            continue
        pruned.local_files += 1
        pruned.local_bytes += size
    return pruned


def _delete_remote(client: openai.OpenAI, file_id: str, log: Callable[[str], None]) -> bool:
    """Delete a file on the backend; False when it was gone already, or could not be
    deleted now (said in the log; pruning is housekeeping and never fails a run)."""
    try:
        client.files.delete(file_id)
    except openai.NotFoundError:
        return False
    except openai.APIError as exc:
        log(f"could not delete file {file_id} on the backend now ({type(exc).__name__}); "
            "a later prune of the day tries again")  # fmt: skip
        return False
    return True
