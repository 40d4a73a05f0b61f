"""One result line -> exactly one record: every line shape to its exact reason, raw kept."""

import json
from typing import Any

import pytest
from helpers import (
    MODEL_NAME,
    REASONING_ITEM,
    Labels,
    Triage,
    azure_filtered_line,
    azure_ok_line,
    chat_body,
    chat_line,
    content,
    error_line,
    function_call_item,
    http_error_line,
    message_item,
    ok_line,
    responses_body,
)

from synth_assets.batch import LineMeta, Parsed, Reason, Unparsed
from synth_assets.batch.classify import LineClassifier

LINE = object()  # "raw is the whole line"
UNICODE_SUMMARY = "Grüße aus 東京 🎉 — «ok»"


def raw_of(line: Any, *, ascii_only: bool = False) -> bytes:
    if isinstance(line, bytes):
        return line
    if isinstance(line, str):
        return line.encode()
    return json.dumps(line, ensure_ascii=ascii_only).encode()


def case(line: Any, reason: Reason | None, *, id: str, raw: Any = LINE, **fields: Any) -> Any:
    return pytest.param(line, reason, raw, fields, id=id)


PARTIAL = '{"label": "spam", "summ'
CASES = [
    # chat.completions answers
    case(chat_line("a"), None, id="chat-content-json"),
    case(chat_line("a", "```json\n" + content() + "\n```"), None, id="chat-fenced-json"),
    case(chat_line("a", "```\n" + content() + "\n```  "), None, id="chat-fenced-no-language"),
    case(
        chat_line("a", None, tool_arguments=content(), finish_reason="tool_calls"),
        None,
        id="chat-tool-calls",
    ),
    case(ok_line("a", chat_body(content()), with_id=False), None, id="chat-line-without-id"),
    case(
        chat_line("a", None, refusal="I can't help with that."),
        Reason.REFUSAL,
        id="chat-refusal",
        message="I can't help with that.",
        status_code=200,
    ),
    case(
        chat_line("a", PARTIAL, finish_reason="length"),
        Reason.TRUNCATED,
        id="chat-finish-length",
        raw=PARTIAL,
        status_code=200,
    ),
    case(
        chat_line("a", None, finish_reason="content_filter"),
        Reason.CONTENT_FILTER,
        id="chat-content-filter",
        status_code=200,
    ),
    case(
        chat_line("a", "The email is spam."),
        Reason.INVALID_JSON,
        id="chat-not-json",
        raw="The email is spam.",
    ),
    case(
        chat_line("a", None, tool_arguments='{"label": spam}'),
        Reason.INVALID_JSON,
        id="chat-tool-arguments-not-json",
        raw='{"label": spam}',
    ),
    case(chat_line("a", ""), Reason.INVALID_JSON, id="chat-empty-content"),
    case(
        chat_line("a", '{"label": "ham", "summary": "x"}'),
        Reason.SCHEMA_MISMATCH,
        id="chat-schema-mismatch",
        raw='{"label": "ham", "summary": "x"}',
    ),
    case(
        chat_line("a", '{"label": "spam"}'),
        Reason.SCHEMA_MISMATCH,
        id="chat-missing-field",
        raw='{"label": "spam"}',
    ),
    case(
        chat_line("a", "[" * 5000),
        Reason.INVALID_JSON,
        id="chat-hostile-nesting",
        raw="[" * 5000,
    ),
    # non-200 responses and error objects
    case(
        http_error_line(
            "a", 429, code="rate_limit_exceeded", message="Rate limit reached", kind="requests"
        ),
        Reason.HTTP_ERROR,
        id="http-429",
        status_code=429,
        error_code="rate_limit_exceeded",
        message="Rate limit reached",
    ),
    case(
        http_error_line(
            "a", 500, code=None, message="The server had an error", kind="server_error"
        ),
        Reason.HTTP_ERROR,
        id="http-500-type-as-code",
        status_code=500,
        error_code="server_error",
        message="The server had an error",
    ),
    case(
        error_line("a", "batch_expired", "This request could not be executed before the window."),
        Reason.EXPIRED,
        id="error-batch-expired",
        error_code="batch_expired",
        message="This request could not be executed before the window.",
    ),
    case(
        error_line("a", "batch_cancelled", "The batch was cancelled."),
        Reason.CANCELLED,
        id="error-batch-cancelled",
        error_code="batch_cancelled",
    ),
    case(
        error_line("a", "invalid_prompt", "Invalid prompt."),
        Reason.REQUEST_ERROR,
        id="error-object",
        error_code="invalid_prompt",
        message="Invalid prompt.",
    ),
    # /v1/responses
    case(
        ok_line("a", responses_body([REASONING_ITEM, message_item(content())])),
        None,
        id="responses-reasoning-then-message",
    ),
    case(
        ok_line("a", responses_body([REASONING_ITEM, function_call_item(content())])),
        None,
        id="responses-function-call",
    ),
    case(
        ok_line(
            "a",
            responses_body([REASONING_ITEM], status="incomplete", incomplete="max_output_tokens"),
        ),
        Reason.TRUNCATED,
        id="responses-incomplete-no-message",
        status_code=200,
    ),
    case(
        ok_line(
            "a",
            responses_body(
                [REASONING_ITEM, message_item(PARTIAL)],
                status="incomplete",
                incomplete="max_output_tokens",
            ),
        ),
        Reason.TRUNCATED,
        id="responses-incomplete-partial-message",
        raw=PARTIAL,
    ),
    case(
        ok_line(
            "a",
            responses_body(
                [
                    {
                        "type": "message",
                        "role": "assistant",
                        "content": [{"type": "refusal", "refusal": "I can't."}],
                    }
                ]
            ),
        ),
        Reason.REFUSAL,
        id="responses-refusal",
        message="I can't.",
    ),
    # Azure OpenAI
    case(azure_ok_line("task-0", content()), None, id="azure-ok-no-id"),
    case(
        azure_filtered_line("task-1"),
        Reason.HTTP_ERROR,
        id="azure-400-body-as-json-string",
        status_code=400,
        error_code="content_filter",
    ),
    case(
        {
            "custom_id": "task-2",
            "response": None,
            "error": {"code": "InternalServerError", "message": "Internal server error."},
        },
        Reason.REQUEST_ERROR,
        id="azure-response-null-error-object",
        error_code="InternalServerError",
        message="Internal server error.",
    ),
    case(
        {
            "custom_id": "task-3",
            "response": {"body": json.dumps(chat_body(content())), "status_code": 200},
            "error": None,
        },
        None,
        id="azure-200-body-as-json-string",
    ),
    # lines that are not Batch-API lines at all
    case("not json at all", Reason.INVALID_LINE, id="garbage-text", custom_id=None),
    case("[1, 2, 3]", Reason.INVALID_LINE, id="garbage-json-array", custom_id=None),
    case('"just a string"', Reason.INVALID_LINE, id="garbage-json-string", custom_id=None),
    case(
        {"id": "batch_req_1", "response": {"status_code": 200, "body": chat_body(content())}},
        Reason.INVALID_LINE,
        id="garbage-no-custom-id",
        custom_id=None,
    ),
    case(
        {"custom_id": 17, "response": {"status_code": 200, "body": chat_body(content())}},
        Reason.INVALID_LINE,
        id="garbage-custom-id-not-a-string",
        custom_id=None,
    ),
    case(
        '{"custom_id": "a", "response": {"status_code": 200, "bo',
        Reason.INVALID_LINE,
        id="garbage-cut-line",
        custom_id="a",  # a cut line that still names its request is that request's outcome
    ),
]


