"""Result files -> parsed and unparsed rows: every requested id exactly once, whatever came back."""

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from helpers import (
    REASONING_ITEM,
    Triage,
    azure_filtered_line,
    azure_ok_line,
    chat_body,
    chat_line,
    content,
    error_line,
    function_call_item,
    http_error_line,
    message_item,
    ok_line,
    parse_both,
    reasons,
    responses_body,
    write_jsonl,
)
from pydantic_core import to_json

import synth_assets.batch.parse as parse_module
from synth_assets.batch import (
    Parsed,
    ParseSummary,
    Reason,
    RequestBuilder,
    ResultFiles,
    SynthError,
    Unparsed,
    iter_results,
    parse_results,
    parse_to_parquet,
    requested_ids,
    write_request_file,
    write_tables,
)

PARSED = "parsed"

# custom_id -> (file, line, expected outcome)
SHAPES: dict[str, tuple[str, Any, str]] = {
    "chat": ("output", chat_line("chat"), PARSED),
    "fenced": ("output", chat_line("fenced", f"```json\n{content()}\n```"), PARSED),
    "tool": ("output", chat_line("tool", None, tool_arguments=content()), PARSED),
    "refusal": ("output", chat_line("refusal", None, refusal="No."), "refusal"),
    "length": ("output", chat_line("length", '{"la', finish_reason="length"), "truncated"),
    "filter": (
        "output",
        chat_line("filter", None, finish_reason="content_filter"),
        "content_filter",
    ),
    "prose": ("output", chat_line("prose", "It is spam."), "invalid_json"),
    "mismatch": (
        "output",
        chat_line("mismatch", '{"label": "ham", "summary": ""}'),
        "schema_mismatch",
    ),
    "resp": (
        "output",
        ok_line("resp", responses_body([REASONING_ITEM, message_item(content())])),
        PARSED,
    ),
    "resp-fn": (
        "output",
        ok_line("resp-fn", responses_body([function_call_item(content())])),
        PARSED,
    ),
    "resp-cut": (
        "output",
        ok_line(
            "resp-cut",
            responses_body([REASONING_ITEM], status="incomplete", incomplete="max_output_tokens"),
        ),
        "truncated",
    ),
    "azure-ok": ("output", azure_ok_line("azure-ok", content(summary="Grüße 🎉")), PARSED),
    "no-id": (
        "output",
        ok_line("no-id", chat_body(content()), with_id=False),
        PARSED,
    ),
    "429": (
        "error",
        http_error_line(
            "429", 429, code="rate_limit_exceeded", message="Slow down", kind="requests"
        ),
        "http_error",
    ),
    "500": (
        "error",
        http_error_line("500", 500, code=None, message="Oops", kind="server_error"),
        "http_error",
    ),
    "azure-400": ("error", azure_filtered_line("azure-400"), "http_error"),
    "expired": ("error", error_line("expired", "batch_expired", "Not run in time."), "expired"),
    "error": ("error", error_line("error", "server_error", "Failed."), "request_error"),
    "broken": ("error", {"custom_id": "broken", "response": None, "error": None}, "invalid_line"),
}
GARBAGE = ["not json", "[1, 2]", '{"id": "batch_req_9", "response": null}']


def write_shapes(
    folder: Path, *, newline: str = "\n", final_newline: bool = True
) -> tuple[Path, Path]:
    by_file: dict[str, list[Any]] = {"output": [], "error": []}
    for file, line, _ in SHAPES.values():
        by_file[file].append(line)
    by_file["output"][3:3] = ["", "   ", GARBAGE[0]]
    by_file["error"][1:1] = GARBAGE[1:]
    output = write_jsonl(
        folder / "output.jsonl", by_file["output"], newline=newline, final_newline=final_newline
    )
    error = write_jsonl(
        folder / "error.jsonl", by_file["error"], newline=newline, final_newline=final_newline
    )
    return output, error


def expected_outcome() -> dict[str, str]:
    return {custom_id: outcome for custom_id, (_, _, outcome) in SHAPES.items()}


