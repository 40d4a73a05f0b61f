"""The tutorial's sequence end to end: create -> create-from-file -> list -> download -> parse."""

import json

import pyarrow.parquet as pq

from .helpers import EMAILS, SPAM_MODEL, Synth, read_jsonl, table_rows


def test_the_tutorial_sequence_from_messages_to_tables(synth: Synth) -> None:
    requests = synth.request_file()

    created = synth.ok(
        "batch", "create-from-file", "--file-path", str(requests), "--wait",
        "--poll-interval", "0.1",
    )  # fmt: skip
    first, last = table_rows(created.stdout)  # as created, then as finished
    batch_id = first[0]
    assert last[0] == batch_id and last[3] == "completed"

    listed = synth.ok("batch", "list")
    header = listed.stdout.splitlines()[0].split()
    assert header == ["Batch", "ID", "Created", "At", "Status", "Failed", "Completed", "Total",
                      "Progress"]  # fmt: skip
    row = next(row for row in table_rows(listed.stdout) if row[0] == batch_id)
    assert row[3:] == ["completed", "0", "3", "3", "100%"]

    downloaded = synth.ok(
        "batch", "download-file", "--batch-id", batch_id, "--download-file-path", "results.jsonl"
    )
    assert "results.jsonl" in downloaded.stdout
    results = read_jsonl(synth.cwd / "results.jsonl")
    assert sorted(line["custom_id"] for line in results) == ["request-0", "request-1", "request-2"]
    assert not (synth.cwd / "results.errors.jsonl").exists()  # no failures, no error file

    parsed = synth.ok(
        "batch", "parse", "--file-path", "results.jsonl", "--response-model", SPAM_MODEL,
        "--requests-file", str(requests), "--parsed-out", "parsed.parquet",
        "--unparsed-out", "unparsed.parquet",
    )  # fmt: skip
    table = pq.read_table(synth.cwd / "parsed.parquet").to_pylist()
    assert len(table) == len(EMAILS)
    assert {row["class_label"] for row in table} <= {"spam", "not_spam"}
    assert pq.read_table(synth.cwd / "unparsed.parquet").num_rows == 0
    assert "(3 accounted for)" in parsed.stdout


def test_parse_writes_jsonl_with_the_same_columns_as_parquet(synth: Synth) -> None:
    batch = synth.submit(synth.request_file(), "--wait", "--poll-interval", "0.1")
    synth.ok("batch", "download-file", "--batch-id", batch["id"], "--download-file-path", "r.jsonl")

    for suffix in ("parquet", "jsonl"):
        synth.ok(
            "batch", "parse", "--file-path", "r.jsonl", "--batch-id", batch["id"],
            "--response-model", SPAM_MODEL, "--parsed-out", f"parsed.{suffix}",
            "--unparsed-out", f"unparsed.{suffix}",
        )  # fmt: skip
    from_parquet = pq.read_table(synth.cwd / "parsed.parquet").to_pylist()
    from_jsonl = read_jsonl(synth.cwd / "parsed.jsonl")
    key = lambda row: row["custom_id"]  # noqa: E731
    assert sorted(from_jsonl, key=key) == sorted(json.loads(json.dumps(from_parquet)), key=key)
    assert all(row["batch_id"] == batch["id"] for row in from_jsonl)
