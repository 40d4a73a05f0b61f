"""Request lines: both modes, both endpoints, ids, parameters and what gets refused."""

import hashlib
import json
from pathlib import Path

import openai
import pytest
from helpers import Triage
from openai.lib._parsing._responses import type_to_text_format_param
from pydantic import BaseModel
from pydantic_core import to_json

from synth_assets.batch import (
    BatchJob,
    DuplicateCustomIdError,
    InvalidCustomIdError,
    RequestBuilder,
    SynthError,
    UnsupportedModelError,
    function_tool,
    keyed,
    numbered,
    strict_json_schema,
    validate_request_file,
    write_request_file,
)

CHAT, RESPONSES = "/v1/chat/completions", "/v1/responses"
MESSAGES = [
    {"role": "system", "content": "Classify the email."},
    {"role": "user", "content": "Hello there I'm a Nigerian prince"},
]
TRICKY = [
    {"role": "user", "content": 'Grüße, 東京 🎉 "quoted"\nsecond line\r\n\ttab \\ backslash'},
    {"role": "user", "content": "separators \u2028 \u2029 and NUL-free control \x1f"},
]


def without_defaults(node):
    """The SDK's schema minus ``default`` keywords (Triage has no field named "default")."""
    if isinstance(node, dict):
        return {k: without_defaults(v) for k, v in node.items() if k != "default"}
    if isinstance(node, list):
        return [without_defaults(v) for v in node]
    return node


@pytest.mark.parametrize("endpoint", [CHAT, RESPONSES])
@pytest.mark.parametrize("mode", ["json_schema", "tools"])
def test_encode_and_line_are_the_same_request(endpoint: str, mode: str) -> None:
    builder = RequestBuilder(
        model="gpt-4o-mini", response_model=Triage, mode=mode, endpoint=endpoint
    )

    encoded = builder.encode("email-1", MESSAGES)

    assert encoded.endswith(b"\n") and encoded.count(b"\n") == 1
    assert json.loads(encoded) == builder.line("email-1", MESSAGES)


@pytest.mark.parametrize("endpoint", [CHAT, RESPONSES])
@pytest.mark.parametrize("mode", ["json_schema", "tools"])
def test_request_line_envelope(endpoint: str, mode: str) -> None:
    line = RequestBuilder(
        model="gpt-4o-mini", response_model=Triage, mode=mode, endpoint=endpoint
    ).line("email-1", MESSAGES)

    assert line["custom_id"] == "email-1"
    assert line["method"] == "POST"
    assert line["url"] == endpoint
    assert line["body"]["model"] == "gpt-4o-mini"
    conversation = "messages" if endpoint == CHAT else "input"
    assert line["body"][conversation] == MESSAGES


def test_chat_json_schema_mode_sends_a_strict_response_format() -> None:
    body = RequestBuilder(model="m", response_model=Triage).line("a", MESSAGES)["body"]

    assert body["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "Triage", "strict": True, "schema": strict_json_schema(Triage)},
    }
    assert "tools" not in body and "tool_choice" not in body


def test_chat_tools_mode_forces_one_strict_function() -> None:
    body = RequestBuilder(model="m", response_model=Triage, mode="tools").line("a", MESSAGES)[
        "body"
    ]
    sdk = openai.pydantic_function_tool(Triage)

    assert body["tools"] == [function_tool(Triage)]
    assert body["tools"][0]["function"]["parameters"] == without_defaults(
        sdk["function"]["parameters"]
    )
    assert body["tool_choice"] == {"type": "function", "function": {"name": "Triage"}}
    assert "response_format" not in body


def test_responses_json_schema_mode_sends_text_format() -> None:
    body = RequestBuilder(model="m", response_model=Triage, endpoint=RESPONSES).line("a", MESSAGES)[
        "body"
    ]

    assert body["text"] == {"format": without_defaults(type_to_text_format_param(Triage))}
    assert "response_format" not in body


def test_responses_tools_mode_uses_flat_function_tools() -> None:
    body = RequestBuilder(model="m", response_model=Triage, mode="tools", endpoint=RESPONSES).line(
        "a", MESSAGES
    )["body"]
    sdk = openai.pydantic_responses_function_tool(Triage)

    (tool,) = body["tools"]
    assert {k: tool[k] for k in ("type", "name", "strict")} == {
        k: sdk[k] for k in ("type", "name", "strict")
    }
    assert tool["parameters"] == without_defaults(sdk["parameters"])
    assert body["tool_choice"] == {"type": "function", "name": "Triage"}


