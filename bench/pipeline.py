"""Benchmark of the whole chain: one N-row day through the real Dagster instance.

It writes, in a scratch folder, a deterministic day of N 631-byte e-mails (the sample
emails of ``data/emails`` repeated with new ids, as ``bench/snapshot.py`` does; each body
starts with its row's id, since a day sends each distinct text once: with
``--repeated-texts`` the ~2,000 sample texts go as they are, and only they are sent), starts
the local Batch server there (synthetic answers, no faults) and runs
``synth backfill --dataset ...`` with ``DAGSTER_HOME``, ``SYNTH_STORAGE_ROOT``,
``SYNTH_WORK_DIR`` and the server's data in the scratch folder, so the repository's state
is untouched. The CLI starts a real ``dagster-daemon``; its sensor launches the collect
runs as separate run processes.

While it runs, every process of the tree (the synth CLI, the daemon and its code server,
each run process and the workers it forks, the local server) is sampled from ``/proc``
every 0.2 s: the peak RSS is the largest ``VmHWM`` read (the kernel's own high-water mark,
so peaks between samples count too; a process that ends between two samples keeps the
last one read), and the bytes written are ``write_bytes`` of ``/proc/<pid>/io`` (the
last value read; a reaped child's count, which the kernel adds to its parent's, is taken
out of the parent's). RSS counts shared pages in every process that maps them, so a forked
worker's peak includes what it shares with its run process. Run processes (the code
server spawns them) are named by their Dagster job: their compute-log ``tail`` children
name the run id, looked up in the instance afterwards. Stage timings come from the
instance: each run's start and end, and each step's. "Our own time" is the end-to-end wall
time minus the seconds in which the server was answering a batch (its ``in_progress_at``
to its ``completed_at``, as the Batch API reports them) while no run of ours ran.

The bytes on disk of the work dir and of the server's data are sampled every 2 s too:
their peak during the run is printed beside what is left afterwards. ``--prune`` runs with
``SYNTH_PRUNE_FILES=true`` (request and result files deleted once recorded; see
``synth_assets/pipeline/prune.py``).

Usage: ``python bench/pipeline.py --rows 100000 [--prune] [--keep-dir DIR] [--keep]
[--show-processes]`` (``make bench-pipeline ROWS=1000000``). The scratch folder is deleted
unless ``--keep``.
"""

import argparse
import contextlib
import datetime as dt
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from snapshot import DATE, LINE_BYTES, _line, _sample_rows, write_day

ROOT = Path(__file__).resolve().parent.parent
SYNTH = Path(sys.executable).with_name("synth")
SAMPLE_S = 0.2
DISK_SAMPLE_S = 2.0
RUN_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


@dataclass(slots=True)
class Proc:
    """What the sampler saw of one process."""

    pid: int
    parent: int
    cmdline: str
    peak_kb: int = 0
    write_bytes: int = 0
    first_seen: float = 0.0
    last_seen: float = 0.0
    rss: list[tuple[float, int]] = field(default_factory=list)  # (epoch s, VmRSS kB)


@dataclass(slots=True)
class Sampler:
    """Walks the process trees under ``roots`` every SAMPLE_S seconds."""

    roots: list[int]
    procs: dict[int, Proc] = field(default_factory=dict)
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        while not self.stop.is_set():
            self.sample()
            self.stop.wait(SAMPLE_S)
        self.sample()

    def sample(self) -> None:
        now = time.time()
        stack = [(pid, 0) for pid in self.roots]
        while stack:
            pid, parent = stack.pop()
            status = _read(f"/proc/{pid}/status")
            if status is None:
                continue
            # Read each time: between fork and exec a child still shows its parent's.
            cmdline = (_read(f"/proc/{pid}/cmdline") or "").replace("\0", " ").strip()
            proc = self.procs.get(pid)
            if proc is None:
                proc = self.procs[pid] = Proc(pid, parent, cmdline, first_seen=now)
            elif cmdline:
                proc.cmdline = cmdline
            rss = re.search(r"VmRSS:\s+(\d+)", status)
            if rss:
                proc.rss.append((time.time(), int(rss.group(1))))
            hwm = re.search(r"VmHWM:\s+(\d+)", status)
            if hwm:
                proc.peak_kb = max(proc.peak_kb, int(hwm.group(1)))
            io = _read(f"/proc/{pid}/io")
            written = re.search(r"^write_bytes:\s+(\d+)", io or "", re.M)
            if written:
                proc.write_bytes = max(proc.write_bytes, int(written.group(1)))
            proc.last_seen = now
            for task in _listdir(f"/proc/{pid}/task"):
                for child in (_read(f"/proc/{pid}/task/{task}/children") or "").split():
                    stack.append((int(child), pid))


