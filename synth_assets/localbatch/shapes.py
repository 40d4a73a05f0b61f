"""The body shapes of the two endpoints a batch may target, and what a request asks for.

``/v1/chat/completions`` answers with a ``chat.completion`` (``choices[0].message`` holding
``content`` or ``tool_calls``); ``/v1/responses`` answers with a ``response`` (an ``output``
list holding a ``message`` item with an ``output_text`` part, or a ``function_call`` item).
"""

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from pydantic_core import to_json

from synth_assets.batch import RESPONSES

from .ids import short_id

SYNTHETIC_FINGERPRINT = "fp_synth_assets_synthetic"


class AnswerKind(StrEnum):
    """What form the answer must take, read from the request body."""

    JSON_SCHEMA = "json_schema"  # content is JSON valid against the given schema
    TOOL = "tool"  # a call of the named function, arguments valid against its parameters
    JSON_OBJECT = "json_object"  # content is some JSON object
    TEXT = "text"  # free text


@dataclass(frozen=True, slots=True)
class Target:
    """The form of the answer a request asks for (and the schema, when there is one)."""

    kind: AnswerKind
    name: str | None = None
    schema: dict[str, Any] | None = None
    forced: bool = False  # tool_choice names the function
    param: str | None = None  # where the schema sits in the body (named in error messages)


_TEXT = Target(AnswerKind.TEXT)


def answer_target(body: dict[str, Any], endpoint: str) -> Target:
    """Read from a request body whether it wants a schema-shaped answer, a tool call or text."""
    responses = endpoint == RESPONSES
    tools = body.get("tools")
    choice = body.get("tool_choice")
    if isinstance(tools, list) and tools and choice != "none":
        wanted = None
        if isinstance(choice, dict):
            wanted = choice.get("name") if responses else (choice.get("function") or {}).get("name")
        for index, tool in enumerate(tools):
            if not isinstance(tool, dict) or tool.get("type") != "function":
                continue
            function = tool if responses else tool.get("function")
            if not isinstance(function, dict):
                continue
            name = function.get("name")
            if wanted is None or name == wanted:
                schema = function.get("parameters")
                return Target(
                    AnswerKind.TOOL,
                    name=name if isinstance(name, str) else "function",
                    schema=schema if isinstance(schema, dict) else {"type": "object"},
                    forced=wanted is not None,
                    param=f"tools[{index}].parameters"
                    if responses
                    else f"tools[{index}].function.parameters",
                )
    if responses:
        text = body.get("text")
        fmt = text.get("format") if isinstance(text, dict) else None
        if isinstance(fmt, dict):
            if fmt.get("type") == "json_schema" and isinstance(fmt.get("schema"), dict):
                return Target(
                    AnswerKind.JSON_SCHEMA,
                    name=fmt.get("name"),
                    schema=fmt["schema"],
                    param="text.format.schema",
                )
            if fmt.get("type") == "json_object":
                return Target(AnswerKind.JSON_OBJECT)
        return _TEXT
    fmt = body.get("response_format")
    if isinstance(fmt, dict):
        spec = fmt.get("json_schema")
        if fmt.get("type") == "json_schema" and isinstance(spec, dict):
            schema = spec.get("schema")
            return Target(
                AnswerKind.JSON_SCHEMA,
                name=spec.get("name"),
                schema=schema if isinstance(schema, dict) else {"type": "object"},
                param="response_format.json_schema.schema",
            )
        if fmt.get("type") == "json_object":
            return Target(AnswerKind.JSON_OBJECT)
    return _TEXT


def chat_completion(
    *,
    model: str,
    target: Target,
    text: str,
    prompt_tokens: int,
    completion_tokens: int,
    created: int,
    fingerprint: str = SYNTHETIC_FINGERPRINT,
    completion_id: str | None = None,
    call_id: str | None = None,
) -> dict[str, Any]:
    """A ``chat.completion`` body whose answer is ``text`` (content, or tool arguments).

    Its ids are new unless given (``chatcmpl-…`` and, for a tool call, ``call_…``).
    """
    message: dict[str, Any] = {"role": "assistant", "content": text, "refusal": None}
    finish = "stop"
    if target.kind is AnswerKind.TOOL:
        message["content"] = None
        message["tool_calls"] = [
            {
                "id": call_id or short_id("call_"),
                "type": "function",
                "function": {"name": target.name, "arguments": text},
            }
        ]
        # OpenAI ends a forced (named) tool call with "stop", a chosen one with "tool_calls".
        finish = "stop" if target.forced else "tool_calls"
    message["annotations"] = []
    return {
        "id": completion_id or short_id("chatcmpl-"),
        "object": "chat.completion",
        "created": created,
        "model": model,
        "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": finish}],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
            "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
            "completion_tokens_details": {
                "reasoning_tokens": 0,
                "audio_tokens": 0,
                "accepted_prediction_tokens": 0,
                "rejected_prediction_tokens": 0,
            },
        },
        "service_tier": "default",
        "system_fingerprint": fingerprint,
    }