def test_generation_parameters_are_omitted_when_none() -> None:
    (line,) = BatchJob.create_from_messages(
        messages_batch=[MESSAGES], model="m", response_model=Triage
    )

    assert set(line["body"]) == {"model", "messages", "response_format"}


def test_generation_parameters_are_passed_when_given_even_falsy() -> None:
    (line,) = BatchJob.create_from_messages(
        messages_batch=[MESSAGES],
        model="m",
        response_model=Triage,
        max_completion_tokens=200,
        temperature=0.0,
        seed=0,
        top_p=None,
    )

    body = line["body"]
    assert body["max_completion_tokens"] == 200
    assert body["temperature"] == 0.0
    assert body["seed"] == 0
    assert "top_p" not in body and "max_tokens" not in body


def test_builder_parameters_reach_the_encoded_line() -> None:
    builder = RequestBuilder(
        model="m", response_model=Triage, params={"max_tokens": 50, "temperature": None}
    )

    body = json.loads(builder.encode("a", MESSAGES))["body"]

    assert body["max_tokens"] == 50
    assert "temperature" not in body


@pytest.mark.parametrize("endpoint", [CHAT, RESPONSES])
def test_many_requests_at_once_are_the_lines_and_hashes_of_each(endpoint: str) -> None:
    builder = RequestBuilder(model="m", response_model=Triage, endpoint=endpoint)
    ids = ["a", 'quote"id', "émoji 🎉", "a2"]
    batch = [MESSAGES, TRICKY, TRICKY, MESSAGES]

    lines, hashes = builder.encode_many(ids, [to_json(messages) for messages in batch])

    assert lines == [builder.encode(i, m) for i, m in zip(ids, batch, strict=True)]
    # The hash covers the line after its custom_id: the same request under two ids agrees.
    after_id = [
        line[len(b'{"custom_id":' + to_json(i)) :] for i, line in zip(ids, lines, strict=True)
    ]
    assert hashes == [hashlib.sha256(rest).hexdigest() for rest in after_id]
    assert hashes[0] == hashes[3] and hashes[1] == hashes[2] and hashes[0] != hashes[1]
    assert [builder.encode_hashed(i, m) for i, m in zip(ids, batch, strict=True)] == list(
        zip(lines, hashes, strict=True)
    )


def test_numbered_ids_are_unique_for_identical_messages() -> None:
    lines = list(
        BatchJob.create_from_messages(
            messages_batch=[MESSAGES, MESSAGES, MESSAGES], model="m", response_model=Triage
        )
    )

    assert [line["custom_id"] for line in lines] == ["request-0", "request-1", "request-2"]
    assert [i for i, _ in numbered([[], [], []])] == ["request-0", "request-1", "request-2"]


def test_caller_ids_are_kept_in_order(tmp_path: Path) -> None:
    ids = ["email-2024-05-01-0007", "email-2024-05-01-0003", "z" * 64]
    lines = list(
        BatchJob.create_from_messages(
            messages_batch=[MESSAGES] * 3, model="m", response_model=Triage, custom_ids=ids
        )
    )
    shard = BatchJob.create_from_messages(
        messages_batch=[MESSAGES] * 3,
        model="m",
        response_model=Triage,
        custom_ids=ids,
        file_path=tmp_path / "requests.jsonl",
    )

    assert [line["custom_id"] for line in lines] == ids
    written = [json.loads(raw) for raw in Path(shard.path).read_text().splitlines()]
    assert written == lines
    assert (shard.first_custom_id, shard.last_custom_id, shard.requests) == (ids[0], ids[-1], 3)


def test_a_duplicate_id_is_an_error_naming_both_rows(tmp_path: Path) -> None:
    ids = ["a", "b", "c", "b"]
    target = tmp_path / "requests.jsonl"

    with pytest.raises(DuplicateCustomIdError, match=r"'b'.*row 1.*row 3"):
        list(
            BatchJob.create_from_messages(
                messages_batch=[MESSAGES] * 4, model="m", response_model=Triage, custom_ids=ids
            )
        )
    with pytest.raises(DuplicateCustomIdError, match=r"row 1 and row 3"):
        BatchJob.create_from_messages(
            messages_batch=[MESSAGES] * 4,
            model="m",
            response_model=Triage,
            custom_ids=ids,
            file_path=target,
        )
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("bad", ["x" * 65, "", None, 7])
def test_bad_ids_are_refused(bad: object) -> None:
    with pytest.raises(InvalidCustomIdError, match="row 1"):
        list(
            BatchJob.create_from_messages(
                messages_batch=[MESSAGES] * 2,
                model="m",
                response_model=Triage,
                custom_ids=["ok", bad],  # type: ignore[list-item]
            )
        )


