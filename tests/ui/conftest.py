"""The real stack for the Dagster UI tests: local Batch server + `dagster dev` + Chromium.

- ``dagster_stack`` (module): a ``localbatch serve`` subprocess on an ephemeral loopback
  port, then ``dagster dev`` (cwd = the project, so it loads ``definitions.py`` through
  ``[tool.dagster]`` exactly as ``make dev`` does) on a free loopback port, in its own
  process group, with a throwaway ``DAGSTER_HOME`` (telemetry and the first-visit modal
  off) and every file under a temp folder (``OPENAI_BASE_URL``, ``SYNTH_STORAGE_ROOT``,
  ``SYNTH_WORK_DIR``; ``SYNTH_SENSOR_INTERVAL_S`` makes the sensor tick every few seconds).
  Ready when ``/server_info`` answers and the code location has loaded.
- ``page`` (module): headless Debian Chromium driven by Playwright, fresh profile.
- ``ui_artifacts`` (session): where screenshots go (``tests/ui/artifacts/`` or
  ``$SYNTH_UI_ARTIFACTS``); the run's terminal summary names it.

Nothing here imports Playwright at import time: without it the test module skips itself.
"""

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from synth_assets.localbatch.background import serve_in_background

from .stack import (
    BACKFILL_DATE,
    CHROMIUM,
    CHROMIUM_FLAGS,
    DAGSTER_YAML,
    PROJECT_ROOT,
    SENSOR_INTERVAL_S,
    DagsterStack,
    free_port,
    stop_process_group,
    wait_until_ready,
)

_artifacts: Path | None = None


@pytest.fixture(scope="session")
def ui_artifacts() -> Path:
    """The screenshot folder, emptied of a previous run's files."""
    global _artifacts
    folder = Path(os.environ.get("SYNTH_UI_ARTIFACTS") or Path(__file__).parent / "artifacts")
    folder.mkdir(parents=True, exist_ok=True)
    for old in [*folder.glob("*.png"), *folder.glob("*.log")]:
        old.unlink()
    _artifacts = folder.resolve()
    return _artifacts


@pytest.fixture(scope="module")
def dagster_stack(
    tmp_path_factory: pytest.TempPathFactory, ui_artifacts: Path
) -> Iterator[DagsterStack]:
    """The local Batch server and `dagster dev`, stopped (the whole group) at the end."""
    root = tmp_path_factory.mktemp("dagster-ui")
    home = root / "home"
    home.mkdir()
    with serve_in_background(root / "localbatch") as batch_url:
        env = {
            **os.environ,
            "DAGSTER_HOME": str(home),
            "OPENAI_BASE_URL": batch_url,
            "SYNTH_STORAGE_ROOT": str(root / "out"),
            "SYNTH_WORK_DIR": str(root / "work"),
            "SYNTH_SENSOR_INTERVAL_S": SENSOR_INTERVAL_S,
            "SYNTH_PROJECT_DIR": str(PROJECT_ROOT),
            "PYTHONUNBUFFERED": "1",
        }
        env.pop("OPENAI_API_KEY", None)  # a real key never goes to the test server
        # First what `make demo` does, for one day: a backfill through its own daemon, whose
        # backfill and sensor ticks the UI then shows. It writes the home's dagster.yaml.
        days = ["--from", BACKFILL_DATE, "--to", BACKFILL_DATE, "--timeout", "120"]
        backfill = subprocess.run(
            [sys.executable, "-c", "from synth_assets.cli import main; main()", "backfill", *days],
            cwd=root,
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=240,
        )
        (ui_artifacts / "synth-backfill.log").write_text(backfill.stdout + backfill.stderr)
        assert backfill.returncode == 0, backfill.stdout + backfill.stderr
        if not (home / "dagster.yaml").exists():
            (home / "dagster.yaml").write_text(DAGSTER_YAML)
        port = free_port()
        log = root / "dagster-dev.log"
        with log.open("wb") as out:
            process = subprocess.Popen(
                [sys.executable, "-m", "dagster", "dev", "-h", "127.0.0.1", "-p", str(port)],
                cwd=PROJECT_ROOT,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group, killed as a whole
            )
        stack = DagsterStack(f"http://127.0.0.1:{port}", batch_url, root, log, process)
        try:
            wait_until_ready(stack)
            yield stack
        finally:
            stop_process_group(process)
            shutil.copy(log, ui_artifacts / "dagster-dev.log")
            shutil.copy(root / "localbatch" / "server.log", ui_artifacts / "localbatch.log")


@pytest.fixture(scope="module")
def page(dagster_stack: DagsterStack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A Playwright page in headless Chromium (fresh profile), base URL = the Dagster UI."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")),
            executable_path=str(CHROMIUM),
            headless=True,
            args=CHROMIUM_FLAGS,
            base_url=dagster_stack.url,
            viewport={"width": 1440, "height": 900},
        )
        context.set_default_timeout(20_000)
        try:
            yield context.pages[0] if context.pages else context.new_page()
        finally:
            context.close()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """Keep each phase's report on the item (for screenshots of failures)."""
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Say where the screenshots are."""
    if _artifacts is not None and any(_artifacts.glob("*.png")):
        count = len(list(_artifacts.glob("*.png")))
        terminalreporter.write_line(f"Dagster UI screenshots ({count}): {_artifacts}")
