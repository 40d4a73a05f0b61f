"""The request-line parser: always what ``from_json`` returns, however the lines vary."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic_core import from_json, to_json

from synth_assets.batch.linejson import RequestLineParser

SCHEMA = {
    "type": "json_schema",
    "json_schema": {
        "name": "Triage",
        "strict": True,
        "schema": {
            "type": "object",
            "properties": {"label": {"type": "string", "enum": ["spam", "ham"]}}
            | {f"field_{i}": {"type": "string", "description": "x" * 20} for i in range(6)},
            "required": ["label"],
            "additionalProperties": False,
        },
    },
}
OTHER = {**SCHEMA, "json_schema": {**SCHEMA["json_schema"], "name": "Other"}}


def _line(custom_id: str, body: dict) -> bytes:
    request = {"custom_id": custom_id, "method": "POST", "url": "/v1/chat/completions"}
    return to_json({**request, "body": body})


def _body(text: str, response_format: object = SCHEMA) -> dict:
    return {
        "model": "m",
        "messages": [{"role": "user", "content": text}],
        "response_format": response_format,
    }


def test_a_repeated_schema_is_parsed_once_and_shared() -> None:
    parse = RequestLineParser()
    first = parse(_line("a", _body("one")))
    second = parse(_line("b", _body("two")))
    assert second == from_json(_line("b", _body("two")))
    assert second["body"]["response_format"] is first["body"]["response_format"]


# A line that holds the schema's exact bytes somewhere else than as body.response_format.
TRICKY = [
    _line("a", {"model": "m", "messages": [{"role": "user", "response_format": SCHEMA}]}),
    _line("a", {"model": "m", "messages": [], "response_format": OTHER, "x": SCHEMA}),
    _line("a", {"model": "m", "messages": [{"content": to_json(_body("z")).decode()}]}),
    _line("a", _body("q", [SCHEMA])),
    b'{"custom_id":"a","body":{"response_format":' + to_json(SCHEMA) + b',"model":}',
    b'{"custom_id":"a","body":{"x\\"response_format":' + to_json(SCHEMA) + b"}}",
    b'{"custom_id":"a","body":{"model":"m","response_format":'
    + to_json(SCHEMA)
    + b',"response_format":1}}',
    b'[{"response_format":' + to_json(SCHEMA) + b"}]",
    b'{"custom_id":"a","body":"' + to_json(SCHEMA).replace(b'"', b'\\"') + b'"}',
]


@pytest.mark.parametrize("raw", TRICKY)
def test_lines_that_hold_the_schema_elsewhere_parse_as_from_json_does(raw: bytes) -> None:
    parse = RequestLineParser()
    parse(_line("first", _body("first")))  # the parser now knows the schema's bytes
    try:
        expected = from_json(raw)
    except ValueError as exc:
        with pytest.raises(ValueError, match=str(exc)[:20]):
            parse(raw)
        return
    assert parse(raw) == expected


bodies = st.builds(
    _body,
    st.text(max_size=40),
    st.sampled_from([SCHEMA, OTHER, {"type": "json_object"}, [SCHEMA], SCHEMA["json_schema"]]),
)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.text(min_size=1, max_size=8), bodies), min_size=1, max_size=8))
def test_any_sequence_of_lines_parses_as_from_json_does(lines: list[tuple[str, dict]]) -> None:
    parse = RequestLineParser()
    for custom_id, body in lines:
        raw = _line(custom_id, body)
        assert parse(raw) == from_json(raw)
