"""Round trip: build -> answers -> output file -> Parquet -> DuckDB and pyarrow, with real types."""

import datetime as dt
import enum
import json
from pathlib import Path
from typing import Annotated, Any, Literal

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from helpers import chat_line, error_line, http_error_line, write_jsonl
from pydantic import BaseModel, Field

from synth_assets.batch import (
    UNPARSED_SCHEMA,
    RequestBuilder,
    UnsupportedModelError,
    parse_to_parquet,
    parsed_schema,
    write_request_file,
)


class Priority(str, enum.Enum):
    LOW = "low"
    HIGH = "high"
    URGENT = "urgent"


class Sender(BaseModel):
    name: str
    domain: str | None


class Action(BaseModel):
    verb: Literal["reply", "archive", "escalate"]
    due: dt.date | None
    weight: float


class Rich(BaseModel):
    """Triage of one email, in detail."""

    priority: Priority
    confidence: Annotated[float, Field(ge=0, le=1)]
    received: dt.date
    sender: Sender
    tags: list[str]
    actions: list[Action]
    note: str | None = None
    attempts: int = 1


def answer(schema: dict[str, Any], node: dict[str, Any], seed: int) -> Any:
    """A schema-valid value for ``node``; ``seed`` varies choices (nulls, enum members, lengths)."""
    if "$ref" in node:
        return answer(schema, schema["$defs"][node["$ref"].rsplit("/", 1)[-1]], seed)
    if "anyOf" in node:
        return answer(schema, node["anyOf"][seed % len(node["anyOf"])], seed)
    if "enum" in node:
        return node["enum"][seed % len(node["enum"])]
    kind = node["type"]
    if kind == "object":
        return {
            k: answer(schema, v, seed + n) for n, (k, v) in enumerate(node["properties"].items())
        }
    if kind == "array":
        return [answer(schema, node["items"], seed + k) for k in range(seed % 3)]
    if kind == "string":
        return f"2024-05-{1 + seed % 28:02d}" if node.get("format") == "date" else f"text {seed}"
    if kind == "integer":
        return seed
    if kind == "number":
        low, high = node.get("minimum", 0), node.get("maximum", 1000)
        return low + (high - low) * (seed % 5) / 4
    if kind == "null":
        return None
    raise AssertionError(f"no answer for {node}")


def round_trip(folder: Path, model: type[BaseModel], count: int) -> dict[str, Any]:
    """Build requests, answer each from its own schema, parse to Parquet."""
    builder = RequestBuilder(model="gpt-4o-mini", response_model=model)
    requests = folder / "requests.jsonl"
    write_request_file(
        [(f"email-{i}", [{"role": "user", "content": f"email {i}"}]) for i in range(count)],
        builder,
        requests,
    )
    answers = {}
    for raw in requests.read_text().splitlines():
        line = json.loads(raw)
        schema = line["body"]["response_format"]["json_schema"]["schema"]
        answers[line["custom_id"]] = answer(schema, schema, len(answers))
    answered = list(answers)[:-2]  # the last two are an error line and a missing row
    write_jsonl(folder / "output.jsonl", [chat_line(i, json.dumps(answers[i])) for i in answered])
    write_jsonl(
        folder / "error.jsonl",
        [
            http_error_line(
                list(answers)[-2], 429, code="rate_limit_exceeded", message="slow", kind="requests"
            )
        ],
    )
    summary = parse_to_parquet(
        folder / "output.jsonl",
        folder / "error.jsonl",
        response_model=model,
        parsed_path=folder / "parsed" / "date=2024-05-01" / "part-0.parquet",
        unparsed_path=folder / "unparsed" / "date=2024-05-01" / "part-0.parquet",
        requested=requests,
        batch_id="batch_abc",
    )
    return {"answers": answers, "answered": answered, "summary": summary}


def column_types(path: Path) -> dict[str, str]:
    query = "describe select * from read_parquet(?, hive_partitioning=false)"
    rows = duckdb.sql(query, params=[str(path)]).fetchall()
    return {name: kind for name, kind, *_ in rows}


