"""Inline response schemas: a JSON Schema written in YAML, turned into a pydantic model.

Only what OpenAI's strict structured outputs can express is accepted: objects with named
properties, strings (length bounds, pattern, format), integers and numbers (bounds), booleans,
arrays (item bounds), ``enum`` / ``const``, and nullable values (``type: [string, "null"]``
or ``anyOf`` with ``{type: "null"}``). A property left out of ``required`` becomes nullable,
as strict mode wants. Anything else (a free-form object, ``additionalProperties``,
``$ref``, ``oneOf``/``allOf``/``not``, a value without a type) is refused with one sentence
naming the field.
"""

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, create_model

from synth_assets.batch import SynthError, strict_json_schema


class SchemaError(SynthError):
    """An inline response schema strict mode cannot express; the message names the field."""


_SCALARS: dict[str, type] = {"string": str, "integer": int, "number": float, "boolean": bool}
_STRING_BOUNDS = {"minLength": "min_length", "maxLength": "max_length", "pattern": "pattern"}
_NUMBER_BOUNDS = {
    "minimum": "ge",
    "maximum": "le",
    "exclusiveMinimum": "gt",
    "exclusiveMaximum": "lt",
    "multipleOf": "multiple_of",
}
_ARRAY_BOUNDS = {"minItems": "min_length", "maxItems": "max_length"}
# Keywords that only document a node; accepted everywhere.
_NOTES = {"description", "title", "examples"}
_UNSUPPORTED = ("$ref", "oneOf", "allOf", "not", "if", "then", "else", "patternProperties")


def model_from_schema(schema: Any, name: str, where: str = "response_schema") -> type[BaseModel]:
    """The pydantic model for an inline JSON Schema (an object with properties).

    Raises :class:`SchemaError` naming the field (``response_schema.properties.x``) when
    strict structured outputs cannot express part of it.
    """
    if not isinstance(schema, dict) or schema.get("type") != "object":
        raise SchemaError(f"{where} must be an object schema (type: object, with properties).")
    title = schema.get("title")
    model_name = title if isinstance(title, str) and title.isidentifier() else _model_name(name)
    model = _object(schema, model_name, where)
    try:
        strict_json_schema(model)  # the library's own refusal, as for a Python model
    except SynthError as exc:
        raise SchemaError(f"{where}: {exc}") from None
    return model


def _model_name(name: str) -> str:
    return "".join(part.capitalize() for part in name.replace("-", "_").split("_")) or "Answer"


def _object(node: dict[str, Any], model_name: str, where: str) -> type[BaseModel]:
    props = node.get("properties")
    extra = node.get("additionalProperties", False)
    if not isinstance(props, dict) or not props or extra is not False:
        raise SchemaError(
            f"{where} is a free-form object (no properties, or additionalProperties), which "
            "strict structured outputs cannot express; list its properties."
        )
    _refuse_unknown(node, {"type", "properties", "required", "additionalProperties"}, where)
    required = node.get("required")
    if required is not None and (
        not isinstance(required, list) or any(r not in props for r in required)
    ):
        raise SchemaError(f"{where}.required must list names of its properties.")
    fields: dict[str, Any] = {}
    for key, child in props.items():
        if not isinstance(key, str) or not key.isidentifier() or key.startswith("_"):
            raise SchemaError(
                f"{where}.properties: {key!r} is not a usable field name (letters, digits, "
                "underscores; not starting with an underscore)."
            )
        path = f"{where}.properties.{key}"
        annotation = _type(child, f"{model_name}{_model_name(key)}", path)
        if required is not None and key not in required:
            annotation = annotation | None
        description = child.get("description") if isinstance(child, dict) else None
        fields[key] = (annotation, Field(..., description=description))
    return create_model(model_name, __config__=ConfigDict(extra="forbid"), **fields)


def _refuse_unknown(node: dict[str, Any], allowed: set[str], where: str) -> None:
    for keyword in _UNSUPPORTED:
        if keyword in node:
            raise SchemaError(
                f"{where} uses {keyword}, which this project does not turn into a model; "
                "write the type out (enum, nullable type, nested object)."
            )
    unknown = sorted(set(node) - allowed - _NOTES)
    if unknown:
        raise SchemaError(f"{where} has the keyword {unknown[0]!r}, which is not supported here.")


def _type(node: Any, model_name: str, where: str) -> Any:
    if not isinstance(node, dict):
        raise SchemaError(f"{where} must be a schema (a mapping), not {node!r}.")
    if "const" in node:
        _refuse_unknown(node, {"const", "type"}, where)
        return Literal[node["const"]]
    if "enum" in node:
        values = node["enum"]
        if not isinstance(values, list) or not values or len(set(map(repr, values))) < len(values):
            raise SchemaError(f"{where}.enum must be a non-empty list of distinct values.")
        _refuse_unknown(node, {"enum", "type"}, where)
        return Literal[tuple(values)]
    if "anyOf" in node:
        options = node["anyOf"]
        _refuse_unknown(node, {"anyOf"}, where)
        if not isinstance(options, list):
            raise SchemaError(f"{where}.anyOf must be a list of schemas.")
        others = [o for o in options if o != {"type": "null"}]
        if len(others) != 1 or len(others) == len(options):
            raise SchemaError(
                f"{where}.anyOf is only supported as one type or null (a nullable value)."
            )
        return _type(others[0], model_name, f"{where}.anyOf[0]") | None
    kind = node.get("type")
    if isinstance(kind, list):
        kinds = [k for k in kind if k != "null"]
        if len(kinds) != 1 or len(kinds) == len(kind):
            raise SchemaError(
                f'{where}.type lists {kind}; only one type, optionally with "null", is supported.'
            )
        return _type({**node, "type": kinds[0]}, model_name, where) | None
    if kind in _SCALARS:
        bounds = _STRING_BOUNDS if kind == "string" else _NUMBER_BOUNDS if kind != "boolean" else {}
        _refuse_unknown(node, {"type", "format", *bounds}, where)
        constraints = {bounds[k]: v for k, v in node.items() if k in bounds}
        base = _SCALARS[kind]
        extra = {"format": node["format"]} if "format" in node else None
        if constraints or extra:
            return Annotated[base, Field(**constraints, json_schema_extra=extra)]
        return base
    if kind == "array":
        _refuse_unknown(node, {"type", "items", *_ARRAY_BOUNDS}, where)
        if "items" not in node:
            raise SchemaError(f"{where} is an array without items; say what its items are.")
        item = _type(node["items"], model_name, f"{where}.items")
        constraints = {_ARRAY_BOUNDS[k]: v for k, v in node.items() if k in _ARRAY_BOUNDS}
        return Annotated[list[item], Field(**constraints)] if constraints else list[item]
    if kind == "object" or "properties" in node:
        return _object(node, model_name, where)
    raise SchemaError(
        f"{where} has no supported type (string, integer, number, boolean, array, object, "
        "enum or const), which strict structured outputs cannot express."
    )
