"""One writer of a day's files at a time, across processes.

A scheduled run and a manual or backfill run of the same day would otherwise rebuild the
same folders and publish the same tables at once. Each step that writes a day's files holds
an advisory lock on ``<task work folder>/locks/<date>.lock`` (``fcntl.flock``, POSIX): a
second run of the same day waits for the first one's step, then works from what it left.
Different days never wait for each other. The lock goes with the process that holds it, so
a killed run leaves nothing to clean up.
"""

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def day_lock(folder: Path, date: str) -> Iterator[None]:
    """Hold the lock of ``date`` under ``folder`` (a task's work folder) for the block."""
    path = folder / "locks" / f"{date}.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)  # blocks while another run holds it
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
