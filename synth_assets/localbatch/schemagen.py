"""Compiling a JSON schema into a generator of values valid against it, within a budget.

:func:`compile_schema` turns a schema (as OpenAI's strict structured outputs accept it:
objects with every property required, ``$defs``/``$ref``, ``anyOf`` unions with null,
enums and consts, arrays with ``minItems``/``maxItems``, numbers with bounds and
``multipleOf``, strings with length bounds, ``format`` and simple ``pattern``) into a tree of
small closures ``(draw, depth) -> value``. Compiling costs a walk of the schema once; each
value then costs a walk of the closures and a few random draws.

A schema comes from a client, so generating from it is bounded: each answer is made under a
:class:`Draw` that holds its byte and time budget, charged before anything large is built
(an array's items, a string's padding), so a schema asking for a billion items fails at once
instead of filling memory. What cannot be answered raises :class:`UnanswerableError`:
:class:`InvalidSchemaError` for a schema no value can satisfy (a required self-reference,
an infinite bound) and :class:`BudgetExceededError` past the budget.
"""

import math
import random
import sys
import time
from collections.abc import Callable
from typing import Any

from pydantic_core import to_json

from .text import (
    HEADLINE_FIELDS,
    PROSE_FIELDS,
    SENDER_FIELDS,
    headline,
    pooled,
    prose,
    sender,
    string_maker,
)

# Recursive models stop growing past this depth: nullable branches turn null, arrays empty.
_MAX_DEPTH = 6
# Past this depth a schema has shown it cannot stop (a required self-reference, an array of
# itself with minItems): refused. OpenAI allows 10 levels of nesting, so this is lenient.
DEPTH_LIMIT = 64
_NULL_SHARE = 0.15  # how often an optional (``X | null``) field is null
_EXTRA_ITEMS = 15  # an array draws at most this many items beyond its minimum
_BLOCK = 4096  # array items generated between two looks at the clock
_CLOCK_BYTES = 16 * 1024  # bytes charged between two looks at the clock
_ITEM_BYTES = 2  # the least an array item adds to the JSON: one character and a comma
_FREE_BYTES = 16  # consts and enum values up to this size ride on their parent's charge


class UnanswerableError(Exception):
    """A response schema that cannot be answered; the message says why in one sentence."""

    code = "invalid_schema"


class InvalidSchemaError(UnanswerableError):
    """No finite value satisfies the schema (or its numbers cannot be used)."""

    code = "invalid_schema"


class BudgetExceededError(UnanswerableError):
    """The answer would exceed the server's per-answer size or time budget."""

    code = "answer_budget_exceeded"


