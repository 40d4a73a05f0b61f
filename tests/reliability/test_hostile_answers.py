"""Hostile answers: whatever a model (or a broken line) sends, the parse neither crashes nor
hangs, and each requested row still ends exactly once, as a parsed row when the response
model accepts the value, else as an unparsed row with a sensible reason and a short message.

The server cannot be told to answer with such content, so the test writes the result files
(real Batch-API line shapes) and runs the library's ``parse_results`` and
``parse_to_parquet`` on them.
"""

import json
import math
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import pyarrow.parquet as pq
import pytest
from pydantic import BaseModel

from synth_assets.batch import Parsed, Unparsed, parse_results, parse_to_parquet
from synth_assets.batch.records import is_extra_line
from synth_assets.tasks.spam import SinglePrediction

DEPTH = 100_000
FIVE_MB = 5 * 1024 * 1024
TWENTY_MB = 20 * 1024 * 1024
MAX_MESSAGE = 2000  # a reason's message stays readable whatever the answer's size


class Note(BaseModel):
    """A response model with room for odd values: any float, any string."""

    label: Literal["spam", "not_spam"]
    score: float
    summary: str


def envelope(custom_id: Any, content: Any, **body: Any) -> dict[str, Any]:
    """A chat-completions output line carrying ``content`` as the answer."""
    return {
        "id": f"batch_req_{custom_id}",
        "custom_id": custom_id,
        "response": {
            "status_code": 200,
            "request_id": f"req_{custom_id}",
            "body": {
                "id": "chatcmpl-1",
                "object": "chat.completion",
                "model": "gpt-4o-mini",
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": content, "refusal": None},
                        "finish_reason": "stop",
                    }
                ],
                "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
                **body,
            },
        },
        "error": None,
    }


def line(custom_id: Any, content: Any, **body: Any) -> bytes:
    return json.dumps(envelope(custom_id, content, **body)).encode()


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


def deep_objects(depth: int) -> str:
    return '{"a":' * depth + "1" + "}" * depth


def usage_nan(custom_id: str) -> bytes:
    text = line(custom_id, json.dumps({"class_label": "spam"})).decode()
    return text.replace('"prompt_tokens": 10', '"prompt_tokens": NaN').encode()


def body_is_text(custom_id: str) -> bytes:
    data = envelope(custom_id, "x")
    data["response"]["body"] = "oops, not a body"
    return json.dumps(data).encode()


def choices_is_object(custom_id: str) -> bytes:
    data = envelope(custom_id, "x")
    data["response"]["body"]["choices"] = {"0": "no"}
    return json.dumps(data).encode()


