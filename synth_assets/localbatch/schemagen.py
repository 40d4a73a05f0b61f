"""Compiling a JSON schema into a generator of values valid against it.

:func:`compile_schema` turns a schema (as OpenAI's strict structured outputs accept it:
objects with every property required, ``$defs``/``$ref``, ``anyOf`` unions with null,
enums and consts, arrays with ``minItems``/``maxItems``, numbers with bounds and
``multipleOf``, strings with length bounds, ``format`` and simple ``pattern``) into a tree of
small closures ``(rng, depth) -> value``. Compiling costs a walk of the schema once; each
value then costs a walk of the closures and a few random draws.
"""

import math
import random
from collections.abc import Callable
from typing import Any

from .text import pooled, string_maker

Generator = Callable[[random.Random, int], Any]

# Recursive models stop growing past this depth: nullable branches turn null, arrays empty.
_MAX_DEPTH = 6
_NULL_SHARE = 0.15  # how often an optional (``X | null``) field is null


def compile_schema(schema: dict[str, Any]) -> Generator:
    """Compile a JSON schema into a function ``(rng, depth) -> value`` valid against it."""
    return _Compiler(schema).compile(schema, "")


class _Compiler:
    def __init__(self, root: dict[str, Any]) -> None:
        self.root = root
        self.defs: dict[str, Generator] = {}
        self.compiling: set[str] = set()

    def compile(self, node: Any, name: str) -> Generator:
        if not isinstance(node, dict) or not node:
            return _any_text
        if "$ref" in node:
            return self._ref(node["$ref"], name)
        if "const" in node:
            constant = node["const"]
            return lambda rng, depth: constant
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
        if isinstance(kind, list):
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
            return lambda rng, depth: rng.random() < 0.5
        if kind == "null":
            return lambda rng, depth: None
        return _any_text

    def _ref(self, ref: Any, name: str) -> Generator:
        if not isinstance(ref, str) or not ref.startswith("#"):
            return _any_text
        defs = self.defs
        if ref in self.compiling:
            # A recursive reference: resolve at call time, once the definition is compiled.
            return lambda rng, depth: defs[ref](rng, depth + 1)
        if ref not in defs:
            self.compiling.add(ref)
            target: Any = self.root
            for part in ref.lstrip("#/").split("/"):
                target = target.get(part) if isinstance(target, dict) and part else target
            defs[ref] = self.compile(target, name)
            self.compiling.discard(ref)
        return defs[ref]

    def _object(self, node: dict[str, Any]) -> Generator:
        props = node.get("properties")
        items = [
            (key, self.compile(sub, key))
            for key, sub in (props.items() if isinstance(props, dict) else ())
        ]
        return lambda rng, depth: {key: gen(rng, depth + 1) for key, gen in items}

    def _union(self, gens: list[Generator], variants: list[Any]) -> Generator:
        nulls = [
            i for i, v in enumerate(variants) if isinstance(v, dict) and v.get("type") == "null"
        ]
        if len(gens) == 1:
            return gens[0]
        if nulls:
            null_gen = gens[nulls[0]]
            others = [g for i, g in enumerate(gens) if i not in nulls] or [null_gen]
            count = len(others)

            def optional(rng: random.Random, depth: int) -> Any:
                if depth > _MAX_DEPTH or rng.random() < _NULL_SHARE:
                    return null_gen(rng, depth)
                return others[int(rng.random() * count)](rng, depth)

            return optional
        count = len(gens)
        return lambda rng, depth: gens[int(rng.random() * count)](rng, depth)

    def _array(self, node: dict[str, Any], name: str) -> Generator:
        item = self.compile(node.get("items", {}), name)
        low = _int_or(node.get("minItems"), 0)
        high = _int_or(node.get("maxItems"), max(low, 3))
        start = max(low, min(1, high))  # prefer at least one item when allowed
        span = max(0, high - start) + 1
        unique = bool(node.get("uniqueItems"))

        def array(rng: random.Random, depth: int) -> list[Any]:
            count = low if depth > _MAX_DEPTH else start + int(rng.random() * span)
            values = [item(rng, depth + 1) for _ in range(count)]
            if unique:
                seen: list[Any] = []
                for value in values:
                    if value not in seen:
                        seen.append(value)
                values = seen if len(seen) >= low else values
            return values

        return array


def _choice(options: list[Any]) -> Generator:
    values = tuple(options)
    count = len(values)
    return lambda rng, depth: values[int(rng.random() * count)]


def _any_text(rng: random.Random, depth: int) -> Any:
    return pooled(rng)


def _int_or(value: Any, default: int) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def _string(node: dict[str, Any], name: str) -> Generator:
    low = _int_or(node.get("minLength"), 0)
    high: int | None = _int_or(node.get("maxLength"), -1)
    high = None if high < 0 else high
    make = string_maker(name, node.get("format"), node.get("pattern"))
    if not low and high is None:
        return lambda rng, depth: make(rng)

    def bounded(rng: random.Random, depth: int) -> str:
        text = make(rng)
        if high is not None and len(text) > high:
            text = text[:high].rstrip() or text[:high]
        if len(text) < low:
            text = (text + " " + "x" * low)[:low] if text else "x" * low
        return text

    return bounded


def _bounds(node: dict[str, Any], step: float) -> tuple[float | None, float | None]:
    low = node.get("minimum")
    high = node.get("maximum")
    if isinstance(node.get("exclusiveMinimum"), int | float):
        low = node["exclusiveMinimum"] + step
    if isinstance(node.get("exclusiveMaximum"), int | float):
        high = node["exclusiveMaximum"] - step
    low = low if isinstance(low, int | float) and not isinstance(low, bool) else None
    high = high if isinstance(high, int | float) and not isinstance(high, bool) else None
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


def _integer(node: dict[str, Any]) -> Generator:
    low, high = _range(*_bounds(node, 1), 100)
    low_i, high_i = math.ceil(low), math.floor(high)
    high_i = max(low_i, high_i)
    multiple = node.get("multipleOf")
    if isinstance(multiple, int) and multiple > 0:
        first = math.ceil(low_i / multiple)
        last = max(first, math.floor(high_i / multiple))
        span = last - first + 1
        return lambda rng, depth: (first + int(rng.random() * span)) * multiple
    span = high_i - low_i + 1
    return lambda rng, depth: low_i + int(rng.random() * span)


def _number(node: dict[str, Any]) -> Generator:
    low, high = _range(*_bounds(node, 1e-6), 100.0)
    multiple = node.get("multipleOf")
    if isinstance(multiple, int | float) and multiple > 0:
        first = math.ceil(low / multiple)
        last = max(first, math.floor(high / multiple))
        span = last - first + 1
        return lambda rng, depth: (first + int(rng.random() * span)) * multiple
    width = high - low

    def number(rng: random.Random, depth: int) -> float:
        value = round(low + rng.random() * width, 2)
        # Rounding may step over a bound; clamp back inside it.
        return min(max(value, low), high)

    return number
