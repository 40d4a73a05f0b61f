"""Which result files a batch has, and fetching them with a progress bar.

The streaming and the atomic write are the library's (:func:`remote.download_file`); this
module only decides what to fetch and shows progress while the library writes.
"""

from dataclasses import dataclass
from pathlib import Path

from openai.types import Batch
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from synth_assets.batch import (
    TERMINAL,
    SynthError,
    atomic_write,
    batch_error_summary,
    download_file,
)

from ._common import Api
from ._render import counts


@dataclass(frozen=True, slots=True)
class Fetched:
    """One file written: which kind, where, how many bytes."""

    kind: str  # "output" or "error"
    path: Path
    bytes: int


def default_error_path(output: Path) -> Path:
    """Where the error file goes when not told: ``results.jsonl`` -> ``results.errors.jsonl``."""
    return output.with_name(f"{output.stem}.errors{output.suffix or '.jsonl'}")


def result_file_ids(batch: Batch) -> tuple[str | None, str | None]:
    """The batch's (output, error) file ids, or a sentence saying why there is nothing yet."""
    failed, completed, total = counts(batch)
    if batch.status not in TERMINAL:
        done = f" ({completed + failed} of {total} requests answered)" if total else ""
        raise SynthError(
            f"batch {batch.id} is still {batch.status}{done}; there is nothing to download until "
            f"it is completed, expired or cancelled (`synth batch status --batch-id {batch.id}` "
            "shows where it is)."
        )
    if batch.output_file_id or batch.error_file_id:
        return batch.output_file_id, batch.error_file_id
    if batch.status == "failed":
        reason = (batch_error_summary(batch) or "no reason given").rstrip(".")
        raise SynthError(f"batch {batch.id} failed ({reason}); it has no results to download.")
    if batch.status == "completed":
        # The API may publish output_file_id a little after the status turns completed.
        raise SynthError(
            f"batch {batch.id} is completed but its result files are not published yet; "
            "try again in a minute."
        )
    raise SynthError(
        f"batch {batch.id} was {batch.status} before any request ran; it has no results to "
        "download."
    )


def fetch(api: Api, file_id: str, destination: Path, kind: str, console: Console) -> Fetched:
    """Download one file atomically, with a progress bar when ``console`` is a terminal."""
    with api.errors():
        if not console.is_terminal:
            return Fetched(kind, destination, download_file(api.client, file_id, destination))
        size = api.client.files.retrieve(file_id).bytes
        columns = (
            TextColumn("{task.description}"),
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            TimeRemainingColumn(),
        )
        with Progress(*columns, console=console) as bar:
            task = bar.add_task(f"{kind} -> {destination}", total=size or None)

            def advance(written: int) -> None:
                bar.update(task, completed=written)

            written = download_file(api.client, file_id, destination, progress=advance)
            bar.update(task, completed=written, total=written)
    return Fetched(kind, destination, written)


def write_empty(path: Path) -> None:
    """An empty output file, so that ``synth batch parse`` runs the same for every batch."""
    with atomic_write(path):
        pass
