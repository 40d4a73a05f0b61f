"""BatchJob: the tutorial's API, plus the file path, modes and full accounting."""

import json
from pathlib import Path

from helpers import Triage, chat_line, error_line, write_jsonl

from synth_assets.batch import BatchJob, Shard, validate_request_file

MESSAGES = [{"role": "user", "content": "Here are some weekly product updates"}]


def test_file_path_writes_the_file_and_returns_its_shard(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "requests.jsonl"

    shard = BatchJob.create_from_messages(
        messages_batch=[MESSAGES] * 3,
        model="gpt-4o-mini",
        response_model=Triage,
        file_path=path,
        mode="tools",
        endpoint="/v1/responses",
        max_output_tokens=300,
    )

    assert isinstance(shard, Shard)
    assert (shard.path, shard.requests, shard.endpoint) == (str(path), 3, "/v1/responses")
    assert validate_request_file(path) == []
    lines = [json.loads(raw) for raw in path.read_text().splitlines()]
    assert [line["custom_id"] for line in lines] == ["request-0", "request-1", "request-2"]
    assert lines[0]["body"]["tool_choice"] == {"type": "function", "name": "Triage"}
    assert lines[0]["body"]["max_output_tokens"] == 300
    yielded = list(
        BatchJob.create_from_messages(
            [MESSAGES] * 3,
            "gpt-4o-mini",
            Triage,
            mode="tools",
            endpoint="/v1/responses",
            max_output_tokens=300,
        )
    )
    assert yielded == lines


def test_parse_from_file_accounts_for_every_request(tmp_path: Path) -> None:
    requests = tmp_path / "requests.jsonl"
    BatchJob.create_from_messages([MESSAGES] * 4, "gpt-4o-mini", Triage, file_path=requests)
    output = write_jsonl(
        tmp_path / "output.jsonl", [chat_line("request-0"), chat_line("request-1", "nope")]
    )
    error = write_jsonl(tmp_path / "error.jsonl", [error_line("request-2", "server_error", "x")])

    parsed, unparsed = BatchJob.parse_from_file(
        file_path=output, response_model=Triage, error_file_path=error, requested=requests
    )

    assert parsed == [Triage(label="spam", summary="a prince offers money")]
    assert {row["custom_id"]: row["reason"] for row in unparsed} == {
        "request-1": "invalid_json",
        "request-2": "request_error",
        "request-3": "missing",
    }
    assert {"custom_id", "reason", "message", "raw", "status_code", "error_code"} <= set(
        unparsed[0]
    )


def test_parse_from_file_without_an_output_file(tmp_path: Path) -> None:
    error = write_jsonl(tmp_path / "error.jsonl", [error_line("a", "batch_expired", "late")])

    parsed, unparsed = BatchJob.parse_from_file(
        file_path=None, response_model=Triage, error_file_path=error
    )

    assert parsed == []
    assert [(row["custom_id"], row["reason"]) for row in unparsed] == [("a", "expired")]
