"""``synth batch create-from-file``: validate first, never pay twice, --wait to the end."""

from .helpers import Synth, slow, table_rows, write_jsonl


def request(custom_id: str, **changes: object) -> dict[str, object]:
    line = {
        "custom_id": custom_id,
        "method": "POST",
        "url": "/v1/chat/completions",
        "body": {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]},
    }
    return {**line, **changes}


def test_an_invalid_file_is_rejected_with_line_numbers_and_nothing_uploaded(
    synth: Synth,
) -> None:
    path = write_jsonl(
        synth.cwd / "bad.jsonl",
        [request("a"), request("a"), request("b", method="GET")],
    )
    with path.open("a") as handle:
        handle.write("{not json\n")

    uploaded_before = len(synth.client().files.list().data)
    result = synth("batch", "create-from-file", "--file-path", "bad.jsonl")

    assert result.returncode == 1
    problems = result.stderr.splitlines()
    assert problems[0].startswith("bad.jsonl:2: custom_id 'a' already used on line 1")
    assert problems[1].startswith("bad.jsonl:3: method is 'GET'")
    assert problems[2].startswith("bad.jsonl:4: line is not valid JSON")
    assert problems[-1] == "error: bad.jsonl has 3 problem(s), listed above; nothing was uploaded."
    assert len(synth.client().files.list().data) == uploaded_before


def test_the_same_file_is_not_paid_for_twice(synth: Synth) -> None:
    path = synth.request_file()
    first = synth.ok("batch", "create-from-file", "--file-path", str(path))
    again = synth.ok("batch", "create-from-file", "--file-path", str(path))
    forced = synth.ok("batch", "create-from-file", "--file-path", str(path), "--resubmit")

    (first_id,) = (row[0] for row in table_rows(first.stdout))
    assert table_rows(again.stdout)[0][0] == first_id
    assert "already answers this file" in again.stderr and "--resubmit" in again.stderr
    assert table_rows(forced.stdout)[0][0] != first_id


def test_metadata_and_description_reach_the_batch(synth: Synth) -> None:
    batch = synth.submit(
        synth.request_file(), "--description", "nightly triage", "--metadata", "team=ml"
    )
    assert batch["metadata"]["description"] == "nightly triage"
    assert batch["metadata"]["team"] == "ml"
    assert len(batch["metadata"]["synth_sha256"]) == 64


def test_bad_metadata_is_a_usage_error(synth: Synth) -> None:
    path = synth.request_file()
    batches_before = len(synth.client().batches.list(limit=100).data)
    result = synth("batch", "create-from-file", "--file-path", str(path), "--metadata", "oops")
    assert result.returncode == 2 and "key=value" in result.stderr
    too_many = [arg for i in range(15) for arg in ("--metadata", f"k{i}=v")]
    result = synth("batch", "create-from-file", "--file-path", str(path), *too_many)
    assert result.returncode == 2 and "limit of 16" in result.stderr
    assert len(synth.client().batches.list(limit=100).data) == batches_before


def test_a_model_other_than_expected_is_refused(synth: Synth) -> None:
    path = synth.request_file()
    result = synth("batch", "create-from-file", "--file-path", str(path), "--model", "gpt-4o")
    assert result.returncode == 1
    assert "asks for model 'gpt-4o-mini', not 'gpt-4o'" in result.stderr


def test_wait_follows_the_batch_through_finalizing_to_completed(synth: Synth) -> None:
    path = synth.request_file()
    result = synth.ok(
        "batch", "create-from-file", "--file-path", str(path), "--wait", "--poll-interval", "0.1",
        "--resubmit", *slow(delay_s=0.2),
    )  # fmt: skip
    assert table_rows(result.stdout)[-1][3] == "completed"
    assert "completed (3 completed, 0 failed of 3)" in result.stderr  # the progress log
    assert "download-file --batch-id" in result.stderr


def test_wait_on_a_batch_that_expires_exits_1_and_says_what_is_left(synth: Synth) -> None:
    path = synth.request_file(texts=[f"email {i}" for i in range(20)])
    result = synth(
        "batch", "create-from-file", "--file-path", str(path), "--wait", "--poll-interval", "0.1",
        *slow(delay_s=0.4, localbatch_expire_after_s="1"),
    )  # fmt: skip
    assert result.returncode == 1
    error = result.stderr.strip().splitlines()[-1]
    assert error.startswith("error: batch ") and " expired with " in error
    assert "download-file" in error


def test_a_dry_run_prints_the_estimate_and_uploads_nothing(synth: Synth) -> None:
    requests = synth.request_file()
    before = len(list(synth.client().files.list()))

    result = synth.ok("batch", "create-from-file", "--file-path", str(requests), "--dry-run")

    size = requests.stat().st_size
    assert (
        f"{requests}: 3 requests" in result.stdout and "1 file, model gpt-4o-mini" in result.stdout
    )
    assert f"~{(size + 3) // 4:,} tokens (bytes / 4), $" in result.stdout
    assert "nothing was uploaded (dry run)" in result.stdout
    assert len(list(synth.client().files.list())) == before
