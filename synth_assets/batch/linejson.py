"""Parsing request lines fast: the big body values that repeat line after line are parsed once.

A request file holds one schema (``response_format``, ``tools`` or the responses endpoint's
``text``) repeated on every line, often most of the line's bytes. :class:`RequestLineParser`
parses a line as :func:`pydantic_core.from_json` does, but once it has seen such a value it
cuts the value's exact bytes out of the next lines before parsing them and puts the (shared,
already parsed) value back in. Lines where the value differs, or is written another way,
are parsed whole: the result is always what ``from_json(line)`` returns.

Why the cut is exact: the bytes cut are ``"key":<value>`` as :func:`pydantic_core.to_json`
writes ``value``. They hold unescaped quotes, which only occur outside JSON strings, so the
span is a whole key and value of some object of the line, never text inside a string. The
value is swapped for a string no client can know (it holds a random token); the line is
accepted only if that string then stands as ``body[key]``, which proves the span was the
body's own value. Anything else (a parse error, the span elsewhere) parses the line whole.
The shared values must be treated as read-only by the caller.
"""

import secrets
from typing import Any

from pydantic_core import from_json, to_json

# Body keys that hold a request's schema: chat completions, tools, the responses endpoint.
SHARED_KEYS = ("response_format", "tools", "text")
_MIN_SHARED_BYTES = 128  # smaller values cost less to parse than to look for
_MAX_MISSES = 16  # values that never repeat as written: stop looking for them
# A search for a long needle pays a setup per call: search for its head, then compare.
_HEAD = 48


class RequestLineParser:
    """``from_json`` for the lines of a request file, sharing repeated schema values."""

    __slots__ = ("_known", "_misses", "_token")

    def __init__(self) -> None:
        # key -> (the bytes `"key":<value>`, the stand-in bytes, the stand-in, the value)
        self._known: dict[str, tuple[bytes, bytes, str, Any]] = {}
        self._misses = 0
        self._token = secrets.token_hex(8)

    def __call__(self, raw: bytes) -> Any:
        """The parsed line (raises ``ValueError`` exactly as ``from_json(raw)`` does)."""
        if self._known:
            line = self._parse_cut(raw)
            if line is not None:
                return line
        line = from_json(raw)
        if self._misses < _MAX_MISSES:
            self._learn(raw, line)
        return line

    def _parse_cut(self, raw: bytes) -> Any:
        text = raw
        cut: list[tuple[str, str, Any]] = []
        for key, (needle, stand_in_bytes, stand_in, value) in self._known.items():
            at = _find(text, needle)
            if at >= 0:
                text = b"".join((text[:at], stand_in_bytes, text[at + len(needle) :]))
                cut.append((key, stand_in, value))
        if not cut:
            return None
        try:
            line = from_json(text)
        except ValueError:
            return None  # parsed whole, for the exact error
        body = line.get("body") if isinstance(line, dict) else None
        if not isinstance(body, dict):
            return None
        for key, stand_in, value in cut:
            if body.get(key) != stand_in:
                return None
            body[key] = value
        return line

    def _learn(self, raw: bytes, line: Any) -> None:
        body = line.get("body") if isinstance(line, dict) else None
        if not isinstance(body, dict):
            return
        for key in SHARED_KEYS:
            value = body.get(key)
            if not isinstance(value, dict | list):
                continue
            written = to_json(value)
            if len(written) < _MIN_SHARED_BYTES:
                continue
            needle = to_json(key) + b":" + written
            if needle not in raw:
                self._misses += 1
                continue
            stand_in = f"\x00localbatch-shared:{self._token}:{key}"
            self._known[key] = (needle, to_json(key) + b":" + to_json(stand_in), stand_in, value)


def _find(text: bytes, needle: bytes) -> int:
    """``text.find(needle)``, faster for the long needles here."""
    head = needle[:_HEAD]
    at = text.find(head)
    while at >= 0 and not text.startswith(needle, at):
        at = text.find(head, at + 1)
    return at
