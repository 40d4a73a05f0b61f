"""``synth backfill`` and ``synth demo`` from a shell: this run's summary, the truth in the
exit code, Dagster's own log kept off the terminal, and the demo's backend."""

import socket
from collections.abc import Callable
from pathlib import Path

import pytest

from synth_assets.batch.client import LOCAL_BASE_URL
from synth_assets.cli.pipeline import demo_backend

from .helpers import Synth

DATE = "2026-11-06"  # the smallest sample day: 208 emails


def pipeline_env(tmp_path: Path) -> dict[str, str]:
    """Everything the pipeline writes goes under ``tmp_path``; the daemon's sensors tick as
    often as it lets them (the demo's pace, not production's 30 s)."""
    return {
        "DAGSTER_HOME": str(tmp_path / "home"),
        "SYNTH_STORAGE_ROOT": str(tmp_path / "out"),
        "SYNTH_WORK_DIR": str(tmp_path / "work"),
        "SYNTH_SENSOR_INTERVAL_S": "1",
    }


def summary_row(stdout: str, date: str) -> list[str]:
    [row] = [line.split() for line in stdout.splitlines() if line.startswith(date + " ")]
    return row


@pytest.mark.timeout(240)
def test_backfill_prints_this_runs_summary_and_a_second_run_sends_nothing(
    synth: Synth, tmp_path: Path
) -> None:
    env = pipeline_env(tmp_path)
    first = synth("backfill", "--from", DATE, "--to", DATE, "--timeout", "120", **env)

    assert first.returncode == 0, first.stderr
    assert first.stdout.startswith(f"backend: {synth.base_url}; partitions: {DATE}..{DATE}")
    assert f"submitted spam_triage {DATE}: 208 requests sent" in first.stdout
    assert summary_row(first.stdout, DATE)[:3] == [DATE, "208", "208"]  # rows, sent now
    # Dagster's own log lines went to a file, not to the terminal
    assert " - DEBUG - " not in first.stdout + first.stderr
    [log] = (tmp_path / "home" / "synth-logs").glob("backfill-*.log")
    assert " - DEBUG - " in log.read_text()

    again = synth("backfill", "--from", DATE, "--to", DATE, "--timeout", "120", **env)

    assert again.returncode == 0, again.stderr
    assert f"{DATE}: 0 requests sent (answered already 208)" in again.stdout
    assert "collect " not in again.stdout  # nothing to collect or publish
    row = summary_row(again.stdout, DATE)
    assert row[:3] == [DATE, "208", "0"] and row[3:5] == summary_row(first.stdout, DATE)[3:5]


@pytest.mark.timeout(120)
def test_a_day_not_collected_fails_the_command_and_is_named(
    start_localbatch, tmp_path: Path
) -> None:
    slow = start_localbatch(thread=True, delay_s=2.0, chunk_size=10)
    synth = Synth(slow.base_url, tmp_path)

    env = pipeline_env(tmp_path)
    result = synth("backfill", "--from", DATE, "--to", DATE, "--timeout", "1", **env)

    assert result.returncode == 1
    assert result.stderr.strip() == (
        f"error: 1 day(s) not collected: {DATE}: still waiting for 1 batch(es) after 1 s."
    )
    assert summary_row(result.stdout, DATE)[:3] == [DATE, "-", "208"]  # sent, not collected
    assert "not collected: still waiting" in result.stdout


@pytest.mark.timeout(240)
def test_backfill_reads_the_dataset_given_with_dataset(synth: Synth, tmp_path: Path) -> None:
    sample = Path(__file__).resolve().parents[2] / "data" / "emails" / f"date={DATE}"
    lines = (sample / "emails.jsonl").read_text().splitlines(keepends=True)[:5]
    inbox = tmp_path / "inbox" / f"date={DATE}"
    inbox.mkdir(parents=True)
    (inbox / "emails.jsonl").write_text("".join(lines))

    # Relative to the working directory, as a user types it.
    result = synth(
        "backfill", "--from", DATE, "--to", DATE, "--dataset", "inbox", **pipeline_env(tmp_path)
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0].endswith(f"; dataset: {tmp_path / 'inbox'}")
    # The daemon's runs read the five rows, not the project's 208.
    assert f"submitted spam_triage {DATE}: 5 requests sent" in result.stdout
    assert summary_row(result.stdout, DATE)[:3] == [DATE, "5", "5"]


@pytest.mark.parametrize(
    ("make", "problem"),
    [
        (lambda root: None, "does not exist"),
        (
            lambda root: (root / "2026-11-06").mkdir(parents=True),
            "holds no date=YYYY-MM-DD folders",
        ),
    ],
    ids=["missing", "no-date-folders"],
)
def test_a_bad_dataset_is_one_sentence_naming_what_to_fix(
    tmp_path: Path, make: Callable[[Path], None], problem: str
) -> None:
    make(tmp_path / "inbox")
    synth = Synth(LOCAL_BASE_URL, tmp_path)  # never reached: the path is checked first

    result = synth(
        "backfill", "--from", DATE, "--to", DATE, "--dataset", "inbox", **pipeline_env(tmp_path)
    )

    assert result.returncode == 1
    [line] = result.stderr.strip().splitlines()
    assert line.startswith(f"error: --dataset inbox: {tmp_path / 'inbox'} {problem}; point it at")
    assert not (tmp_path / "home").exists()  # no daemon started, nothing launched


def test_an_unreachable_backend_is_one_sentence_before_anything_is_built(tmp_path: Path) -> None:
    with socket.socket() as sock:  # a port nobody listens on once closed
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    nowhere = Synth(f"http://127.0.0.1:{port}/v1", tmp_path)

    result = nowhere("backfill", "--from", DATE, "--to", DATE, **pipeline_env(tmp_path))

    assert result.returncode == 1
    assert result.stderr.strip() == (
        f"error: cannot reach the Batch API at http://127.0.0.1:{port}/v1; start the local "
        "server with `synth localbatch serve` (or set OPENAI_API_KEY / OPENAI_BASE_URL to use "
        "another one)."
    )
    assert not (tmp_path / "work").exists()  # nothing built, nothing submitted


def test_the_demo_stays_on_the_local_server_when_a_key_is_exported(monkeypatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-someone-elses")
    monkeypatch.setenv("OPENAI_BASE_URL", "https://api.example.invalid/v1")

    local = demo_backend("local")
    chosen = demo_backend("env")

    assert local.base_url == LOCAL_BASE_URL and local.is_local
    assert "sk-someone-elses" not in local.identity and local.api_key != "sk-someone-elses"
    assert chosen.base_url == "https://api.example.invalid/v1"  # only when asked for
