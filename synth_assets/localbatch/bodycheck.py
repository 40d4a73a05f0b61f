"""Checking one request body the way OpenAI does before answering it.

A batch's file is validated as a whole when the batch starts (well-formed lines, ids, one
model); each request's body is then checked when it is answered, and a body OpenAI would
refuse gets the refusal OpenAI sends: a 400 ``invalid_request_error`` naming the parameter
(``messages[0].role``, ``response_format.type``, ``tools[1].function.name``) in that line of
the error file. So a pipeline tested here meets the refusals it will meet on OpenAI.

The checks cover the shape of what the project and common clients send (messages or input,
response formats, tools and tool choice, the usual generation parameters); parameters this
module does not know are left alone rather than guessed at.
"""

import re
from dataclasses import dataclass
from typing import Any, NoReturn

from synth_assets.batch import RESPONSES

_NAME = re.compile(r"[a-zA-Z0-9_-]{1,64}")
_CHAT_ROLES = ("system", "developer", "user", "assistant", "tool", "function")
_INPUT_ROLES = ("system", "developer", "user", "assistant")
_PLAIN_ROLES = ("system", "developer", "user")  # a tuple: a role may be unhashable junk
_FORMAT_TYPES = ("text", "json_object", "json_schema")
_TOOL_CHOICES = ("none", "auto", "required")
_CHAT_TOOL_TYPES = ("function", "custom")
_RESPONSES_TOOL_TYPES = (
    "function",
    "custom",
    "file_search",
    "web_search",
    "web_search_preview",
    "web_search_preview_2025_03_11",
    "computer_use_preview",
    "code_interpreter",
    "image_generation",
    "local_shell",
    "shell",
    "mcp",
    "apply_patch",
)
_MAX_TOOLS = 128
# What an assistant message may carry instead of content.
_ASSISTANT_ANSWERS = ("tool_calls", "function_call", "refusal", "audio")
# parameter -> (integer only, lowest, highest); None: unbounded on that side.
_CHAT_NUMBERS: dict[str, tuple[bool, float | None, float | None]] = {
    "temperature": (False, 0, 2),
    "top_p": (False, 0, 1),
    "presence_penalty": (False, -2, 2),
    "frequency_penalty": (False, -2, 2),
    "n": (True, 1, 128),
    "max_tokens": (True, 1, None),
    "max_completion_tokens": (True, 1, None),
    "top_logprobs": (True, 0, 20),
    "seed": (True, None, None),
}
_RESPONSES_NUMBERS: dict[str, tuple[bool, float | None, float | None]] = {
    "temperature": (False, 0, 2),
    "top_p": (False, 0, 1),
    "max_output_tokens": (True, 16, None),
    "top_logprobs": (True, 0, 20),
}
_CHAT_FLAGS = frozenset({"logprobs", "parallel_tool_calls", "store"})
_RESPONSES_FLAGS = frozenset({"parallel_tool_calls", "store"})


@dataclass(frozen=True, slots=True)
class BodyProblem:
    """Why OpenAI would refuse a request body: a message, the parameter and an error code."""

    message: str
    param: str
    code: str

    def error_body(self) -> dict[str, Any]:
        """The 400 response body, in OpenAI's error shape."""
        return {
            "error": {
                "message": self.message,
                "type": "invalid_request_error",
                "param": self.param,
                "code": self.code,
            }
        }


class _Refused(Exception):
    def __init__(self, problem: BodyProblem) -> None:
        self.problem = problem


def check_body(body: dict[str, Any], endpoint: str) -> BodyProblem | None:
    """The first thing OpenAI would refuse in ``body`` for ``endpoint``, or None if none."""
    try:
        if endpoint == RESPONSES:
            _check_responses(body)
        else:
            _check_chat(body)
    except _Refused as refused:
        return refused.problem
    return None


# -- chat completions --------------------------------------------------------------------
#
# ``where`` is the path of the object being checked ("" for the body, "messages[0]",
# "response_format"); a parameter's full path is built only when it is refused, so a body
# that passes costs no string building.


