"""One result line -> a Parsed record or an Unparsed record with exactly one reason.

Handles chat.completions (content JSON, tool_calls, refusal, finish_reason length and
content_filter), /v1/responses (the message after reasoning items, function_call items,
incomplete responses), non-200 responses, ``error`` objects (``batch_expired``...), Azure
OpenAI's lines (body as a JSON string), markdown-fenced JSON and lines that are not
Batch-API lines at all. Nothing here raises on bad input.
"""

import functools
from collections.abc import Iterable, Iterator
from typing import Annotated, Any, Literal, NamedTuple, NotRequired

from pydantic import AliasPath, BaseModel, Field, Json, JsonValue, TypeAdapter, ValidationError
from pydantic_core import SchemaValidator, from_json
from typing_extensions import TypedDict

from .lines import custom_id_of, is_line
from .reasons import Reason
from .records import LineMeta, Parsed, Unparsed

# A typed envelope decodes only the keys we read, which is much faster than building
# dicts for every key of every line; lines of another shape fall back to plain JSON.


class _Message(TypedDict, total=False):
    content: Any
    refusal: Any
    tool_calls: Any


class _Choice(TypedDict, total=False):
    message: _Message
    finish_reason: Any


class _Body(TypedDict, total=False):
    model: Any
    usage: Any
    choices: list[_Choice]
    output: Any
    status: Any
    incomplete_details: Any
    error: Any


class _Response(TypedDict, total=False):
    status_code: Any
    request_id: Any
    body: _Body


class _Line(TypedDict, total=False):
    id: Any
    custom_id: Any
    response: _Response | None
    error: Any


_ENVELOPE = TypeAdapter(_Line)


def _at(*path: str | int) -> Any:
    return Field(validation_alias=AliasPath(*path))


# A line that parsed, flat: custom_id, the validated answer, model, request_id, then the
# prompt, completion and total token counts (a plain tuple: cheapest to build and to turn
# into Arrow columns).
ParsedRow = tuple[str, BaseModel, str | None, str | None, int | None, int | None, int | None]


@functools.lru_cache(maxsize=64)
def fast_envelope(response_model: type[BaseModel], tools: bool = False) -> SchemaValidator:
    """A validator for the common line (200, a finished answer) in one call.

    It picks the few values we keep out of the line, flat, and checks the envelope and the
    answer (``Json[response_model]``: the message content, or with ``tools`` the first tool
    call's arguments) in a single pass of pydantic-core; any line it rejects goes through
    the full classification instead.
    """
    answer = Json[response_model]  # type: ignore[valid-type]
    message = ("response", "body", "choices", 0, "message")
    finished = Literal["stop", "tool_calls"] if tools else Literal["stop"]
    usage = ("response", "body", "usage")

    class Line(TypedDict):
        custom_id: Annotated[str, Field(min_length=1)]
        error: NotRequired[None]
        status_code: Annotated[Literal[200], _at("response", "status_code")]
        request_id: NotRequired[Annotated[str | None, _at("response", "request_id")]]
        model: NotRequired[Annotated[str, _at("response", "body", "model")]]
        prompt_tokens: NotRequired[Annotated[int, _at(*usage, "prompt_tokens")]]
        completion_tokens: NotRequired[Annotated[int, _at(*usage, "completion_tokens")]]
        total_tokens: NotRequired[Annotated[int, _at(*usage, "total_tokens")]]
        finish_reason: Annotated[finished, _at("response", "body", "choices", 0, "finish_reason")]  # type: ignore[valid-type]
        refusal: NotRequired[Annotated[None, _at(*message, "refusal")]]
        if tools:
            value: Annotated[answer, _at(*message, "tool_calls", 0, "function", "arguments")]  # type: ignore[valid-type]
        else:
            tool_calls: NotRequired[Annotated[None, _at(*message, "tool_calls")]]
            value: Annotated[answer, _at(*message, "content")]  # type: ignore[valid-type,no-redef]

    return TypeAdapter(Line).validator  # type: ignore[return-value]


_ERROR_CODE_REASONS = {
    "batch_expired": Reason.EXPIRED,
    "batch_cancelled": Reason.CANCELLED,
    "batch_failed": Reason.BATCH_FAILED,
}
_MAX_MESSAGE = 1000


def _text(raw: bytes) -> str:
    return raw.decode("utf-8", errors="replace")