class Draw:
    """One answer in the making: its random source and the bytes and time it may still use."""

    __slots__ = (
        "clock_at",
        "deadline",
        "hints",
        "language",
        "left",
        "max_bytes",
        "random",
        "rng",
        "timeout_s",
    )

    def __init__(
        self,
        rng: random.Random,
        *,
        max_bytes: int | None = None,
        timeout_s: float | None = None,
        hints: dict[str, str] | None = None,
    ) -> None:
        self.rng = rng
        # ``field: value`` lines of the prompt that name a top-level enum field (see
        # CompiledSchema.hint_keys), and the language the answer's prose is written in.
        self.hints = hints or {}
        self.language: str | None = None
        self.random = rng.random  # the hot call, one attribute away
        self.max_bytes = max_bytes
        self.timeout_s = timeout_s
        self.left = max_bytes if max_bytes is not None else sys.maxsize
        self.deadline = time.monotonic() + timeout_s if timeout_s is not None else math.inf
        self.clock_at = max(0, self.left - _CLOCK_BYTES)  # below this ``left``: tick()

    def spend(self, nbytes: int) -> None:
        """Charge ``nbytes`` of answer; raise :class:`BudgetExceededError` past the budget.

        (The hottest generators inline this: a method call per string would show.)
        """
        self.left -= nbytes
        if self.left < 0:
            raise self.too_large()

    def tick(self) -> None:
        """Called by arrays once ``left`` drops below ``clock_at``: the byte budget is checked
        exactly, the clock every ``_CLOCK_BYTES`` charged (a look at the clock per array would
        show in the common case of small answers)."""
        if self.left < 0:
            raise self.too_large()
        self.check_time()
        self.clock_at = max(0, self.left - _CLOCK_BYTES)

    def check_size(self, nbytes: int) -> None:
        """Raise :class:`BudgetExceededError` if a finished answer of ``nbytes`` is too large."""
        if self.max_bytes is not None and nbytes > self.max_bytes:
            raise self.too_large()

    def too_large(self) -> BudgetExceededError:
        """The error for an answer past the byte budget."""
        return BudgetExceededError(
            "the response schema asks for an answer larger than this server's per-answer "
            f"budget of {self.max_bytes} bytes (--max-answer-bytes)"
        )

    def check_time(self) -> None:
        """Raise :class:`BudgetExceededError` once the answer's time budget is spent."""
        if time.monotonic() > self.deadline:
            raise BudgetExceededError(
                "answering the response schema took longer than this server's per-answer "
                f"budget of {self.timeout_s:g} s (--answer-timeout-s)"
            )


_Gen = Callable[[Draw, int], Any]


class CompiledSchema:
    """A schema compiled into a generator: ``compiled(rng)`` or ``compiled(draw)`` -> a value."""

    __slots__ = ("_root", "hint_keys")

    def __init__(self, root: _Gen, hint_keys: frozenset[str] = frozenset()) -> None:
        self._root = root
        # Top-level enum fields a prompt may set with a ``field: value`` line.
        self.hint_keys = hint_keys

    def __call__(self, source: random.Random | Draw, depth: int = 0) -> Any:
        """A value valid against the schema, drawn from ``source`` (a bare RNG: no budget)."""
        draw = source if isinstance(source, Draw) else Draw(source)
        try:
            return self._root(draw, depth)
        except RecursionError:
            raise InvalidSchemaError("the response schema nests too deeply to answer") from None
        except (OverflowError, ValueError) as exc:
            raise InvalidSchemaError(
                f"the response schema's numbers cannot be used ({exc})"
            ) from None


def compile_schema(schema: dict[str, Any]) -> CompiledSchema:
    """Compile a JSON schema; raise :class:`InvalidSchemaError` if no value can satisfy it."""
    try:
        compiler = _Compiler(schema)
        root = compiler.compile(schema, "")
        return CompiledSchema(root, compiler.hint_keys)
    except RecursionError:
        raise InvalidSchemaError("the response schema nests too deeply to answer") from None
    except (OverflowError, ValueError) as exc:
        raise InvalidSchemaError(f"the response schema's numbers cannot be used ({exc})") from None


def _endless() -> InvalidSchemaError:
    return InvalidSchemaError(
        f"the response schema nests deeper than {DEPTH_LIMIT} levels: a required field "
        "refers back to its own object (make it nullable, or an array without minItems)"
    )


