"""Two runs of one day take turns on its files; other days never wait."""

import os
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

from synth_assets.batch.files import atomic_write, temp_path
from synth_assets.pipeline.locks import day_lock


def test_a_second_process_waits_for_the_day_and_not_for_another_day(tmp_path: Path) -> None:
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(f"""
                import time
                from pathlib import Path
                from synth_assets.pipeline.locks import day_lock
                with day_lock(Path({str(tmp_path)!r}), "2026-11-01"):
                    print("held", flush=True)
                    time.sleep(1.5)
            """),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout is not None and holder.stdout.readline().strip() == "held"

    with day_lock(tmp_path, "2026-11-02"):  # another day: no wait
        other_day_free = holder.poll() is None
    with day_lock(tmp_path, "2026-11-01"):  # the same day: only once the holder let go
        # The holder's lock goes when its block ends; its process may take a moment more.
        same_day_after = holder.wait(timeout=5) == 0

    assert other_day_free and same_day_after
    assert holder.wait(timeout=10) == 0


def test_two_writers_of_one_file_never_share_a_temporary_file(tmp_path: Path) -> None:
    target = tmp_path / "part-0.parquet"
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def write(value: int) -> None:
        try:
            with atomic_write(target) as out:
                barrier.wait()  # both are writing at once
                out.write(str(value).encode() * 100_000)
                time.sleep(0.05)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(n,)) for n in (1, 2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert target.read_bytes() in (b"1" * 100_000, b"2" * 100_000)  # one whole file
    assert not list(tmp_path.glob(".part-0.parquet.*"))  # no temporary file left


def test_a_killed_writers_leftovers_go_but_a_live_writers_stay(tmp_path: Path) -> None:
    target = tmp_path / "out.jsonl"
    legacy = tmp_path / ".out.jsonl.part"  # the fixed name of older versions
    old = tmp_path / ".out.jsonl.999-deadbeef.part"
    live = tmp_path / ".out.jsonl.998-cafebabe.part"
    for path in (legacy, old, live):
        path.write_bytes(b"half")
    long_ago = time.time() - 3600
    os.utime(old, (long_ago, long_ago))

    fresh = temp_path(target, ".part")

    assert not legacy.exists() and not old.exists()
    assert live.exists() and fresh.name.startswith(".out.jsonl.") and fresh != live
