"""``--help`` everywhere: an example, no key needed, no network touched."""

import subprocess

import pytest

from .helpers import cli_env, synth_command

COMMANDS = ("create-from-file", "create", "list", "status", "cancel", "download-file", "parse")
# Nothing listens on port 9 (discard) on loopback: any network call would fail loudly.
NOWHERE = "http://127.0.0.1:9/v1"


@pytest.mark.parametrize("command", ["", *COMMANDS])
def test_help_shows_an_example_without_key_or_network(command: str) -> None:
    args = ["batch", command, "--help"] if command else ["batch", "--help"]
    result = subprocess.run(
        [*synth_command(), *args],
        env=cli_env(NOWHERE),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "synth batch " + (command or "create") in result.stdout  # the example itself
    assert "Example" in result.stdout or "sequence" in result.stdout
    assert result.stderr == ""


def test_a_usage_error_exits_2() -> None:
    result = subprocess.run(
        [*synth_command(), "batch", "status"],  # --batch-id missing
        env=cli_env(NOWHERE),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "--batch-id" in result.stderr