@pytest.fixture(scope="module")
def rich(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    folder = tmp_path_factory.mktemp("rich")
    return {"folder": folder, **round_trip(folder, Rich, count=12)}


def test_every_answer_lands_in_parsed_and_the_rest_in_unparsed(rich: dict[str, Any]) -> None:
    summary = rich["summary"]

    assert (summary.requested, summary.parsed, summary.unparsed) == (12, 10, 2)
    assert dict(summary.reasons) == {"http_error": 1, "missing": 1}


# Library columns every table keeps (tables may add more after them).
META_TYPES = {
    "model": "VARCHAR",
    "batch_id": "VARCHAR",
    "request_id": "VARCHAR",
    "prompt_tokens": "BIGINT",
    "completion_tokens": "BIGINT",
    "total_tokens": "BIGINT",
}


def test_duckdb_sees_typed_columns(rich: dict[str, Any]) -> None:
    types = column_types(rich["folder"] / "parsed" / "date=2024-05-01" / "part-0.parquet")

    names = list(types)
    assert names[: 1 + len(Rich.model_fields)] == ["custom_id", *Rich.model_fields]
    assert {name: types[name] for name in names[: 1 + len(Rich.model_fields)]} == {
        "custom_id": "VARCHAR",
        "priority": "VARCHAR",
        "confidence": "DOUBLE",
        "received": "DATE",
        "sender": 'STRUCT("name" VARCHAR, "domain" VARCHAR)',
        "tags": "VARCHAR[]",
        "actions": "STRUCT(verb VARCHAR, due DATE, weight DOUBLE)[]",
        "note": "VARCHAR",
        "attempts": "BIGINT",
    }
    assert {name: types[name] for name in META_TYPES} == META_TYPES


def test_values_read_back_equal_the_answers(rich: dict[str, Any]) -> None:
    table = pq.read_table(rich["folder"] / "parsed")  # the hive folder, as readers use it

    rows = {row["custom_id"]: row for row in table.to_pylist()}
    assert sorted(rows) == sorted(rich["answered"])
    for custom_id in rich["answered"]:
        row = rows[custom_id]
        expected = Rich.model_validate(rich["answers"][custom_id])
        assert Rich.model_validate({k: row[k] for k in Rich.model_fields}) == expected
        assert row["batch_id"] == "batch_abc"
        assert row["date"] == "2024-05-01"  # the hive partition column


def test_duckdb_queries_nested_values_and_nulls(rich: dict[str, Any]) -> None:
    path = rich["folder"] / "parsed" / "*" / "*.parquet"
    answers = [rich["answers"][i] for i in rich["answered"]]

    source = "read_parquet(?, hive_partitioning=true)"
    by_priority = dict(
        duckdb.sql(
            f"select priority, count(*) from {source} group by priority", params=[str(path)]
        ).fetchall()
    )
    nulls = duckdb.sql(
        "select count(*) filter (where sender.domain is null), "
        "count(*) filter (where note is null), sum(len(actions)), max(received), "
        f"count(distinct date) from {source}",
        params=[str(path)],
    ).fetchall()[0]

    assert by_priority == {p: sum(a["priority"] == p for a in answers) for p in by_priority}
    assert sum(by_priority.values()) == len(answers)
    assert nulls[0] == sum(a["sender"]["domain"] is None for a in answers) > 0
    assert nulls[1] == sum(a["note"] is None for a in answers) > 0
    assert nulls[2] == sum(len(a["actions"]) for a in answers) > 0
    assert nulls[3] == max(dt.date.fromisoformat(a["received"]) for a in answers)
    assert nulls[4] == 1


def test_optional_fields_are_nullable_and_required_ones_are_not(rich: dict[str, Any]) -> None:
    schema = pq.read_schema(rich["folder"] / "parsed" / "date=2024-05-01" / "part-0.parquet")

    assert schema.field("note").nullable
    assert schema.field("sender").type.field("domain").nullable
    assert not schema.field("priority").nullable
    assert not schema.field("received").nullable
    assert not schema.field("sender").type.field("name").nullable
    assert schema.field("received").type == pa.date32()
    assert pa.types.is_list(schema.field("actions").type)


def test_the_unparsed_table_keeps_reasons_and_codes(rich: dict[str, Any]) -> None:
    path = rich["folder"] / "unparsed" / "date=2024-05-01" / "part-0.parquet"

    types = column_types(path)
    rows = duckdb.sql(
        "select custom_id, reason, status_code, error_code, source, batch_id, raw is null "
        "from read_parquet(?, hive_partitioning=false) order by reason",
        params=[str(path)],
    ).fetchall()

    assert {name: types[name] for name in list(types)[:7]} == {
        "custom_id": "VARCHAR",
        "reason": "VARCHAR",
        "status_code": "INTEGER",
        "error_code": "VARCHAR",
        "message": "VARCHAR",
        "raw": "VARCHAR",
        "source": "VARCHAR",
    }
    assert {name: types[name] for name in META_TYPES} == META_TYPES
    assert pq.read_schema(path) == UNPARSED_SCHEMA
    assert rows == [
        ("email-10", "http_error", 429, "rate_limit_exceeded", "error", "batch_abc", False),
        ("email-11", "missing", None, None, "request", "batch_abc", True),
    ]


def test_parsed_schema_puts_custom_id_first_and_metadata_last() -> None:
    names = parsed_schema(Rich).names

    assert names[0] == "custom_id"
    assert names[1 : 1 + len(Rich.model_fields)] == list(Rich.model_fields)
    assert set(META_TYPES) <= set(names[1 + len(Rich.model_fields) :])


class Clash(BaseModel):
    label: str
    model: str


class ClashId(BaseModel):
    custom_id: str


@pytest.mark.parametrize(("model", "field"), [(Clash, "model"), (ClashId, "custom_id")])
def test_a_field_clashing_with_the_tables_own_columns_is_refused(
    model: type[BaseModel], field: str, tmp_path: Path
) -> None:
    output = write_jsonl(tmp_path / "output.jsonl", [error_line("a", "server_error", "x")])

    with pytest.raises(UnsupportedModelError, match=rf"\['{field}'\].*clash.*rename"):
        parse_to_parquet(
            output,
            response_model=model,
            parsed_path=tmp_path / "p.parquet",
            unparsed_path=tmp_path / "u.parquet",
        )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["output.jsonl"]


class Node(BaseModel):
    value: int
    children: list["Node"]


class Tree(BaseModel):
    root: Node


def test_a_recursive_model_is_stored_as_json_text(tmp_path: Path) -> None:
    tree = {"root": {"value": 1, "children": [{"value": 2, "children": []}]}}

    table = answers_to_parquet(tmp_path, Tree, [tree])

    assert parsed_schema(Tree).field("root").type == pa.string()
    assert Node.model_validate_json(table.column("root")[0].as_py()) == Node(**tree["root"])


class UnionInList(BaseModel):
    values: list[int | str]


class UnionInside(BaseModel):
    sender: Sender
    extra: list[Action]
    code: int | str


class Inner(BaseModel):
    code: int | str


class UnionNested(BaseModel):
    inner: Inner


class Stamped(BaseModel):
    at: dt.datetime


class Opening(BaseModel):
    opens: dt.time


def answers_to_parquet(tmp_path: Path, model: type[BaseModel], answers: list[dict]) -> pa.Table:
    output = write_jsonl(
        tmp_path / "output.jsonl",
        [chat_line(f"r{i}", json.dumps(a)) for i, a in enumerate(answers)],
    )
    parse_to_parquet(
        output,
        response_model=model,
        parsed_path=tmp_path / "p.parquet",
        unparsed_path=tmp_path / "u.parquet",
    )
    return pq.read_table(tmp_path / "p.parquet")


def test_a_top_level_union_is_stored_as_json_text(tmp_path: Path) -> None:
    answers = [
        {"sender": {"name": "a", "domain": None}, "extra": [], "code": 7},
        {"sender": {"name": "b", "domain": "x.org"}, "extra": [], "code": "A7"},
    ]

    table = answers_to_parquet(tmp_path, UnionInside, answers)

    assert table.column("code").to_pylist() == ["7", '"A7"']


@pytest.mark.parametrize(
    ("model", "answer_value", "column", "text"),
    [
        (UnionInList, {"values": [1, "a"]}, "values", '[1,"a"]'),
        (UnionNested, {"inner": {"code": 1}}, "inner", '{"code":1}'),
    ],
    ids=["list-item", "nested-field"],
)
def test_a_union_anywhere_stores_its_field_as_json_text(
    tmp_path: Path, model: type[BaseModel], answer_value: dict, column: str, text: str
) -> None:
    table = answers_to_parquet(tmp_path, model, [answer_value])

    assert table.schema.field(column).type == pa.string()
    assert table.column(column).to_pylist() == [text]
    assert model.model_validate({column: json.loads(text)}) == model.model_validate(answer_value)


@pytest.mark.parametrize(
    "at",
    ["2024-05-01T10:00:00+02:00", "2024-05-01T10:00:00Z", "2024-05-01T10:00:00"],
    ids=["offset", "utc", "naive"],
)
def test_datetimes_are_kept_as_iso_text(tmp_path: Path, at: str) -> None:
    table = answers_to_parquet(tmp_path, Stamped, [{"at": at}])

    assert table.schema.field("at").type == pa.string()
    (text,) = table.column("at").to_pylist()
    assert dt.datetime.fromisoformat(text) == dt.datetime.fromisoformat(at)


def test_duckdb_casts_offset_datetimes_to_timestamptz(tmp_path: Path) -> None:
    answers_to_parquet(tmp_path, Stamped, [{"at": "2024-05-01T10:00:00+02:00"}])

    (utc,) = duckdb.sql(
        "select (cast(\"at\" as timestamptz) at time zone 'UTC') from read_parquet(?)",
        params=[str(tmp_path / "p.parquet")],
    ).fetchall()[0]

    assert utc == dt.datetime(2024, 5, 1, 8)


def test_a_time_field_is_kept_as_iso_text(tmp_path: Path) -> None:
    table = answers_to_parquet(tmp_path, Opening, [{"opens": "09:30:00"}])

    assert table.column("opens").to_pylist() == ["09:30:00"]


def test_repeating_columns_are_dictionary_encoded_and_unique_ids_are_not(
    rich: dict[str, Any],
) -> None:
    """Nested leaves (struct fields, list elements) included: the writer names them by path."""
    for table in ("parsed", "unparsed"):
        metadata = pq.ParquetFile(
            rich["folder"] / table / "date=2024-05-01" / "part-0.parquet"
        ).metadata
        group = metadata.row_group(0)
        for index in range(metadata.num_columns):
            column = group.column(index)
            dictionary = any("DICTIONARY" in encoding for encoding in column.encodings)
            unique = column.path_in_schema in ("custom_id", "request_id", "request_hash")
            assert dictionary != unique, (table, column.path_in_schema, column.encodings)
