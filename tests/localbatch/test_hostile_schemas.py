"""Response schemas that cannot be answered cost one error line each, never the batch.

A schema no value satisfies (a required self-reference, an infinite bound) is a per-line
400 ``invalid_schema``, as OpenAI refuses that request alone; a schema whose answer would
pass the server's per-answer budget (``--max-answer-bytes``, ``--answer-timeout-s``) is a
per-line 400 ``answer_budget_exceeded``, refused before the answer is built, so the server's
memory stays flat. And while one heavy batch is answered, other batches keep moving.
"""

from pathlib import Path
from typing import Any

import openai
import pytest

from .helpers import (
    chat_body,
    peak_rss_mb,
    results,
    submit,
    wait,
    write_bodies,
    write_requests,
)

OBJECT = {"type": "object", "additionalProperties": False}


def _holding(value_schema: dict[str, Any], **defs: Any) -> dict[str, Any]:
    """A strict object schema with one required field ``v``."""
    schema = {**OBJECT, "properties": {"v": value_schema}, "required": ["v"]}
    return {**schema, "$defs": defs} if defs else schema


SELF_CONTAINED = {
    **OBJECT,
    "properties": {"child": {"$ref": "#/$defs/Node"}},
    "required": ["child"],
}
UNANSWERABLE = {
    "ref-to-root": {"$ref": "#"},
    "object-holding-itself": _holding({"$ref": "#/$defs/Node"}, Node=SELF_CONTAINED),
    "array-of-itself": _holding(
        {"$ref": "#/$defs/List"},
        List={"type": "array", "items": {"$ref": "#/$defs/List"}, "minItems": 1},
    ),
    "minimum-infinity": _holding({"type": "integer", "minimum": float("inf")}),
    "maximum-nan": _holding({"type": "number", "maximum": float("nan")}),
    "multiple-of-infinity": _holding({"type": "number", "multipleOf": float("-inf")}),
}
TOO_LARGE = {
    "billion-items": _holding({"type": "array", "items": {"type": "integer"}, "minItems": 10**9}),
    "fifty-megabyte-string": _holding({"type": "string", "minLength": 50_000_000}),
    "nested-arrays": _holding(
        {
            "type": "array",
            "minItems": 2000,
            "items": {"type": "array", "minItems": 2000, "items": {"type": "boolean"}},
        }
    ),
    "long-enum-values": _holding(
        {"type": "array", "minItems": 5000, "items": {"enum": ["x" * 1000]}}
    ),
}


def _fine(index: int) -> dict[str, Any]:
    return chat_body(_holding({"type": "string", "maxLength": 20}))