def outcome_by_id(parsed: list[dict], unparsed: list[dict]) -> dict[str | None, str]:
    return {**{row["custom_id"]: PARSED for row in parsed}, **reasons(unparsed)}


def test_every_shape_in_real_files_gets_its_outcome_in_both_parsers(tmp_path: Path) -> None:
    output, error = write_shapes(tmp_path)

    streamed, tabled = parse_both(
        tmp_path, output, error, requested=[*SHAPES, "never"], batch_id="batch_1"
    )

    assert streamed == tabled
    parsed, unparsed = streamed
    assert outcome_by_id(parsed, unparsed) == {**expected_outcome(), "never": "missing"}
    garbage = [row for row in unparsed if row["custom_id"] is None]
    assert sorted(row["raw"] for row in garbage) == sorted(GARBAGE)
    assert {row["reason"] for row in garbage} == {"invalid_line"}
    assert {row["batch_id"] for row in parsed + unparsed if row["custom_id"]} == {"batch_1"}
    azure = next(row for row in parsed if row["custom_id"] == "azure-ok")
    assert azure["summary"] == "Grüße 🎉"


@pytest.mark.parametrize(
    ("newline", "final_newline"),
    [("\n", True), ("\n", False), ("\r\n", True), ("\r\n", False)],
    ids=["lf", "lf-no-final", "crlf", "crlf-no-final"],
)
def test_line_endings_do_not_change_the_outcome(
    tmp_path: Path, newline: str, final_newline: bool
) -> None:
    reference_dir, variant_dir = tmp_path / "reference", tmp_path / "variant"
    reference_dir.mkdir(), variant_dir.mkdir()
    reference = parse_both(reference_dir, *write_shapes(reference_dir), requested=SHAPES)
    files = write_shapes(variant_dir, newline=newline, final_newline=final_newline)

    streamed, tabled = parse_both(variant_dir, *files, requested=SHAPES)

    assert streamed == tabled == reference[0]


def test_a_last_line_without_newline_is_parsed(tmp_path: Path) -> None:
    output = tmp_path / "output.jsonl"
    output.write_bytes(
        json.dumps(chat_line("a")).encode() + b"\r\n\r\n" + json.dumps(chat_line("b")).encode()
    )

    streamed, tabled = parse_both(tmp_path, output, requested=["a", "b"])

    assert streamed == tabled
    assert [row["custom_id"] for row in streamed[0]] == ["a", "b"]
    assert streamed[1] == []


def test_the_first_answer_wins_and_later_ones_are_duplicates(tmp_path: Path) -> None:
    output = write_jsonl(
        tmp_path / "output.jsonl",
        [
            chat_line("a", content(summary="first")),
            chat_line("b"),
            chat_line("a", content(summary="second")),
        ],
    )
    error = write_jsonl(
        tmp_path / "error.jsonl",
        [http_error_line("a", 500, code=None, message="late", kind="server_error")],
    )

    streamed, tabled = parse_both(tmp_path, output, error, requested=["a", "b"])

    assert streamed == tabled
    parsed, unparsed = streamed
    assert {row["custom_id"]: row["summary"] for row in parsed} == {
        "a": "first",
        "b": "a prince offers money",
    }
    duplicates = sorted(
        (row["source"], row["custom_id"]) for row in unparsed if row["reason"] == "duplicate"
    )
    assert duplicates == [("error", "a"), ("output", "a")]
    assert (
        json.loads(next(r["raw"] for r in unparsed if r["source"] == "output"))["summary"]
        == "second"
    )
    assert "late" in next(r["raw"] for r in unparsed if r["source"] == "error")


def test_the_output_file_wins_over_the_error_file(tmp_path: Path) -> None:
    error = write_jsonl(tmp_path / "error.jsonl", [error_line("a", "server_error", "boom")])
    output = write_jsonl(tmp_path / "output.jsonl", [chat_line("a")])

    streamed, tabled = parse_both(tmp_path, output, error, requested=["a"])

    assert streamed == tabled
    assert [row["custom_id"] for row in streamed[0]] == ["a"]
    assert [(row["reason"], row["source"]) for row in streamed[1]] == [("duplicate", "error")]


