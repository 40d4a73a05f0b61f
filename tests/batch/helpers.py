"""Result lines as the Batch API (and Azure OpenAI) serve them, and ways to compare outcomes.

The shapes follow ../shared/reference/batch-api.md and the providers' documented examples;
they are built here because no server produces the failure shapes on demand.
"""

import enum
import json
from collections.abc import Iterable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
from pydantic import BaseModel

from synth_assets.batch import Parsed, Reason, Unparsed


class Labels(str, enum.Enum):
    """Enumeration for single-label text classification."""

    SPAM = "spam"
    NOT_SPAM = "not_spam"


class Triage(BaseModel):
    """One email's triage."""

    label: Labels
    summary: str


MODEL_NAME = "gpt-4o-mini-2024-07-18"


def content(label: str = "spam", summary: str = "a prince offers money") -> str:
    """A schema-valid answer for :class:`Triage`, as the model's JSON text."""
    return json.dumps({"label": label, "summary": summary})


# ---- /v1/chat/completions ----


def chat_body(
    text: str | None = None,
    *,
    finish_reason: str = "stop",
    refusal: str | None = None,
    tool_arguments: str | None = None,
    usage: tuple[int, int] = (40, 12),
) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": text, "refusal": refusal}
    if tool_arguments is not None:
        message["tool_calls"] = [
            {
                "id": "call_abc",
                "type": "function",
                "function": {"name": "Triage", "arguments": tool_arguments},
            }
        ]
    prompt, completion = usage
    return {
        "id": "chatcmpl-123",
        "object": "chat.completion",
        "created": 1_722_477_079,
        "model": MODEL_NAME,
        "choices": [
            {"index": 0, "message": message, "logprobs": None, "finish_reason": finish_reason}
        ],
        "usage": {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
        },
        "system_fingerprint": "fp_1234",
    }


def ok_line(
    custom_id: str, body: Any, *, request_id: str = "req_1", with_id: bool = True
) -> dict[str, Any]:
    """A 200 line of an output file."""
    line: dict[str, Any] = {"id": f"batch_req_{custom_id}"} if with_id else {}
    line.update(
        custom_id=custom_id,
        response={"status_code": 200, "request_id": request_id, "body": body},
        error=None,
    )
    return line


_VALID: Any = object()


def chat_line(custom_id: str, text: str | None = _VALID, **kwargs: Any) -> dict[str, Any]:
    """A 200 chat.completions line whose message content is ``text`` (default: valid)."""
    return ok_line(custom_id, chat_body(content() if text is _VALID else text, **kwargs))


def http_error_line(
    custom_id: str, status: int, *, code: str | None, message: str, kind: str
) -> dict[str, Any]:
    """A non-200 line of an error file: the error is in ``response.body``, ``error`` is null."""
    body = {"error": {"message": message, "type": kind, "param": None, "code": code}}
    return {
        "id": f"batch_req_{custom_id}",
        "custom_id": custom_id,
        "response": {"status_code": status, "request_id": "req_err", "body": body},
        "error": None,
    }


def error_line(custom_id: str, code: str, message: str) -> dict[str, Any]:
    """An error-file line with ``response: null`` and an ``error`` object."""
    return {
        "id": f"batch_req_{custom_id}",
        "custom_id": custom_id,
        "response": None,
        "error": {"code": code, "message": message},
    }


# ---- /v1/responses ----


def responses_body(
    output: list[dict[str, Any]],
    *,
    status: str = "completed",
    incomplete: str | None = None,
) -> dict[str, Any]:
    return {
        "id": "resp_123",
        "object": "response",
        "created_at": 1_741_476_542,
        "status": status,
        "model": "o4-mini-2025-04-16",
        "output": output,
        "incomplete_details": {"reason": incomplete} if incomplete else None,
        "error": None,
        "usage": {
            "input_tokens": 36,
            "input_tokens_details": {"cached_tokens": 0},
            "output_tokens": 87,
            "output_tokens_details": {"reasoning_tokens": 64},
            "total_tokens": 123,
        },
    }


REASONING_ITEM = {"id": "rs_1", "type": "reasoning", "summary": []}


def message_item(text: str) -> dict[str, Any]:
    return {
        "id": "msg_1",
        "type": "message",
        "status": "completed",
        "role": "assistant",
        "content": [{"type": "output_text", "text": text, "annotations": []}],
    }


def function_call_item(arguments: str) -> dict[str, Any]:
    return {
        "id": "fc_1",
        "type": "function_call",
        "status": "completed",
        "call_id": "call_1",
        "name": "Triage",
        "arguments": arguments,
    }


# ---- Azure OpenAI (no "id"; body first; request ids are UUIDs) ----