def _check_chat(body: dict[str, Any]) -> None:
    messages = body.get("messages")
    if type(messages) is not list or not messages:
        _non_empty_list(_required(body, "messages", ""), "messages")
    for index, message in enumerate(messages):
        _chat_message(message, index)
    fmt = body.get("response_format")
    if fmt is not None:
        _format(fmt, "response_format", chat=True)
    tools = body.get("tools")
    if tools is not None:
        _tools(tools, _CHAT_TOOL_TYPES, chat=True)
    if "tool_choice" in body:
        _tool_choice(body, chat=True)
    _numbers(body, _CHAT_NUMBERS)
    _flags(body, _CHAT_FLAGS)
    stop = body.get("stop")
    if stop is not None and not isinstance(stop, str):
        if not isinstance(stop, list) or not all(isinstance(s, str) for s in stop):
            _refuse_type("stop", "a string or an array of strings", stop)
        if len(stop) > 4:
            _refuse(
                "Invalid 'stop': array too long. Expected at most 4 sequences.",
                "stop",
                "array_above_max_length",
            )


def _chat_message(message: Any, index: int) -> None:
    if not isinstance(message, dict):
        _refuse_type(f"messages[{index}]", "an object", message)
    role = message.get("role")
    content = message.get("content")
    if role in _PLAIN_ROLES and type(content) is str and "name" not in message:
        return  # the common case, decided without building a path
    where = f"messages[{index}]"
    _required(message, "role", where)
    if role not in _CHAT_ROLES:
        _refuse_value(f"{where}.role", role, _CHAT_ROLES)
    if role == "assistant":
        if content is None and not any(message.get(k) for k in _ASSISTANT_ANSWERS):
            _refuse(
                f"Invalid value for '{where}.content': an assistant message needs content "
                "or tool_calls.",
                f"{where}.content",
                "invalid_value",
            )
        if content is not None:
            _content(content, where)
    elif role == "function":
        _string(message, "name", where)
    else:
        _content(_required(message, "content", where), where)
        if role == "tool":
            _string(message, "tool_call_id", where)
    name = message.get("name")
    if name is not None and not isinstance(name, str):
        _refuse_type(f"{where}.name", "a string", name)


# -- responses -----------------------------------------------------------------------------


def _check_responses(body: dict[str, Any]) -> None:
    given = _required(body, "input", "")
    if not isinstance(given, str):
        _non_empty_list(given, "input")
        for index, item in enumerate(given):
            _input_item(item, index)
    instructions = body.get("instructions")
    if instructions is not None and not isinstance(instructions, str):
        _refuse_type("instructions", "a string", instructions)
    text = body.get("text")
    if text is not None:
        if not isinstance(text, dict):
            _refuse_type("text", "an object", text)
        fmt = text.get("format")
        if fmt is not None:
            _format(fmt, "text.format", chat=False)
    tools = body.get("tools")
    if tools is not None:
        _tools(tools, _RESPONSES_TOOL_TYPES, chat=False)
    _tool_choice(body, chat=False)
    _numbers(body, _RESPONSES_NUMBERS)
    _flags(body, _RESPONSES_FLAGS)


def _input_item(item: Any, index: int) -> None:
    where = f"input[{index}]"
    if not isinstance(item, dict):
        _refuse_type(where, "an object", item)
    kind = item.get("type", "message")
    if not isinstance(kind, str):
        _refuse_type(f"{where}.type", "a string", kind)
    if kind != "message":
        return  # function_call_output, reasoning, ...: their own shapes, not checked here
    role = _required(item, "role", where)
    if role not in _INPUT_ROLES:
        _refuse_value(f"{where}.role", role, _INPUT_ROLES)
    _content(_required(item, "content", where), where)


# -- shared pieces -------------------------------------------------------------------------


