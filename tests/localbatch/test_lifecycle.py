"""The status lifecycle: cancel and expiry with partial output, failed validation, all-failed."""

from pathlib import Path

import openai
import pytest

from synth_assets.batch.requests import RESPONSES

from .helpers import MODEL, download, read_lines, submit, upload, wait, write_requests

# Slow progress: 5 requests per chunk, a pause between chunks.
SLOW = {"localbatch_chunk_size": "5", "localbatch_delay_s": "0.1"}


def _ids_by_file(client: openai.OpenAI, batch, tmp_path: Path) -> tuple[list[str], list[dict]]:
    output = read_lines(download(client, batch.output_file_id, tmp_path / "out.jsonl"))
    errors = read_lines(download(client, batch.error_file_id, tmp_path / "err.jsonl"))
    return [line["custom_id"] for line in output], errors


def test_cancel_mid_batch_keeps_partial_output_and_cancels_the_rest(
    openai_client: openai.OpenAI, tmp_path: Path
) -> None:
    ids = write_requests(tmp_path / "requests.jsonl", 80)
    batch = submit(openai_client, tmp_path / "requests.jsonl", metadata=SLOW)
    wait(openai_client, batch.id, until=lambda b: b.request_counts.completed >= 10)

    cancelling = openai_client.batches.cancel(batch.id)
    assert cancelling.status == "cancelling"
    assert cancelling.cancelling_at is not None
    cancelled = wait(openai_client, batch.id)

    assert cancelled.status == "cancelled"
    assert cancelled.cancelled_at is not None
    answered, errors = _ids_by_file(openai_client, cancelled, tmp_path)
    assert 10 <= len(answered) < 80
    assert {e["error"]["code"] for e in errors} == {"batch_cancelled"}
    assert all(e["response"] is None for e in errors)
    assert sorted(answered + [e["custom_id"] for e in errors]) == ids  # each exactly once
    counts = cancelled.request_counts
    assert (counts.completed, counts.failed, counts.total) == (len(answered), len(errors), 80)


def test_cancel_is_idempotent_but_not_allowed_after_completion(
    openai_client: openai.OpenAI, tmp_path: Path
) -> None:
    write_requests(tmp_path / "requests.jsonl", 3)
    done = wait(openai_client, submit(openai_client, tmp_path / "requests.jsonl").id)
    with pytest.raises(openai.BadRequestError) as raised:
        openai_client.batches.cancel(done.id)
    assert "completed" in raised.value.message

    slow = submit(
        openai_client,
        tmp_path / "requests.jsonl",
        metadata={"localbatch_delay_s": "5", "localbatch_chunk_size": "1"},
    )
    first = openai_client.batches.cancel(slow.id)
    second = openai_client.batches.cancel(slow.id)
    assert first.status in ("cancelling", "cancelled") and second.status in (
        "cancelling",
        "cancelled",
    )
    assert wait(openai_client, slow.id).status == "cancelled"


def test_expiry_keeps_partial_output_and_expires_the_rest(
    openai_client: openai.OpenAI, tmp_path: Path
) -> None:
    ids = write_requests(tmp_path / "requests.jsonl", 80)
    batch = submit(
        openai_client,
        tmp_path / "requests.jsonl",
        metadata={**SLOW, "localbatch_expire_after_s": "0.6"},
    )

    expired = wait(openai_client, batch.id)

    assert expired.status == "expired"
    assert expired.expired_at is not None
    answered, errors = _ids_by_file(openai_client, expired, tmp_path)
    assert 0 < len(answered) < 80
    assert {e["error"]["code"] for e in errors} == {"batch_expired"}
    assert sorted(answered + [e["custom_id"] for e in errors]) == ids


def test_a_bad_input_file_fails_validation_with_line_numbers(
    openai_client: openai.OpenAI, tmp_path: Path
) -> None:
    write_requests(tmp_path / "good.jsonl", 2)
    good = (tmp_path / "good.jsonl").read_text().splitlines()
    other_model = good[1].replace(MODEL, "gpt-4o")
    duplicate = good[0]
    bad = tmp_path / "bad.jsonl"
    bad.write_text(
        "\n".join([good[0], '{"custom_id": "x", "method": "POST",', duplicate, other_model]) + "\n"
    )

    batch = wait(openai_client, submit(openai_client, bad).id)

    assert batch.status == "failed"
    assert batch.failed_at is not None
    assert batch.output_file_id is None and batch.error_file_id is None
    problems = {(e.line, e.code) for e in batch.errors.data}
    assert problems == {(2, "invalid_json"), (3, "duplicate_custom_id"), (4, "mixed_models")}
    assert all(e.message for e in batch.errors.data)