class _Compiler:
    def __init__(self, root: dict[str, Any]) -> None:
        self.root = root
        self.defs: dict[str, _Gen] = {}
        self.compiling: set[str] = set()
        self.hint_keys: frozenset[str] = frozenset()

    def compile(self, node: Any, name: str) -> _Gen:
        if not isinstance(node, dict) or not node:
            return _any_text
        if "$ref" in node:
            return self._ref(node["$ref"], name)
        if "const" in node:
            return _const(node["const"])
        if isinstance(node.get("enum"), list) and node["enum"]:
            return _choice(node["enum"])
        for key in ("anyOf", "oneOf"):
            if isinstance(node.get(key), list) and node[key]:
                return self._union([self.compile(v, name) for v in node[key]], node[key])
        if isinstance(node.get("allOf"), list) and node["allOf"]:
            # pydantic only emits allOf around a single $ref; merging arbitrary schemas is
            # out of scope, and the first part is the one that carries the type.
            return self.compile(node["allOf"][0], name)
        kind = node.get("type")
        if isinstance(kind, list) and kind:
            variants = [{**node, "type": t} for t in kind]
            return self._union([self.compile(v, name) for v in variants], variants)
        if kind == "object" or "properties" in node:
            return self._object(node)
        if kind == "array":
            return self._array(node, name)
        if kind == "string":
            return _string(node, name)
        if kind == "integer":
            return _integer(node)
        if kind == "number":
            return _number(node)
        if kind == "boolean":
            return lambda draw, depth: draw.random() < 0.5
        if kind == "null":
            return lambda draw, depth: None
        return _any_text

    def _ref(self, ref: Any, name: str) -> _Gen:
        if not isinstance(ref, str) or not ref.startswith("#"):
            return _any_text
        defs = self.defs
        if ref in self.compiling:
            # A recursive reference: resolve at call time, once the definition is compiled.
            # Every cycle passes here, so the depth check bounds any recursion.
            def recursive(draw: Draw, depth: int) -> Any:
                if depth > DEPTH_LIMIT:
                    raise _endless()
                draw.check_time()  # recursion can branch: the clock bounds it too
                return defs[ref](draw, depth + 1)

            return recursive
        if ref not in defs:
            self.compiling.add(ref)
            target: Any = self.root
            for part in ref.lstrip("#/").split("/"):
                target = target.get(part) if isinstance(target, dict) and part else target
            defs[ref] = self.compile(target, name)
            self.compiling.discard(ref)
        return defs[ref]

    def _allowed(self, node: Any) -> frozenset[str] | None:
        """The string values an enum (or const) field allows, following one ``$ref``."""
        if isinstance(node, dict) and isinstance(node.get("$ref"), str):
            target: Any = self.root
            for part in node["$ref"].lstrip("#/").split("/"):
                target = target.get(part) if isinstance(target, dict) and part else target
            node = target
        if not isinstance(node, dict):
            return None
        if "const" in node and isinstance(node["const"], str):
            return frozenset([node["const"]])
        values = node.get("enum")
        if isinstance(values, list) and values and all(isinstance(v, str) for v in values):
            return frozenset(values)
        return None

    def _object(self, node: dict[str, Any]) -> _Gen:
        props = node.get("properties")
        pairs = list(props.items()) if isinstance(props, dict) else []
        items = [(key, self.compile(sub, key)) for key, sub in pairs]
        # Braces, quoted keys, colons and commas: what the object costs before its values.
        fixed = 2 + sum(len(to_json(key)) + 2 for key, _ in items)
        allowed = {key: found for key, sub in pairs if (found := self._allowed(sub)) is not None}
        if node is self.root:
            self.hint_keys = frozenset(allowed)
        # A generated email's language decides the language of its prose: drawn first.
        language = next((k for k, _ in items if k.lower() in ("language", "lang")), None)
        order = sorted(items, key=lambda item: item[0] != language) if language else items
        keys = [key for key, _ in items]

        def obj(draw: Draw, depth: int) -> dict[str, Any]:
            draw.left -= fixed
            if draw.left < 0:
                raise draw.too_large()
            if not (language or (depth == 0 and draw.hints)):
                inner = depth + 1
                plain: dict[str, Any] = {}
                for key, gen in items:  # a loop, not a comprehension: no frame per object
                    plain[key] = gen(draw, inner)
                return plain
            hints = draw.hints if depth == 0 else {}
            outer = draw.language
            values: dict[str, Any] = {}
            for key, gen in order:
                hint = hints.get(key)
                if hint is not None and hint in allowed.get(key, ()):
                    values[key] = hint  # the prompt asked for this value: follow it
                else:
                    values[key] = gen(draw, depth + 1)
                if key == language and isinstance(values[key], str):
                    draw.language = values[key]
            draw.language = outer
            return {key: values[key] for key in keys}

        return obj

    def _union(self, gens: list[_Gen], variants: list[Any]) -> _Gen:
        nulls = [
            i for i, v in enumerate(variants) if isinstance(v, dict) and v.get("type") == "null"
        ]
        if len(gens) == 1:
            return gens[0]
        if nulls:
            null_gen = gens[nulls[0]]
            others = [g for i, g in enumerate(gens) if i not in nulls] or [null_gen]
            count = len(others)

            def optional(draw: Draw, depth: int) -> Any:
                if depth > _MAX_DEPTH or draw.random() < _NULL_SHARE:
                    return null_gen(draw, depth)
                return others[int(draw.random() * count)](draw, depth)

            return optional
        count = len(gens)
        return lambda draw, depth: gens[int(draw.random() * count)](draw, depth)

    def _array(self, node: dict[str, Any], name: str) -> _Gen:
        item = self.compile(node.get("items", {}), name)
        low = max(0, _int_or(node.get("minItems"), 0))
        high = _int_or(node.get("maxItems"), max(low, 3))
        start = max(low, min(1, high))  # prefer at least one item when allowed
        # A huge maxItems is a ceiling, not a wish: draw a handful, as a model would.
        span = max(0, min(high, start + _EXTRA_ITEMS) - start) + 1
        unique = bool(node.get("uniqueItems"))

        def array(draw: Draw, depth: int) -> list[Any]:
            count = low if depth > _MAX_DEPTH else start + int(draw.random() * span)
            draw.left -= 2 + _ITEM_BYTES * count  # before a single item is allocated
            if draw.left < draw.clock_at:
                draw.tick()
            if count <= _BLOCK:
                values = [item(draw, depth + 1) for _ in range(count)]
            else:
                # Long arrays of scalars charge nothing per item: look at the clock per block.
                values = []
                for done in range(0, count, _BLOCK):
                    draw.check_time()
                    size = min(_BLOCK, count - done)
                    values.extend([item(draw, depth + 1) for _ in range(size)])
            if unique:
                seen: set[bytes] = set()
                distinct = []
                for value in values:
                    key = to_json(value)
                    if key not in seen:
                        seen.add(key)
                        distinct.append(value)
                values = distinct if len(distinct) >= low else values
            return values

        return array


