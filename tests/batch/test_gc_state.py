"""The library leaves the caller's GC as it found it, and never forks beside another thread
(issue 16, findings 1 and 5).

Every public call runs between two snapshots of the GC state: enabled or not, thresholds,
how many objects are frozen, and whether a reference cycle made before the call is still
freed by ``gc.collect()`` after it (``gc.freeze()`` used to keep it forever). Forks are
counted with ``os.register_at_fork`` in a fresh interpreter, where this test controls
exactly which threads run.
"""

import gc
import json
import os
import subprocess
import sys
import threading
import weakref
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from helpers import Triage, chat_line, error_line, write_jsonl

from synth_assets.batch import BatchJob, ResultFiles, iter_results, parse_to_parquet, write_tables
from synth_assets.cli.batch import batch

ROWS = 2000  # enough tracked objects for several young collections during one call
REQUESTED = [f"r{i}" for i in range(ROWS + 3)]


class _Node:
    """A cycle whose death a weak reference can observe."""

    def __init__(self) -> None:
        self.me = self


def _cycle() -> "weakref.ref[_Node]":
    return weakref.ref(_Node())


@pytest.fixture(params=["enabled", "disabled", "frozen"])
def caller_gc(request: pytest.FixtureRequest) -> Iterator[str]:
    """The caller's GC: enabled, disabled, or enabled with objects frozen (a pre-fork server)."""
    was_enabled = gc.isenabled()
    (gc.disable if request.param == "disabled" else gc.enable)()
    if request.param == "frozen":
        gc.freeze()
    try:
        yield request.param
    finally:
        gc.unfreeze()
        (gc.enable if was_enabled else gc.disable)()


def assert_gc_untouched(call: Callable[[], Any]) -> Any:
    """Run ``call``; the GC must be as before, and a cycle made before it collectable."""
    before = (gc.isenabled(), gc.get_threshold(), gc.get_freeze_count())
    cycle = _cycle()
    result = call()
    assert (gc.isenabled(), gc.get_threshold(), gc.get_freeze_count()) == before
    gc.collect()
    assert cycle() is None, "a reference cycle made before the call survived gc.collect()"
    return result


@pytest.fixture
def output(tmp_path: Path) -> Path:
    lines = [chat_line(f"r{i}") for i in range(ROWS)]
    lines.append(chat_line(f"r{ROWS}", "not json"))
    lines.append(error_line(f"r{ROWS + 1}", "server_error", "boom"))
    return write_jsonl(tmp_path / "output.jsonl", lines)


def test_parse_from_file(output: Path, caller_gc: str) -> None:
    parsed, unparsed = assert_gc_untouched(
        lambda: BatchJob.parse_from_file(output, Triage, requested=REQUESTED)
    )
    assert (len(parsed), len(unparsed)) == (ROWS, 3)


def test_iter_results(output: Path, caller_gc: str) -> None:
    records = assert_gc_untouched(
        lambda: list(iter_results(ResultFiles(output, requested=REQUESTED), Triage))
    )
    assert len(records) == ROWS + 3


@pytest.mark.parametrize("workers", [1, 2])
def test_write_tables(output: Path, tmp_path: Path, caller_gc: str, workers: int) -> None:
    summary = assert_gc_untouched(
        lambda: write_tables(
            [ResultFiles(output, requested=REQUESTED)],
            response_model=Triage,
            parsed_path=tmp_path / "p.parquet",
            unparsed_path=tmp_path / "u.parquet",
            workers=workers,
        )
    )
    assert (summary.parsed, summary.unparsed) == (ROWS, 3)


def test_create_from_messages(tmp_path: Path, caller_gc: str) -> None:
    messages = [[{"role": "user", "content": f"email {i}"}] for i in range(ROWS)]

    def build() -> list[Any]:
        lines = list(BatchJob.create_from_messages(messages, "gpt-4o-mini", Triage))
        BatchJob.create_from_messages(messages, "gpt-4o-mini", Triage, tmp_path / "r.jsonl")
        ids = [f"id-{i}" for i in range(ROWS)]
        BatchJob.create_from_messages(
            messages, "gpt-4o-mini", Triage, tmp_path / "k.jsonl", custom_ids=ids
        )
        return lines

    assert len(assert_gc_untouched(build)) == ROWS


