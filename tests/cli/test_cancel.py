"""``synth batch cancel``: returns once the API answers; a finished batch is left alone."""

import pyarrow.parquet as pq

from .helpers import SPAM_MODEL, Synth, slow, table_rows

TWENTY = [f"email {i}" for i in range(20)]


def test_cancel_returns_at_once_and_keeps_the_partial_results(synth: Synth) -> None:
    requests = synth.request_file(texts=TWENTY)
    batch = synth.submit(requests, *slow(delay_s=0.5))

    cancelled = synth.ok("batch", "cancel", "--batch-id", batch["id"])
    assert table_rows(cancelled.stdout)[0][3] in {"cancelling", "cancelled"}

    waited = synth.ok("batch", "cancel", "--batch-id", batch["id"], "--wait",
                      "--poll-interval", "0.1")  # fmt: skip
    assert table_rows(waited.stdout)[-1][3] == "cancelled"

    again = synth.ok("batch", "cancel", "--batch-id", batch["id"])
    assert again.stderr.strip() == f"batch {batch['id']} is already cancelled; nothing to cancel."

    # What ran before the cancel is kept; the rest is accounted for as cancelled.
    synth.ok("batch", "download-file", "--batch-id", batch["id"], "--download-file-path", "r.jsonl")
    synth.ok(
        "batch", "parse", "--file-path", "r.jsonl", "--error-file-path", "r.errors.jsonl",
        "--batch-id", batch["id"], "--response-model", SPAM_MODEL,
        "--parsed-out", "p.parquet", "--unparsed-out", "u.parquet",
    )  # fmt: skip
    parsed = pq.read_table(synth.cwd / "p.parquet").num_rows
    reasons = pq.read_table(synth.cwd / "u.parquet").column("reason").to_pylist()
    assert parsed + len(reasons) == len(TWENTY)
    assert reasons and set(reasons) == {"cancelled"}


def test_cancelling_a_finished_batch_says_so_and_succeeds(synth: Synth) -> None:
    batch = synth.submit(synth.request_file(), "--wait", "--poll-interval", "0.1")
    result = synth("batch", "cancel", "--batch-id", batch["id"])
    assert result.returncode == 0
    assert result.stderr.strip() == f"batch {batch['id']} is already completed; nothing to cancel."
    assert table_rows(result.stdout)[0][3] == "completed"