def test_first_answer_wins_in_file_order_in_both_parsers(tmp_path: Path) -> None:
    output = write_jsonl(
        tmp_path / "output.jsonl",
        [chat_line("a", "not json"), chat_line("a"), chat_line("b"), chat_line("b", "nope")],
    )

    streamed, tabled = parse_both(tmp_path, output, requested=["a", "b"])

    assert tabled == streamed
    assert outcome_by_id(*streamed) == {"a": "invalid_json", "b": PARSED}
    duplicates = {
        row["custom_id"]: row["raw"] for row in streamed[1] if row["reason"] == "duplicate"
    }
    assert json.loads(duplicates["a"]) == json.loads(content())
    assert duplicates["b"] == "nope"


@pytest.mark.parametrize("as_file", [False, True], ids=["ids", "request-file"])
def test_requested_ids_never_answered_are_missing(tmp_path: Path, as_file: bool) -> None:
    ids = ["a", 'quote"d', "back\\slash", "émoji-🎉", "z"]
    requested: Any = ids
    if as_file:
        builder = RequestBuilder(model="m", response_model=Triage)
        requested = str(tmp_path / "requests.jsonl")
        write_request_file([(i, [{"role": "user", "content": i}]) for i in ids], builder, requested)
        assert list(requested_ids(requested)) == ids
    output = write_jsonl(tmp_path / "output.jsonl", [chat_line("a"), chat_line("émoji-🎉")])

    streamed, tabled = parse_both(tmp_path, output, requested=requested)

    assert streamed == tabled
    assert outcome_by_id(*streamed) == {
        "a": PARSED,
        "émoji-🎉": PARSED,
        'quote"d': "missing",
        "back\\slash": "missing",
        "z": "missing",
    }
    assert {row["source"] for row in streamed[1]} == {"request"}


@pytest.mark.parametrize(
    ("status", "reason"),
    [
        ("completed", "missing"),
        ("expired", "expired"),
        ("cancelled", "cancelled"),
        ("cancelling", "cancelled"),
        ("failed", "batch_failed"),
    ],
)
def test_the_batch_status_names_why_ids_were_never_answered(
    tmp_path: Path, status: str, reason: str
) -> None:
    output = write_jsonl(tmp_path / "output.jsonl", [chat_line("a")])
    error = write_jsonl(tmp_path / "error.jsonl", [error_line("b", "batch_expired", "late")])

    streamed, tabled = parse_both(
        tmp_path, output, error, requested=["a", "b", "c", "d"], status=status, batch_id="batch_9"
    )

    assert streamed == tabled
    assert outcome_by_id(*streamed) == {"a": PARSED, "b": "expired", "c": reason, "d": reason}
    assert all(row["batch_id"] == "batch_9" for row in streamed[1])


def test_a_failed_batch_without_files_fails_every_row(tmp_path: Path) -> None:
    records = list(
        iter_results(
            ResultFiles(
                None,
                None,
                batch_id="b",
                status="failed",
                requested=["a", "b"],
                batch_error="token_limit_exceeded: Enqueued token limit reached",
            ),
            Triage,
        )
    )

    assert [(r.custom_id, r.reason.value) for r in records] == [
        ("a", "batch_failed"),
        ("b", "batch_failed"),
    ]
    assert all(r.message.startswith("token_limit_exceeded") for r in records)