def _const(value: Any) -> _Gen:
    size = len(to_json(value))
    if size <= _FREE_BYTES:
        return lambda draw, depth: value

    def const(draw: Draw, depth: int) -> Any:
        draw.spend(size)
        return value

    return const


def _choice(options: list[Any]) -> _Gen:
    values = tuple(options)
    count = len(values)
    sizes = tuple(len(to_json(v)) for v in values)
    if max(sizes) <= _FREE_BYTES:
        return lambda draw, depth: values[int(draw.random() * count)]

    def choice(draw: Draw, depth: int) -> Any:
        index = int(draw.random() * count)
        draw.spend(sizes[index])
        return values[index]

    return choice


def _any_text(draw: Draw, depth: int) -> Any:
    text = pooled(draw.rng)
    draw.left -= len(text)
    if draw.left < 0:
        raise draw.too_large()
    return text


def _int_or(value: Any, default: int) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def _string(node: dict[str, Any], name: str) -> _Gen:
    low = max(0, _int_or(node.get("minLength"), 0))
    high: int | None = _int_or(node.get("maxLength"), -1)
    high = None if high < 0 else high
    make = string_maker(name, node.get("format"), node.get("pattern"))
    lowered = name.lower()
    if node.get("format") is None and node.get("pattern") is None:
        # Fields of a generated email: prose in the answer's language, varied per request.
        if lowered in PROSE_FIELDS:
            return _languaged(prose, low, high)
        if lowered in HEADLINE_FIELDS:
            return _languaged(headline, low, high)
        if lowered in SENDER_FIELDS:
            make = sender
    if not low and high is None:

        def plain(draw: Draw, depth: int) -> str:
            text = make(draw.rng)
            draw.left -= len(text)
            if draw.left < 0:
                raise draw.too_large()
            return text

        return plain

    def bounded(draw: Draw, depth: int) -> str:
        text = make(draw.rng)
        if high is not None and len(text) > high:
            text = text[:high].rstrip() or text[:high]
        if len(text) < low:
            draw.spend(low)  # before the padding is built
            text = (text + " " + "x" * low)[:low] if text else "x" * low
        else:
            draw.left -= len(text)
            if draw.left < 0:
                raise draw.too_large()
        return text

    return bounded


