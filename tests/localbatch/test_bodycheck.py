"""Request bodies OpenAI would refuse get OpenAI's per-line 400, not a synthetic 200."""

from pathlib import Path
from typing import Any

import openai
import pytest

from synth_assets.batch.requests import CHAT_COMPLETIONS, RESPONSES, RequestBuilder
from synth_assets.localbatch.bodycheck import check_body

from .helpers import MODEL, MODES, Triage, chat_body, messages, results, submit, wait, write_bodies

FUNCTION = {"type": "function", "function": {"name": "answer", "parameters": {"type": "object"}}}

# custom_id -> (body, the parameter OpenAI's refusal names)
CHAT_REFUSED: dict[str, tuple[dict[str, Any], str]] = {
    "messages-number": (chat_body(messages=5), "messages"),
    "messages-empty": (chat_body(messages=[]), "messages"),
    "message-not-object": (chat_body(messages=["hi"]), "messages[0]"),
    "message-no-role": (chat_body(messages=[{"content": "hi"}]), "messages[0].role"),
    "message-bad-role": (
        chat_body(messages=[{"role": "zzz", "content": "hi"}]),
        "messages[0].role",
    ),
    "message-no-content": (chat_body(messages=[{"role": "user"}]), "messages[0].content"),
    "content-number": (chat_body(messages=[{"role": "user", "content": 7}]), "messages[0].content"),
    "content-part-untyped": (
        chat_body(messages=[{"role": "user", "content": [{"text": "hi"}]}]),
        "messages[0].content[0].type",
    ),
    "tool-message-no-id": (
        chat_body(messages=[{"role": "tool", "content": "42"}]),
        "messages[0].tool_call_id",
    ),
    "format-string": (chat_body(response_format="zzz"), "response_format"),
    "format-bad-type": (chat_body(response_format={"type": "zzz"}), "response_format.type"),
    "format-no-spec": (
        chat_body(response_format={"type": "json_schema"}),
        "response_format.json_schema",
    ),
    "format-no-name": (
        chat_body(response_format={"type": "json_schema", "json_schema": {"schema": {}}}),
        "response_format.json_schema.name",
    ),
    "format-bad-name": (
        chat_body(response_format={"type": "json_schema", "json_schema": {"name": "my schema!"}}),
        "response_format.json_schema.name",
    ),
    "format-schema-list": (
        chat_body(
            response_format={"type": "json_schema", "json_schema": {"name": "A", "schema": []}}
        ),
        "response_format.json_schema.schema",
    ),
    "tools-string": (chat_body(tools="junk"), "tools"),
    "tools-empty": (chat_body(tools=[]), "tools"),
    "tool-number": (chat_body(tools=[1]), "tools[0]"),
    "tool-untyped": (chat_body(tools=[{"function": {"name": "a"}}]), "tools[0].type"),
    "tool-bad-type": (
        chat_body(tools=[{"type": "spell", "function": {"name": "a"}}]),
        "tools[0].type",
    ),
    "tool-no-function": (chat_body(tools=[{"type": "function"}]), "tools[0].function"),
    "tool-no-name": (
        chat_body(tools=[{"type": "function", "function": {"parameters": {}}}]),
        "tools[0].function.name",
    ),
    "tool-parameters-string": (
        chat_body(tools=[{"type": "function", "function": {"name": "a", "parameters": "x"}}]),
        "tools[0].function.parameters",
    ),
    "tool-choice-without-tools": (chat_body(tool_choice="required"), "tool_choice"),
    "tool-choice-junk": (chat_body(tools=[FUNCTION], tool_choice="sometimes"), "tool_choice"),
    "tool-choice-no-name": (
        chat_body(tools=[FUNCTION], tool_choice={"type": "function", "function": {}}),
        "tool_choice.function.name",
    ),
    "temperature-high": (chat_body(temperature=5), "temperature"),
    "temperature-text": (chat_body(temperature="hot"), "temperature"),
    "max-tokens-zero": (chat_body(max_tokens=0), "max_tokens"),
    "max-tokens-float": (chat_body(max_completion_tokens=1.5), "max_completion_tokens"),
    "n-bool": (chat_body(n=True), "n"),
    "logprobs-string": (chat_body(logprobs="yes"), "logprobs"),
    "stop-number": (chat_body(stop=3), "stop"),
}

RESPONSES_BODY = {"model": MODEL, "input": "Hi."}
RESPONSES_REFUSED: dict[str, tuple[dict[str, Any], str]] = {
    "input-number": ({**RESPONSES_BODY, "input": 5}, "input"),
    "input-empty": ({**RESPONSES_BODY, "input": []}, "input"),
    "input-item-bad-role": (
        {**RESPONSES_BODY, "input": [{"role": "zzz", "content": "hi"}]},
        "input[0].role",
    ),
    "text-string": ({**RESPONSES_BODY, "text": "zzz"}, "text"),
    "format-string": ({**RESPONSES_BODY, "text": {"format": "zzz"}}, "text.format"),
    "format-no-schema": (
        {**RESPONSES_BODY, "text": {"format": {"type": "json_schema", "name": "A"}}},
        "text.format.schema",
    ),
    "tools-junk": ({**RESPONSES_BODY, "tools": [{"name": "x"}]}, "tools[0].type"),
    "tool-no-name": ({**RESPONSES_BODY, "tools": [{"type": "function"}]}, "tools[0].name"),
    "max-output-tokens-low": ({**RESPONSES_BODY, "max_output_tokens": 8}, "max_output_tokens"),
}


@pytest.mark.parametrize(("mode", "endpoint"), MODES)
def test_the_project_request_builder_passes_the_checks(mode: str, endpoint: str) -> None:
    builder = RequestBuilder(
        model=MODEL,
        response_model=Triage,
        mode=mode,
        endpoint=endpoint,
        params={"temperature": 0, "seed": 7, "top_p": 1},
    )
    for index in range(3):
        line = builder.line(f"r{index}", messages(index, parts=index == 2, endpoint=endpoint))
        assert check_body(line["body"], endpoint) is None


@pytest.mark.parametrize(
    ("endpoint", "refused"),
    [(CHAT_COMPLETIONS, CHAT_REFUSED), (RESPONSES, RESPONSES_REFUSED)],
    ids=["chat", "responses"],
)
def test_bodies_openai_refuses_are_per_line_400s(
    openai_client: openai.OpenAI, tmp_path: Path, endpoint: str, refused: dict
) -> None:
    good = chat_body() if endpoint == CHAT_COMPLETIONS else RESPONSES_BODY
    bodies = {name: body for name, (body, _) in refused.items()} | {"good": good}
    path = write_bodies(tmp_path / "requests.jsonl", bodies, endpoint=endpoint)
    batch = wait(openai_client, submit(openai_client, path, endpoint=endpoint).id)
    assert batch.status == "completed", batch.errors
    assert (batch.request_counts.completed, batch.request_counts.failed) == (1, len(refused))
    lines = results(openai_client, batch, tmp_path)
    assert lines["good"]["response"]["status_code"] == 200
    for name, (_, param) in refused.items():
        response = lines[name]["response"]
        assert response["status_code"] == 400, (name, response)
        error = response["body"]["error"]
        assert set(error) == {"message", "type", "param", "code"}
        assert error["type"] == "invalid_request_error"
        assert error["param"] == param, (name, error)
        assert param in error["message"] or "Invalid value" in error["message"], error