def test_an_id_not_requested_is_an_invalid_line(tmp_path: Path) -> None:
    stray_ok, stray_error = chat_line("stray"), error_line("ghost", "server_error", "x")
    output = write_jsonl(tmp_path / "output.jsonl", [chat_line("a"), stray_ok])
    error = write_jsonl(tmp_path / "error.jsonl", [stray_error])

    streamed, tabled = parse_both(tmp_path, output, error, requested=["a"])

    assert streamed == tabled
    parsed, unparsed = streamed
    assert [row["custom_id"] for row in parsed] == ["a"]
    assert sorted((row["reason"], row["custom_id"], row["source"]) for row in unparsed) == [
        ("invalid_line", None, "error"),
        ("invalid_line", None, "output"),
    ]
    messages = " ".join(row["message"] for row in unparsed)
    assert "'stray'" in messages and "'ghost'" in messages
    assert json.dumps(stray_error) in [row["raw"] for row in unparsed]


def test_without_requested_ids_every_answer_is_taken(tmp_path: Path) -> None:
    output = write_jsonl(tmp_path / "output.jsonl", [chat_line("a"), chat_line("b")])

    streamed, tabled = parse_both(tmp_path, output)

    assert streamed == tabled
    assert [row["custom_id"] for row in streamed[0]] == ["a", "b"]


def test_only_an_error_file_is_fine(tmp_path: Path) -> None:
    error = write_jsonl(tmp_path / "error.jsonl", [error_line("a", "server_error", "x")])

    streamed, tabled = parse_both(tmp_path, None, error, requested=["a", "b"])

    assert streamed == tabled
    assert outcome_by_id(*streamed) == {"a": "request_error", "b": "missing"}


def test_a_result_file_that_does_not_exist_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(SynthError, match=r"nowhere\.jsonl does not exist"):
        list(parse_results(tmp_path / "nowhere.jsonl", response_model=Triage))
    with pytest.raises(SynthError, match="does not exist"):
        parse_to_parquet(
            tmp_path / "nowhere.jsonl",
            response_model=Triage,
            parsed_path=tmp_path / "p.parquet",
            unparsed_path=tmp_path / "u.parquet",
        )
    assert not (tmp_path / "p.parquet").exists()


def test_parse_to_parquet_summary_counts_everything(tmp_path: Path) -> None:
    output, error = write_shapes(tmp_path)

    summary = parse_to_parquet(
        output,
        error,
        response_model=Triage,
        parsed_path=tmp_path / "p.parquet",
        unparsed_path=tmp_path / "u.parquet",
        requested=[*SHAPES, "never"],
    )

    expected = expected_outcome()
    parsed = sum(v == PARSED for v in expected.values())
    assert isinstance(summary, ParseSummary)
    assert summary.requested == len(SHAPES) + 1
    assert summary.parsed == parsed
    assert summary.unparsed == len(SHAPES) - parsed + 1 + len(GARBAGE)
    assert summary.extra_lines == len(GARBAGE)
    assert summary.reasons["invalid_line"] == len(GARBAGE) + 1  # + the broken line of an id
    assert summary.reasons["missing"] == 1
    assert summary.parsed + summary.unparsed - summary.extra_lines == summary.requested
    assert summary.prompt_tokens > 0 and summary.completion_tokens > 0


def test_several_batches_share_one_accounting(tmp_path: Path) -> None:
    first = write_jsonl(tmp_path / "first.jsonl", [chat_line("a"), chat_line("b")])
    second = write_jsonl(tmp_path / "second.jsonl", [chat_line("b"), chat_line("c")])
    batches = [
        ResultFiles(first, batch_id="batch_1", requested=["a", "b"]),
        ResultFiles(second, batch_id="batch_2", requested=["c", "d"]),
    ]

    records = list(iter_results(batches, Triage))

    rows = [(r.custom_id, "parsed" if isinstance(r, Parsed) else r.reason.value) for r in records]
    assert sorted(rows, key=str) == sorted(
        [
            ("a", "parsed"),
            ("b", "parsed"),
            (None, "invalid_line"),
            ("c", "parsed"),
            ("d", "missing"),
        ],
        key=str,
    )


