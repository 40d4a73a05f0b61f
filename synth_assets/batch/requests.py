"""Batch-API request lines from chat messages and a response model.

A request file holds one model and one endpoint, so everything but the custom_id and the
messages is constant: :class:`RequestBuilder` serialises that constant part once and each
line costs one ``to_json`` of its messages.
"""

import hashlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from enum import StrEnum
from typing import Any

from pydantic import BaseModel
from pydantic_core import from_json, to_json

from .errors import DuplicateCustomIdError, InvalidCustomIdError, SynthError
from .schema import function_tool, strict_json_schema

CHAT_COMPLETIONS = "/v1/chat/completions"
RESPONSES = "/v1/responses"
ENDPOINTS = (CHAT_COMPLETIONS, RESPONSES)
MAX_CUSTOM_ID_LENGTH = 64

Messages = list[dict[str, Any]]


class RequestMode(StrEnum):
    """How the response model is asked for."""

    JSON_SCHEMA = "json_schema"  # strict structured outputs (response_format / text.format)
    TOOLS = "tools"  # one strict function tool, forced with tool_choice


class RequestBuilder:
    """Turns (custom_id, messages) into request lines for one model, endpoint and schema."""

    def __init__(
        self,
        *,
        model: str,
        response_model: type[BaseModel],
        mode: RequestMode | str = RequestMode.JSON_SCHEMA,
        endpoint: str = CHAT_COMPLETIONS,
        params: Mapping[str, Any] | None = None,
    ) -> None:
        if not isinstance(model, str) or not model:
            raise SynthError("model must be a non-empty model name such as 'gpt-4o-mini'.")
        if endpoint not in ENDPOINTS:
            raise SynthError(f"endpoint {endpoint!r} is not supported; use one of {ENDPOINTS}.")
        try:
            self.mode = RequestMode(mode)
        except ValueError:
            modes = ", ".join(m.value for m in RequestMode)
            raise SynthError(f"mode {mode!r} is not supported; use one of: {modes}.") from None
        self.model = model
        self.endpoint = endpoint
        self.response_model = response_model
        # Generation parameters are omitted when not given, never sent as null.
        self.params = {k: v for k, v in (params or {}).items() if v is not None}
        self._extras = self._constant_body()
        self._prefix = b'{"custom_id":'
        self._middle = (
            b',"method":"POST","url":'
            + to_json(endpoint)
            + b',"body":{"model":'
            + to_json(model)
            + (b',"messages":' if endpoint == CHAT_COMPLETIONS else b',"input":')
        )
        # The constant tail: schema/tool + parameters, serialised once per file.
        self._suffix = to_json(self._extras)[1:] if self._extras else b"}"
        if self._extras:
            self._suffix = b"," + self._suffix
        self._suffix += b"}\n"

    def _constant_body(self) -> dict[str, Any]:
        schema = strict_json_schema(self.response_model)
        name = self.response_model.__name__
        extras: dict[str, Any]
        if self.endpoint == CHAT_COMPLETIONS:
            if self.mode is RequestMode.JSON_SCHEMA:
                extras = {
                    "response_format": {
                        "type": "json_schema",
                        "json_schema": {"name": name, "strict": True, "schema": schema},
                    }
                }
            else:
                extras = {
                    "tools": [function_tool(self.response_model)],
                    "tool_choice": {"type": "function", "function": {"name": name}},
                }
        elif self.mode is RequestMode.JSON_SCHEMA:
            extras = {
                "text": {
                    "format": {
                        "type": "json_schema",
                        "name": name,
                        "strict": True,
                        "schema": schema,
                    }
                }
            }
        else:
            function = function_tool(self.response_model)["function"]
            extras = {
                "tools": [{"type": "function", **function}],
                "tool_choice": {"type": "function", "name": name},
            }
        return {**extras, **self.params}

    def encode(self, custom_id: str, messages: Messages) -> bytes:
        """Return one request line, newline included, as bytes."""
        return b"".join(
            (self._prefix, to_json(custom_id), self._middle, to_json(messages), self._suffix)
        )

    def encode_hashed(self, custom_id: str, messages: Messages) -> tuple[bytes, str]:
        """One request line and its request hash: the sha256 of everything but the
        custom_id (method, url and body: model, messages, schema, parameters), so the same
        request asked under another id has the same hash."""
        lines, hashes = self.encode_many([custom_id], [to_json(messages)])
        return lines[0], hashes[0]

    def encode_many(
        self, custom_ids: Sequence[str], messages_json: Sequence[bytes]
    ) -> tuple[list[bytes], list[str]]:
        """:meth:`encode_hashed` of many requests at once, each one's messages given as their
        JSON (``to_json(messages)``): the lines and the hashes, in order."""
        prefix, middle, suffix, join = self._prefix, self._middle, self._suffix, b"".join
        hashed_middle = hashlib.sha256(middle)  # each request's hash starts from a copy
        lines: list[bytes] = []
        hashes: list[str] = []
        for custom_id, messages in zip(custom_ids, messages_json, strict=True):
            request = hashed_middle.copy()
            request.update(messages)
            request.update(suffix)
            hashes.append(request.hexdigest())
            lines.append(join((prefix, to_json(custom_id), middle, messages, suffix)))
        return lines, hashes

    def numbered_template(self) -> bytes:
        """A ``bytes % (index, messages_json)`` template of the line of ``request-<index>``."""
        escaped = [part.replace(b"%", b"%%") for part in (self._prefix, self._middle, self._suffix)]
        return escaped[0] + b'"request-%d"' + escaped[1] + b"%s" + escaped[2]

    def line(self, custom_id: str, messages: Messages) -> dict[str, Any]:
        """Return one request line as a dict (the tutorial's ``json.dumps`` path)."""
        body: dict[str, Any] = {"model": self.model}
        body["messages" if self.endpoint == CHAT_COMPLETIONS else "input"] = messages
        body.update(from_json(to_json(self._extras)))  # a private copy per line
        return {"custom_id": custom_id, "method": "POST", "url": self.endpoint, "body": body}


