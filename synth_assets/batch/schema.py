"""Strict JSON schemas for response models.

OpenAI's strict structured outputs accept a subset of JSON Schema: every object lists all
its properties in ``required`` and has ``additionalProperties: false``; optional fields are
unions with ``null``. The openai SDK makes that transformation for what
``client.chat.completions.parse`` sends; we take it through its public
``openai.pydantic_function_tool`` and then refuse what it silently passes through but the
API rejects, naming the field.
"""

from typing import Any

import openai
from pydantic import BaseModel

from .errors import UnsupportedModelError

# Keywords strict mode does not accept; pydantic emits them for fields with defaults.
_UNSUPPORTED_KEYWORDS = ("default",)


def strict_json_schema(response_model: type[BaseModel]) -> dict[str, Any]:
    """Return the strict JSON schema OpenAI accepts for ``response_model``.

    Raises :class:`UnsupportedModelError` naming the field when the model holds something
    strict mode cannot express (a free-form ``dict[str, X]``, an untyped ``Any``).
    """
    if not (isinstance(response_model, type) and issubclass(response_model, BaseModel)):
        raise UnsupportedModelError(
            f"{response_model!r} is not a pydantic model class; pass a BaseModel subclass."
        )
    schema = dict(openai.pydantic_function_tool(response_model)["function"]["parameters"])
    _check_and_clean(schema, where=response_model.__name__, model=response_model.__name__)
    for name, definition in schema.get("$defs", {}).items():
        _check_and_clean(definition, where=name, model=response_model.__name__)
    return schema


def _check_and_clean(node: Any, *, where: str, model: str) -> None:
    """Walk one schema node: refuse free-form objects, drop keywords strict mode rejects."""
    if not isinstance(node, dict):
        return
    for keyword in _UNSUPPORTED_KEYWORDS:
        node.pop(keyword, None)
    if not node or (set(node) <= {"title", "description"}):
        raise UnsupportedModelError(
            f"{model}: field {where} has no JSON type (Any?), which strict structured outputs "
            "cannot express; give it a concrete type."
        )
    if node.get("type") == "object" or "additionalProperties" in node:
        extra = node.get("additionalProperties", False)
        if extra is not False or "patternProperties" in node or "properties" not in node:
            raise UnsupportedModelError(
                f"{model}: field {where} is a free-form mapping (dict[str, ...]), which strict "
                "structured outputs cannot express; use a list of key/value models or a model "
                "with named fields."
            )
    for key, child in node.get("properties", {}).items():
        _check_and_clean(child, where=f"{where}.{key}", model=model)
    if isinstance(node.get("items"), dict):
        _check_and_clean(node["items"], where=f"{where}[]", model=model)
    for union_key in ("anyOf", "allOf", "oneOf"):
        for variant in node.get(union_key, []):
            _check_and_clean(variant, where=where, model=model)


def function_tool(response_model: type[BaseModel]) -> dict[str, Any]:
    """Return the strict function-tool definition for ``response_model`` (tools mode)."""
    tool: dict[str, Any] = {
        "type": "function",
        "function": {
            "name": response_model.__name__,
            "strict": True,
            "parameters": strict_json_schema(response_model),
        },
    }
    description = response_model.__doc__ and response_model.__doc__.strip()
    if description and description != BaseModel.__doc__.strip():
        tool["function"]["description"] = " ".join(description.split())
    return tool


def response_format(response_model: type[BaseModel]) -> dict[str, Any]:
    """Return the ``response_format`` for strict structured outputs (json_schema mode)."""
    return {
        "type": "json_schema",
        "json_schema": {
            "name": response_model.__name__,
            "strict": True,
            "schema": strict_json_schema(response_model),
        },
    }
