"""The provider's limits, emulated: enqueued input tokens per model, batch creations per hour.

Beyond them the local server does what OpenAI does: a batch over the enqueued-token limit
ends ``failed`` with ``token_limit_exceeded``; a creation over the hourly cap answers 429.
"""

from pathlib import Path

import openai
import pytest

from .helpers import submit, wait, write_requests


def test_a_batch_over_the_enqueued_token_limit_fails_as_on_openai(
    start_localbatch, make_client, tmp_path: Path
) -> None:
    write_requests(tmp_path / "requests.jsonl", 40)
    tokens = (tmp_path / "requests.jsonl").stat().st_size // 4
    # room for one such batch at a time; each runs long enough to overlap the next
    server = start_localbatch(
        thread=True, enqueued_token_limit=tokens + tokens // 2, delay_s=0.5, chunk_size=10
    )
    client = make_client(server.base_url)

    first = wait(client, submit(client, tmp_path / "requests.jsonl").id, until=_running)
    second = wait(client, submit(client, tmp_path / "requests.jsonl").id)

    assert second.status == "failed"
    [error] = second.errors.data  # type: ignore[union-attr]
    assert error.code == "token_limit_exceeded"
    assert f"Limit: {tokens + tokens // 2:,} enqueued tokens" in (error.message or "")
    assert wait(client, first.id, timeout=60).status == "completed"
    # once the first one finished there is room again
    third = wait(client, submit(client, tmp_path / "requests.jsonl").id, timeout=60)
    assert third.status == "completed"


def test_batch_creations_over_the_hourly_cap_answer_429(
    start_localbatch, make_client, tmp_path: Path
) -> None:
    write_requests(tmp_path / "requests.jsonl", 2)
    server = start_localbatch(thread=True, max_batches_per_hour=2)
    client = make_client(server.base_url)
    for _ in range(2):
        submit(client, tmp_path / "requests.jsonl")

    with pytest.raises(openai.RateLimitError) as refused:
        submit(client, tmp_path / "requests.jsonl")

    assert refused.value.status_code == 429
    assert refused.value.code == "rate_limit_exceeded"
    assert "2 per hour" in refused.value.message
    assert len(list(client.batches.list())) == 2


def _running(batch: object) -> bool:
    return getattr(batch, "status", "") == "in_progress"