# case -> (response model, the hostile line for custom_id "h", what "h" must end as)
# "parsed" means a valid row; otherwise the unparsed reason.
CASES: dict[str, tuple[type[BaseModel], Callable[[str], bytes], str]] = {
    "nested_arrays_100k": (SinglePrediction, lambda i: line(i, nested(DEPTH)), "invalid_json"),
    "nested_objects_100k": (
        SinglePrediction,
        lambda i: line(i, deep_objects(DEPTH)),
        "invalid_json",
    ),
    "nested_value_in_field": (
        SinglePrediction,
        lambda i: line(i, '{"class_label": ' + nested(DEPTH) + "}"),
        "invalid_json",
    ),
    "string_5mb_in_enum": (
        SinglePrediction,
        lambda i: line(i, json.dumps({"class_label": "s" * FIVE_MB})),
        "schema_mismatch",
    ),
    "string_5mb_where_allowed": (
        Note,
        lambda i: line(i, json.dumps({"label": "spam", "score": 0.5, "summary": "s" * FIVE_MB})),
        "parsed",
    ),
    "nan_in_enum": (SinglePrediction, lambda i: line(i, '{"class_label": NaN}'), "schema_mismatch"),
    "nan_where_float": (
        Note,
        lambda i: line(i, '{"label": "spam", "score": NaN, "summary": ""}'),
        "parsed",
    ),
    "infinity_where_float": (
        Note,
        lambda i: line(i, '{"label": "not_spam", "score": -Infinity, "summary": "x"}'),
        "parsed",
    ),
    "nan_in_usage": (SinglePrediction, usage_nan, "parsed"),
    "number_for_enum": (
        SinglePrediction,
        lambda i: line(i, '{"class_label": 12}'),
        "schema_mismatch",
    ),
    "list_for_enum": (
        SinglePrediction,
        lambda i: line(i, '{"class_label": ["spam"]}'),
        "schema_mismatch",
    ),
    "string_for_float": (
        Note,
        lambda i: line(i, '{"label": "spam", "score": "high", "summary": "x"}'),
        "schema_mismatch",
    ),
    "json_number_as_answer": (SinglePrediction, lambda i: line(i, "42"), "schema_mismatch"),
    "json_null_as_answer": (SinglePrediction, lambda i: line(i, "null"), "schema_mismatch"),
    "number_instead_of_text": (SinglePrediction, lambda i: line(i, 42), "schema_mismatch"),
    "object_instead_of_text": (
        SinglePrediction,
        lambda i: line(i, {"class_label": "spam"}),
        "parsed",
    ),
    "body_is_text": (SinglePrediction, body_is_text, "invalid_line"),
    "choices_is_object": (SinglePrediction, choices_is_object, "invalid_line"),
    "line_20mb_answer": (SinglePrediction, lambda i: line(i, "a" * TWENTY_MB), "invalid_json"),
    # a line that names no requested id: an extra row; the requested id is then missing
    "line_20mb_not_json": (SinglePrediction, lambda i: b"x" * TWENTY_MB, "missing"),
    "custom_id_not_a_string": (
        SinglePrediction,
        lambda i: line(7, '{"class_label": 1}'),
        "missing",
    ),
    "invalid_utf8": (SinglePrediction, lambda i: b'{"custom_id": "\xff\xfe', "missing"),
}


def good_line(model: type[BaseModel], custom_id: str) -> bytes:
    value = (
        {"label": "spam", "score": 1.0, "summary": "fine"}
        if model is Note
        else {"class_label": "not_spam"}
    )
    return line(custom_id, json.dumps(value))


def write_results(path: Path, model: type[BaseModel], hostile: bytes) -> list[str]:
    """A result file: a good answer, the hostile line for "h", another good answer."""
    path.write_bytes(b"\n".join([good_line(model, "a"), hostile, good_line(model, "b")]) + b"\n")
    return ["a", "h", "b"]


def outcome_of(records: list[Parsed | Unparsed], custom_id: str) -> list[Parsed | Unparsed]:
    return [
        r
        for r in records
        if r.custom_id == custom_id
        and not (isinstance(r, Unparsed) and is_extra_line(r.reason, r.custom_id))
    ]


def check_hostile_value(case: str, value: BaseModel) -> None:
    if case == "string_5mb_where_allowed":
        assert len(value.summary) == FIVE_MB  # type: ignore[attr-defined]
    if case == "nan_where_float":
        assert math.isnan(value.score)  # type: ignore[attr-defined]
    if case == "infinity_where_float":
        assert value.score == -math.inf  # type: ignore[attr-defined]


@pytest.mark.timeout(60)
@pytest.mark.parametrize("case", list(CASES))
def test_parse_results_survives(case: str, tmp_path: Path) -> None:
    model, make, expected = CASES[case]
    requested = write_results(tmp_path / "out.jsonl", model, make("h"))

    records = list(parse_results(tmp_path / "out.jsonl", response_model=model, requested=requested))

    # conservation: each requested id exactly once (extra lines apart)
    for custom_id in requested:
        assert len(outcome_of(records, custom_id)) == 1, (custom_id, records)
    assert isinstance(outcome_of(records, "a")[0], Parsed)  # neighbours are untouched
    assert isinstance(outcome_of(records, "b")[0], Parsed)
    hostile = outcome_of(records, "h")[0]
    if expected == "parsed":
        assert isinstance(hostile, Parsed), hostile
        check_hostile_value(case, hostile.value)
    else:
        assert isinstance(hostile, Unparsed), hostile
        assert hostile.reason == expected, (hostile.reason, hostile.message)
        assert hostile.message and len(hostile.message) <= MAX_MESSAGE
    extra = [r for r in records if isinstance(r, Unparsed) and r.is_extra_line]
    assert len(records) == len(requested) + len(extra)
    assert len(extra) == (1 if expected == "missing" else 0)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("case", list(CASES))