@dataclass(slots=True)
class DiskSampler:
    """The largest bytes on disk seen under each folder, and of all of them together."""

    folders: dict[str, Path]
    peak: dict[str, int] = field(default_factory=dict)
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        while not self.stop.is_set():
            self.sample()
            self.stop.wait(DISK_SAMPLE_S)
        self.sample()

    def sample(self) -> None:
        sizes = {name: _size(folder) for name, folder in self.folders.items()}
        sizes["together"] = sum(sizes.values())
        for name, size in sizes.items():
            self.peak[name] = max(self.peak.get(name, 0), size)


def write_distinct_day(folder: Path, rows: int) -> Path:
    """As ``snapshot.write_day``, but each body starts with its row's id, so no two rows
    share a text and every row is a request (repeated texts are sent once per day)."""
    marker = b"bench-000000000"
    templates = []
    for row in _sample_rows():
        line = _line({**row, "body": f"[{marker.decode()}] {row['body']}"}, 0)
        templates.append(line.split(marker))
        assert len(templates[-1]) == 3 and len(line) == LINE_BYTES
    day = folder / "emails" / f"date={DATE}"
    day.mkdir(parents=True)
    with open(day / "emails.jsonl", "wb", buffering=1 << 20) as out:
        for number in range(rows):
            head, middle, tail = templates[number % len(templates)]
            out.write(b"%sbench-%09d%sbench-%09d%s" % (head, number, middle, number, tail))
    return folder / "emails"


def _read(path: str) -> str | None:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read()
    except OSError:
        return None


