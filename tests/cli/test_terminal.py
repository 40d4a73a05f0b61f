"""On a real terminal (a pty): progress bars for --wait and downloads, a live --watch."""

import os
import pty
import select
import signal
import subprocess
import time

from .helpers import Synth, cli_env, read_jsonl, slow


class Terminal:
    """``synth`` attached to a pseudo-terminal, as in an interactive shell."""

    def __init__(self, synth: Synth, *args: str) -> None:
        master, slave = pty.openpty()
        self.master = master
        self.process = subprocess.Popen(
            [*synth.command, *args],
            cwd=synth.cwd,
            env=cli_env(synth.base_url, TERM="xterm-256color", COLUMNS="120"),
            stdin=slave,
            stdout=slave,
            stderr=slave,
        )
        os.close(slave)
        self.output = ""

    def read_until(self, text: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.output:
            assert time.monotonic() < deadline, f"{text!r} never appeared in {self.output!r}"
            ready, _, _ = select.select([self.master], [], [], 0.2)
            if ready:
                try:
                    self.output += os.read(self.master, 65536).decode(errors="replace")
                except OSError:  # the child closed the terminal
                    return

    def finish(self, timeout: float = 60) -> int:
        """Read everything until the process ends; its exit code."""
        deadline = time.monotonic() + timeout
        while self.process.poll() is None:
            assert time.monotonic() < deadline, f"still running: {self.output!r}"
            self._drain()
        code = self.process.wait()
        self._drain()
        os.close(self.master)
        return code

    def _drain(self) -> None:
        while select.select([self.master], [], [], 0.1)[0]:
            try:
                chunk = os.read(self.master, 65536)
            except OSError:
                return
            if not chunk:
                return
            self.output += chunk.decode(errors="replace")


def test_wait_and_download_show_progress_bars_on_a_terminal(synth: Synth) -> None:
    requests = synth.request_file(texts=[f"email {i}" for i in range(6)])
    waiting = Terminal(
        synth, "batch", "create-from-file", "--file-path", str(requests), "--wait",
        "--poll-interval", "0.1", *slow(delay_s=0.2),
    )  # fmt: skip
    assert waiting.finish() == 0, waiting.output
    assert "6/6" in waiting.output  # the bar's answered/total count
    batch_id = next(word for word in waiting.output.split() if word.startswith("batch_"))

    downloading = Terminal(
        synth, "batch", "download-file", "--batch-id", batch_id,
        "--download-file-path", "results.jsonl",
    )  # fmt: skip
    assert downloading.finish() == 0, downloading.output
    assert "output -> results.jsonl" in downloading.output  # the download bar's label
    assert len(read_jsonl(synth.cwd / "results.jsonl")) == 6


def test_watch_redraws_in_place_until_ctrl_c(synth: Synth) -> None:
    batch = synth.submit(synth.request_file())
    watching = Terminal(synth, "batch", "list", "--watch", "--interval", "0.1")
    watching.read_until(batch["id"])
    watching.read_until("as of")
    watching.process.send_signal(signal.SIGINT)
    assert watching.finish() == 0, watching.output
