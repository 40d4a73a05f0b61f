"""One parsing core (issue 16, finding 14): what ``iter_results`` yields (lists, resubmission,
the CLI's JSONL) and what ``write_tables`` writes (Parquet) agree row by row.

One tricky pair of attempts holds every unparsed reason, second answers (parsed and not),
lines naming no requested id, lines that are not JSON, blank and CRLF lines, and a
resubmission that supersedes part of the first attempt; both paths must give each
custom_id the same rows.
"""

import json
import threading
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from helpers import (
    Labels,
    Triage,
    chat_body,
    chat_line,
    content,
    error_line,
    http_error_line,
    message_item,
    ok_line,
    responses_body,
)
from pydantic import BaseModel, Field

from synth_assets.batch import Parsed, Reason, ResultFiles, iter_results, write_tables

Rows = dict[str | None, list[tuple[Any, ...]]]


class RenamedTriage(BaseModel):
    """Triage whose label column is named otherwise in the tables (and in rejected answers)."""

    label: Labels = Field(serialization_alias="class_label")
    summary: str


def _bulk(start: int, stop: int) -> list[dict[str, Any]]:
    return [chat_line(f"bulk-{i}", content(summary=f"email {i}")) for i in range(start, stop)]


def _first_attempt(folder: Path) -> ResultFiles:
    output = [
        chat_line("ok-1"),
        chat_line("ok-2", content("not_spam", "a newsletter")),
        *_bulk(0, 40),  # many parsed rows between failures: Arrow is built in pieces
        ok_line("ok-fenced", chat_body("```json\n" + content() + "\n```")),  # the slow path
        ok_line("ok-responses", responses_body([message_item(content())])),
        chat_line("bad-json", "{not json"),
        chat_line("bad-schema", json.dumps({"label": "ham", "summary": 3})),
        chat_line("refused", None, refusal="I can't help with that"),
        chat_line("cut", '{"label": "sp', finish_reason="length"),
        chat_line("filtered", None, finish_reason="content_filter"),
        chat_line("empty", ""),
        *_bulk(40, 75),
        chat_line("ok-1", content("not_spam", "second answer")),  # duplicate of a parsed row
        chat_line("bad-json", content()),  # duplicate of an unparsed row: the first one wins
        chat_line("stranger"),  # names no requested id
        *_bulk(75, 100),
        "",
        "   ",
        "not a json line at all",
        '{"custom_id": "broken", "response": {"status_code": 200, "body": ',  # names its id
        json.dumps([1, 2, 3]),
        json.dumps({"response": None}),  # no custom_id
        json.dumps({"custom_id": "neither"}),  # neither response nor error
        chat_line("retried"),  # attempt 2 answers it again: this line is superseded
    ]
    errors = [
        http_error_line("http-500", 500, code="server_error", message="boom", kind="server"),
        error_line("req-error", "invalid_request", "bad request"),
        error_line("expired-line", "batch_expired", "expired"),
        error_line("cancelled-line", "batch_cancelled", "cancelled"),
        error_line("failed-line", "batch_failed", "failed"),
        error_line("ok-2", "server_error", "an error after an answer"),  # a second answer
    ]
    requested = [
        "ok-1", "ok-2", "ok-fenced", "ok-responses", "bad-json", "bad-schema", "refused",
        "cut", "filtered", "empty", "broken", "neither", "retried", "http-500", "req-error",
        "expired-line", "cancelled-line", "failed-line", "never-answered",
        *(f"bulk-{i}" for i in range(100)),
    ]  # fmt: skip
    text = "\n".join(line if isinstance(line, str) else json.dumps(line) for line in output)
    (folder / "out-1.jsonl").write_bytes(text.replace("\n", "\r\n", 3).encode() + b"\n")
    (folder / "err-1.jsonl").write_text("\n".join(json.dumps(line) for line in errors))
    return ResultFiles(
        folder / "out-1.jsonl", folder / "err-1.jsonl", "batch_1", "completed", requested
    )


def _second_attempt(folder: Path) -> ResultFiles:
    lines = [chat_line("retried", content("not_spam", "answered on retry")), chat_line("retried")]
    (folder / "out-2.jsonl").write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    return ResultFiles(
        folder / "out-2.jsonl", None, "batch_2", "expired", ["retried", "lost"], attempt=2
    )


def _value(model: type[BaseModel], row: dict[str, Any]) -> str:
    """The answer of a table row (columns named by alias), as the model's JSON."""
    fields = {
        name: row[info.serialization_alias or name] for name, info in model.model_fields.items()
    }
    return model.model_validate(fields).model_dump_json()


def _meta(row: dict[str, Any]) -> tuple[Any, ...]:
    keys = ("model", "batch_id", "request_id", "prompt_tokens", "completion_tokens", "attempt")
    return tuple(row[key] for key in keys)


