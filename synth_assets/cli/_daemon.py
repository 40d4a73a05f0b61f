"""The pipeline through Dagster's own machinery, for ``synth demo`` and ``synth backfill``.

A ``dagster-daemon`` subprocess runs on the project's instance (``DAGSTER_HOME``) with a
workspace pointing at the project's code server (``dagster api grpc``, started first so that it
loads the definitions while the command does the rest), as in production: ``dagster job
backfill`` records a real backfill of a task's submit job, the daemon's run queue launches its
runs through the code server, ``batch_completion_sensor`` (and, for a chain,
``task_chain_sensor``) tick in the daemon and launch the collect, resubmit and downstream runs.
The CLI only watches: the instance's runs and the task's request record. The daemon and the
code server are stopped when the command ends, also on Ctrl-C or an error.
"""

import contextlib
import datetime as dt
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dagster as dg

from synth_assets.batch import SynthError
from synth_assets.defs.jobs import submit_job_name
from synth_assets.defs.runs import (
    PipelineRun,
    RunOutcome,
    day_rows,
    is_open,
    sent_line,
    settle,
    submit_asset_keys,
)
from synth_assets.pipeline.record import State
from synth_assets.tasks import BatchTask

# The location name `dg dev` gives the project ([tool.dg.project] code_location_name), so the
# UI finds the demo's sensor ticks and backfills under the same sensors and jobs.
LOCATION_NAME = "synth_assets"
WORKSPACE_YAML = """\
# Written by synth: the project's code server, for the dagster-daemon `synth demo` starts.
load_from:
  - grpc_server:
      socket: {socket}
      location_name: {location}
"""
POLL_S = 0.5
# Runs still going when the wait is over get this long to end before the daemon stops.
GRACE_S = 60.0
# Loading the project's definitions takes a few seconds; on a busy machine, much longer.
SERVER_START_S = 180.0


def workspace_file(home: Path, server_socket: Path) -> Path:
    """The workspace the daemon and ``dagster job backfill`` load: the project's code server
    under its usual location name."""
    path = home / "workspace.yaml"
    text = WORKSPACE_YAML.format(socket=json.dumps(str(server_socket)), location=LOCATION_NAME)
    path.write_text(text)
    return path


def dagster_env(
    home: Path,
    *,
    local_server: bool,
    sensor_interval_s: int | None = None,
    dataset_path: Path | None = None,
) -> dict[str, str]:
    """The environment of the daemon and its runs: this instance; with ``local_server``,
    no OPENAI_* (so the definitions resolve to the local Batch server); the sensors'
    interval when given; the dataset when given (``SYNTH_DATASET_PATH``, the default of
    ``TaskSettings.dataset_path`` in the daemon's code location and in every run)."""
    env = {**os.environ, "DAGSTER_HOME": str(home)}
    if local_server:
        env.pop("OPENAI_API_KEY", None)
        env.pop("OPENAI_BASE_URL", None)
    if sensor_interval_s is not None:
        env["SYNTH_SENSOR_INTERVAL_S"] = str(sensor_interval_s)
    if dataset_path is not None:
        env["SYNTH_DATASET_PATH"] = str(dataset_path)
    return env


def _script(name: str) -> str:
    """A console script of this environment (``dagster-daemon``, ``dagster``)."""
    path = Path(sys.executable).with_name(name)
    if not path.exists():
        raise SynthError(f"{name} is not installed next to {sys.executable}; reinstall synth.")
    return str(path)


