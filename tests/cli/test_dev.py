"""``synth dev``: the UI comes up, and one signal stops it with everything it started."""

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.timeout(120)
def test_synth_dev_serves_the_ui_and_stops_cleanly(server: str, tmp_path: Path) -> None:
    port = free_port()
    # The daemon's sensors read the work dir's records: a scratch one, not the checkout's.
    env = {
        **os.environ,
        "OPENAI_BASE_URL": server,
        "DAGSTER_HOME": str(tmp_path / "home"),
        "SYNTH_WORK_DIR": str(tmp_path / "work"),
        "SYNTH_STORAGE_ROOT": str(tmp_path / "out"),
    }
    synth = shutil.which("synth", path=str(Path(sys.executable).parent))
    assert synth, "the synth console script is installed beside the interpreter"
    process = subprocess.Popen([synth, "dev", "--port", str(port)], env=env)
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                info = httpx.get(f"http://127.0.0.1:{port}/server_info", timeout=2).json()
                break
            except httpx.HTTPError:
                assert process.poll() is None, "synth dev exited early"
                assert time.monotonic() < deadline, "the Dagster UI did not come up"
                time.sleep(1)
        assert info["dagster_webserver_version"]

        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=40) == 0
    finally:
        if process.poll() is None:
            process.kill()
    with pytest.raises(httpx.HTTPError):  # nothing is left listening
        httpx.get(f"http://127.0.0.1:{port}/server_info", timeout=2)
    assert (tmp_path / "home" / "dagster.yaml").exists()  # telemetry and first-visit modal off