def test_an_id_of_64_characters_is_accepted_and_65_named_with_its_length(tmp_path: Path) -> None:
    builder = RequestBuilder(model="m", response_model=Triage)
    (ok,) = list(BatchJob.create_from_messages([MESSAGES], "m", Triage, custom_ids=["x" * 64]))

    assert ok["custom_id"] == "x" * 64
    with pytest.raises(InvalidCustomIdError, match=r"65 characters.*limit is 64"):
        write_request_file(keyed(["x" * 65], [MESSAGES]), builder, tmp_path / "r.jsonl")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("ids", [["a", "b"], ["a", "b", "c", "d"]], ids=["fewer", "more"])
def test_ids_and_messages_of_different_lengths_are_refused(ids: list[str], tmp_path: Path) -> None:
    with pytest.raises(SynthError, match="different lengths"):
        list(
            BatchJob.create_from_messages(
                messages_batch=[MESSAGES] * 3, model="m", response_model=Triage, custom_ids=ids
            )
        )
    with pytest.raises(SynthError, match="different lengths"):
        BatchJob.create_from_messages(
            messages_batch=[MESSAGES] * 3,
            model="m",
            response_model=Triage,
            custom_ids=ids,
            file_path=tmp_path / "r.jsonl",
        )
    assert not (tmp_path / "r.jsonl").exists()


@pytest.mark.parametrize("endpoint", [CHAT, RESPONSES])
def test_non_ascii_emoji_and_newlines_round_trip(endpoint: str, tmp_path: Path) -> None:
    builder = RequestBuilder(model="m", response_model=Triage, endpoint=endpoint)
    path = tmp_path / "requests.jsonl"

    shard = write_request_file([("émoji-🎉", TRICKY), ("plain", MESSAGES)], builder, path)

    raw_lines = path.read_bytes().split(b"\n")
    assert raw_lines[-1] == b"" and len(raw_lines) == 3  # newlines inside stay escaped
    first = json.loads(raw_lines[0])
    conversation = "messages" if endpoint == CHAT else "input"
    assert first["custom_id"] == "émoji-🎉"
    assert first["body"][conversation] == TRICKY
    assert json.loads(builder.encode("émoji-🎉", TRICKY)) == builder.line("émoji-🎉", TRICKY)
    assert shard.requests == 2
    assert validate_request_file(path) == []


class WithMapping(BaseModel):
    label: str
    scores: dict[str, float]


def test_a_model_strict_mode_cannot_express_is_refused_before_any_file(tmp_path: Path) -> None:
    target = tmp_path / "out" / "requests.jsonl"

    with pytest.raises(UnsupportedModelError, match="scores"):
        BatchJob.create_from_messages(
            messages_batch=[MESSAGES], model="m", response_model=WithMapping, file_path=target
        )
    assert not target.exists()
    assert not target.parent.exists()
    # the generator path refuses at the call, not at the first next()
    with pytest.raises(UnsupportedModelError, match="scores"):
        BatchJob.create_from_messages(
            messages_batch=iter(()), model="m", response_model=WithMapping
        )


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"endpoint": "/v1/embeddings"}, "endpoint"),
        ({"mode": "json"}, "mode"),
        ({"model": ""}, "model"),
    ],
)
def test_bad_builder_options_are_refused_with_a_sentence(options: dict, message: str) -> None:
    kwargs = {"model": "m", "response_model": Triage, **options}

    with pytest.raises(SynthError, match=message):
        RequestBuilder(**kwargs)


def test_each_line_dict_is_a_private_copy() -> None:
    first, second = BatchJob.create_from_messages([MESSAGES, MESSAGES], "m", Triage)

    first["body"]["response_format"]["json_schema"]["schema"]["properties"].clear()

    assert second["body"]["response_format"]["json_schema"]["schema"]["properties"]