def _listdir(path: str) -> list[str]:
    try:
        return os.listdir(path)
    except OSError:
        return []


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for_server(url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit("the local Batch server exited at start")
        try:
            urllib.request.urlopen(f"{url}/batches?limit=1", timeout=2).close()
            return
        except OSError:
            time.sleep(0.2)
    raise SystemExit("the local Batch server did not answer within 30 s")


def _size(path: Path) -> int:
    total = 0
    for folder, _, names in os.walk(path):
        for name in names:
            # A file may go while walking (a run prunes it, renames a temporary).
            with contextlib.suppress(OSError):
                total += os.stat(os.path.join(folder, name)).st_size
    return total


def _roles(
    procs: dict[int, Proc], cli: int, server: int, jobs: dict[str, str], starts: dict[str, float]
) -> dict[int, str]:
    """Each pid's role: the CLI, the server, the daemon, a code server, a run (by job; the
    code server spawns it, and its compute-log ``tail`` children name the run id), the
    workers a run forks, or Dagster's log capture."""
    children: dict[int, list[Proc]] = defaultdict(list)
    for proc in procs.values():
        children[proc.parent].append(proc)

    def run_job(proc: Proc) -> str:
        for child in children[proc.pid]:
            found = RUN_ID.search(child.cmdline)
            if found:
                return jobs.get(found.group(0), "?")
        # Too short to be seen with its children: the run that started nearest its spawn.
        nearest = min(starts, key=lambda run: abs(starts[run] - proc.first_seen), default=None)
        return jobs[nearest] if nearest else "?"

    roles: dict[int, str] = {}
    # Parents first (a child is seen after its parent, so first_seen orders them).
    for proc in sorted(procs.values(), key=lambda p: (p.first_seen, p.pid)):
        cmd = proc.cmdline
        parent_role = roles.get(proc.parent, "")
        if proc.pid == cli:
            role = "synth CLI"
        elif proc.pid == server or parent_role == "local server":
            role = "local server"
        elif "watch_orphans" in cmd or cmd.startswith("tail "):
            role = "log capture (tail, watch_orphans)"
        elif parent_role.startswith("run: ") or parent_role.startswith("workers of "):
            role = "workers of " + parent_role.split(": ", 1)[-1].removeprefix("workers of ")
        elif "resource_tracker" in cmd:
            role = "code server"
        elif parent_role == "code server" and "spawn_main" in cmd:
            role = f"run: {run_job(proc)}"
        elif "dagster-daemon" in cmd:
            role = "dagster-daemon"
        elif "dagster job backfill" in cmd:
            role = "dagster job backfill (launch)"
        elif "api grpc" in cmd:
            role = "code server"
        else:
            role = f"other: {cmd[:60]}"
        roles[proc.pid] = role
    return roles


def _own_writes(proc: Proc, procs: dict[int, Proc]) -> int:
    """``write_bytes`` of the process alone: a reaped child's count is added to its
    parent's, so the children that ended while the parent was still sampled are taken out
    (their writes after their last sample stay with the parent)."""
    reaped = sum(
        child.write_bytes
        for child in procs.values()
        if child.parent == proc.pid and child.last_seen < proc.last_seen
    )
    return max(0, proc.write_bytes - reaped)


def _stages(home: Path) -> tuple[list[tuple], dict[str, str], dict[str, float]]:
    """Per run of the instance: job, status, start, end, and its steps; run id → job and
    run id → start (epoch s)."""
    import dagster as dg

    rows = []
    jobs, starts = {}, {}
    with dg.DagsterInstance.from_config(str(home)) as instance:
        for run in instance.get_runs():
            jobs[run.run_id] = run.job_name
            stats = instance.get_run_stats(run.run_id)
            if stats.start_time:
                starts[run.run_id] = stats.start_time
            steps = [
                (s.step_key, s.start_time, s.end_time)
                for s in instance.get_run_step_stats(run.run_id)
                if s.start_time and s.end_time
            ]
            rows.append((run.job_name, run.status.value, stats.start_time, stats.end_time, steps))
    rows.sort(key=lambda r: r[2] or 0)
    return rows, jobs, starts


def _batch_spans(url: str) -> list[tuple[float, float]]:
    """When the server worked on each batch: from in progress to completed (epoch s; the
    API's timestamps are whole seconds)."""
    import json

    spans, after = [], None
    while True:
        query = f"{url}/batches?limit=100" + (f"&after={after}" if after else "")
        with urllib.request.urlopen(query, timeout=10) as response:
            page = json.load(response)
        for batch in page["data"]:
            start, end = batch.get("in_progress_at"), batch.get("completed_at")
            if start and end:
                spans.append((float(start), float(end)))
        if not page.get("has_more") or not page["data"]:
            return spans
        after = page["data"][-1]["id"]


def _union(spans: list[tuple[float, float]]) -> list[tuple[float, float]]:
    merged: list[tuple[float, float]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def server_only_s(batches: list[tuple[float, float]], runs: list[tuple[float, float]]) -> float:
    """Seconds in which the server was answering a batch while no run of ours ran: the
    time the pipeline waited for the stand-in model, which "our own time" leaves out."""
    busy = _union(runs)
    total = 0.0
    for start, end in _union(batches):
        total += end - start
        for run_start, run_end in busy:
            total -= max(0.0, min(end, run_end) - max(start, run_start))
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=lambda s: int(s.replace("_", "")), default=100_000)
    parser.add_argument("--keep-dir", help="where to make the scratch folder (default: /tmp)")
    parser.add_argument("--keep", action="store_true", help="keep the scratch folder")
    parser.add_argument("--sensor-interval-s", type=int, default=1, help="sensor tick (s)")
    parser.add_argument("--timeout", type=float, default=7200.0, help="seconds to wait")
    parser.add_argument(
        "--repeated-texts",
        action="store_true",
        help="the sample texts as they are (each distinct text is sent once a day)",
    )
    parser.add_argument("--show-processes", action="store_true", help="list every process")
    parser.add_argument(
        "--prune",
        action="store_true",
        help="SYNTH_PRUNE_FILES=true: request and result files go once recorded",
    )
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="synth-bench-pipeline-", dir=args.keep_dir))
    server = None
    try:
        started = time.perf_counter()
        if args.repeated_texts:
            dataset = write_day(scratch, args.rows)
        else:
            dataset = write_distinct_day(scratch, args.rows)
        print(
            f"{args.rows:,} rows ({_size(dataset) / 1e6:,.0f} MB) written in "
            f"{time.perf_counter() - started:.1f} s to {dataset}",
            flush=True,
        )
        home, out, work, server_dir = (
            scratch / n for n in ("dagster", "out", "work", "localbatch")
        )
        port = _free_port()
        url = f"http://127.0.0.1:{port}/v1"
        env = {
            **os.environ,
            "DAGSTER_HOME": str(home),
            "SYNTH_STORAGE_ROOT": str(out),
            "SYNTH_WORK_DIR": str(work),
            "SYNTH_PROJECT_DIR": str(ROOT),
            "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
            "OPENAI_BASE_URL": url,
            "SYNTH_SENSOR_INTERVAL_S": str(args.sensor_interval_s),
        }
        env["SYNTH_PRUNE_FILES"] = "true" if args.prune else "false"
        env.pop("OPENAI_API_KEY", None)
        env.pop("LOCALBATCH_FAULTS", None)
        server = subprocess.Popen(
            [str(SYNTH), "localbatch", "serve", "--data-dir", str(server_dir), "--port", str(port)],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        _wait_for_server(url, server)
        command = [str(SYNTH), "backfill", "--from", DATE, "--to", DATE, "--dataset", str(dataset)]
        command += ["--timeout", str(args.timeout)]
        wall_start = time.perf_counter()
        started = time.time()
        with open(scratch / "cli.log", "wb") as cli_log_file:
            cli = subprocess.Popen(
                command, cwd=ROOT, env=env, stdout=cli_log_file, stderr=subprocess.STDOUT
            )
            sampler = Sampler([cli.pid, server.pid])
            disk = DiskSampler({"work": work, "localbatch": server_dir})
            threads = [threading.Thread(target=s.run, daemon=True) for s in (sampler, disk)]
            for thread in threads:
                thread.start()
            code = cli.wait()
            wall = time.perf_counter() - wall_start
            sampler.stop.set()
            disk.stop.set()
            for thread in threads:
                thread.join()
        cli_log = (scratch / "cli.log").read_text(errors="replace")
        if code:
            print(cli_log[-4000:])
            raise SystemExit(f"synth backfill exited with {code} (scratch: {scratch})")
        report(
            args.rows,
            wall,
            started,
            home,
            sampler,
            cli.pid,
            server.pid,
            scratch,
            cli_log,
            args.show_processes,
            disk,
            args.prune,
            url,
        )
    finally:
        if server is not None:
            server.terminate()
            try:
                server.wait(10)
            except subprocess.TimeoutExpired:
                server.kill()
        if args.keep:
            print(f"kept: {scratch}")
        else:
            shutil.rmtree(scratch, ignore_errors=True)


def report(
    rows: int,
    wall: float,
    started: float,
    home: Path,
    sampler: Sampler,
    cli: int,
    server: int,
    scratch: Path,
    cli_log: str,
    show: bool,
    disk: DiskSampler,
    prune: bool,
    url: str,
) -> None:
    runs, jobs, starts = _stages(home)
    waited = server_only_s(_batch_spans(url), [(r[2], r[3]) for r in runs if r[2] and r[3]])
    own = wall - waited
    roles = _roles(sampler.procs, cli, server, jobs, starts)
    peak: dict[str, int] = defaultdict(int)
    written: dict[str, int] = defaultdict(int)
    count: dict[str, int] = defaultdict(int)
    peak_at: dict[str, float] = {}
    for pid, proc in sampler.procs.items():
        if not proc.cmdline:  # a zombie first seen after its exit
            continue
        role = roles[pid]
        if proc.peak_kb > peak[role]:  # the largest single process of the role
            peak[role] = proc.peak_kb
            if proc.rss:
                peak_at[role] = max(proc.rss, key=lambda sample: sample[1])[0] - started
        written[role] += _own_writes(proc, sampler.procs)
        count[role] += 1
    print(f"\nsynth backfill of {rows:,} rows: {wall:.1f} s end to end, {rows / wall:,.0f} rows/s")
    print(
        f"our own time: {own:.1f} s, {rows / own:,.0f} rows/s (end to end minus {waited:.1f} s "
        "in which the server answered a batch and no run of ours ran)"
    )
    summary = [line for line in cli_log.splitlines() if line.strip()][-6:]
    print("  " + "\n  ".join(summary))

    def step_peak(job: str, start: float, end: float) -> str:
        """The largest VmRSS sampled in the job's run process(es) during [start, end]."""
        values = [
            kb
            for pid, proc in sampler.procs.items()
            if roles[pid] == f"run: {job}"
            for at, kb in proc.rss
            if start <= at <= end
        ]
        return f"{max(values) / 1024:,.0f}" if values else "-"

    print(f"\n{'stage (run / step)':<44} {'wall s':>8} {'rows/s':>10} {'status':>8} {'RSS MB':>8}")
    for job, status, start, end, steps in runs:
        if start and end:
            took = end - start
            print(f"{job:<44} {took:>8.1f} {rows / took:>10,.0f} {status:>8}")
        else:
            print(f"{job:<44} {'-':>8} {'-':>10} {status:>8}")
        for key, s_start, s_end in steps:
            took = s_end - s_start
            peak_mb = step_peak(job, s_start, s_end)
            print(f"  {key:<42} {took:>8.1f} {rows / took:>10,.0f} {'':>8} {peak_mb:>8}")
    submits = [r for r in runs if r[0].endswith("_submit_job") and r[3]]
    collects = [r for r in runs if r[0].endswith("_collect_job") and r[2]]
    if submits and collects:
        gap = collects[0][2] - submits[-1][3]
        print(f"{'(submit end to collect start: server, sensor)':<44} {gap:>8.1f}")
    print(
        f"\n{'process (role)':<44} {'count':>5} {'peak RSS MB':>12} {'written MB':>11} "
        f"{'largest RSS sampled at s':>25}"
    )
    for role in sorted(peak, key=lambda r: (-peak[r], r)):
        at = f"{peak_at[role]:.1f}" if role in peak_at else "-"
        print(
            f"{role[:44]:<44} {count[role]:>5} {peak[role] / 1024:>12,.0f} "
            f"{written[role] / 1e6:>11,.1f} {at:>25}"
        )
    if show:
        for pid, proc in sorted(sampler.procs.items(), key=lambda kv: kv[1].first_seen):
            print(f"  {pid} <- {proc.parent} [{roles[pid]}] {proc.cmdline[:150]}")
    pruning = "on" if prune else "off"
    print(f"\nbytes on disk afterwards, and their peak during the run (pruning {pruning}):")
    sizes = {
        name: _size(scratch / name) for name in ("emails", "work", "out", "localbatch", "dagster")
    }
    sizes["together"] = sizes["work"] + sizes["localbatch"]
    for name, label in (
        ("emails", "input day (JSONL)"),
        ("work", "work dir (request/result files)"),
        ("out", "tables (SYNTH_STORAGE_ROOT)"),
        ("localbatch", "local server's data"),
        ("dagster", "Dagster home (runs, event log)"),
        ("together", "work dir + server's data"),
    ):
        peak = f"   peak {disk.peak[name] / 1e6:>10,.1f} MB" if name in disk.peak else ""
        print(f"  {label:<36} {sizes[name] / 1e6:>10,.1f} MB{peak}")
    print(f"(measured {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC; load {os.getloadavg()[0]:.1f})")


if __name__ == "__main__":
    main()