def _decode(raw: bytes) -> Any:
    """Return the line as Python data, or None when it is not JSON."""
    try:
        return _ENVELOPE.validate_json(raw)
    except ValidationError:
        pass
    try:
        return from_json(raw)
    except ValueError:
        return None


def _json_body(body: Any) -> Any:
    """The response body as data: Azure OpenAI may serve it as a JSON string."""
    if isinstance(body, str):
        try:
            return from_json(body)
        except ValueError:
            return body
    return body


def _strip_fence(content: str) -> str:
    """Return the JSON inside a markdown code fence (```json ... ```), else ``content``."""
    stripped = content.strip()
    if not stripped.startswith("```"):
        return content
    first_newline = stripped.find("\n")
    body = stripped[first_newline + 1 :] if first_newline >= 0 else ""
    return body[: body.rfind("```")] if body.rstrip().endswith("```") else body


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _meta(body: dict[str, Any], request_id: Any, batch_id: str | None) -> LineMeta:
    usage = body.get("usage") if isinstance(body.get("usage"), dict) else {}
    prompt = _int(usage.get("prompt_tokens", usage.get("input_tokens")))
    completion = _int(usage.get("completion_tokens", usage.get("output_tokens")))
    total = _int(usage.get("total_tokens"))
    if total is None and prompt is not None and completion is not None:
        total = prompt + completion
    model = body.get("model")
    return LineMeta(
        model=model if isinstance(model, str) else None,
        batch_id=batch_id,
        request_id=request_id if isinstance(request_id, str) else None,
        prompt_tokens=prompt,
        completion_tokens=completion,
        total_tokens=total,
    )


def _error_fields(body: Any) -> tuple[str | None, str | None]:
    """(code, message) from an error body of any common shape."""
    error = body.get("error", body) if isinstance(body, dict) else body
    if isinstance(error, dict):
        code = error.get("code") or error.get("type")
        message = error.get("message")
        return (str(code) if code is not None else None, str(message) if message else None)
    if isinstance(error, str):
        return None, error[:_MAX_MESSAGE]
    return None, None


def _validation_summary(exc: ValidationError) -> tuple[Reason, str]:
    errors = exc.errors(include_url=False, include_input=False)
    if errors and errors[0]["type"] == "json_invalid":
        return Reason.INVALID_JSON, f"not JSON: {errors[0]['msg']}"
    parts = [f"{'.'.join(str(p) for p in e['loc']) or '(root)'}: {e['msg']}" for e in errors[:3]]
    more = f" (+{len(errors) - 3} more)" if len(errors) > 3 else ""
    return Reason.SCHEMA_MISMATCH, "; ".join(parts) + more


