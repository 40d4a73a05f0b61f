"""``synth batch download-file``: every terminal batch, partial results, clear refusals."""

import signal
import subprocess
import time

import pyarrow.parquet as pq

from .helpers import SPAM_MODEL, Synth, read_jsonl, slow, wait_until_finished

TWENTY = [f"email {i}" for i in range(20)]


def download(synth: Synth, batch_id: str, *extra: str) -> subprocess.CompletedProcess[str]:
    return synth("batch", "download-file", "--batch-id", batch_id,
                 "--download-file-path", "results.jsonl", *extra)  # fmt: skip


def parse(synth: Synth, batch_id: str) -> tuple[int, list[str]]:
    """Parse the downloaded files; (parsed rows, unparsed reasons)."""
    synth.ok(
        "batch", "parse", "--file-path", "results.jsonl",
        "--error-file-path", "results.errors.jsonl", "--batch-id", batch_id,
        "--response-model", SPAM_MODEL, "--parsed-out", "p.parquet", "--unparsed-out", "u.parquet",
    )  # fmt: skip
    reasons = pq.read_table(synth.cwd / "u.parquet").column("reason").to_pylist()
    return pq.read_table(synth.cwd / "p.parquet").num_rows, reasons


def test_an_expired_batch_gives_its_partial_output_and_its_errors(synth: Synth) -> None:
    requests = synth.request_file(texts=TWENTY)
    batch = synth.submit(requests, *slow(delay_s=0.3, localbatch_expire_after_s="1"))
    assert wait_until_finished(synth, batch["id"]).status == "expired"

    result = download(synth, batch["id"])

    assert result.returncode == 0, result.stderr
    assert f"batch {batch['id']} expired" in result.stdout
    output = read_jsonl(synth.cwd / "results.jsonl")
    errors = read_jsonl(synth.cwd / "results.errors.jsonl")
    assert output, "some requests ran before the window closed"
    assert {e["error"]["code"] for e in errors} == {"batch_expired"}
    parsed, reasons = parse(synth, batch["id"])
    assert parsed == len(output)
    assert parsed + len(reasons) == len(TWENTY) and set(reasons) == {"expired"}


def test_a_running_batch_has_nothing_to_download_yet(synth: Synth) -> None:
    batch = synth.submit(synth.request_file(texts=TWENTY), *slow(delay_s=1))
    result = download(synth, batch["id"])
    synth.ok("batch", "cancel", "--batch-id", batch["id"])  # do not leave it running

    assert result.returncode == 1
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith(f"error: batch {batch['id']} is still ")
    assert "nothing to download until it is completed, expired or cancelled" in line
    assert not (synth.cwd / "results.jsonl").exists()


def test_a_completed_batch_without_output_file_gives_its_error_file(synth: Synth) -> None:
    batch = synth.submit(synth.request_file(), "--metadata", "localbatch_faults=http_500=1",
                         "--wait", "--poll-interval", "0.1")  # fmt: skip
    assert batch["status"] == "completed" and batch["output_file_id"] is None

    result = download(synth, batch["id"])

    assert result.returncode == 0, result.stderr
    assert "has no output file (no request succeeded)" in result.stderr
    assert (synth.cwd / "results.jsonl").read_bytes() == b""
    assert len(read_jsonl(synth.cwd / "results.errors.jsonl")) == 3
    assert parse(synth, batch["id"]) == (0, ["http_error"] * 3)


def test_a_failed_batch_says_why_it_has_nothing(synth: Synth) -> None:
    batch = synth.submit(synth.request_file(), "--metadata", "localbatch_faults=batch_failed=1")
    assert wait_until_finished(synth, batch["id"]).status == "failed"

    result = download(synth, batch["id"])

    assert result.returncode == 1
    assert "failed (The batch input file was refused" in result.stderr
    assert "it has no results to download." in result.stderr


def test_a_named_error_file_is_written_even_when_nothing_failed(synth: Synth) -> None:
    batch = synth.submit(synth.request_file(), "--wait", "--poll-interval", "0.1")
    synth.ok("batch", "download-file", "--batch-id", batch["id"], "--download-file-path",
             "out/r.jsonl", "--error-file-path", "out/e.jsonl")  # fmt: skip
    assert len(read_jsonl(synth.cwd / "out/r.jsonl")) == 3
    assert (synth.cwd / "out/e.jsonl").read_bytes() == b""
    assert sorted(p.name for p in (synth.cwd / "out").iterdir()) == ["e.jsonl", "r.jsonl"]


def test_ctrl_c_while_waiting_leaves_the_batch_running(synth: Synth) -> None:
    requests = synth.request_file(texts=TWENTY)
    process = synth.popen(
        "batch", "create-from-file", "--file-path", str(requests), "--resubmit", "--wait",
        "--poll-interval", "0.1", *slow(delay_s=1),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    assert process.stderr is not None
    deadline = time.monotonic() + 60
    while "running" not in process.stderr.readline():  # the progress log of a live batch
        assert time.monotonic() < deadline
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=30)

    assert process.returncode == 130
    assert "goes on without you" in stderr
    batch_id = stdout.split()[stdout.split().index("Progress") + 2]
    status = synth.ok("batch", "status", "--batch-id", batch_id)
    assert "cancel" not in status.stdout.split("\n")[1]  # still live, not cancelled by us
    synth.ok("batch", "cancel", "--batch-id", batch_id)
