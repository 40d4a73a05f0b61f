"""Validating request files: every problem, with its line, in one call."""

import json
from pathlib import Path

import pytest
from helpers import Triage, write_jsonl

from synth_assets.batch import (
    FileProblem,
    InvalidRequestFileError,
    RequestBuilder,
    SynthError,
    check_request_file,
    validate_request_file,
    write_request_file,
)

MESSAGES = [{"role": "user", "content": "Meeting with Thomas on Friday"}]


def request(custom_id: object = "a", **changes: object) -> dict:
    line = {
        "custom_id": custom_id,
        "method": "POST",
        "url": "/v1/chat/completions",
        "body": {"model": "gpt-4o-mini", "messages": MESSAGES},
    }
    line.update(changes)
    return {k: v for k, v in line.items() if v is not None}


def codes(problems: list[FileProblem]) -> list[tuple[int | None, str]]:
    return [(p.line, p.code) for p in problems]


def test_a_file_we_wrote_is_valid(tmp_path: Path) -> None:
    builder = RequestBuilder(model="gpt-4o-mini", response_model=Triage)
    path = tmp_path / "requests.jsonl"
    write_request_file([(f"id-{i}", MESSAGES) for i in range(5)], builder, path)

    assert validate_request_file(path) == []
    check_request_file(path)  # does not raise


def test_a_users_file_with_crlf_and_no_final_newline_is_valid(tmp_path: Path) -> None:
    lines = [request("a"), request("b"), request("c", url="/v1/chat/completions")]
    path = write_jsonl(tmp_path / "user.jsonl", lines, newline="\r\n", final_newline=False)

    assert validate_request_file(path) == []


def test_every_problem_is_reported_with_its_line_all_in_one_call(tmp_path: Path) -> None:
    lines = [
        request("a"),  # 1: fine, sets the model and endpoint
        '{"custom_id": "b", "method": "POST",',  # 2: malformed JSON
        request(None),  # 3: no custom_id
        request("a"),  # 4: duplicate of line 1
        request("d", method="GET"),  # 5
        request("e", url="/v1/embeddingz"),  # 6
        request("f", body=None),  # 7: no body
        request("g", body={"messages": MESSAGES}),  # 8: no model
        request("h", body={"model": "gpt-4o", "messages": MESSAGES}),  # 9
        request("i", url="/v1/responses", body={"model": "gpt-4o-mini", "input": "hi"}),  # 10
        "",  # 11
        request("x" * 65),  # 12
        "[1, 2]",  # 13
        request("n", body={"model": "gpt-4o-mini"}),  # 14: no messages
    ]
    path = write_jsonl(tmp_path / "bad.jsonl", lines)

    problems = validate_request_file(path, max_requests=5, max_bytes=1000)

    assert codes(problems) == [
        (2, "invalid_json"),
        (3, "missing_custom_id"),
        (4, "duplicate_custom_id"),
        (5, "invalid_method"),
        (6, "invalid_url"),
        (7, "missing_body"),
        (8, "missing_model"),
        (9, "mixed_models"),
        (10, "mixed_endpoints"),
        (11, "empty_line"),
        (12, "custom_id_too_long"),
        (13, "invalid_line"),
        (14, "missing_input"),
        (None, "too_many_requests"),
        (None, "file_too_large"),
    ]
    by_code = {p.code: p for p in problems}
    assert "line 1" in by_code["duplicate_custom_id"].message
    assert "'a'" in by_code["duplicate_custom_id"].message
    assert "line 1" in by_code["mixed_models"].message
    assert "line 1" in by_code["mixed_endpoints"].message
    assert "13 requests" in by_code["too_many_requests"].message
    assert str(path.stat().st_size) in by_code["file_too_large"].message
    assert str(by_code["invalid_method"]) == "line 5: method is 'GET', not 'POST'"


def test_check_request_file_raises_with_every_problem(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "bad.jsonl", [request("a"), request("a"), "nope"])

    with pytest.raises(InvalidRequestFileError) as raised:
        check_request_file(path)

    error = raised.value
    assert isinstance(error, SynthError)
    assert codes(error.problems) == [(2, "duplicate_custom_id"), (3, "invalid_json")]
    assert error.path == str(path)
    assert str(error) == (
        f"{path} is not a valid Batch-API request file: line 2: custom_id 'a' already used "
        "on line 1 (and 1 more problem)."
    )


def test_limits_are_the_callers(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "r.jsonl", [request(str(i)) for i in range(3)])

    assert validate_request_file(path, max_requests=3) == []
    assert codes(validate_request_file(path, max_requests=2)) == [(None, "too_many_requests")]
    size = path.stat().st_size
    assert validate_request_file(path, max_bytes=size) == []
    assert codes(validate_request_file(path, max_bytes=size - 1)) == [(None, "file_too_large")]
    with pytest.raises(InvalidRequestFileError):
        check_request_file(path, max_requests=2)


def test_a_missing_file_is_one_problem(tmp_path: Path) -> None:
    path = tmp_path / "nowhere.jsonl"

    assert codes(validate_request_file(path)) == [(None, "file_not_found")]
    with pytest.raises(InvalidRequestFileError, match=r"nowhere\.jsonl"):
        check_request_file(path)


def test_an_empty_file_holds_no_requests(tmp_path: Path) -> None:
    path = tmp_path / "empty.jsonl"
    path.write_bytes(b"")

    assert codes(validate_request_file(path)) == [(None, "empty_file")]


def test_non_ascii_ids_and_content_are_fine(tmp_path: Path) -> None:
    line = request(
        "courriel-é-🎉",
        body={"model": "m", "messages": [{"role": "user", "content": "東京\u2028"}]},
    )
    path = tmp_path / "r.jsonl"
    path.write_text(json.dumps(line, ensure_ascii=False) + "\n", encoding="utf-8")

    assert validate_request_file(path) == []