def test_parse_to_parquet_survives(case: str, tmp_path: Path) -> None:
    model, make, expected = CASES[case]
    requested = write_results(tmp_path / "out.jsonl", model, make("h"))

    summary = parse_to_parquet(
        tmp_path / "out.jsonl",
        response_model=model,
        parsed_path=tmp_path / "parsed.parquet",
        unparsed_path=tmp_path / "unparsed.parquet",
        requested=requested,
        batch_id="batch_hostile",
    )

    parsed = pq.read_table(tmp_path / "parsed.parquet").to_pylist()
    unparsed = pq.read_table(tmp_path / "unparsed.parquet").to_pylist()
    rows = [r for r in unparsed if not is_extra_line(r["reason"], r["custom_id"])]
    ids = Counter(r["custom_id"] for r in parsed) + Counter(r["custom_id"] for r in rows)
    assert ids == Counter(requested)  # every requested row exactly once
    assert summary.requested == 3
    assert summary.parsed + summary.unparsed - summary.extra_lines == 3
    assert summary.parsed == len(parsed) and summary.unparsed == len(unparsed)
    if expected == "parsed":
        row = next(r for r in parsed if r["custom_id"] == "h")
        check_hostile_value(case, model.model_validate({k: row[k] for k in model.model_fields}))
    else:
        row = next(r for r in rows if r["custom_id"] == "h")
        assert row["reason"] == expected, row["message"]
        assert row["message"] and len(row["message"]) <= MAX_MESSAGE


@pytest.mark.timeout(120)
@pytest.mark.parametrize("workers", [1, 2])
def test_all_hostile_lines_in_one_file_in_process_and_in_workers(
    workers: int, tmp_path: Path
) -> None:
    """One output file of ~60 MB holding every hostile line for the task's model, parsed in
    this process and by forked workers (blocks of 8 MB): the same rows either way."""
    cases = [c for c, (model, _, _) in CASES.items() if model is SinglePrediction]
    lines = [good_line(SinglePrediction, "first")]
    lines += [CASES[case][1](case) for case in cases]
    lines.append(good_line(SinglePrediction, "last"))
    (tmp_path / "out.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    requested = ["first", *cases, "last"]

    summary = parse_to_parquet(
        tmp_path / "out.jsonl",
        response_model=SinglePrediction,
        parsed_path=tmp_path / "parsed.parquet",
        unparsed_path=tmp_path / "unparsed.parquet",
        requested=requested,
        workers=workers,
    )

    parsed = pq.read_table(tmp_path / "parsed.parquet").to_pylist()
    unparsed = pq.read_table(tmp_path / "unparsed.parquet").to_pylist()
    rows = [r for r in unparsed if not is_extra_line(r["reason"], r["custom_id"])]
    ids = Counter(r["custom_id"] for r in parsed) + Counter(r["custom_id"] for r in rows)
    assert ids == Counter(requested)
    assert summary.requested == len(requested)
    outcome = {r["custom_id"]: "parsed" for r in parsed} | {
        r["custom_id"]: r["reason"] for r in rows
    }
    assert outcome == {"first": "parsed", "last": "parsed"} | {c: CASES[c][2] for c in cases}


@pytest.mark.timeout(60)
def test_a_too_deep_line_that_names_its_id_is_that_ids_outcome(tmp_path: Path) -> None:
    hostile = b'{"custom_id": "h", "response": {"status_code": 200, "body": '
    hostile += nested(DEPTH).encode() + b"}}"
    requested = write_results(tmp_path / "out.jsonl", SinglePrediction, hostile)

    records = list(
        parse_results(tmp_path / "out.jsonl", response_model=SinglePrediction, requested=requested)
    )

    assert len(records) == 3  # no extra row
    hostile_row = outcome_of(records, "h")
    assert len(hostile_row) == 1
    assert hostile_row[0].reason == "invalid_line"  # type: ignore[union-attr]