def azure_ok_line(custom_id: str, text: str) -> dict[str, Any]:
    body = chat_body(text)
    body["choices"][0]["content_filter_results"] = {"hate": {"filtered": False, "severity": "safe"}}
    return {
        "custom_id": custom_id,
        "response": {
            "body": body,
            "request_id": "660b7424-b648-4b67-addc-862ba067d442",
            "status_code": 200,
        },
        "error": None,
    }


def azure_filtered_line(custom_id: str) -> dict[str, Any]:
    """Azure's prompt-filter rejection: a 400 whose body is served as a JSON *string*."""
    error = {
        "error": {
            "message": "The response was filtered due to the prompt triggering Azure OpenAI's "
            "content management policy.",
            "type": None,
            "param": "prompt",
            "code": "content_filter",
            "status": 400,
            "innererror": {"code": "ResponsibleAIPolicyViolation"},
        }
    }
    return {
        "custom_id": custom_id,
        "response": {
            "body": json.dumps(error),
            "request_id": "7f1c0e9a-0000-4000-8000-000000000000",
            "status_code": 400,
        },
        "error": None,
    }


# ---- files ----


def dumps(line: Any, *, ascii_only: bool = False) -> str:
    return line if isinstance(line, str) else json.dumps(line, ensure_ascii=ascii_only)


def write_jsonl(
    path: Path, lines: Iterable[Any], *, newline: str = "\n", final_newline: bool = True
) -> Path:
    """Write lines (dicts are dumped, strings kept verbatim) as a JSONL file."""
    text = newline.join(dumps(line) for line in lines)
    path.write_bytes((text + (newline if final_newline else "")).encode())
    return path


# ---- outcomes, comparable across parse_results and parse_to_parquet ----


def _key(row: dict[str, Any]) -> tuple[str, ...]:
    return tuple(json.dumps(row[k], sort_keys=True, default=str) for k in sorted(row))


def outcome_from_records(
    records: Iterable[Parsed | Unparsed],
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(parsed rows, unparsed rows) as sorted plain dicts."""
    parsed, unparsed = [], []
    for record in records:
        if isinstance(record, Parsed):
            row = {"custom_id": record.custom_id, **record.value.model_dump(mode="json")}
            row.update(asdict(record.meta))
            parsed.append(row)
        else:
            unparsed.append(record.as_row())
    return sorted(parsed, key=_key), sorted(unparsed, key=_key)


def outcome_from_parquet(
    parsed_path: Path, unparsed_path: Path, response_model: type[BaseModel]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The same rows read back from the two Parquet files (values re-validated by the model)."""
    fields = set(response_model.model_fields)
    parsed = []
    for row in pq.read_table(parsed_path).to_pylist():
        value = response_model.model_validate({k: v for k, v in row.items() if k in fields})
        parsed.append({**row, **value.model_dump(mode="json")})
    unparsed = pq.read_table(unparsed_path).to_pylist()
    return sorted(parsed, key=_key), sorted(unparsed, key=_key)


def stands_for_a_request(row: dict[str, Any]) -> bool:
    """An unparsed row that is a requested id's outcome, not an extra line (a second answer,
    or a line naming no requested id, which keeps no custom_id)."""
    return row["reason"] != Reason.DUPLICATE.value and row["custom_id"] is not None


def reasons(unparsed_rows: Iterable[dict[str, Any]]) -> dict[str | None, str]:
    """custom_id -> reason for the rows that stand for requested ids (not extra lines)."""
    return {r["custom_id"]: r["reason"] for r in unparsed_rows if stands_for_a_request(r)}


Outcome = tuple[list[dict[str, Any]], list[dict[str, Any]]]


def parse_both(
    folder: Path,
    output: Path | None,
    error: Path | None = None,
    *,
    response_model: type[BaseModel] = Triage,
    workers: tuple[int, ...] = (1, 2),
    **options: Any,
) -> tuple[Outcome, Outcome]:
    """The outcomes of ``parse_results`` and of ``parse_to_parquet`` over the same files.

    ``parse_to_parquet`` runs once per worker count (2 forks worker processes); those runs
    must agree with each other, and the first one is returned.
    """
    from synth_assets.batch import parse_results, parse_to_parquet

    if "requested" in options and not isinstance(options["requested"], str | Path):
        options["requested"] = list(options["requested"])  # read more than once
    streamed = outcome_from_records(
        parse_results(output, error, response_model=response_model, **options)
    )
    tabled = []
    for count in workers:
        parsed_path = folder / f"workers-{count}" / "parsed.parquet"
        unparsed_path = folder / f"workers-{count}" / "unparsed.parquet"
        parse_to_parquet(
            output,
            error,
            response_model=response_model,
            parsed_path=parsed_path,
            unparsed_path=unparsed_path,
            workers=count,
            **options,
        )
        tabled.append(outcome_from_parquet(parsed_path, unparsed_path, response_model))
    assert all(outcome == tabled[0] for outcome in tabled), "worker counts disagree"
    return streamed, tabled[0]
