"""Listing batches with cursor paging, as the openai client pages."""

from pathlib import Path

import openai
import pytest

from .helpers import upload, write_requests


def test_listing_pages_over_more_than_a_hundred_batches(
    start_localbatch, make_client, tmp_path: Path
) -> None:
    client = make_client(start_localbatch(thread=True).base_url)
    write_requests(tmp_path / "requests.jsonl", 1)
    file_id = upload(client, tmp_path / "requests.jsonl")
    created = [
        client.batches.create(
            input_file_id=file_id, endpoint="/v1/chat/completions", completion_window="24h"
        ).id
        for _ in range(105)
    ]

    first = client.batches.list(limit=100)
    assert len(first.data) == 100
    assert first.has_more is True
    assert [b.id for b in first.data] == created[::-1][:100]  # newest first
    raw = client.batches.with_raw_response.list(limit=100).http_response.json()
    assert raw["object"] == "list"
    assert (raw["first_id"], raw["last_id"]) == (created[-1], created[5])

    second = client.batches.list(limit=100, after=first.data[-1].id)
    assert [b.id for b in second.data] == created[::-1][100:]
    assert second.has_more is False

    everything = [b.id for b in client.batches.list(limit=7)]  # the client follows the cursor
    assert everything == created[::-1]


def test_listing_defaults_to_twenty(openai_client: openai.OpenAI, tmp_path: Path) -> None:
    write_requests(tmp_path / "requests.jsonl", 1)
    file_id = upload(openai_client, tmp_path / "requests.jsonl")
    for _ in range(21):
        openai_client.batches.create(
            input_file_id=file_id, endpoint="/v1/chat/completions", completion_window="24h"
        )
    assert len(openai_client.batches.list().data) == 20


@pytest.mark.parametrize(
    "query", [{"limit": 0}, {"limit": 101}, {"after": "batch_0000000000000000"}]
)
def test_bad_list_parameters_are_a_400(openai_client: openai.OpenAI, query: dict) -> None:
    with pytest.raises(openai.BadRequestError):
        openai_client.batches.list(**query)