def _format(fmt: Any, where: str, *, chat: bool) -> None:
    """``response_format`` (chat) or ``text.format`` (responses)."""
    if type(fmt) is dict and fmt.get("type") == "json_schema":
        # The shape every structured-output request has, accepted in one pass; anything
        # else takes the detailed path below, which names what is wrong.
        spec = fmt.get("json_schema") if chat else fmt
        if type(spec) is dict:
            name, strict = spec.get("name"), spec.get("strict")
            if (
                type(name) is str
                and type(spec.get("schema")) is dict
                and (strict is None or type(strict) is bool)
                and _NAME.fullmatch(name)
            ):
                return
    if not isinstance(fmt, dict):
        _refuse_type(where, "an object", fmt)
    kind = _required(fmt, "type", where)
    if kind not in _FORMAT_TYPES:
        _refuse_value(f"{where}.type", kind, _FORMAT_TYPES)
    if kind != "json_schema":
        return
    if chat:  # chat nests the schema's spec; responses puts it beside the type
        where = f"{where}.json_schema"
        fmt = _required(fmt, "json_schema", "response_format")
        if not isinstance(fmt, dict):
            _refuse_type(where, "an object", fmt)
    _name(fmt, where)
    schema = fmt.get("schema") if chat else _required(fmt, "schema", where)
    if schema is not None and not isinstance(schema, dict):
        _refuse_type(f"{where}.schema", "an object", schema)
    strict = fmt.get("strict")
    if strict is not None and not isinstance(strict, bool):
        _refuse_type(f"{where}.strict", "a boolean", strict)


def _content(content: Any, where: str) -> None:
    """The ``content`` of the message at ``where``: a string or a list of typed parts."""
    if isinstance(content, str):
        return
    if not isinstance(content, list):
        _refuse_type(f"{where}.content", "a string or an array of content parts", content)
    if not content:
        _refuse_empty(f"{where}.content")
    for index, part in enumerate(content):
        if not isinstance(part, dict) or not isinstance(part.get("type"), str):
            part_where = f"{where}.content[{index}]"
            if not isinstance(part, dict):
                _refuse_type(part_where, "an object", part)
            _string(part, "type", part_where)


def _tools(tools: Any, kinds: tuple[str, ...], *, chat: bool) -> None:
    if not isinstance(tools, list):
        _refuse_type("tools", "an array", tools)
    if not tools:
        _refuse_empty("tools")
    if len(tools) > _MAX_TOOLS:
        _refuse(
            f"Invalid 'tools': array too long. Expected an array with maximum length "
            f"{_MAX_TOOLS}, but got an array with length {len(tools)} instead.",
            "tools",
            "array_above_max_length",
        )
    for index, tool in enumerate(tools):
        where = f"tools[{index}]"
        if not isinstance(tool, dict):
            _refuse_type(where, "an object", tool)
        kind = _required(tool, "type", where)
        if kind not in kinds:
            _refuse_value(f"{where}.type", kind, kinds)
        if kind == "function":
            if chat:
                tool = _required(tool, "function", where)
                where = f"{where}.function"
                if not isinstance(tool, dict):
                    _refuse_type(where, "an object", tool)
            _function(tool, where)
        elif kind == "custom" and chat:
            custom = _required(tool, "custom", where)
            if not isinstance(custom, dict):
                _refuse_type(f"{where}.custom", "an object", custom)
            _name(custom, f"{where}.custom")
        elif kind == "custom":
            _name(tool, where)


def _function(function: dict[str, Any], where: str) -> None:
    _name(function, where)
    parameters = function.get("parameters")
    if parameters is not None and not isinstance(parameters, dict):
        _refuse_type(f"{where}.parameters", "an object", parameters)
    description = function.get("description")
    if description is not None and not isinstance(description, str):
        _refuse_type(f"{where}.description", "a string", description)
    strict = function.get("strict")
    if strict is not None and not isinstance(strict, bool):
        _refuse_type(f"{where}.strict", "a boolean", strict)