@pytest.mark.parametrize(("line", "reason", "raw", "fields"), CASES)
def test_every_line_shape_gets_its_exact_reason(
    line: Any, reason: Reason | None, raw: Any, fields: dict[str, Any]
) -> None:
    data = raw_of(line)

    record = LineClassifier(Triage, batch_id="batch_1")(data, "error")

    if reason is None:
        assert isinstance(record, Parsed), record
        assert record.value == Triage(label=Labels.SPAM, summary="a prince offers money")
        assert record.meta.batch_id == "batch_1"
    else:
        assert isinstance(record, Unparsed), record
        assert record.reason is reason, record.message
        assert record.raw == (data.decode() if raw is LINE else raw)
        assert record.source == "error"
        if "custom_id" in fields:
            assert record.custom_id == fields.pop("custom_id")
        else:
            assert record.custom_id == json.loads(data)["custom_id"]
        for name, value in fields.items():
            assert getattr(record, name) == value, name


@pytest.mark.parametrize(("line", "reason", "raw", "fields"), CASES)
def test_the_fast_path_agrees_with_the_full_classification(
    line: Any, reason: Reason | None, raw: Any, fields: dict[str, Any]
) -> None:
    classify = LineClassifier(Triage, batch_id="batch_1")
    data = raw_of(line)

    assert classify(data, "output") == classify.classify(data, "output")


