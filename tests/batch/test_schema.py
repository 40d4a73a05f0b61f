"""Strict JSON schemas over a zoo of response models, checked against the openai SDK's own."""

import copy
import datetime as dt
import enum
from collections.abc import Iterator
from typing import Annotated, Any, Literal, Optional

import openai
import pytest
from openai.lib._pydantic import to_strict_json_schema
from pydantic import BaseModel, Field

from synth_assets.batch import (
    UnsupportedModelError,
    function_tool,
    response_format,
    strict_json_schema,
)


class Color(str, enum.Enum):
    RED = "red"
    GREEN = "green"


class Size(enum.IntEnum):
    SMALL = 1
    LARGE = 2


class Address(BaseModel):
    """A postal address."""

    street: str = Field(description="Street and number")
    city: str


class WithOptional(BaseModel):
    name: str
    nickname: str | None = None
    age: Optional[int]  # noqa: UP045 - the spelling under test
    note: str | None = Field(default=None, description="Free text")


class WithDefaults(BaseModel):
    count: int = 3
    ratio: float = 0.5
    title: str = "untitled"
    flag: bool = False
    tags: list[str] = ["a"]
    color: Color = Color.RED
    home: Address = Address(street="1 Main St", city="Springfield")
    sizes: list[Size] = Field(default_factory=list)


class Nested(BaseModel):
    address: Address
    previous: list[Address]
    maybe: Address | None = None


class Enums(BaseModel):
    color: Color
    size: Size
    colors: list[Color]


class SharedRefs(BaseModel):
    """Address and Color are each used twice: one $defs entry, several refs."""

    home: Address
    work: Address
    first: Color
    second: Color | None = None


class WithLiteral(BaseModel):
    kind: Literal["email", "ticket"]
    version: Literal[1, 2] = 1


class Documented(BaseModel):
    """Triage of one email.

    The docstring spans several lines.
    """

    label: Color = Field(description="The class label")
    reason: str = Field(default="n/a", description="Why, in one sentence")


class Node(BaseModel):
    value: int
    children: list["Node"] = []


class Tree(BaseModel):
    root: Node
    size: int


class FieldNamedDefault(BaseModel):
    default: str = "x"
    required: int = 0


class Scalars(BaseModel):
    score: Annotated[float, Field(ge=0, le=1)] = 0.5
    day: dt.date
    at: dt.datetime
    count: Annotated[int, Field(ge=0)]


ZOO = [
    WithOptional,
    WithDefaults,
    Nested,
    Enums,
    SharedRefs,
    WithLiteral,
    Documented,
    Node,
    Tree,
    FieldNamedDefault,
    Scalars,
]

_CHILD_MAPS = ("properties", "$defs", "definitions")
_CHILD_LISTS = ("anyOf", "allOf", "oneOf", "prefixItems")


def schema_nodes(node: dict[str, Any], path: str = "#") -> Iterator[tuple[str, dict[str, Any]]]:
    """Every schema node (not every dict: a property named ``default`` is not a keyword)."""
    yield path, node
    for key in _CHILD_MAPS:
        for name, child in node.get(key, {}).items():
            yield from schema_nodes(child, f"{path}/{key}/{name}")
    for key in _CHILD_LISTS:
        for index, child in enumerate(node.get(key, [])):
            yield from schema_nodes(child, f"{path}/{key}/{index}")
    for key in ("items", "additionalProperties", "not"):
        if isinstance(node.get(key), dict):
            yield from schema_nodes(node[key], f"{path}/{key}")


def without_defaults(schema: dict[str, Any]) -> dict[str, Any]:
    schema = copy.deepcopy(schema)
    for _, node in schema_nodes(schema):
        node.pop("default", None)
    return schema


def assert_strict(schema: dict[str, Any]) -> None:
    """OpenAI's strict rules, over the whole schema."""
    defs = schema.get("$defs", {})
    for path, node in schema_nodes(schema):
        assert "default" not in node, path
        if node.get("type") == "object" or "properties" in node:
            assert node.get("additionalProperties") is False, path
            assert node.get("required") == list(node["properties"]), path
        if "$ref" in node:
            assert set(node) == {"$ref"}, f"{path}: $ref with siblings"
            ref = node["$ref"]
            assert ref == "#" or ref.removeprefix("#/$defs/") in defs, f"{path}: {ref}"


@pytest.mark.parametrize("model", ZOO, ids=lambda m: m.__name__)
def test_accepted_models_are_strict_and_match_the_sdk(model: type[BaseModel]) -> None:
    ours = strict_json_schema(model)

    assert_strict(ours)
    assert ours == without_defaults(to_strict_json_schema(model))