@dataclass(slots=True)
class ChatAnswer:
    """A synthetic ``chat.completion`` body, kept as its parts until it is written.

    :meth:`to_json` writes exactly the bytes ``to_json(self.to_dict())`` would, without
    building the nested dicts first (the hot path: most answers go straight to a file);
    :meth:`to_dict` builds the body (the same ids every time) when a fault rewrites it.
    (Not frozen: one is made per answer, and a frozen dataclass's ``__init__`` costs a
    microsecond more. Treat it as read-only.)
    """

    model: str
    target: Target
    text: str
    prompt_tokens: int
    completion_tokens: int
    created: int
    completion_id: str
    call_id: str | None = None

    @classmethod
    def new(
        cls,
        *,
        model: str,
        target: Target,
        text: str,
        prompt_tokens: int,
        completion_tokens: int,
        created: int,
    ) -> "ChatAnswer":
        """A body with new ids (``chatcmpl-…``, and ``call_…`` for a tool call)."""
        call_id = short_id("call_") if target.kind is AnswerKind.TOOL else None
        return cls(
            model,
            target,
            text,
            prompt_tokens,
            completion_tokens,
            created,
            short_id("chatcmpl-"),
            call_id,
        )

    def to_dict(self) -> dict[str, Any]:
        """The body as :func:`chat_completion` builds it."""
        return chat_completion(
            model=self.model,
            target=self.target,
            text=self.text,
            prompt_tokens=self.prompt_tokens,
            completion_tokens=self.completion_tokens,
            created=self.created,
            completion_id=self.completion_id,
            call_id=self.call_id,
        )

    def to_json(self) -> bytes:
        """The body's JSON, byte for byte ``to_json(self.to_dict())``."""
        target = self.target
        text = to_json(self.text)
        if target.kind is AnswerKind.TOOL:
            message = b"".join(
                (
                    b'"content":null,"refusal":null,"tool_calls":[{"id":',
                    to_json(self.call_id),
                    b',"type":"function","function":{"name":',
                    to_json(target.name),
                    b',"arguments":',
                    text,
                    b"}}]",
                )
            )
            finish = b'"stop"' if target.forced else b'"tool_calls"'
        else:
            message = b'"content":' + text + b',"refusal":null'
            finish = b'"stop"'
        prompt, completion = self.prompt_tokens, self.completion_tokens
        return b"".join(
            (
                b'{"id":',
                to_json(self.completion_id),
                b',"object":"chat.completion","created":%d,"model":' % self.created,
                to_json(self.model),
                b',"choices":[{"index":0,"message":{"role":"assistant",',
                message,
                b',"annotations":[]},"logprobs":null,"finish_reason":',
                finish,
                b'}],"usage":{"prompt_tokens":%d,"completion_tokens":%d,"total_tokens":%d,'
                % (prompt, completion, prompt + completion),
                _CHAT_TAIL,
            )
        )


_CHAT_TAIL = (
    b'"prompt_tokens_details":{"cached_tokens":0,"audio_tokens":0},'
    b'"completion_tokens_details":{"reasoning_tokens":0,"audio_tokens":0,'
    b'"accepted_prediction_tokens":0,"rejected_prediction_tokens":0}},'
    b'"service_tier":"default","system_fingerprint":' + to_json(SYNTHETIC_FINGERPRINT) + b"}"
)


def response(
    *,
    model: str,
    target: Target,
    text: str,
    prompt_tokens: int,
    completion_tokens: int,
    created: int,
    responder: str = "synthetic",
) -> dict[str, Any]:
    """A ``response`` body (``/v1/responses``) whose answer is ``text``."""
    item: dict[str, Any]
    if target.kind is AnswerKind.TOOL:
        item = {
            "type": "function_call",
            "id": short_id("fc_"),
            "call_id": short_id("call_"),
            "name": target.name,
            "arguments": text,
            "status": "completed",
        }
    else:
        item = {
            "type": "message",
            "id": short_id("msg_"),
            "status": "completed",
            "role": "assistant",
            "content": [{"type": "output_text", "text": text, "annotations": [], "logprobs": []}],
        }
    return {
        "id": short_id("resp_"),
        "object": "response",
        "created_at": created,
        "status": "completed",
        "error": None,
        "incomplete_details": None,
        "model": model,
        "output": [item],
        "parallel_tool_calls": True,
        "usage": {
            "input_tokens": prompt_tokens,
            "input_tokens_details": {"cached_tokens": 0},
            "output_tokens": completion_tokens,
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": prompt_tokens + completion_tokens,
        },
        # The responses endpoint has no system_fingerprint: say what answered here instead.
        "metadata": {"localbatch_responder": responder},
    }


@dataclass(slots=True)
class Usage:
    """Token counts summed over a batch's answers."""

    input_tokens: int = 0
    output_tokens: int = 0
    cached_tokens: int = 0
    reasoning_tokens: int = 0

    def add_body(self, body: Any) -> None:
        """Add the usage of one answer body (either endpoint's shape); ignore what is absent."""
        if isinstance(body, ChatAnswer):
            self.input_tokens += body.prompt_tokens
            self.output_tokens += body.completion_tokens
            return
        usage = body.get("usage") if isinstance(body, dict) else None
        if not isinstance(usage, dict):
            return
        self.input_tokens += _int(usage.get("prompt_tokens", usage.get("input_tokens")))
        self.output_tokens += _int(usage.get("completion_tokens", usage.get("output_tokens")))
        details_in = usage.get("prompt_tokens_details") or usage.get("input_tokens_details")
        details_out = usage.get("completion_tokens_details") or usage.get("output_tokens_details")
        if isinstance(details_in, dict):
            self.cached_tokens += _int(details_in.get("cached_tokens"))
        if isinstance(details_out, dict):
            self.reasoning_tokens += _int(details_out.get("reasoning_tokens"))


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0