def numbered(messages_batch: Iterable[Messages]) -> Iterator[tuple[str, Messages]]:
    """Pair each message list with ``request-<n>`` (0-based position, unique even for twins)."""
    for index, messages in enumerate(messages_batch):
        yield f"request-{index}", messages


def keyed(
    custom_ids: Iterable[str], messages_batch: Iterable[Messages]
) -> Iterator[tuple[str, Messages]]:
    """Pair caller-given custom_ids with message lists; the two must have the same length."""
    if isinstance(custom_ids, str | bytes):
        raise SynthError("custom_ids must be a list of ids, one per request, not one string.")
    ids, batch = iter(custom_ids), iter(messages_batch)
    sentinel = object()
    while True:
        custom_id, messages = next(ids, sentinel), next(batch, sentinel)
        if custom_id is sentinel and messages is sentinel:
            return
        if custom_id is sentinel or messages is sentinel:
            raise SynthError(
                "custom_ids and messages_batch have different lengths; give one id per request."
            )
        yield custom_id, messages  # type: ignore[misc]


def from_rows(rows: Iterable[Any], *, key: Any, to_messages: Any) -> Iterator[tuple[str, Messages]]:
    """Pair rows with messages: ``key(row)`` is the custom_id, ``to_messages(row)`` the rest."""
    for index, row in enumerate(rows):
        custom_id = key(row)
        if custom_id is None:
            raise InvalidCustomIdError(f"row {index}: its key is None; every row needs a key.")
        yield str(custom_id), to_messages(row)


def checked(requests: Iterable[tuple[str, Messages]]) -> Iterator[tuple[str, Messages]]:
    """Pass requests through, refusing bad or duplicate custom_ids (naming both rows)."""
    first_row: dict[str, int] = {}
    for row, (custom_id, messages) in enumerate(requests):
        if not isinstance(custom_id, str) or not custom_id:
            raise InvalidCustomIdError(
                f"row {row}: custom_id {custom_id!r} must be a non-empty string."
            )
        if len(custom_id) > MAX_CUSTOM_ID_LENGTH:
            raise InvalidCustomIdError(
                f"row {row}: custom_id {custom_id[:20]!r}... is {len(custom_id)} characters; "
                f"the limit is {MAX_CUSTOM_ID_LENGTH}, so use a shorter key."
            )
        previous = first_row.setdefault(custom_id, row)
        if previous != row:
            raise DuplicateCustomIdError(
                f"custom_id {custom_id!r} is used by row {previous} and row {row}; "
                "custom_ids must be unique within a batch."
            )
        yield custom_id, messages
