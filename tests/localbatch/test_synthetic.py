"""The synthetic responder: answers valid against any response model the project accepts."""

import itertools
from enum import Enum
from typing import Annotated, Any, Literal, Optional

from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, Field, create_model

from synth_assets.batch.schema import strict_json_schema
from synth_assets.localbatch.schemagen import compile_schema
from synth_assets.localbatch.shapes import AnswerKind, Target
from synth_assets.localbatch.synthetic import SchemaCache, rng_for, synthetic_text

from .helpers import Triage

_names = itertools.count()


def _enum(values: list[str]) -> Any:
    return Enum(f"E{next(_names)}", {f"V{i}": v for i, v in enumerate(values)})


def _model(fields: list[Any]) -> type[BaseModel]:
    return create_model(
        f"M{next(_names)}", **{f"field_{i}": (t, ...) for i, t in enumerate(fields)}
    )


words = st.text(alphabet="abcdefghij", min_size=1, max_size=6)
bounds = st.tuples(st.integers(-1000, 1000), st.integers(0, 500)).map(lambda t: (t[0], t[0] + t[1]))
leaf = st.one_of(
    st.sampled_from([str, int, float, bool]),
    bounds.map(lambda b: Annotated[int, Field(ge=b[0], le=b[1])]),
    bounds.map(lambda b: Annotated[float, Field(gt=b[0], lt=b[1] + 1)]),
    st.tuples(st.integers(0, 5), st.integers(0, 30)).map(
        lambda t: Annotated[str, Field(min_length=t[0], max_length=t[0] + t[1])]
    ),
    st.lists(words, min_size=1, max_size=4, unique=True).map(lambda v: Literal[tuple(v)]),
    st.lists(words, min_size=1, max_size=4, unique=True).map(_enum),
)
field_type = st.recursive(
    leaf,
    lambda inner: st.one_of(
        inner.map(lambda t: list[t]),
        st.tuples(inner, st.integers(0, 2), st.integers(0, 3)).map(
            lambda t: Annotated[list[t[0]], Field(min_length=t[1], max_length=t[1] + t[2])]
        ),
        inner.map(lambda t: Optional[t]),  # noqa: UP045 - built at run time
        st.lists(inner, min_size=1, max_size=4).map(_model),
    ),
    max_leaves=8,
)
models = st.lists(field_type, min_size=1, max_size=6).map(_model)


@settings(max_examples=150, deadline=None)
@given(model=models, custom_id=st.text(min_size=1, max_size=64))
def test_answers_validate_against_any_supported_model(
    model: type[BaseModel], custom_id: str
) -> None:
    schema = strict_json_schema(model)
    for kind in (AnswerKind.JSON_SCHEMA, AnswerKind.TOOL):
        text = synthetic_text(Target(kind, "M", schema), rng_for(custom_id), SchemaCache())
        model.model_validate_json(text)


@given(custom_id=st.text(min_size=1, max_size=64), seed=st.integers(0, 2**32))
def test_answers_depend_only_on_custom_id_and_seed(custom_id: str, seed: int) -> None:
    schema = strict_json_schema(Triage)
    target = Target(AnswerKind.JSON_SCHEMA, "Triage", schema)
    first = synthetic_text(target, rng_for(custom_id, seed), SchemaCache())
    second = synthetic_text(target, rng_for(custom_id, seed), SchemaCache())
    assert first == second


def test_recursive_models_terminate() -> None:
    class Node(BaseModel):
        name: str
        children: list["Node"]
        parent: Optional["Node"]

    generate = compile_schema(strict_json_schema(Node))
    for index in range(50):
        Node.model_validate(generate(rng_for(str(index)), 0))


def test_formats_and_patterns_are_respected() -> None:
    class Contact(BaseModel):
        email: str
        homepage_url: str
        code: Annotated[str, Field(pattern=r"^[A-Z]{2}-\d{5}$")]
        when: Annotated[str, Field(json_schema_extra={"format": "date-time"})]

    generate = compile_schema(strict_json_schema(Contact))
    value = generate(rng_for("x"), 0)
    Contact.model_validate(value)
    assert "@" in value["email"] and value["homepage_url"].startswith("https://")


def test_text_and_json_object_requests_get_text_and_an_object() -> None:
    text = synthetic_text(Target(AnswerKind.TEXT), rng_for("a"), SchemaCache())
    assert "synthetic" in text
    assert synthetic_text(Target(AnswerKind.JSON_OBJECT), rng_for("a"), SchemaCache()).startswith(
        "{"
    )