def _tool_choice(body: dict[str, Any], *, chat: bool) -> None:
    choice = body.get("tool_choice")
    if choice is None:
        return
    if isinstance(choice, str):
        if choice not in _TOOL_CHOICES:
            _refuse_value("tool_choice", choice, _TOOL_CHOICES)
        if choice == "none":
            return
    elif isinstance(choice, dict):
        kind = _required(choice, "type", "tool_choice")
        if not isinstance(kind, str):
            _refuse_type("tool_choice.type", "a string", kind)
        if kind == "function":
            if chat:
                function = _required(choice, "function", "tool_choice")
                if not isinstance(function, dict):
                    _refuse_type("tool_choice.function", "an object", function)
                _string(function, "name", "tool_choice.function")
            else:
                _string(choice, "name", "tool_choice")
    else:
        _refuse_type("tool_choice", "a string or an object", choice)
    if not body.get("tools"):
        _refuse(
            "Invalid value for 'tool_choice': 'tool_choice' is only allowed when 'tools' are "
            "specified.",
            "tool_choice",
            "invalid_value",
        )


_NumberSpec = tuple[bool, float | None, float | None]


def _numbers(body: dict[str, Any], specs: dict[str, _NumberSpec]) -> None:
    for name in specs.keys() & body.keys():  # usually none or one or two of them
        value = body[name]
        if value is None:
            continue
        integer, low, high = specs[name]
        if isinstance(value, bool) or not isinstance(value, int | float):
            _refuse_type(name, "an integer" if integer else "a number", value)
        if integer and not isinstance(value, int):
            _refuse_type(name, "an integer", value)
        kind = "integer" if integer else "decimal"
        if low is not None and not value >= low:  # "not >=" also refuses NaN
            _refuse(
                f"Invalid '{name}': {kind} below minimum value. Expected a value >= {low}, "
                f"but got {value} instead.",
                name,
                f"{kind}_below_min_value",
            )
        if high is not None and not value <= high:
            _refuse(
                f"Invalid '{name}': {kind} above maximum value. Expected a value <= {high}, "
                f"but got {value} instead.",
                name,
                f"{kind}_above_max_value",
            )


def _flags(body: dict[str, Any], names: frozenset[str]) -> None:
    for name in body.keys() & names:
        value = body[name]
        if value is not None and not isinstance(value, bool):
            _refuse_type(name, "a boolean", value)


def _at(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key


def _required(holder: dict[str, Any], key: str, where: str) -> Any:
    """``holder[key]`` (``holder`` sits at ``where``), refusing it when missing or null."""
    value = holder.get(key)
    if value is None:
        param = _at(where, key)
        _refuse(f"Missing required parameter: '{param}'.", param, "missing_required_parameter")
    return value


def _string(holder: dict[str, Any], key: str, where: str) -> str:
    value = _required(holder, key, where)
    if not isinstance(value, str):
        _refuse_type(_at(where, key), "a string", value)
    return value


def _name(holder: dict[str, Any], where: str) -> None:
    name = _string(holder, "name", where)
    if not _NAME.fullmatch(name):
        param = _at(where, "name")
        _refuse(
            f"Invalid '{param}': string does not match pattern. Expected a string of 1 to 64 "
            f"letters, digits, underscores or dashes, but got {_shown(name)} instead.",
            param,
            "invalid_value",
        )


def _non_empty_list(value: Any, where: str) -> None:
    if not isinstance(value, list):
        _refuse_type(where, "an array", value)
    if not value:
        _refuse_empty(where)


def _refuse(message: str, param: str, code: str) -> NoReturn:
    raise _Refused(BodyProblem(message, param, code))


def _refuse_type(where: str, expected: str, value: Any) -> NoReturn:
    _refuse(
        f"Invalid type for '{where}': expected {expected}, but got {_kind(value)} instead.",
        where,
        "invalid_type",
    )


def _refuse_value(where: str, value: Any, allowed: tuple[str, ...]) -> NoReturn:
    if not isinstance(value, str):
        _refuse_type(where, "a string", value)
    listed = ", ".join(f"'{a}'" for a in allowed)
    _refuse(
        f"Invalid value: {_shown(value)}. Supported values for '{where}' are: {listed}.",
        where,
        "invalid_value",
    )


def _refuse_empty(where: str) -> NoReturn:
    _refuse(
        f"Invalid '{where}': empty array. Expected an array with minimum length 1, but got an "
        "empty array instead.",
        where,
        "empty_array",
    )


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a decimal"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."
