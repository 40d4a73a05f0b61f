"""Starting the real server in the background, for tests, benchmarks and embedding.

:func:`serve_in_background` is a context manager yielding the base URL of a server on an
ephemeral loopback port. By default the server is a subprocess
(``python -m synth_assets.localbatch serve --port 0 ...``) that announces its address on its
first stdout line: a separate process is what the restart and multi-process behaviour is
about. ``thread=True`` runs it in a thread of this process instead (faster to start).
"""

import os
import re
import select
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from .config import DATA_DIR_ENV, ENV_PREFIX, ServerSettings
from .server import READY_PREFIX, ThreadServer

_URL = re.compile(re.escape(READY_PREFIX) + r"(\S+/v1)")


class ServerProcess:
    """A ``localbatch serve`` subprocess; its log goes to ``<data_dir>/server.log``."""

    def __init__(self, settings: ServerSettings, *, log_level: str = "warning") -> None:
        self.settings = settings
        self.log_level = log_level
        self.log_path = Path(settings.data_dir) / "server.log"
        self.process: subprocess.Popen[bytes] | None = None
        self.base_url: str | None = None

    def start(self, timeout: float = 30.0) -> str:
        """Start the process and wait for its address; returns the base URL."""
        Path(self.settings.data_dir).mkdir(parents=True, exist_ok=True)
        # The child reads its settings from LOCALBATCH_* variables (secrets included: never
        # on a command line others can read); none of this process's own may leak in.
        env = {
            name: value
            for name, value in os.environ.items()
            if not name.startswith(ENV_PREFIX) and name != DATA_DIR_ENV
        }
        env.update(self.settings.to_env())
        args = [
            sys.executable,
            "-m",
            "synth_assets.localbatch",
            "serve",
            "--log-level",
            self.log_level,
        ]
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                args, stdout=subprocess.PIPE, stderr=log, stdin=subprocess.DEVNULL, env=env
            )
        self.base_url = self._read_address(timeout)
        return self.base_url

    def _read_address(self, timeout: float) -> str:
        assert self.process is not None and self.process.stdout is not None
        deadline = time.monotonic() + timeout
        seen = b""
        fd = self.process.stdout.fileno()
        while b"\n" not in seen:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or self.process.poll() is not None:
                self.kill()
                raise RuntimeError(
                    f"the local Batch server did not start; its log: {self.log_tail()}"
                )
            readable, _, _ = select.select([fd], [], [], min(remaining, 0.2))
            if readable:
                chunk = os.read(fd, 4096)
                if not chunk and self.process.poll() is None:
                    time.sleep(0.05)
                seen += chunk
        match = _URL.search(seen.decode(errors="replace"))
        if match is None:
            self.kill()
            raise RuntimeError(f"unexpected first line from the server: {seen!r}")
        return match.group(1)

    def log_tail(self, size: int = 4000) -> str:
        """The end of the server's log (for failure messages)."""
        try:
            return self.log_path.read_bytes()[-size:].decode(errors="replace")
        except OSError:
            return "(no log)"

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM (the server finishes its current step), then SIGKILL after ``timeout``."""
        if self.process is None or self.process.poll() is not None:
            self._close()
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
        self._close()

    def kill(self) -> None:
        """SIGKILL: the crash a restart must survive."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self._close()

    def _close(self) -> None:
        if self.process is not None and self.process.stdout is not None:
            self.process.stdout.close()


def settings_for(data_dir: str | os.PathLike[str], **settings: Any) -> ServerSettings:
    """Server settings for a background server: loopback, ephemeral port, quick polling."""
    defaults: dict[str, Any] = {"host": "127.0.0.1", "port": 0, "poll_interval_s": 0.05}
    return ServerSettings(data_dir=Path(data_dir), **{**defaults, **settings})


@contextmanager
def serve_in_background(
    data_dir: str | os.PathLike[str], *, thread: bool = False, **settings: Any
) -> Iterator[str]:
    """Run the real server on an ephemeral loopback port; yields its base URL (``…/v1``).

    ``settings`` are :class:`ServerSettings` fields (``api_key=``, ``faults=``, ``delay_s=``,
    ``forward_url=``, …). The server stops when the block ends.
    """
    resolved = settings_for(data_dir, **settings)
    if thread:
        server = ThreadServer(resolved)
        try:
            yield server.start()
        finally:
            server.stop()
        return
    process = ServerProcess(resolved)
    try:
        yield process.start()
    finally:
        process.stop()