def _unparsed(row: dict[str, Any]) -> tuple[Any, ...]:
    keys = ("reason", "status_code", "error_code", "message", "source", "raw")
    return ("unparsed", *(row[key] for key in keys), *_meta(row))


def _from_records(results: list[ResultFiles], model: type[BaseModel]) -> Rows:
    rows: Rows = defaultdict(list)
    for record in iter_results(results, model):
        if isinstance(record, Parsed):
            meta = record.meta.as_dict()
            rows[record.custom_id].append(("parsed", record.value.model_dump_json(), *_meta(meta)))
        else:
            rows[record.custom_id].append(_unparsed(record.as_row()))
    return {key: sorted(value, key=repr) for key, value in rows.items()}


def _from_tables(
    results: list[ResultFiles], model: type[BaseModel], folder: Path, workers: int
) -> Rows:
    parsed_path, unparsed_path = folder / f"p{workers}.parquet", folder / f"u{workers}.parquet"
    write_tables(
        results,
        response_model=model,
        parsed_path=parsed_path,
        unparsed_path=unparsed_path,
        workers=workers,
    )
    rows: Rows = defaultdict(list)
    for row in pq.read_table(parsed_path).to_pylist():
        rows[row["custom_id"]].append(("parsed", _value(model, row), *_meta(row)))
    for row in pq.read_table(unparsed_path).to_pylist():
        rows[row["custom_id"]].append(_unparsed(row))
    return {key: sorted(value, key=repr) for key, value in rows.items()}


@pytest.fixture(params=["alone", "beside a thread"])
def threads(request: pytest.FixtureRequest) -> Iterator[str]:
    """Alone, the GC is paused and workers fork; beside a thread, neither (other code runs)."""
    stop = threading.Event()
    thread = threading.Thread(target=stop.wait, daemon=True)
    if request.param != "alone":
        thread.start()
    try:
        yield request.param
    finally:
        stop.set()
        if thread.is_alive():
            thread.join()


@pytest.mark.parametrize("model", [Triage, RenamedTriage])
@pytest.mark.parametrize("workers", [1, 2])
def test_lists_and_tables_decide_every_line_alike(
    tmp_path: Path, workers: int, model: type[BaseModel], threads: str
) -> None:
    results = [_first_attempt(tmp_path), _second_attempt(tmp_path)]

    streamed = _from_records(results, model)
    tabled = _from_tables(results, model, tmp_path, workers)

    assert streamed.keys() == tabled.keys()
    for custom_id in streamed:
        assert streamed[custom_id] == tabled[custom_id], custom_id
    # The file covers what it claims to: every reason a result line can carry, and more.
    reasons = {row[1] for rows in streamed.values() for row in rows if row[0] == "unparsed"}
    assert reasons == {reason.value for reason in Reason} - {"invalid_input"}
    assert [row[0] for row in streamed["ok-1"]] == ["parsed", "unparsed"]  # + its duplicate
    answer = model.model_validate_json(content("not_spam", "answered on retry"))
    assert [row[1] for row in streamed["retried"]] == [
        answer.model_dump_json(),
        Reason.DUPLICATE.value,
    ]
    assert streamed["lost"][0][1] == Reason.EXPIRED.value


@pytest.mark.parametrize("workers", [1, 2])
def test_remembering_only_shared_ids_across_batches_writes_the_same_tables(
    tmp_path: Path, workers: int
) -> None:
    """A caller that names the ids more than one batch requests (here the resubmitted ones)
    lets the parser forget the others after their batch: the tables stay the same."""
    from synth_assets.batch import requested_ids

    # A third batch asks again for an id the first one answered: its answer is a duplicate
    # only if the parser remembers that id across batches.
    lines = [chat_line("ok-1"), chat_line("only-3")]
    (tmp_path / "out-3.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    third = ResultFiles(tmp_path / "out-3.jsonl", None, "batch_3", "completed", ["ok-1", "only-3"])
    results = [_first_attempt(tmp_path), _second_attempt(tmp_path), third]
    counts: dict[str, int] = defaultdict(int)
    for files in results:
        assert files.requested is not None
        for custom_id in requested_ids(files.requested):
            counts[custom_id] += 1
    shared = {custom_id for custom_id, n in counts.items() if n > 1}
    assert shared == {"retried", "ok-1"}

    summaries = []
    for name, ids in (("all", None), ("shared", shared)):
        summaries.append(
            write_tables(
                results,
                response_model=Triage,
                parsed_path=tmp_path / f"{name}-p.parquet",
                unparsed_path=tmp_path / f"{name}-u.parquet",
                workers=workers,
                shared_ids=ids,
            )
        )

    assert summaries[0] == summaries[1]
    for table in ("p", "u"):
        every = pq.read_table(tmp_path / f"all-{table}.parquet")
        assert pq.read_table(tmp_path / f"shared-{table}.parquet").equals(every)
