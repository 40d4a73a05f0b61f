"""``synth batch list``: pages through the API, filters, never cuts an id or a status."""

import json
import signal
import subprocess
import time
from pathlib import Path

import pytest

from synth_assets.localbatch import serve_in_background

from .helpers import Synth, table_rows

BATCHES = 5


@pytest.fixture(scope="module")
def batch_ids(server: str, tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """Five completed batches on the module's server, newest first."""
    synth = Synth(server, tmp_path_factory.mktemp("list"))
    path = synth.request_file()
    ids = [synth.submit(path, "--wait", "--poll-interval", "0.1")["id"] for _ in range(BATCHES)]
    return ids[::-1]


def test_list_pages_through_the_api(synth: Synth, batch_ids: list[str]) -> None:
    # Pages of 2 force three round trips with the `after` cursor to see all five.
    result = synth.ok("batch", "list", "--limit", "0", "--page-size", "2")
    assert [row[0] for row in table_rows(result.stdout)] == batch_ids

    limited = synth.ok("batch", "list", "--limit", "3", "--page-size", "2")
    assert [row[0] for row in table_rows(limited.stdout)] == batch_ids[:3]


def test_list_filters_by_status_and_prints_json(synth: Synth, batch_ids: list[str]) -> None:
    synth.ok("batch", "cancel", "--batch-id", batch_ids[0])  # already completed: unchanged
    as_json = synth.ok("batch", "list", "--json", "--status", "completed", "--page-size", "2")
    listed = [json.loads(line) for line in as_json.stdout.splitlines()]
    assert [b["id"] for b in listed] == batch_ids
    assert {b["status"] for b in listed} == {"completed"}

    none = synth.ok("batch", "list", "--status", "failed")
    assert none.stdout == ""
    assert none.stderr.strip() == f"no failed batches on {synth.base_url}."


@pytest.mark.parametrize("columns", ["40", "60", "80", "200"])
def test_ids_and_statuses_are_never_cut_whatever_the_width(
    synth: Synth, batch_ids: list[str], columns: str
) -> None:
    result = synth.ok("batch", "list", COLUMNS=columns)
    rows = table_rows(result.stdout)
    assert [row[0] for row in rows] == batch_ids  # whole ids, each on one line
    assert all("completed" in row for row in rows)
    assert "…" not in "".join(row[0] for row in rows)
    if columns == "200":
        assert len(rows[0]) == 8  # every column fits (the date is two words): none gave way


def test_an_empty_server_says_so(tmp_path: Path) -> None:
    with serve_in_background(tmp_path / "empty") as url:
        result = Synth(url, tmp_path).ok("batch", "list")
    assert result.stdout == ""
    assert result.stderr.strip() == f"no batches on {url}."


def test_watch_refreshes_until_ctrl_c(synth: Synth, batch_ids: list[str]) -> None:
    process = synth.popen(
        "batch", "list", "--watch", "--interval", "0.1",
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    assert process.stdout is not None
    seen = []
    deadline = time.monotonic() + 60
    while len([line for line in seen if line.startswith("as of")]) < 2:
        assert time.monotonic() < deadline, "no refresh seen"
        seen.append(process.stdout.readline())
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=30)
    assert process.returncode == 0, stderr
    assert any(batch_ids[0] in line for line in seen)