class LineClassifier:
    """Classifies result lines for one response model (and optionally one batch id)."""

    def __init__(self, response_model: type[BaseModel], batch_id: str | None = None) -> None:
        self.response_model = response_model
        self.batch_id = batch_id
        # The two common shapes: JSON content (json_schema mode) and tool-call arguments
        # (tools mode). A file holds one mode, so the one that last fitted is tried first.
        self._fast = [
            fast_envelope(response_model).validate_json,
            fast_envelope(response_model, tools=True).validate_json,
        ]

    def _fast_line(self, raw: bytes) -> dict[str, Any] | None:
        """The common line's values (its answer validated), or None for any other line."""
        for index, validate in enumerate(self._fast):
            try:
                line: dict[str, Any] = validate(raw)
            except ValidationError:
                continue
            if index:
                self._fast.insert(0, self._fast.pop(index))
            return line
        return None

    def fast_row(self, raw: bytes) -> ParsedRow | None:
        """The common line in one pydantic-core call, as a :data:`ParsedRow`; None for any
        other line (which :meth:`classify` then handles)."""
        line = self._fast_line(raw)
        if line is None:
            return None
        get = line.get
        prompt, completion, total = (
            get("prompt_tokens"),
            get("completion_tokens"),
            get("total_tokens"),
        )
        if total is None and prompt is not None and completion is not None:
            total = prompt + completion
        return (
            line["custom_id"],
            line["value"],
            get("model"),
            get("request_id"),
            prompt,
            completion,
            total,
        )

    def fast_check(self, raw: bytes) -> tuple[str, int | None, int | None] | None:
        """The custom_id, prompt and completion tokens of a line that :meth:`decide` finds
        parsed on its fast path (no row built: for callers that keep the line, not the
        answer); None for any other line, which :meth:`classify` then handles."""
        line = self._fast_line(raw)
        if line is None:
            return None
        get = line.get
        return line["custom_id"], get("prompt_tokens"), get("completion_tokens")

    def decide(self, raw: bytes, source: str) -> ParsedRow | Unparsed:
        """The outcome of one line: its parsed row, or the unparsed record saying why.

        The one place a line's outcome is decided: :func:`~.parse.iter_results` (lists,
        resubmission, the CLI), :func:`~.parse.write_tables` (Parquet) and the pipeline's
        collect step all call it, so they cannot disagree on a line.
        """
        row = self.fast_row(raw)
        if row is not None:
            return row
        record = self.classify(raw, source)
        if isinstance(record, Unparsed):
            return record
        meta = record.meta
        return (
            record.custom_id, record.value, meta.model, meta.request_id,
            meta.prompt_tokens, meta.completion_tokens, meta.total_tokens,
        )  # fmt: skip

    def decide_lines(self, lines: Iterable[bytes], source: str) -> Iterator[ParsedRow | Unparsed]:
        """The outcomes of ``lines`` in order; a blank line is no line at all."""
        decide = self.decide
        for raw in lines:
            if is_line(raw):
                yield decide(raw, source)

    def record(self, outcome: ParsedRow | Unparsed) -> Parsed | Unparsed:
        """An outcome of :meth:`decide` as a record."""
        if isinstance(outcome, Unparsed):
            return outcome
        custom_id, value, model, request_id, prompt, completion, total = outcome
        meta = LineMeta(model, self.batch_id, request_id, prompt, completion, total)
        return Parsed(custom_id, value, meta)

    def __call__(self, raw: bytes, source: str) -> Parsed | Unparsed:
        """Return the record for one line (``raw`` without its newline)."""
        return self.record(self.decide(raw, source))

    def classify(self, raw: bytes, source: str) -> Parsed | Unparsed:
        """The full classification of one line, whatever its shape."""
        if raw.endswith(b"\r"):
            raw = raw[:-1]
        line = _decode(raw)
        if not isinstance(line, dict):
            # A line too broken (or too deeply nested) to decode may still name its request
            # first: then it is that request's outcome, not an extra line.
            named = custom_id_of(raw) if line is None else None
            problem = "not a JSON object" if line is not None else "not valid JSON (or too deep)"
            return Unparsed(
                named, Reason.INVALID_LINE, problem, _text(raw), source=source,
                meta=LineMeta(batch_id=self.batch_id),
            )  # fmt: skip
        custom_id = line.get("custom_id")
        if not isinstance(custom_id, str) or not custom_id:
            return Unparsed(
                None, Reason.INVALID_LINE, "line has no custom_id", _text(raw), source=source,
                meta=LineMeta(batch_id=self.batch_id),
            )  # fmt: skip
        response, error = line.get("response"), line.get("error")
        if isinstance(response, dict) and response.get("status_code") == 200 and not error:
            return self._answer(custom_id, response, raw, source)
        if error:
            code, message = _error_fields(error)
            reason = _ERROR_CODE_REASONS.get(code or "", Reason.REQUEST_ERROR)
            return Unparsed(
                custom_id, reason, message, _text(raw), error_code=code, source=source,
                meta=LineMeta(batch_id=self.batch_id),
            )  # fmt: skip
        if isinstance(response, dict):
            code, message = _error_fields(_json_body(response.get("body")))
            status = response.get("status_code")
            return Unparsed(
                custom_id,
                Reason.HTTP_ERROR,
                message,
                _text(raw),
                status_code=status if isinstance(status, int) else None,
                error_code=code,
                source=source,
                meta=LineMeta(batch_id=self.batch_id, request_id=response.get("request_id")),
            )
        return Unparsed(
            custom_id, Reason.INVALID_LINE, "line has neither response nor error", _text(raw),
            source=source, meta=LineMeta(batch_id=self.batch_id),
        )  # fmt: skip

    def _answer(
        self, custom_id: str, response: dict[str, Any], raw: bytes, source: str
    ) -> Parsed | Unparsed:
        body = _json_body(response.get("body"))
        if not isinstance(body, dict):
            return Unparsed(
                custom_id, Reason.INVALID_LINE, "200 response without a JSON body", _text(raw),
                status_code=200, source=source, meta=LineMeta(batch_id=self.batch_id),
            )  # fmt: skip
        meta = _meta(body, response.get("request_id"), self.batch_id)
        if isinstance(body.get("choices"), list):
            outcome = _chat_answer(body["choices"])
        elif isinstance(body.get("output"), list):
            outcome = _responses_answer(body)
        else:
            outcome = _Failure(Reason.INVALID_LINE, "200 response without choices or output", None)
        if isinstance(outcome, _Failure):
            reason, message, content = outcome
            return Unparsed(
                custom_id, reason, message, content if content is not None else _text(raw),
                status_code=200, source=source, meta=meta,
            )  # fmt: skip
        return self._validate(custom_id, outcome, meta, source)

    def _validate(
        self, custom_id: str, content: Any, meta: LineMeta, source: str
    ) -> Parsed | Unparsed:
        try:
            if isinstance(content, str):
                value = self.response_model.model_validate_json(_strip_fence(content))
            else:
                value = self.response_model.model_validate(content)
        except ValidationError as exc:
            reason, message = _validation_summary(exc)
            raw = content if isinstance(content, str) else str(content)
            return Unparsed(
                custom_id, reason, message, raw, status_code=200, source=source, meta=meta
            )
        except (ValueError, RecursionError) as exc:  # hostile input deep inside pydantic-core
            return Unparsed(
                custom_id, Reason.INVALID_JSON, str(exc)[:_MAX_MESSAGE], str(content),
                status_code=200, source=source, meta=meta,
            )  # fmt: skip
        return Parsed(custom_id, value, meta)