@dataclass
class DagsterProcesses:
    """The project's code server (a ``dagster api grpc`` on a unix socket: it loads the
    definitions once, and starts every run in a process of its own) and, once started, the
    ``dagster-daemon`` that loads the project from it. Their output goes to ``log_path``."""

    root: Path
    env: dict[str, str]
    log_path: Path
    socket: Path
    server: subprocess.Popen[bytes]
    daemon: subprocess.Popen[bytes] | None = None
    _stopped: bool = field(default=False, init=False)

    def start_daemon(self, workspace: Path) -> subprocess.Popen[bytes]:
        """Start ``dagster-daemon run`` on ``workspace`` once the code server serves (a
        daemon that found no server would wait a minute to look for it again)."""
        self._wait_for_server()
        command = [_script("dagster-daemon"), "run", "-w", str(workspace)]
        with open(self.log_path, "ab") as log:
            # Its own process group: stopped like Ctrl-C stops it, apart from the runs.
            self.daemon = subprocess.Popen(
                command,
                cwd=self.root,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return self.daemon

    def check(self) -> None:
        """Raise when the daemon or the code server stopped by itself."""
        for name, process in (("daemon", self.daemon), ("code server", self.server)):
            if process is not None and process.poll() is not None:
                raise SynthError(
                    f"the Dagster {name} stopped (exit code {process.returncode}); see "
                    f"{self.log_path}."
                )

    def stop(self) -> None:
        """The daemon first (it launches nothing more), then the code server and its runs."""
        if self._stopped:
            return
        self._stopped = True
        if self.daemon is not None:
            stop_group(self.daemon)
        stop_group(self.server)

    def _wait_for_server(self) -> None:
        """Return once the code server accepts connections: it listens only after loading
        the definitions."""
        deadline = time.monotonic() + SERVER_START_S
        while True:
            if self.server.poll() is not None:
                raise SynthError(
                    f"the Dagster code server stopped (exit code {self.server.returncode}) "
                    f"before serving the project; see {self.log_path}."
                )
            with socket.socket(socket.AF_UNIX) as probe:
                try:
                    probe.connect(str(self.socket))
                    return
                except (FileNotFoundError, ConnectionRefusedError):
                    pass
            if time.monotonic() > deadline:
                raise SynthError(
                    f"the Dagster code server did not serve the project within "
                    f"{SERVER_START_S:.0f} s; see {self.log_path}."
                )
            time.sleep(0.1)


@contextlib.contextmanager
def dagster_processes(
    root: Path, env: dict[str, str], log_path: Path
) -> Iterator[DagsterProcesses]:
    """Start the project's code server now (it loads the definitions meanwhile); stop it and
    the daemon (see :meth:`DagsterProcesses.start_daemon`) when the block ends."""
    # A short folder: a unix socket's path is limited to about 100 characters.
    folder = Path(tempfile.mkdtemp(prefix="synth-"))
    server_socket = folder / "code.sock"
    command = [
        _script("dagster"),
        *("api", "grpc", "--socket", str(server_socket), "-m", "definitions", "-d", str(root)),
        *("--location-name", LOCATION_NAME, "--log-level", "warning"),
    ]
    with open(log_path, "ab") as log:
        # Its own process group: the server and the runs it started stop as one.
        server = subprocess.Popen(
            command, cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    processes = DagsterProcesses(root, env, log_path, server_socket, server)
    try:
        yield processes
    finally:
        processes.stop()
        shutil.rmtree(folder, ignore_errors=True)


def launch_backfill(
    workspace: Path,
    root: Path,
    env: dict[str, str],
    task: BatchTask,
    dates: Sequence[str],
    tags: dict[str, str],
    log_path: Path,
) -> str:
    """Record a backfill of the task's submit job over ``dates`` (its runs are queued for
    the daemon); return the backfill's id."""
    command = [
        _script("dagster"),
        *("job", "backfill", "-w", str(workspace), "-j", submit_job_name(task)),
        *("--partitions", ",".join(dates), "--tags", json.dumps(tags), "--noprompt"),
    ]
    done = subprocess.run(command, cwd=root, env=env, capture_output=True, text=True, check=False)
    with open(log_path, "a") as log:
        log.write(done.stdout + done.stderr)
    found = re.search(r"Launched backfill job `([^`]+)`", done.stdout)
    if done.returncode or not found:
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        why = lines[-1] if lines else "no reason given"
        raise SynthError(f"the backfill of {task.name} was not launched ({why}); see {log_path}.")
    return found.group(1)


def stop_group(process: subprocess.Popen[Any], timeout_s: float = 20.0) -> None:
    """SIGINT to the process group (what Ctrl-C does), then SIGKILL after ``timeout_s``."""
    for sig, wait in ((signal.SIGINT, timeout_s), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            continue
        # The leader is gone; its children may not be: finish the group off quietly.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        return


@dataclass
class Watch:
    """Follows the runs a backfill and the daemon's sensors launch for ``tasks`` (a chain,
    upstream first), reporting each as it ends, until every day is settled or failed.

    ``timeout_s`` counts from when the backfill's own runs have ended: it bounds the wait
    for batches, not the building of the days.
    """

    instance: dg.DagsterInstance
    defs: dg.Definitions
    tasks: Sequence[BatchTask]
    dates: Sequence[str]
    backfill_id: str
    since: dt.datetime
    processes: DagsterProcesses
    log: Callable[[str], None]
    timeout_s: float
    outcomes: dict[str, PipelineRun] = field(init=False)
    _reported: set[str] = field(default_factory=set, init=False)

    def __post_init__(self) -> None:
        self.outcomes = {task.name: PipelineRun() for task in self.tasks}

    def until_done(self, *, collect: bool = True) -> dict[str, PipelineRun]:
        """Wait (and report); with ``collect`` False, only for the backfill's runs."""
        deadline: float | None = None
        while True:
            self.processes.check()
            runs = self.instance.get_runs(filters=dg.RunsFilter(created_after=self.since))
            for run in sorted(runs, key=lambda r: r.run_id):
                if run.is_finished and run.run_id not in self._reported:
                    self._report(run)
            active = [r for r in runs if not r.is_finished]
            backfill_done = not any(
                r.tags.get("dagster/backfill") == self.backfill_id for r in active
            )
            if backfill_done and deadline is None:
                deadline = time.monotonic() + self.timeout_s
            if backfill_done and not collect:
                break
            waiting = self._waiting()
            if backfill_done and not active and not waiting:
                break
            # Past the deadline, runs still going get a little longer to end.
            if deadline is not None and time.monotonic() >= deadline + (GRACE_S if active else 0):
                break
            time.sleep(POLL_S)
        for task in self.tasks:
            rows = day_rows(self.defs, task, self.dates)
            outcome = self.outcomes[task.name]
            if collect:
                settle(outcome, rows, self.dates, self.timeout_s)
            for failed in (r for r in outcome.runs if not r.success):
                outcome.problems.setdefault(
                    failed.partition, f"run {failed.run_id[:8]} ({failed.job}) failed"
                )
        return self.outcomes

    def _waiting(self) -> bool:
        """Whether a day still waits for the sensors: its batches, a collect, a
        resubmission, or (downstream in a chain) its build once its upstream is published."""
        upstream_rows: dict[str, Any] = {}
        for task in self.tasks:
            rows = day_rows(self.defs, task, self.dates)
            if any(is_open(rows.get(d)) for d in self.dates):
                return True
            if task is not self.tasks[0] and any(
                d not in rows
                and (up := upstream_rows.get(d)) is not None
                and up.state == State.SETTLED
                for d in self.dates
            ):
                return True
            upstream_rows = rows
        return False

    def _report(self, run: dg.DagsterRun) -> None:
        self._reported.add(run.run_id)
        task = self._task_of(run)
        if task is None:
            return
        partition = run.tags.get("dagster/partition", "")
        success = run.status == dg.DagsterRunStatus.SUCCESS
        outcome = self.outcomes[task.name]
        outcome.runs.append(
            RunOutcome(
                partition, run.job_name, run.run_id, success, run.tags.get("dagster/run_key")
            )
        )
        by = run.tags.get("dagster/sensor_name")
        launched = f"{by} tick" if by else f"backfill {self.backfill_id}"
        action = run.tags.get("synth/action") or "submit"
        if not success:
            self.log(
                f"FAILED to {action} {task.name} {partition}: {self._failure(run)} "
                f"(run {run.run_id[:8]}, {launched})"
            )
        elif action == "submit":
            outcome.submitted.append(partition)
            self.log(
                f"submitted {task.name} {partition}: {self._sent(run, task)} "
                f"(run {run.run_id[:8]}, {launched})"
            )
        else:
            self.log(f"{action} {task.name} {partition} (run {run.run_id[:8]}, {launched})")

    def _task_of(self, run: dg.DagsterRun) -> BatchTask | None:
        """The task whose assets the run materializes (a chain sensor's runs target the
        implicit asset job)."""
        keys = run.asset_selection or set()
        names = {key.path[0] for key in keys}
        for task in self.tasks:
            if task.name in names or run.job_name.startswith(f"{task.name}_"):
                return task
        return None

    def _failure(self, run: dg.DagsterRun) -> str:
        """The first step failure's message, else the run's."""
        for kind in (dg.DagsterEventType.STEP_FAILURE, dg.DagsterEventType.RUN_FAILURE):
            for entry in self.instance.all_logs(run.run_id, of_type=kind):
                event = entry.dagster_event
                data = event.event_specific_data if event else None
                user = getattr(data, "user_failure_data", None)
                if user is not None and user.description:
                    return user.description
                error = getattr(data, "error", None)
                if error is not None:
                    return error.message.strip()
                if entry.message:
                    return entry.message
        return "the run failed; see its logs in the UI"

    def _sent(self, run: dg.DagsterRun, task: BatchTask) -> str:
        """'N requests sent (answered already M, ...)', and what waits for queue room, from
        the build's and the submission's metadata."""
        meta: dict[str, Any] = {}
        keys = submit_asset_keys(task)
        for entry in self.instance.all_logs(
            run.run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION
        ):
            materialization = entry.asset_materialization
            if materialization is not None and materialization.asset_key in keys:
                meta.update({k: v.value for k, v in materialization.metadata.items()})
        return sent_line(meta)