def _languaged(
    make: Callable[[random.Random, str | None], str], low: int, high: int | None
) -> _Gen:
    """Strings from ``make(rng, language)``, in the answer's language, within the bounds."""

    def text(draw: Draw, depth: int) -> str:
        value = make(draw.rng, draw.language)
        if high is not None and len(value) > high:
            value = value[:high].rstrip() or value[:high]
        if len(value) < low:
            draw.spend(low)
            return (value + " " + "x" * low)[:low] if value else "x" * low
        draw.left -= len(value)
        if draw.left < 0:
            raise draw.too_large()
        return value

    return text


def _finite(node: dict[str, Any], key: str) -> float | None:
    value = node.get(key)
    if not isinstance(value, int | float) or isinstance(value, bool):
        return None
    if isinstance(value, float) and not math.isfinite(value):
        raise InvalidSchemaError(f"'{key}' must be a finite number, not {value}")
    return value


def _bounds(node: dict[str, Any], step: float) -> tuple[float | None, float | None]:
    low = _finite(node, "minimum")
    high = _finite(node, "maximum")
    exclusive_low = _finite(node, "exclusiveMinimum")
    exclusive_high = _finite(node, "exclusiveMaximum")
    if exclusive_low is not None:
        low = exclusive_low + step
    if exclusive_high is not None:
        high = exclusive_high - step
    return low, high


def _range(low: float | None, high: float | None, width: float) -> tuple[float, float]:
    if low is None and high is None:
        return 0, width
    if low is None:
        assert high is not None
        return min(0, high) if high >= 0 else high - width, high
    if high is None:
        return low, low + width
    return low, max(low, high)


def _multiple(node: dict[str, Any]) -> float | None:
    multiple = _finite(node, "multipleOf")
    return multiple if multiple is not None and multiple > 0 else None


def _integer(node: dict[str, Any]) -> _Gen:
    low, high = _range(*_bounds(node, 1), 100)
    low_i, high_i = math.ceil(low), math.floor(high)
    high_i = max(low_i, high_i)
    multiple = _multiple(node)
    if isinstance(multiple, int):
        first = -(-low_i // multiple)  # integer ceiling division: exact for huge bounds
        last = max(first, high_i // multiple)
        span = last - first + 1
        return lambda draw, depth: (first + int(draw.random() * span)) * multiple
    span = high_i - low_i + 1
    return lambda draw, depth: low_i + int(draw.random() * span)


def _number(node: dict[str, Any]) -> _Gen:
    low, high = _range(*_bounds(node, 1e-6), 100.0)
    multiple = _multiple(node)
    if multiple is not None:
        first = math.ceil(low / multiple)
        last = max(first, math.floor(high / multiple))
        span = last - first + 1
        return lambda draw, depth: (first + int(draw.random() * span)) * multiple
    # Bounds a float apart by more than the largest float: keep the width finite.
    width = min(high - low, sys.float_info.max)

    def number(draw: Draw, depth: int) -> float:
        value = round(low + draw.random() * width, 2)
        # Rounding may step over a bound; clamp back inside it.
        return min(max(value, low), high)

    return number