def test_a_file_for_another_endpoint_fails_validation(
    openai_client: openai.OpenAI, tmp_path: Path
) -> None:
    write_requests(tmp_path / "chat.jsonl", 2)
    batch = wait(
        openai_client, submit(openai_client, tmp_path / "chat.jsonl", endpoint=RESPONSES).id
    )
    assert batch.status == "failed"
    assert {(e.line, e.code) for e in batch.errors.data} == {(1, "invalid_url"), (2, "invalid_url")}


def test_an_injected_batch_failure_fails_at_validation(
    openai_client: openai.OpenAI, tmp_path: Path
) -> None:
    write_requests(tmp_path / "requests.jsonl", 3)
    batch = submit(
        openai_client, tmp_path / "requests.jsonl", metadata={"localbatch_faults": "batch_failed=1"}
    )
    failed = wait(openai_client, batch.id)
    assert failed.status == "failed"
    assert [e.code for e in failed.errors.data] == ["invalid_request"]


def test_a_batch_whose_every_request_failed_completes_without_an_output_file(
    openai_client: openai.OpenAI, tmp_path: Path
) -> None:
    ids = write_requests(tmp_path / "requests.jsonl", 12)
    batch = wait(
        openai_client,
        submit(
            openai_client, tmp_path / "requests.jsonl", metadata={"localbatch_faults": "http_500=1"}
        ).id,
    )

    assert batch.status == "completed"
    assert batch.output_file_id is None
    assert (batch.request_counts.completed, batch.request_counts.failed) == (0, 12)
    errors = read_lines(download(openai_client, batch.error_file_id, tmp_path / "err.jsonl"))
    assert sorted(e["custom_id"] for e in errors) == ids
    assert {e["response"]["status_code"] for e in errors} == {500}
    assert all(e["response"]["body"]["error"]["type"] == "server_error" for e in errors)


def test_progress_is_visible_while_a_batch_runs(
    openai_client: openai.OpenAI, tmp_path: Path
) -> None:
    write_requests(tmp_path / "requests.jsonl", 30)
    batch = submit(openai_client, tmp_path / "requests.jsonl", metadata=SLOW)
    seen = set()
    while (current := openai_client.batches.retrieve(batch.id)).status not in (
        "completed",
        "failed",
    ):
        seen.add(
            (current.status, current.request_counts.completed if current.request_counts else 0)
        )
    assert any(status == "in_progress" and 0 < done < 30 for status, done in seen)
    assert current.request_counts.completed == 30


def test_the_input_file_is_listed_and_deletable(
    openai_client: openai.OpenAI, tmp_path: Path
) -> None:
    write_requests(tmp_path / "requests.jsonl", 2)
    file_id = upload(openai_client, tmp_path / "requests.jsonl")
    assert file_id in {f.id for f in openai_client.files.list(purpose="batch")}
    deleted = openai_client.files.delete(file_id)
    assert deleted.deleted and deleted.id == file_id
    with pytest.raises(openai.NotFoundError):
        openai_client.files.retrieve(file_id)


def test_deleting_the_input_of_a_running_batch_does_not_break_it(
    openai_client: openai.OpenAI, tmp_path: Path
) -> None:
    ids = write_requests(tmp_path / "requests.jsonl", 40)
    batch = submit(openai_client, tmp_path / "requests.jsonl", metadata=SLOW)
    wait(openai_client, batch.id, until=lambda b: b.request_counts.completed >= 5)

    openai_client.files.delete(batch.input_file_id)
    done = wait(openai_client, batch.id)

    assert done.status == "completed"
    answered, _ = _ids_by_file(openai_client, done, tmp_path)
    assert sorted(answered) == ids
    with pytest.raises(openai.NotFoundError):
        openai_client.files.content(batch.input_file_id)