@pytest.mark.parametrize("model", ZOO, ids=lambda m: m.__name__)
def test_tools_mode_matches_pydantic_function_tool(model: type[BaseModel]) -> None:
    ours = function_tool(model)
    sdk = openai.pydantic_function_tool(model)

    assert ours["type"] == sdk["type"] == "function"
    assert ours["function"]["name"] == sdk["function"]["name"] == model.__name__
    assert ours["function"]["strict"] is sdk["function"]["strict"] is True
    assert ours["function"]["parameters"] == without_defaults(sdk["function"]["parameters"])


def test_response_format_wraps_the_strict_schema() -> None:
    assert response_format(Nested) == {
        "type": "json_schema",
        "json_schema": {"name": "Nested", "strict": True, "schema": strict_json_schema(Nested)},
    }


def test_fields_with_defaults_become_required_without_default_keywords() -> None:
    schema = strict_json_schema(WithDefaults)

    assert schema["required"] == list(WithDefaults.model_fields)
    assert schema["properties"]["count"] == {"title": "Count", "type": "integer"}
    # the nested default was a $ref with a sibling: inlined, strict, and without the default
    assert schema["properties"]["home"]["properties"]["city"] == {"title": "City", "type": "string"}


def test_optional_fields_are_unions_with_null() -> None:
    properties = strict_json_schema(WithOptional)["properties"]

    for name in ("nickname", "age", "note"):
        assert {"type": "null"} in properties[name]["anyOf"], name
    assert properties["note"]["description"] == "Free text"


def test_shared_definitions_are_referenced_not_copied() -> None:
    schema = strict_json_schema(SharedRefs)

    assert set(schema["$defs"]) == {"Address", "Color"}
    assert (
        schema["properties"]["home"] == schema["properties"]["work"] == {"$ref": "#/$defs/Address"}
    )
    assert schema["properties"]["first"] == {"$ref": "#/$defs/Color"}


def test_enums_and_literals_keep_their_values() -> None:
    enums = strict_json_schema(Enums)
    literal = strict_json_schema(WithLiteral)["properties"]

    assert enums["$defs"]["Color"]["enum"] == ["red", "green"]
    assert enums["$defs"]["Size"]["enum"] == [1, 2]
    assert literal["kind"]["enum"] == ["email", "ticket"]
    assert literal["version"]["enum"] == [1, 2]


def test_docstrings_and_field_descriptions_are_kept() -> None:
    documented = strict_json_schema(Documented)
    nested = strict_json_schema(Nested)

    assert documented["description"].startswith("Triage of one email.")
    assert documented["properties"]["label"]["description"] == "The class label"
    assert documented["properties"]["label"]["enum"] == ["red", "green"]
    assert documented["properties"]["reason"]["description"] == "Why, in one sentence"
    assert nested["$defs"]["Address"]["description"] == "A postal address."
    assert nested["$defs"]["Address"]["properties"]["street"]["description"] == "Street and number"
    assert function_tool(Documented)["function"]["description"].startswith("Triage of one email.")


def test_recursive_models_refer_to_themselves() -> None:
    schema = strict_json_schema(Tree)

    assert schema["$defs"]["Node"]["properties"]["children"]["items"] == {"$ref": "#/$defs/Node"}


def test_a_property_named_default_is_kept() -> None:
    schema = strict_json_schema(FieldNamedDefault)

    assert list(schema["properties"]) == ["default", "required"]
    assert schema["required"] == ["default", "required"]


def test_the_sdk_schema_is_not_mutated_by_ours() -> None:
    strict_json_schema(WithDefaults)

    assert to_strict_json_schema(WithDefaults)["properties"]["count"]["default"] == 3


class HasDict(BaseModel):
    name: str
    counts: dict[str, int]


class HasOptionalDict(BaseModel):
    counts: dict[str, int] | None = None


class HasDictDeep(BaseModel):
    entries: list[HasDict]


class HasBareDict(BaseModel):
    meta: dict


class HasAny(BaseModel):
    payload: Any


class HasListOfAny(BaseModel):
    values: list[Any]


@pytest.mark.parametrize(
    ("model", "field", "kind"),
    [
        (HasDict, "counts", "free-form mapping"),
        (HasOptionalDict, "counts", "free-form mapping"),
        (HasDictDeep, "HasDict.counts", "free-form mapping"),
        (HasBareDict, "meta", "free-form mapping"),
        (HasAny, "payload", "no JSON type"),
        (HasListOfAny, "values", "no JSON type"),
    ],
    ids=lambda v: v.__name__ if isinstance(v, type) else None,
)
def test_models_strict_mode_cannot_express_are_refused_naming_the_field(
    model: type[BaseModel], field: str, kind: str
) -> None:
    with pytest.raises(UnsupportedModelError, match=kind) as refused:
        strict_json_schema(model)

    assert field in str(refused.value)
    with pytest.raises(UnsupportedModelError, match=field):
        function_tool(model)


def test_something_not_a_model_is_refused() -> None:
    with pytest.raises(UnsupportedModelError, match="not a pydantic model"):
        strict_json_schema(dict)  # type: ignore[arg-type]
