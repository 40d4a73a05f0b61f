"""Running the real ``synth`` as a user would, and small file helpers for its tests."""

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import openai

from synth_assets.batch.remote import TERMINAL

SPAM_MODEL = "synth_assets.tasks.spam:SinglePrediction"
EMAILS = (
    "Hello there I'm a Nigerian prince and I want to give you money",
    "Meeting with Thomas has been set at Friday next week",
    "Here are some weekly product updates from our marketing team",
)


def synth_command() -> list[str]:
    """The installed console script, or the same entry point through this interpreter."""
    script = shutil.which("synth", path=str(Path(sys.executable).parent))
    if script:
        return [script]
    return [sys.executable, "-c", "from synth_assets.cli import main; main()"]


def cli_env(base_url: str | None, **extra: str) -> dict[str, str]:
    """The environment of a user pointing ``synth`` at ``base_url`` (no key, no colour)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "COLUMNS"))}
    if base_url is not None:
        env["OPENAI_BASE_URL"] = base_url
    # Run from a scratch folder, the project (its data/ and task folders) is this checkout.
    env["SYNTH_PROJECT_DIR"] = str(Path(__file__).resolve().parents[2])
    env.update({"NO_COLOR": "1", "TERM": "dumb", "PYTHONUNBUFFERED": "1", **extra})
    return env


@dataclass
class Synth:
    """Runs ``synth`` in ``cwd`` against one server; returns the finished process."""

    base_url: str
    cwd: Path
    command: list[str] = field(default_factory=synth_command)

    def __call__(
        self, *args: str, timeout: float = 120, **env: str
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*self.command, *args],
            cwd=self.cwd,
            env=cli_env(self.base_url, **env),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def popen(
        self, *args: str, env_extra: dict[str, str] | None = None, **kwargs: Any
    ) -> subprocess.Popen[str]:
        """Start ``synth`` without waiting (for Ctrl-C tests)."""
        return subprocess.Popen(
            [*self.command, *args],
            cwd=self.cwd,
            env=cli_env(self.base_url, **(env_extra or {})),
            text=True,
            **kwargs,
        )

    def ok(self, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
        """Run and insist on exit code 0 (showing stderr when it is not)."""
        result = self(*args, **env)
        assert result.returncode == 0, f"synth {' '.join(args)} failed:\n{result.stderr}"
        return result

    def client(self) -> openai.OpenAI:
        """A real ``openai`` client on the same server, to look at its state."""
        return openai.OpenAI(base_url=self.base_url, api_key="local-no-key", max_retries=0)

    def request_file(self, name: str = "requests.jsonl", texts: Sequence[str] = EMAILS) -> Path:
        """A request file built the user's way: messages JSONL, then ``synth batch create``."""
        messages = self.cwd / f"{Path(name).stem}.messages.jsonl"
        write_jsonl(messages, ([{"role": "user", "content": f"Classify: {t}"}] for t in texts))
        self.ok(
            "batch",
            "create",
            "--messages-file",
            str(messages),
            "--model",
            "gpt-4o-mini",
            "--response-model",
            SPAM_MODEL,
            "--output-file",
            name,
        )
        return self.cwd / name

    def submit(self, path: Path, *extra: str) -> dict[str, Any]:
        """``create-from-file --json`` (a fresh batch each time); returns the batch."""
        result = self.ok(
            "batch", "create-from-file", "--file-path", str(path), "--resubmit", "--json", *extra
        )
        return json.loads(result.stdout.splitlines()[-1])


def write_jsonl(path: Path, rows: Any) -> Path:
    """One JSON value per line."""
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def read_jsonl(path: Path) -> list[Any]:
    """Every line of a JSONL file, parsed."""
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def slow(chunk_size: int = 1, delay_s: float = 0.5, **more: str) -> list[str]:
    """``--metadata`` options that make the local server answer slowly, for this batch only."""
    pairs = {"localbatch_chunk_size": str(chunk_size), "localbatch_delay_s": str(delay_s), **more}
    return [arg for key, value in pairs.items() for arg in ("--metadata", f"{key}={value}")]


def table_rows(stdout: str) -> list[list[str]]:
    """The rows of a printed batch table (lines that start with a batch id), split."""
    return [line.split() for line in stdout.splitlines() if line.startswith("batch_")]


def wait_until_finished(synth: "Synth", batch_id: str, timeout: float = 120) -> Any:
    """Poll the server (real client) until the batch is terminal; return it."""
    client = synth.client()
    deadline = time.monotonic() + timeout
    while (batch := client.batches.retrieve(batch_id)).status not in TERMINAL:
        assert time.monotonic() < deadline, f"{batch_id} still {batch.status}"
        time.sleep(0.1)
    return batch