class _Failure(NamedTuple):
    """Why a 200 response holds no answer to validate, and its raw content (if any)."""

    reason: Reason
    message: str
    content: JsonValue


# What a 200 response holds: the answer to validate (JSON text, or JSON data already
# decoded), or why there is none. JSON never decodes to a tuple, so the two cannot mix.
_Outcome = _Failure | JsonValue


def _chat_answer(choices: list[Any]) -> _Outcome:
    if not choices or not isinstance(choices[0], dict):
        return _Failure(Reason.INVALID_LINE, "response has no choices", None)
    choice = choices[0]
    message = choice.get("message") if isinstance(choice.get("message"), dict) else {}
    finish = choice.get("finish_reason")
    content = message.get("content")
    tool_calls = message.get("tool_calls")
    if tool_calls and isinstance(tool_calls, list) and isinstance(tool_calls[0], dict):
        function = tool_calls[0].get("function") or {}
        content = function.get("arguments") if isinstance(function, dict) else None
    if message.get("refusal"):
        return _Failure(Reason.REFUSAL, str(message["refusal"])[:_MAX_MESSAGE], content)
    if finish == "length":
        return _Failure(
            Reason.TRUNCATED, "finish_reason is length: the answer was cut short", content
        )
    if finish == "content_filter":
        return _Failure(Reason.CONTENT_FILTER, "finish_reason is content_filter", content)
    if content is None or content == "":
        return _Failure(Reason.INVALID_JSON, "the answer has no content", None)
    return content


def _responses_answer(body: dict[str, Any]) -> _Outcome:
    incomplete = body.get("incomplete_details")
    why = incomplete.get("reason") if isinstance(incomplete, dict) else None
    content: Any = None
    refusal = None
    # The answer is the last message (or function call) item, after any reasoning items.
    for item in reversed(body["output"]):
        if not isinstance(item, dict):
            continue
        if item.get("type") == "function_call":
            content = item.get("arguments")
            break
        if item.get("type") == "message":
            for part in item.get("content") or []:
                if isinstance(part, dict) and part.get("type") == "output_text":
                    content = (content or "") + str(part.get("text", ""))
                elif isinstance(part, dict) and part.get("type") == "refusal":
                    refusal = part.get("refusal")
            break
    if refusal:
        return _Failure(Reason.REFUSAL, str(refusal)[:_MAX_MESSAGE], content)
    if why == "max_output_tokens":
        return _Failure(Reason.TRUNCATED, "incomplete: max_output_tokens", content)
    if why == "content_filter":
        return _Failure(Reason.CONTENT_FILTER, "incomplete: content_filter", content)
    if content is None or content == "":
        return _Failure(Reason.INVALID_JSON, "the answer has no content", None)
    return content
