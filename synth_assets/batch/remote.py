"""Talking to a Batch API through the ``openai`` client: submit, find, download.

Submitting is idempotent by identity: a batch carries its identity (task, partition,
sha256 of the request file...) in its ``metadata``, and a :class:`BatchIndex` (or
:func:`find_batch` for one lookup) finds a live batch with that identity before a new one
is created.
"""

import os
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import openai
from openai.types import Batch

from .errors import SynthError
from .files import atomic_write

TERMINAL = frozenset({"completed", "failed", "expired", "cancelled"})
# A failed batch ran nothing (its file was refused): its identity may be submitted again.
# Expired and cancelled ones did run part of their requests: they are reused, and the
# pipeline resubmits only what they left undone (never the whole file twice).
NOT_REUSABLE = frozenset({"failed"})
# The Batch API's limits on a batch's ``metadata``: at most 16 pairs, keys of at most 64
# characters, values of at most 512.
MAX_METADATA_PAIRS = 16
MAX_METADATA_KEY = 64
MAX_METADATA_VALUE = 512
_CHUNK = 1 << 20


def iter_batches(
    client: openai.OpenAI, *, page_size: int = 100, max_pages: int | None = None
) -> Iterator[Batch]:
    """Every batch, newest first, through the SDK's own auto-pagination (each page is asked
    for only when the one before is used up); at most ``max_pages`` pages."""
    most = None if max_pages is None else max_pages * page_size
    for count, batch in enumerate(client.batches.list(limit=page_size)):
        if most is not None and count >= most:
            return
        yield batch


class BatchIndex:
    """The account's batches, listed once, for looking up many identities.

    Looking up each shard by scanning the batch list anew cost a busy account up to 50 list
    calls per lookup, and two lookups per new shard (before submitting, and after it, to
    settle races). The index lists once (newest first, at most ``max_pages`` pages) and
    :meth:`refresh` then reads only the batches created since.
    """

    def __init__(self, client: openai.OpenAI, *, max_pages: int = 50) -> None:
        self._client = client
        self._max_pages = max_pages
        self._batches: list[Batch] = []  # newest first
        self.refresh()

    def refresh(self) -> None:
        """Add the batches created since the last listing (they come first in the list)."""
        known = {batch.id for batch in self._batches}
        fresh: list[Batch] = []
        for batch in iter_batches(self._client, max_pages=self._max_pages):
            if batch.id in known:
                break
            fresh.append(batch)
        self._batches = fresh + self._batches

    def find(self, identity: Mapping[str, str]) -> Batch | None:
        """The oldest reusable batch whose metadata holds ``identity``, if any.

        The oldest, so that two submitters racing on one identity agree on the same batch.
        Its status is read afresh: the listing may be minutes old.
        """
        for listed in reversed(self._batches):  # oldest first
            metadata = listed.metadata or {}
            if listed.status in NOT_REUSABLE or any(
                metadata.get(k) != v for k, v in identity.items()
            ):
                continue
            batch = self._client.batches.retrieve(listed.id)
            if batch.status not in NOT_REUSABLE:
                return batch
        return None

    def mentions(self, pairs: Mapping[str, str]) -> bool:
        """True when a listed batch, of any status, has all of ``pairs`` in its metadata
        (a cheap hint, read from the listing alone)."""
        return any(
            all((batch.metadata or {}).get(k) == v for k, v in pairs.items())
            for batch in self._batches
        )


def find_batch(
    client: openai.OpenAI, identity: Mapping[str, str], *, max_pages: int = 50
) -> Batch | None:
    """The oldest reusable batch whose metadata holds ``identity`` (one lookup; for many,
    use a :class:`BatchIndex`)."""
    return BatchIndex(client, max_pages=max_pages).find(identity)


def submit_file(
    client: openai.OpenAI,
    path: str | os.PathLike[str],
    *,
    endpoint: str,
    metadata: Mapping[str, str] | None = None,
    completion_window: str = "24h",
) -> Batch:
    """Upload a request file (streamed) and create its batch; return the new batch."""
    return create_batch(
        client,
        upload_file(client, path),
        endpoint=endpoint,
        metadata=metadata,
        completion_window=completion_window,
    )


def upload_file(client: openai.OpenAI, path: str | os.PathLike[str]) -> str:
    """Upload a request file (streamed, purpose ``batch``); return its file id."""
    with open(path, "rb") as handle:
        return client.files.create(file=(Path(path).name, handle), purpose="batch").id


def create_batch(
    client: openai.OpenAI,
    file_id: str,
    *,
    endpoint: str,
    metadata: Mapping[str, str] | None = None,
    completion_window: str = "24h",
) -> Batch:
    """Create the batch of an uploaded request file; return it."""
    return client.batches.create(
        input_file_id=file_id,
        endpoint=endpoint,  # type: ignore[arg-type]
        completion_window=completion_window,  # type: ignore[arg-type]
        metadata=dict(metadata or {}),
    )


def download_file(
    client: openai.OpenAI,
    file_id: str,
    destination: str | os.PathLike[str],
    *,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Stream a file's content to ``destination`` atomically; return the number of bytes.

    ``progress``, when given, is called with the bytes written so far after each chunk.
    """
    written = 0
    with (
        client.files.with_streaming_response.content(file_id) as response,
        atomic_write(destination) as out,
    ):
        for chunk in response.iter_bytes(_CHUNK):
            out.write(chunk)
            written += len(chunk)
            if progress is not None:
                progress(written)
    return written


def batch_error_summary(batch: Batch) -> str | None:
    """The batch's own errors (e.g. a failed validation) as one short sentence."""
    errors = batch.errors.data if batch.errors and batch.errors.data else []
    if not errors:
        return None
    parts = [
        f"line {e.line}: {e.message}" if e.line is not None else str(e.message) for e in errors[:3]
    ]
    more = f" (+{len(errors) - 3} more)" if len(errors) > 3 else ""
    return "; ".join(parts) + more


def require_terminal(batch: Batch) -> None:
    """Raise a clear error when results are asked of a batch still running."""
    if batch.status not in TERMINAL:
        raise SynthError(
            f"batch {batch.id} is still {batch.status}; its results can be collected once it "
            "is completed, expired, cancelled or failed."
        )