@pytest.mark.parametrize(("line", "reason", "raw", "fields"), CASES)
def test_the_fast_check_passes_exactly_the_lines_decide_parses_on_its_fast_path(
    line: Any, reason: Reason | None, raw: Any, fields: dict[str, Any]
) -> None:
    classify = LineClassifier(Triage, batch_id="batch_1")
    data = raw_of(line)

    check = classify.fast_check(data)
    row = classify.fast_row(data)

    if row is None:
        assert check is None
    else:
        custom_id, _, _, _, prompt, completion, _ = row
        assert check == (custom_id, prompt, completion)
        assert reason is None


def test_usage_model_and_request_id_are_kept() -> None:
    chat = LineClassifier(Triage)(raw_of(chat_line("a")), "output")
    responses = LineClassifier(Triage)(
        raw_of(ok_line("b", responses_body([REASONING_ITEM, message_item(content())]))), "output"
    )

    assert chat.meta == LineMeta(MODEL_NAME, None, "req_1", 40, 12, 52)
    assert responses.meta == LineMeta("o4-mini-2025-04-16", None, "req_1", 36, 87, 123)


def unicode_line(*, ascii_envelope: bool, ascii_content: bool) -> bytes:
    answer = json.dumps({"label": "spam", "summary": UNICODE_SUMMARY}, ensure_ascii=ascii_content)
    return raw_of(chat_line("courriel-é", answer), ascii_only=ascii_envelope)


@pytest.mark.parametrize("ascii_envelope", [False, True], ids=["raw-utf8", "u-escaped"])
@pytest.mark.parametrize("ascii_content", [False, True], ids=["content-raw", "content-escaped"])
def test_non_ascii_raw_or_escaped_decodes_to_the_same_text(
    ascii_envelope: bool, ascii_content: bool
) -> None:
    data = unicode_line(ascii_envelope=ascii_envelope, ascii_content=ascii_content)
    assert (b"\\u" in data) == (ascii_envelope or ascii_content)

    record = LineClassifier(Triage)(data, "output")

    assert isinstance(record, Parsed)
    assert record.custom_id == "courriel-é"
    assert record.value.summary == UNICODE_SUMMARY


def test_non_ascii_content_that_fails_is_kept_verbatim() -> None:
    text = "Désolé, je ne peux pas 🎉"

    record = LineClassifier(Triage)(raw_of(chat_line("a", text)), "output")

    assert (record.reason, record.raw) == (Reason.INVALID_JSON, text)


def test_bytes_that_are_not_utf8_are_an_invalid_line_not_a_crash() -> None:
    record = LineClassifier(Triage)(b'\xff\xfe{"custom_id": "a"}', "output")

    assert record.reason is Reason.INVALID_LINE
    assert record.raw.endswith('{"custom_id": "a"}')


def test_a_trailing_carriage_return_is_not_part_of_the_line() -> None:
    good = LineClassifier(Triage)(raw_of(chat_line("a")) + b"\r", "output")
    garbage = LineClassifier(Triage)(b"oops\r", "output")

    assert isinstance(good, Parsed)
    assert garbage.raw == "oops"


BROKEN_WITH_ID = [
    pytest.param({"custom_id": "a", "response": None, "error": None}, id="neither"),
    pytest.param(ok_line("a", {"object": "chat.completion"}), id="200-no-choices"),
    pytest.param(ok_line("a", {**chat_body(content()), "choices": []}), id="200-empty-choices"),
    pytest.param(ok_line("a", "<html>502</html>"), id="200-body-not-json"),
]


@pytest.mark.parametrize("line", BROKEN_WITH_ID)
def test_a_broken_line_with_a_custom_id_stands_for_its_row(line: dict) -> None:
    data = raw_of(line)

    record = LineClassifier(Triage)(data, "output")

    assert isinstance(record, Unparsed)
    assert (record.reason, record.custom_id, record.raw) == (
        Reason.INVALID_LINE,
        "a",
        data.decode(),
    )
    assert not record.is_extra_line  # the request's own outcome, not an extra line


def test_an_empty_custom_id_is_an_invalid_line_on_the_fast_path_too() -> None:
    classify = LineClassifier(Triage)
    data = raw_of(chat_line(""))

    for record in (classify(data, "output"), classify.classify(data, "output")):
        assert isinstance(record, Unparsed)
        assert (record.reason, record.custom_id) == (Reason.INVALID_LINE, None)
        assert record.is_extra_line


@pytest.mark.parametrize("line", ["not json", "[1]", '{"id": "batch_req_1"}'])
def test_a_garbage_line_keeps_its_batch_id(line: str) -> None:
    record = LineClassifier(Triage, batch_id="batch_7")(line.encode(), "output")

    assert record.reason is Reason.INVALID_LINE
    assert record.meta is not None and record.meta.batch_id == "batch_7"
