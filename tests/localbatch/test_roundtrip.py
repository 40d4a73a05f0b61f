"""Upload -> create -> poll -> download, for both endpoints and both request modes."""

from pathlib import Path

import openai
import pytest

from synth_assets.batch import Parsed, parse_results
from synth_assets.batch.requests import RESPONSES

from .helpers import (
    MODEL,
    MODES,
    Triage,
    answer_text,
    download,
    read_lines,
    submit,
    upload,
    wait,
    write_requests,
)


@pytest.mark.parametrize(("mode", "endpoint"), MODES)
def test_a_batch_runs_end_to_end_with_schema_valid_answers(
    openai_client: openai.OpenAI, tmp_path: Path, mode: str, endpoint: str
) -> None:
    ids = write_requests(tmp_path / "requests.jsonl", 250, mode=mode, endpoint=endpoint)

    created = submit(
        openai_client, tmp_path / "requests.jsonl", endpoint=endpoint, metadata={"task": "triage"}
    )
    assert created.status == "validating"
    assert created.id.startswith("batch_")
    batch = wait(openai_client, created.id)

    assert batch.status == "completed"
    assert batch.request_counts is not None
    assert (batch.request_counts.total, batch.request_counts.completed) == (250, 250)
    assert batch.request_counts.failed == 0
    assert batch.model == MODEL
    assert batch.metadata == {"task": "triage"}
    assert batch.error_file_id is None
    assert batch.in_progress_at and batch.finalizing_at and batch.completed_at
    assert (
        batch.usage is not None and batch.usage.input_tokens > 0 and batch.usage.output_tokens > 0
    )
    lines = read_lines(download(openai_client, batch.output_file_id, tmp_path / "out.jsonl"))
    assert sorted(line["custom_id"] for line in lines) == ids
    for line in lines:
        assert line["id"].startswith("batch_req_")
        assert line["error"] is None
        assert line["response"]["status_code"] == 200
        assert line["response"]["request_id"].startswith("req_")
        body = line["response"]["body"]
        assert body["model"] == MODEL
        Triage.model_validate_json(answer_text(body, endpoint))
    output = openai_client.files.retrieve(batch.output_file_id)
    assert output.purpose == "batch_output"
    assert output.filename == f"{batch.id}_output.jsonl"


@pytest.mark.parametrize(("mode", "endpoint"), MODES)
def test_the_library_parses_every_synthetic_answer(
    openai_client: openai.OpenAI, tmp_path: Path, mode: str, endpoint: str
) -> None:
    requests = tmp_path / "requests.jsonl"
    ids = write_requests(requests, 60, mode=mode, endpoint=endpoint)
    batch = wait(openai_client, submit(openai_client, requests, endpoint=endpoint).id)
    output = download(openai_client, batch.output_file_id, tmp_path / "out.jsonl")

    records = list(parse_results(output, None, response_model=Triage, requested=requests))

    assert all(isinstance(r, Parsed) for r in records), [
        r for r in records if not isinstance(r, Parsed)
    ][:2]
    assert sorted(r.custom_id for r in records) == ids


def test_chat_answers_say_they_are_synthetic(openai_client: openai.OpenAI, tmp_path: Path) -> None:
    write_requests(tmp_path / "requests.jsonl", 5)
    batch = wait(openai_client, submit(openai_client, tmp_path / "requests.jsonl").id)
    lines = read_lines(download(openai_client, batch.output_file_id, tmp_path / "out.jsonl"))
    assert {line["response"]["body"]["system_fingerprint"] for line in lines} == {
        "fp_synth_assets_synthetic"
    }


def test_responses_answers_have_the_responses_shape(
    openai_client: openai.OpenAI, tmp_path: Path
) -> None:
    write_requests(tmp_path / "requests.jsonl", 5, endpoint=RESPONSES)
    batch = wait(
        openai_client, submit(openai_client, tmp_path / "requests.jsonl", endpoint=RESPONSES).id
    )
    body = read_lines(download(openai_client, batch.output_file_id, tmp_path / "out.jsonl"))[0][
        "response"
    ]["body"]
    assert body["object"] == "response"
    assert body["status"] == "completed"
    assert body["output"][0]["type"] == "message"
    assert body["output"][0]["content"][0]["type"] == "output_text"
    assert set(body["usage"]) >= {"input_tokens", "output_tokens", "total_tokens"}


def test_the_same_request_gets_the_same_answer_in_another_batch(
    openai_client: openai.OpenAI, tmp_path: Path
) -> None:
    write_requests(tmp_path / "requests.jsonl", 20)
    answers = []
    for run in range(2):
        batch = wait(openai_client, submit(openai_client, tmp_path / "requests.jsonl").id)
        lines = read_lines(
            download(openai_client, batch.output_file_id, tmp_path / f"out{run}.jsonl")
        )
        answers.append(
            {line["custom_id"]: answer_text(line["response"]["body"], "") for line in lines}
        )
    assert answers[0] == answers[1]
    assert len(set(answers[0].values())) == 20  # and different requests get different answers


def test_output_order_is_not_input_order(openai_client: openai.OpenAI, tmp_path: Path) -> None:
    ids = write_requests(tmp_path / "requests.jsonl", 100)
    batch = wait(openai_client, submit(openai_client, tmp_path / "requests.jsonl").id)
    lines = read_lines(download(openai_client, batch.output_file_id, tmp_path / "out.jsonl"))
    order = [line["custom_id"] for line in lines]
    assert sorted(order) == ids
    assert order != ids  # clients must join on custom_id, and these tests make sure they do


def test_download_streams_with_a_length(openai_client: openai.OpenAI, tmp_path: Path) -> None:
    write_requests(tmp_path / "requests.jsonl", 30)
    file_id = upload(openai_client, tmp_path / "requests.jsonl")
    with openai_client.files.with_streaming_response.content(file_id) as response:
        assert (
            int(response.headers["content-length"]) == (tmp_path / "requests.jsonl").stat().st_size
        )
        data = b"".join(response.iter_bytes(4096))
    assert data == (tmp_path / "requests.jsonl").read_bytes()