@pytest.mark.parametrize("suffix", [".parquet", ".jsonl"])
def test_parse_command(output: Path, tmp_path: Path, caller_gc: str, suffix: str) -> None:
    requests = tmp_path / "requests.txt"
    write_jsonl(requests, [{"custom_id": custom_id} for custom_id in REQUESTED])
    args = [
        "parse", "--file-path", str(output), "--requests-file", str(requests),
        "--response-model", "helpers:Triage",
        "--parsed-out", str(tmp_path / f"p{suffix}"),
        "--unparsed-out", str(tmp_path / f"u{suffix}"),
    ]  # fmt: skip
    result = assert_gc_untouched(lambda: CliRunner().invoke(batch, args, catch_exceptions=False))
    assert result.exit_code == 0, result.output


# ---- the GC is paused only when no other thread runs ----


def _collections_during(call: Callable[[], Any]) -> int:
    """How many automatic collections the GC started while ``call`` ran."""
    started: list[int] = []

    def count(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            started.append(info["generation"])

    gc.callbacks.append(count)
    try:
        call()
    finally:
        gc.callbacks.remove(count)
    return len(started)


@pytest.fixture
def other_thread() -> Iterator[threading.Thread]:
    """Another thread running in this process, as in a server, a notebook or a Dagster step."""
    stop = threading.Event()
    thread = threading.Thread(target=stop.wait, daemon=True)
    thread.start()
    try:
        yield thread
    finally:
        stop.set()
        thread.join()


def test_alone_the_gc_is_paused_for_the_call(output: Path) -> None:
    if threading.active_count() > 1:
        pytest.skip("another test left a thread running in this process")
    gc.enable()
    collections = _collections_during(lambda: BatchJob.parse_from_file(output, Triage))
    assert collections == 0


def test_beside_another_thread_the_gc_keeps_running(output: Path, other_thread: Any) -> None:
    gc.enable()
    collections = _collections_during(lambda: BatchJob.parse_from_file(output, Triage))
    assert collections > 0


# ---- workers are forked only when no other thread runs ----

# A script as a user writes it: the model is defined in __main__ and there is no
# `if __name__ == "__main__"` guard. It prints how many times the process forked.
_SCRIPT = """
import json, os, sys, threading
from enum import Enum
from pydantic import BaseModel
from synth_assets.batch import parse_to_parquet

forks = []
os.register_at_fork(before=lambda: forks.append(os.getpid()))

class Labels(str, Enum):
    SPAM = "spam"
    NOT_SPAM = "not_spam"

class Triage(BaseModel):
    label: Labels
    summary: str

output, folder, threads = sys.argv[1], sys.argv[2], sys.argv[3] == "thread"
stop = threading.Event()
if threads:
    threading.Thread(target=stop.wait).start()
summary = parse_to_parquet(
    output, response_model=Triage, parsed_path=folder + "/p.parquet",
    unparsed_path=folder + "/u.parquet", workers=2,
)
stop.set()
print(json.dumps({"forks": len(forks), "parsed": summary.parsed, "unparsed": summary.unparsed}))
"""


def _run_script(output: Path, folder: Path, threads: str) -> dict[str, int]:
    script = folder / "user_script.py"
    script.write_text(_SCRIPT)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    done = subprocess.run(
        [sys.executable, str(script), str(output), str(folder), threads],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_no_fork_while_another_thread_runs(output: Path, tmp_path: Path) -> None:
    assert _run_script(output, tmp_path, "thread") == {"forks": 0, "parsed": ROWS, "unparsed": 2}


def test_workers_are_forked_in_a_single_threaded_script(output: Path, tmp_path: Path) -> None:
    # The counter sees forks when there are some: the test above can fail.
    result = _run_script(output, tmp_path, "alone")
    assert result == {"forks": 2, "parsed": ROWS, "unparsed": 2}


def test_parse_to_parquet_keeps_rows_whichever_way(output: Path, tmp_path: Path) -> None:
    summaries = [
        parse_to_parquet(
            output,
            response_model=Triage,
            parsed_path=tmp_path / f"p{workers}.parquet",
            unparsed_path=tmp_path / f"u{workers}.parquet",
            workers=workers,
        )
        for workers in (1, 2)
    ]
    assert summaries[0] == summaries[1]
