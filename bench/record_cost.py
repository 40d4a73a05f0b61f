"""The request record's own cost per phase: CPU s, wall s, bytes written, peak RSS.

    .venv/bin/python bench/record_cost.py --rows 1000000,2000000
    .venv/bin/python bench/record_cost.py --rows 1000000 --module /tmp/record_old.py

For N requests in batches of 50,000 (the Batch API's cap), in a fresh process per N:
``record_batch`` for every batch (what ``submitted_batch`` records), then
``record_results`` for every batch with a ~1.5 KB result line per request (what
``batch_output`` records), then every request read back by hash, 10,000 at a time in the
order they were sent, with ``outcomes`` and ``lines`` (what ``progress.evaluate`` and
``publish.assemble_tables`` do). Only the record is measured: hashes and lines are made
before each phase's clock starts, one batch at a time (memory stays flat in N).

``--module`` measures another copy of ``record.py`` (e.g. the code before a change) on the
same data, so before and after are compared on one machine at one moment.

``--history P,...`` measures one more day on a record that already holds P requests (how
the cost of a day grows as the record keeps every request ever sent):

    .venv/bin/python bench/record_cost.py --history 0,2000000,5000000 --module /tmp/record_old.py

The record of P requests is built once per P (untimed, kept in ``--scratch``) in the
schema before ``request_keys`` (one index over every request's key; its requests answered,
in 50,000-request batches, with 100-byte lines to keep it small on disk), and copied for
each measurement. The copy is opened (``open``: a migration, if the module's schema
differs, checkpointed), then a 100,000-request day is recorded: ``record_batch`` for 2
batches of 50,000 new requests, ``record_results`` for both, every request read back, and
the log checkpointed into the file (``checkpoint``: a record's writes reach its file
there). ``day`` is their total.
"""

import argparse
import hashlib
import importlib.util
import json
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import ModuleType
from typing import Any

BATCH = 50_000
SLICE = 10_000  # plan._ROWS_PER_SLICE: what the readers ask at a time
BACKEND = "http://127.0.0.1:8321/v1"


def _written() -> int:
    """Bytes this process caused to be written to storage so far (Linux)."""
    for line in Path("/proc/self/io").read_text().splitlines():
        if line.startswith("write_bytes:"):
            return int(line.split()[1])
    return 0


def _peak_mb() -> float:
    """Peak RSS since the last :func:`_reset_peak` (Linux's VmHWM)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _reset_peak() -> None:
    with open("/proc/self/clear_refs", "w") as handle:
        handle.write("5")


def _load(module_path: str | None) -> ModuleType:
    if module_path is None:
        from synth_assets.pipeline import record

        return record
    spec = importlib.util.spec_from_file_location("record_under_test", module_path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _hashes(batch: int) -> list[str]:
    return [
        hashlib.sha256(b"%d" % i).hexdigest() for i in range(batch * BATCH, (batch + 1) * BATCH)
    ]


def _line(custom_id: str, n: int) -> bytes:
    """A result line of ~1.5 KB shaped like a chat completion's (content varies per row)."""
    content = json.dumps({"label": "spam" if n % 3 else "ham", "why": f"{n % 0xFFFFF:05x} " * 170})
    body = {
        "id": f"batch_req_{n:024x}",
        "custom_id": custom_id,
        "response": {
            "status_code": 200,
            "request_id": f"req_{n:032x}",
            "body": {
                "id": f"chatcmpl-{n:020x}",
                "object": "chat.completion",
                "model": "gpt-4o-mini",
                "choices": [{"index": 0, "finish_reason": "stop",
                             "message": {"role": "assistant", "content": content}}],
                "usage": {"prompt_tokens": 210, "completion_tokens": 61, "total_tokens": 271},
            },
        },
        "error": None,
    }  # fmt: skip
    return json.dumps(body).encode()


