"""Starting and stopping the real stack for the UI tests (see conftest.py)."""

import contextlib
import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path(os.environ.get("SYNTH_UI_CHROMIUM") or "/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
DAGSTER_YAML = "telemetry:\n  enabled: false\nnux:\n  enabled: false\n"
BACKFILL_DATE = "2026-11-02"  # the day `synth backfill` runs before `dagster dev` starts
SENSOR_INTERVAL_S = "2"  # the daemon still evaluates sensors at most every ~5 s
STARTUP_TIMEOUT_S = 120.0
LOCATION_QUERY = """
{ workspaceOrError { __typename ... on Workspace { locationEntries {
    name loadStatus
    locationOrLoadError { __typename ... on PythonError { message } }
} } } }
"""


@dataclass
class DagsterStack:
    """A running local server + `dagster dev`, and where their files are."""

    url: str  # the Dagster UI, http://127.0.0.1:<port>
    batch_url: str  # the local Batch server, http://127.0.0.1:<port>/v1
    root: Path  # temp folder: home/, out/, work/, localbatch/
    log: Path  # `dagster dev` output
    process: subprocess.Popen[bytes]

    def table(self, name: str, date: str) -> Path:
        """A partition file of a task table written by the runs."""
        return self.root / "out" / "spam_triage" / name / f"date={date}" / "part-0.parquet"

    def log_tail(self, size: int = 3000) -> str:
        """The end of the `dagster dev` log (for failure messages)."""
        try:
            return self.log.read_bytes()[-size:].decode(errors="replace")
        except OSError:
            return "(no log)"

    def graphql(self, query: str, **variables: Any) -> dict[str, Any]:
        """A GraphQL query against the webserver (diagnostics only; the tests use the UI)."""
        response = httpx.post(
            f"{self.url}/graphql", json={"query": query, "variables": variables}, timeout=10
        )
        response.raise_for_status()
        return response.json()["data"]


def free_port() -> int:
    """A free TCP port on loopback (bound and released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def stop_process_group(process: subprocess.Popen[bytes], grace_s: float = 10.0) -> None:
    """SIGTERM `dagster dev`, then SIGKILL its whole process group (webserver, daemon,
    code servers, run workers ignore SIGTERM and may outlive it)."""
    if process.poll() is None:
        process.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(grace_s)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            break  # the group is empty
        time.sleep(0.1)
    if process.poll() is None:
        process.kill()
    process.wait(5)


def wait_until_ready(stack: DagsterStack, timeout_s: float = STARTUP_TIMEOUT_S) -> None:
    """Wait for `/server_info`, then for the code location to load (failing clearly)."""
    deadline = time.monotonic() + timeout_s
    stage = "/server_info"
    while time.monotonic() < deadline:
        if stack.process.poll() is not None:
            pytest.fail(
                f"`dagster dev` exited with code {stack.process.returncode} before the UI was "
                f"ready; the end of {stack.log}:\n{stack.log_tail()}"
            )
        try:
            if stage == "/server_info":
                if httpx.get(f"{stack.url}/server_info", timeout=2).status_code == 200:
                    stage = "code location"
                    continue
            else:
                workspace = stack.graphql(LOCATION_QUERY)["workspaceOrError"]
                entries = workspace.get("locationEntries") or []
                loaded = [e for e in entries if e["loadStatus"] == "LOADED"]
                if loaded:
                    error = loaded[0]["locationOrLoadError"] or {}
                    if error.get("__typename") == "PythonError":
                        pytest.fail(
                            "`dagster dev` could not load definitions.py:\n" + error["message"]
                        )
                    return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    pytest.fail(
        f"the Dagster UI at {stack.url} was not ready ({stage}) after {timeout_s:.0f} s; "
        f"the end of {stack.log}:\n{stack.log_tail()}"
    )
