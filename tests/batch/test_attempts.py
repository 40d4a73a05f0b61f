"""Resubmissions: the last attempt's outcome wins, earlier lines for retried ids vanish."""

from pathlib import Path

import pyarrow.parquet as pq
from helpers import Triage, chat_line, error_line, http_error_line, write_jsonl

from synth_assets.batch import Parsed, ResultFiles, iter_results, write_tables
from synth_assets.batch.records import Unparsed
from synth_assets.batch.resubmission import is_retryable


def two_attempts(tmp_path: Path) -> list[ResultFiles]:
    first_out = write_jsonl(tmp_path / "1.out.jsonl", [chat_line("a"), chat_line("d", "nope")])
    first_err = write_jsonl(
        tmp_path / "1.err.jsonl",
        [http_error_line("b", 500, code=None, message="server error", kind="server_error")],
    )
    # c is missing in attempt 1; attempt 2 retries b and c: b answers, c fails again
    second_out = write_jsonl(tmp_path / "2.out.jsonl", [chat_line("b")])
    second_err = write_jsonl(
        tmp_path / "2.err.jsonl",
        [
            http_error_line(
                "c", 429, code="rate_limit_exceeded", message="slow down", kind="requests"
            )
        ],
    )
    return [
        ResultFiles(first_out, first_err, "batch_1", "completed", ["a", "b", "c", "d"]),
        ResultFiles(second_out, second_err, "batch_2", "completed", ["b", "c"], attempt=2),
    ]


def test_the_last_attempt_decides_each_row(tmp_path: Path) -> None:
    results = two_attempts(tmp_path)

    records = list(iter_results(results, Triage))
    outcome = {
        r.custom_id: ("parsed" if isinstance(r, Parsed) else r.reason.value, r.meta.attempt)
        for r in records
    }
    assert len(records) == 4  # one row per requested id: superseded lines are no rows
    assert outcome == {
        "a": ("parsed", 1),
        "b": ("parsed", 2),
        "c": ("http_error", 2),
        "d": ("invalid_json", 1),
    }

    summary = write_tables(
        list(reversed(results)),  # the order given does not matter
        response_model=Triage,
        parsed_path=tmp_path / "parsed.parquet",
        unparsed_path=tmp_path / "unparsed.parquet",
    )
    parsed = pq.read_table(tmp_path / "parsed.parquet").to_pylist()
    unparsed = pq.read_table(tmp_path / "unparsed.parquet").to_pylist()
    assert summary.requested == 4
    assert {(r["custom_id"], r["attempt"]) for r in parsed} == {("a", 1), ("b", 2)}
    assert [(r["custom_id"], r["reason"], r["attempt"]) for r in unparsed] in (
        [("c", "http_error", 2), ("d", "invalid_json", 1)],
        [("d", "invalid_json", 1), ("c", "http_error", 2)],
    )


def test_only_transient_failures_are_retryable(tmp_path: Path) -> None:
    out = write_jsonl(tmp_path / "out.jsonl", [chat_line("ok"), chat_line("bad", "not json")])
    err = write_jsonl(
        tmp_path / "err.jsonl",
        [
            http_error_line(
                "r429", 429, code="rate_limit_exceeded", message="slow down", kind="requests"
            ),
            http_error_line("r500", 503, code=None, message="unavailable", kind="server_error"),
            http_error_line(
                "r400", 400, code="invalid_request", message="bad", kind="invalid_request_error"
            ),
            error_line("gone", "batch_expired", "expired"),
        ],
    )
    requested = ["ok", "bad", "r429", "r500", "r400", "gone", "lost"]
    records = list(iter_results(ResultFiles(out, err, requested=requested), Triage))
    retryable = {r.custom_id: r for r in records if isinstance(r, Unparsed) and is_retryable(r)}

    assert set(retryable) == {"r429", "r500", "gone", "lost"}
    assert {c: (r.reason, r.status_code) for c, r in retryable.items()} == {
        "r429": ("http_error", 429),
        "r500": ("http_error", 503),
        "gone": ("expired", None),
        "lost": ("missing", None),
    }