def measure(rows: int, module_path: str | None, pragmas: list[str]) -> dict[str, dict[str, float]]:
    """Each phase's CPU s, wall s, bytes written (MB) and peak RSS (MB), in this process."""
    module = _load(module_path)
    batches = -(-rows // BATCH)
    phases: dict[str, dict[str, float]] = {}

    def phase(name: str, steps: int, prepare, run) -> None:  # type: ignore[no-untyped-def]
        cpu = wall = 0.0
        written = _written()
        _reset_peak()
        for step in range(steps):
            data = prepare(step)
            cpu_start, wall_start = time.process_time(), time.perf_counter()
            run(step, data)
            cpu += time.process_time() - cpu_start
            wall += time.perf_counter() - wall_start
            del data
        phases[name] = {
            "cpu": cpu,
            "wall": wall,
            "written_mb": (_written() - written) / 1e6,
            "peak_mb": _peak_mb(),
        }

    with tempfile.TemporaryDirectory(prefix="bench-record-cost-") as tmp:
        record = module.RequestRecord(Path(tmp) / "record.sqlite", BACKEND)
        for pragma in pragmas:  # trying a setting before it goes into the record's code
            record._db.execute(f"PRAGMA {pragma}")

        def sends(step: int) -> list[tuple[str, str, int, int]]:
            return [(f"row-{step * BATCH + i}", h, 1, 1) for i, h in enumerate(_hashes(step))]

        def record_batch(step: int, data: list[tuple[str, str, int, int]]) -> None:
            record.record_batch(
                f"batch_{step:08x}{'0' * 24}", partition="2026-12-05", sha256=f"{step:064x}",
                attempt=1, round_=1, path="requests.jsonl", status="validating", sends=data,
            )  # fmt: skip

        def answers(step: int) -> list[object]:
            # In an order unlike the sends' (an output file's order is the backend's).
            rows = list(range(step * BATCH, (step + 1) * BATCH))
            rows = rows[1::2] + rows[::2]
            return [module.Answer(f"row-{n}", None, None, None, _line(f"row-{n}", n)) for n in rows]

        def record_results(step: int, data: list[object]) -> None:
            assert record.record_results(f"batch_{step:08x}{'0' * 24}", "completed", data, [])

        def hashes(step: int) -> list[str]:
            batch, part = divmod(step * SLICE, BATCH)
            return _hashes(batch)[part : part + SLICE]

        seen = [0, 0]

        def read(_: int, data: list[str]) -> None:
            outcomes = record.outcomes(data)
            lines = record.lines(data)
            seen[0] += sum(1 for o in outcomes.values() if o.pending_batch is None)
            seen[1] += len(lines)

        phase("record_batch", batches, sends, record_batch)
        phase("record_results", batches, answers, record_results)
        phase("read", -(-rows // SLICE), hashes, read)
        record.close()
        assert seen == [batches * BATCH, batches * BATCH], seen
        phases["file"] = {"mb": sum(p.stat().st_size for p in Path(tmp).iterdir()) / 1e6}
    return phases


DAY = 2  # batches of a day in the history scenario

# The record's schema before request_keys (bench/record_cost.py's --history base): what a
# user's record holds when the new code first opens it.
_BASE_SCHEMA = """
CREATE TABLE requests (id INTEGER PRIMARY KEY, key INTEGER NOT NULL, backend TEXT NOT NULL,
    hash TEXT NOT NULL, pending_batch TEXT, round INTEGER NOT NULL DEFAULT 1, batch_id TEXT,
    custom_id TEXT, attempt INTEGER, outcome_round INTEGER, reason TEXT,
    status_code INTEGER, message TEXT, updated REAL NOT NULL);
CREATE TABLE lines (request INTEGER PRIMARY KEY, line BLOB NOT NULL);
CREATE TABLE sends (backend TEXT NOT NULL, batch_id TEXT NOT NULL, custom_id TEXT NOT NULL,
    request INTEGER NOT NULL, attempt INTEGER NOT NULL, round INTEGER NOT NULL,
    PRIMARY KEY (backend, batch_id, custom_id)) WITHOUT ROWID;
CREATE TABLE batches (backend TEXT NOT NULL, batch_id TEXT NOT NULL,
    partition TEXT NOT NULL, sha256 TEXT NOT NULL, attempt INTEGER NOT NULL,
    round INTEGER NOT NULL, path TEXT NOT NULL, requests INTEGER NOT NULL,
    created REAL NOT NULL, status TEXT, collected REAL, model TEXT, est_tokens INTEGER,
    est_cost REAL, actual_tokens INTEGER, actual_output_tokens INTEGER,
    PRIMARY KEY (backend, batch_id));
"""


def _base(requests: int, scratch: Path) -> Path:
    """A record of ``requests`` answered requests in the schema before request_keys, built
    once (rows in the order the old record_batch numbered them: by key within a batch)."""
    path = scratch / f"base-{requests}.sqlite"
    if path.exists():
        return path
    building = path.with_suffix(".building")
    building.unlink(missing_ok=True)
    db = sqlite3.connect(building, isolation_level=None)
    db.execute("PRAGMA page_size=8192")
    db.execute("PRAGMA journal_mode=OFF")
    db.executescript(_BASE_SCHEMA)
    db.execute("BEGIN")
    for batch in range(-(-requests // BATCH)):
        batch_id = f"batch_old{batch:08x}"
        first = batch * BATCH
        numbers = range(first, min(first + BATCH, requests))
        rows = sorted((int(h[:10], 16), h, n) for n in numbers
                      for h in [hashlib.sha256(b"old %d" % n).hexdigest()])  # fmt: skip
        db.executemany(
            "INSERT INTO requests VALUES (?,?,?,?,NULL,1,?,?,1,1,NULL,NULL,NULL,1.0)",
            ((first + i + 1, key, BACKEND, h, batch_id, f"old-{n}")
             for i, (key, h, n) in enumerate(rows)),
        )  # fmt: skip
        db.executemany(
            "INSERT INTO lines VALUES (?,?)",
            ((first + i + 1, b"x" * 100) for i in range(len(rows))),
        )
        db.executemany(
            "INSERT INTO sends VALUES (?,?,?,?,1,1)",
            sorted((BACKEND, batch_id, f"old-{n}", first + i + 1)
                   for i, (_, _, n) in enumerate(rows)),
        )  # fmt: skip
        db.execute(
            "INSERT INTO batches VALUES (?,?,'2026-01-01','s',1,1,'p',?,1.0,'completed',2.0,"
            "NULL,NULL,NULL,NULL,NULL)",
            (BACKEND, batch_id, len(rows)),
        )
    db.execute("CREATE INDEX requests_key ON requests (key)")
    db.execute("COMMIT")
    db.close()
    building.rename(path)
    return path


def day(base: Path, module_path: str | None) -> dict[str, dict[str, float]]:
    """One day (``DAY`` batches of new requests) recorded on a copy of ``base``."""
    module = _load(module_path)
    phases: dict[str, dict[str, float]] = {}

    def phase(name: str, run) -> None:  # type: ignore[no-untyped-def]
        written = _written()
        _reset_peak()
        cpu_start, wall_start = time.process_time(), time.perf_counter()
        run()
        phases[name] = {
            "cpu": time.process_time() - cpu_start,
            "wall": time.perf_counter() - wall_start,
            "written_mb": (_written() - written) / 1e6,
            "peak_mb": _peak_mb(),
        }

    with tempfile.TemporaryDirectory(prefix="bench-record-day-", dir=base.parent) as tmp:
        path = Path(tmp) / "record.sqlite"
        shutil.copyfile(base, path)
        opened = []

        def open_record() -> None:  # and its migration's log into the file: not the day's
            opened.append(module.RequestRecord(path, BACKEND))
            opened[0]._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")

        phase("open", open_record)
        record = opened[0]
        data: list[list[Any]] = [
            [(f"row-{step * BATCH + i}", h, 1, 1) for i, h in enumerate(_hashes(step))]
            for step in range(DAY)
        ]

        def record_batches() -> None:
            for step in range(DAY):
                assert record.record_batch(
                    f"batch_{step:08x}{'0' * 24}", partition="2026-12-05",
                    sha256=f"{step:064x}", attempt=1, round_=1, path="requests.jsonl",
                    status="validating", sends=data[step],
                )  # fmt: skip

        phase("record_batch", record_batches)
        data.clear()
        for step in range(DAY):
            rows = list(range(step * BATCH, (step + 1) * BATCH))
            rows = rows[1::2] + rows[::2]
            data.append(
                [module.Answer(f"row-{n}", None, None, None, _line(f"row-{n}", n)) for n in rows]
            )

        def record_results() -> None:
            for step in range(DAY):
                name = f"batch_{step:08x}{'0' * 24}"
                assert record.record_results(name, "completed", data[step], [])

        phase("record_results", record_results)
        data.clear()
        hashes = [h for step in range(DAY) for h in _hashes(step)]
        seen = [0, 0]

        def read() -> None:
            for start in range(0, len(hashes), SLICE):
                part = hashes[start : start + SLICE]
                outcomes = record.outcomes(part)
                seen[0] += sum(1 for o in outcomes.values() if o.pending_batch is None)
                seen[1] += len(record.lines(part))

        phase("read", read)
        assert seen == [DAY * BATCH, DAY * BATCH], seen
        phase("checkpoint", lambda: record._db.execute("PRAGMA wal_checkpoint(TRUNCATE)"))
        record.close()
    return phases


def _print(label: str, result: dict[str, dict[str, float]]) -> None:
    file_mb = result.pop("file", {}).get("mb")
    for name, p in result.items():
        print(
            f"{label:>10} {name:<15} {p['cpu']:>7.1f} {p['wall']:>7.1f} "
            f"{p['written_mb']:>11,.0f} {p['peak_mb']:>8.0f}"
        )
    if file_mb is not None:
        print(f"{label:>10} {'file MB':<15} {file_mb:>7,.0f}")
    if "checkpoint" in result:  # a day: its total (the open is once, not per day)
        day = [p for name, p in result.items() if name != "open"]
        print(
            f"{label:>10} {'day':<15} {sum(p['cpu'] for p in day):>7.1f} "
            f"{sum(p['wall'] for p in day):>7.1f} {sum(p['written_mb'] for p in day):>11,.0f}"
        )


def _child(arguments: list[str]) -> dict[str, dict[str, float]]:
    """Run this script with ``arguments`` in a fresh process; its result."""
    done = subprocess.run(
        [sys.executable, __file__, *arguments], capture_output=True, text=True, check=True
    )
    line = next(x for x in done.stdout.splitlines() if x.startswith("BENCH_RESULT "))
    return json.loads(line.split(" ", 1)[1])


def main() -> None:
    """One fresh process per N; print a table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", default="200000")
    parser.add_argument("--history", help="P,...: one day on a record holding P requests")
    parser.add_argument("--scratch", default=tempfile.gettempdir(), help="where bases are kept")
    parser.add_argument("--module", help="another copy of record.py to measure")
    parser.add_argument("--pragma", action="append", default=[], help="e.g. cache_size=-65536")
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--day", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print("BENCH_RESULT " + json.dumps(measure(args.one, args.module, args.pragma)))
        return
    if args.day:
        print("BENCH_RESULT " + json.dumps(day(Path(args.day), args.module)))
        return
    print(
        f"{'rows':>10} {'phase':<15} {'cpu s':>7} {'wall s':>7} {'written MB':>11} {'peak MB':>8}"
    )
    if args.history:
        for held in (int(p) for p in args.history.split(",")):
            base = _base(held, Path(args.scratch))
            command = ["--day", str(base)] + (["--module", args.module] if args.module else [])
            _print(f"P={held:,}", _child(command))
        return
    for rows in (int(r) for r in args.rows.split(",")):
        command = ["--one", str(rows)]
        command += ["--module", args.module] if args.module else []
        command += [f"--pragma={pragma}" for pragma in args.pragma]
        _print(f"{rows:,}", _child(command))


if __name__ == "__main__":
    main()
