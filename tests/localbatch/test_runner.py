"""Restart safety at its sharpest: a crash between writing a chunk and committing it.

These drive the runner and the store directly (no HTTP) so the crash can be placed exactly.
"""

import shutil
import time
from collections import Counter
from pathlib import Path

import pytest
from pydantic_core import from_json

from synth_assets.localbatch.config import ServerSettings
from synth_assets.localbatch.records import BatchRecord
from synth_assets.localbatch.runner import Runner
from synth_assets.localbatch.store import Store

from .helpers import write_requests


class Crash(BaseException):
    """The process dies: nothing after this point runs (not even lease release)."""


class CrashingStore(Store):
    """A store whose process dies right before committing its ``crash_at``-th chunk."""

    def __init__(self, data_dir: Path, crash_at: int) -> None:
        super().__init__(data_dir)
        self.commits = 0
        self.crash_at = crash_at
        self.dead = False

    def commit_chunk(self, *args, **kwargs) -> bool:
        self.commits += 1
        if self.commits == self.crash_at:
            self.dead = True
            raise Crash
        return super().commit_chunk(*args, **kwargs)

    def release(self, *args, **kwargs) -> None:
        if not self.dead:  # a dead process releases nothing
            super().release(*args, **kwargs)


def _batch(store: Store, tmp_path: Path, count: int) -> tuple[BatchRecord, list[str]]:
    ids = write_requests(tmp_path / "requests.jsonl", count)
    file_id, temporary = store.new_upload()
    shutil.copy(tmp_path / "requests.jsonl", temporary)
    final = temporary.with_name(f"{file_id}.jsonl")
    temporary.rename(final)
    record = store.add_file(
        file_id, filename="r.jsonl", purpose="batch", nbytes=final.stat().st_size, path=final
    )
    settings = ServerSettings(data_dir=store.data_dir, chunk_size=10).batch_defaults()
    batch = store.create_batch(
        endpoint="/v1/chat/completions",
        input_file=record,
        completion_window="24h",
        metadata=None,
        settings=settings,
    )
    return batch, ids


def _run_to_the_end(runner: Runner, store: Store, batch_id: str) -> BatchRecord:
    for _ in range(1000):
        runner.run_once()
        batch = store.get_batch(batch_id)
        assert batch is not None
        if batch.status in ("completed", "failed", "expired", "cancelled"):
            return batch
        time.sleep(0.01)
    raise AssertionError("the batch did not finish")


def test_a_crash_before_a_commit_leaves_no_trace_in_the_output(tmp_path: Path) -> None:
    settings = ServerSettings(data_dir=tmp_path / "state", chunk_size=10, lease_s=0.2)
    crashing = CrashingStore(settings.data_dir, crash_at=3)
    batch, ids = _batch(crashing, tmp_path, 55)
    doomed = Runner(crashing, settings)
    with pytest.raises(Crash):
        for _ in range(100):
            doomed.run_once()
    orphans = list((settings.data_dir / "parts" / batch.id).glob("*"))
    assert len(orphans) == 3  # two committed chunks, and the one the crash left behind

    time.sleep(0.3)  # the dead runner's lease lapses
    store = Store(settings.data_dir)
    done = _run_to_the_end(Runner(store, settings), store, batch.id)

    assert done.status == "completed"
    assert (done.completed, done.total) == (55, 55)
    output = store.resolve(store.get_file(done.output_file_id).path).read_bytes()
    answered = Counter(from_json(line)["custom_id"] for line in output.splitlines())
    assert sorted(answered) == ids and set(answered.values()) == {1}
    assert not (settings.data_dir / "parts" / batch.id).exists()  # parts cleaned up


def test_a_runner_that_lost_its_lease_cannot_write(tmp_path: Path) -> None:
    store = Store(tmp_path / "state")
    batch, _ = _batch(store, tmp_path, 5)
    stale = store.claim("host:1:a", lease_s=0.05)
    assert stale is not None and store.claim("host:2:b", lease_s=10) is None  # held
    time.sleep(0.1)
    fresh = store.claim("host:2:b", lease_s=10)
    assert fresh is not None and fresh.id == stale.id

    commit = {"new_offset": 10, "parts": [], "completed": 1, "failed": 0, "usage": (0, 0, 0, 0)}
    assert not store.commit_chunk(stale, "host:1:a", done=False, **commit)
    assert not store.update(stale.id, "host:1:a", expect_status="validating", status="failed")
    assert store.commit_chunk(fresh, "host:2:b", done=False, **commit)
    assert not store.commit_chunk(fresh, "host:2:b", done=False, **commit)  # same chunk twice
    assert store.get_batch(batch.id).completed == 1


def test_leases_of_dead_processes_are_freed_at_start(tmp_path: Path) -> None:
    import socket

    store = Store(tmp_path / "state")
    batch, _ = _batch(store, tmp_path, 5)
    dead_owner = f"{socket.gethostname()}:999999999:dead"
    assert store.claim(dead_owner, lease_s=3600) is not None
    runner = Runner(store, ServerSettings(data_dir=store.data_dir))

    assert store.release_dead_leases(runner._owner_is_dead) == [batch.id]
    assert store.claim("someone:1:else", lease_s=1) is not None


def test_ids_cannot_name_paths(tmp_path: Path) -> None:
    store = Store(tmp_path / "state")
    for bad in ("../../etc/passwd", "file-../../x", "file-abc/../../x", "", "file-"):
        assert store.get_file(bad) is None
        assert store.get_batch(bad) is None
    with pytest.raises(PermissionError):
        store.resolve("../outside")
    with pytest.raises(PermissionError):
        store.resolve("/etc/passwd")