def test_a_broken_line_for_a_requested_id_is_its_outcome(tmp_path: Path) -> None:
    broken = {"custom_id": "a", "response": None, "error": None}
    output = write_jsonl(tmp_path / "output.jsonl", [broken, chat_line("b"), "garbage"])

    streamed, tabled = parse_both(tmp_path, output, requested=["a", "b"])

    assert streamed == tabled
    assert outcome_by_id(*streamed) == {"a": "invalid_line", "b": PARSED}
    invalid = sorted((row["custom_id"] or "", row["raw"]) for row in streamed[1])
    assert invalid == [("", "garbage"), ("a", json.dumps(broken))]


@pytest.mark.parametrize("block", [1, 300, 5000])
def test_files_cut_into_many_blocks_give_the_same_outcome(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, block: int
) -> None:
    output, error = write_shapes(tmp_path)
    with output.open("a") as extra:  # answers again, in later blocks: duplicates
        extra.write(json.dumps(chat_line("chat", content(summary="again"))) + "\n")
        extra.write(json.dumps(chat_line("prose", None, refusal="no")) + "\n")
    whole = parse_both(tmp_path / "whole", output, error, requested=SHAPES, workers=(1,))
    spans = parse_module._spans
    monkeypatch.setattr(parse_module, "_spans", lambda path: spans(path, block))

    streamed, tabled = parse_both(tmp_path / "cut", output, error, requested=SHAPES)

    assert streamed == tabled == whole[0] == whole[1]
    assert sum(row["reason"] == "duplicate" for row in tabled[1]) == 2


def test_request_hashes_from_a_file_equal_the_mapping(tmp_path: Path) -> None:
    output = tmp_path / "output.jsonl"
    write_jsonl(output, [chat_line("a"), chat_line("b", "oops")])
    hashes = {"a": "h-a", "b": "h-b", "c": "h-c"}
    requests = tmp_path / "requests.jsonl"
    requests.write_bytes(
        b"".join(to_json({"custom_id": c, "request_hash": h}) + b"\n" for c, h in hashes.items())
    )
    tables = []
    for source in (hashes, requests):
        out = tmp_path / str(len(tables))
        write_tables(
            ResultFiles(output, requested=requests, request_hashes=source),
            response_model=Triage,
            parsed_path=out / "parsed.parquet",
            unparsed_path=out / "unparsed.parquet",
        )
        tables.append(
            [pq.read_table(out / f"{t}.parquet").to_pylist() for t in ("parsed", "unparsed")]
        )
    assert tables[0] == tables[1]
    parsed, unparsed = tables[1]
    assert [(r["custom_id"], r["request_hash"]) for r in parsed] == [("a", "h-a")]
    assert [(r["custom_id"], r["request_hash"]) for r in unparsed] == [("b", "h-b"), ("c", "h-c")]

    requests.write_bytes(b'{"custom_id": "a"}\n')
    with pytest.raises(SynthError, match="line 1: not a request-hash line"):
        write_tables(
            ResultFiles(output, request_hashes=requests),
            response_model=Triage,
            parsed_path=tmp_path / "p.parquet",
            unparsed_path=tmp_path / "u.parquet",
        )


def test_rejected_inputs_are_streamed_in_order(tmp_path: Path) -> None:
    """A generator of never-sent rows is read as it goes, larger than a row group."""
    count = 70_000

    def rejected() -> Iterator[Unparsed]:
        for number in range(count):
            yield Unparsed(f"bad-{number}", Reason.INVALID_INPUT, "empty text", source="input")

    output = tmp_path / "output.jsonl"
    write_jsonl(output, [chat_line("a")])
    summary = write_tables(
        ResultFiles(output, requested=["a"]),
        response_model=Triage,
        parsed_path=tmp_path / "parsed.parquet",
        unparsed_path=tmp_path / "unparsed.parquet",
        rejected_inputs=rejected(),
    )
    assert (summary.requested, summary.parsed, summary.unparsed) == (count + 1, 1, count)
    ids = pq.read_table(tmp_path / "unparsed.parquet", columns=["custom_id"]).column(0)
    assert ids.to_pylist() == [f"bad-{n}" for n in range(count)]