def _assert_refused(line: dict[str, Any], code: str, param: str | None) -> None:
    assert line["error"] is None
    assert line["response"]["status_code"] == 400
    error = line["response"]["body"]["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["type"] == "invalid_request_error"
    assert error["code"] == code, error
    assert error["param"] == param
    assert error["message"].startswith("Cannot answer this request: ")


def test_unanswerable_schemas_fail_their_own_line_only(
    openai_client: openai.OpenAI, tmp_path: Path
) -> None:
    bodies = {name: chat_body(schema) for name, schema in UNANSWERABLE.items()}
    bodies |= {f"fine-{i}": _fine(i) for i in range(3)}
    path = write_bodies(tmp_path / "requests.jsonl", bodies)
    batch = wait(openai_client, submit(openai_client, path).id)
    assert batch.status == "completed", batch.errors
    assert batch.request_counts.completed == 3
    assert batch.request_counts.failed == len(UNANSWERABLE)
    lines = results(openai_client, batch, tmp_path)
    for name in UNANSWERABLE:
        _assert_refused(lines[name], "invalid_schema", "response_format.json_schema.schema")
    assert (
        "nests deeper than"
        in lines["object-holding-itself"]["response"]["body"]["error"]["message"]
    )
    assert "finite" in lines["minimum-infinity"]["response"]["body"]["error"]["message"]
    for index in range(3):
        assert lines[f"fine-{index}"]["response"]["status_code"] == 200


def test_an_unanswerable_tool_schema_names_the_tool_parameters(
    openai_client: openai.OpenAI, tmp_path: Path
) -> None:
    tool = {"type": "function", "function": {"name": "answer", "parameters": {"$ref": "#"}}}
    body = chat_body(tools=[tool], tool_choice={"type": "function", "function": {"name": "answer"}})
    path = write_bodies(tmp_path / "requests.jsonl", {"tool": body, "fine": _fine(0)})
    batch = wait(openai_client, submit(openai_client, path).id)
    lines = results(openai_client, batch, tmp_path)
    _assert_refused(lines["tool"], "invalid_schema", "tools[0].function.parameters")
    assert lines["fine"]["response"]["status_code"] == 200


def test_answers_past_the_size_budget_are_refused_before_memory_grows(
    start_localbatch, make_client, tmp_path: Path
) -> None:
    server = start_localbatch()
    client = make_client(server.base_url)
    bodies = {name: chat_body(schema) for name, schema in TOO_LARGE.items()}
    bodies["fine"] = _fine(0)
    path = write_bodies(tmp_path / "requests.jsonl", bodies)
    # A generous bound: the first of these answers alone once took gigabytes.
    batch = wait(client, submit(client, path).id, timeout=60)
    assert batch.status == "completed", batch.errors
    lines = results(client, batch, tmp_path)
    for name in TOO_LARGE:
        _assert_refused(lines[name], "answer_budget_exceeded", "response_format.json_schema.schema")
        assert "--max-answer-bytes" in lines[name]["response"]["body"]["error"]["message"]
    assert lines["fine"]["response"]["status_code"] == 200
    assert peak_rss_mb(server.process.pid) < 400


def test_the_size_budget_is_a_server_setting(start_localbatch, make_client, tmp_path: Path) -> None:
    server = start_localbatch(thread=True, max_answer_bytes=5000)
    client = make_client(server.base_url)
    strings = {"type": "array", "items": {"type": "string"}, "minItems": 10, "maxItems": 10}
    small = _holding({**strings, "items": {"type": "string", "minLength": 100}})
    large = _holding({**strings, "items": {"type": "string", "minLength": 1000}})
    path = write_bodies(
        tmp_path / "requests.jsonl", {"small": chat_body(small), "large": chat_body(large)}
    )
    lines = results(client, wait(client, submit(client, path).id), tmp_path)
    assert lines["small"]["response"]["status_code"] == 200
    _assert_refused(lines["large"], "answer_budget_exceeded", "response_format.json_schema.schema")


def test_answers_past_the_time_budget_are_refused(
    start_localbatch, make_client, tmp_path: Path
) -> None:
    # Three million integers fit a 200 MB budget but take far longer than 50 ms to draw.
    server = start_localbatch(thread=True, max_answer_bytes=200_000_000, answer_timeout_s=0.05)
    client = make_client(server.base_url)
    slow = _holding({"type": "array", "items": {"type": "integer"}, "minItems": 3_000_000})
    path = write_bodies(tmp_path / "requests.jsonl", {"slow": chat_body(slow), "fine": _fine(0)})
    lines = results(client, wait(client, submit(client, path).id, timeout=60), tmp_path)
    _assert_refused(lines["slow"], "answer_budget_exceeded", "response_format.json_schema.schema")
    assert "--answer-timeout-s" in lines["slow"]["response"]["body"]["error"]["message"]
    assert lines["fine"]["response"]["status_code"] == 200


def test_a_small_batch_finishes_while_a_heavy_one_is_still_being_answered(
    start_localbatch, make_client, tmp_path: Path
) -> None:
    # Every request of the heavy batch asks for 20,000 integers: a few ms each, seconds in
    # all, in one chunk. Steps are bounded (max_step_s), so the runner takes turns between
    # batches and the small batch, submitted later, is done first.
    server = start_localbatch(max_step_s=0.05, chunk_size=5000)
    client = make_client(server.base_url)
    many = {"type": "array", "items": {"type": "integer"}, "minItems": 20_000, "maxItems": 20_000}
    heavy_path = write_bodies(
        tmp_path / "heavy.jsonl", {f"heavy-{i}": chat_body(_holding(many)) for i in range(1000)}
    )
    write_requests(tmp_path / "small.jsonl", 5)
    heavy = submit(client, heavy_path)
    wait(client, heavy.id, until=lambda b: b.status == "in_progress")
    small = wait(client, submit(client, tmp_path / "small.jsonl").id, timeout=60)
    assert small.status == "completed"
    heavy_now = client.batches.retrieve(heavy.id)
    assert heavy_now.status == "in_progress"
    assert heavy_now.request_counts.completed < 1000
    client.batches.cancel(heavy.id)


@pytest.mark.parametrize("endpoint", ["/v1/chat/completions", "/v1/responses"])
def test_a_response_format_schema_with_a_self_reference_is_refused_on_both_endpoints(
    openai_client: openai.OpenAI, tmp_path: Path, endpoint: str
) -> None:
    if endpoint == "/v1/responses":
        body: dict[str, Any] = {
            "model": "gpt-4o-mini",
            "input": "Hi.",
            "text": {"format": {"type": "json_schema", "name": "A", "schema": {"$ref": "#"}}},
        }
        param = "text.format.schema"
    else:
        body = chat_body({"$ref": "#"})
        param = "response_format.json_schema.schema"
    path = write_bodies(tmp_path / "requests.jsonl", {"loop": body}, endpoint=endpoint)
    batch = wait(openai_client, submit(openai_client, path, endpoint=endpoint).id)
    assert batch.status == "completed" and batch.output_file_id is None
    _assert_refused(results(openai_client, batch, tmp_path)["loop"], "invalid_schema", param)
