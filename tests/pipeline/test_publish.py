"""A day's tables assembled from the record: the streaming path (scratch files, nothing per
row held beyond a batch) gives exactly the tables the in-memory path gave."""

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pydantic import BaseModel
from pydantic_core import from_json, to_json

from synth_assets.batch import (
    LineMeta,
    ParseSummary,
    Reason,
    ResultFiles,
    Unparsed,
    write_tables,
)
from synth_assets.pipeline import progress, publish
from synth_assets.pipeline.collect import classify_results
from synth_assets.pipeline.estimate import Estimate
from synth_assets.pipeline.plan import (
    INVALID_INPUTS_FILE,
    MANIFEST_FILE,
    MANIFEST_SCHEMA,
    PLAN_FILE,
    Build,
    Policy,
    invalid_inputs,
    iter_manifest,
)
from synth_assets.pipeline.record import RequestRecord, Send


class Label(BaseModel):
    label: Literal["spam", "ham"]


class _Task:
    response_model = Label


def _answer(custom_id: str, text: str, request_id: str = "req_1") -> bytes:
    body = {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "model": "gpt-4o-mini-2024-07-18",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": text, "refusal": None},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 30, "completion_tokens": 5, "total_tokens": 35},
    }
    line = {
        "id": f"batch_req_{custom_id}",
        "custom_id": custom_id,
        "response": {"status_code": 200, "request_id": request_id, "body": body},
        "error": None,
    }
    return json.dumps(line).encode()


def _http_error(custom_id: str) -> bytes:
    body = {"error": {"message": "boom", "type": "server_error", "param": None, "code": None}}
    line = {
        "id": f"batch_req_{custom_id}",
        "custom_id": custom_id,
        "response": {"status_code": 500, "request_id": "req_err", "body": body},
        "error": None,
    }
    return json.dumps(line).encode()


SPAM, HAM = '{"label": "spam"}', '{"label": "ham"}'


def _collect(record: RequestRecord, tmp: Path, batch_id: str, attempt: int, **lines: Any) -> None:
    """Record a batch of ``sends`` and collect its output / error lines, as collect does."""
    sends: list[Send] = lines["sends"]
    record.record_batch(
        batch_id, partition="2026-11-01", sha256=f"sha-{batch_id}", attempt=attempt, round_=1,
        path="requests.jsonl", status="validating", sends=sends,
    )  # fmt: skip
    files = []
    for source in ("output", "error"):
        if lines.get(source):
            path = tmp / f"{batch_id}.{source}.jsonl"
            path.write_bytes(b"".join(line + b"\n" for line in lines[source]))
            files.append((source, path))
    answers, extra, usage = classify_results(
        Label, batch_id, files, record.sends(batch_id), lines.get("status", "completed")
    )
    assert record.record_results(batch_id, lines.get("status", "completed"), answers, extra, usage)


@pytest.fixture
def day(tmp_path: Path) -> tuple[RequestRecord, Path]:
    """A settled day with every awkward case at once.

    Rows: a, b (a second answer follows), c (invalid JSON, then answered by attempt 2),
    d (missing from its batch), e (HTTP 500), f (the same request as a: answered under a's
    id), h and k (answered in a second batch), i and j (invalid inputs, never sent). Row g
    was removed from the day after it was sent: its second answer is left out. The first
    batch also holds a stray line and a line for an id never requested.
    """
    record = RequestRecord(tmp_path / "record.sqlite", "http://127.0.0.1:1/v1")
    results = tmp_path / "results"
    results.mkdir()
    first = [Send(c, f"h-{c}", 1, 1) for c in "abcdeg"]
    _collect(
        record, results, "batch_1", 1,
        sends=first,
        output=[
            _answer("a", SPAM), _answer("b", HAM), _answer("c", "not json"),
            _answer("g", HAM), _answer("b", SPAM, "req_2"), _answer("g", SPAM, "req_3"),
            b"a stray line", _answer("zz", HAM),
        ],
        error=[_http_error("e")],
    )  # fmt: skip
    _collect(record, results, "batch_2", 1, sends=[Send(c, f"h-{c}", 1, 1) for c in "hk"],
             output=[_answer("k", HAM), _answer("h", SPAM)])  # fmt: skip
    _collect(record, results, "batch_3", 2, sends=[Send("c", "h-c", 2, 1)],
             output=[_answer("c", HAM)])  # fmt: skip
    build = tmp_path / "build"
    build.mkdir()
    rows = [("a", "h-a"), ("b", "h-b"), ("c", "h-c"), ("d", "h-d"), ("e", "h-e"),
            ("f", "h-a"), ("h", "h-h"), ("k", "h-k")]  # fmt: skip
    pq.write_table(
        pa.table([[c for c, _ in rows], [h for _, h in rows]], schema=MANIFEST_SCHEMA),
        build / MANIFEST_FILE,
    )
    (build / INVALID_INPUTS_FILE).write_bytes(
        b"".join(
            to_json({"custom_id": c, "problem": "empty text", "text": ""}) + b"\n" for c in "ij"
        )
    )
    yield record, build  # type: ignore[misc]
    record.close()


def _in_memory_tables(
    record: RequestRecord, folder: Path, parsed: Path, unparsed: Path, scratch: Path
) -> ParseSummary:
    """The tables as assemble_tables wrote them before it streamed: every group's requested
    ids and hashes, and every reason-without-line row, held as Python objects."""
    scratch.mkdir(parents=True)
    groups: dict[tuple[str, int], tuple[Path, list[bytes], list[str], dict[str, str]]] = {}
    without_line: list[Unparsed] = []
    for ids, hashes in iter_manifest(folder):
        outcomes, lines = record.outcomes(hashes), record.lines(hashes)
        for custom_id, request_hash in zip(ids, hashes, strict=True):
            outcome, line = outcomes[request_hash], lines.get(request_hash)
            if line is None:
                meta = LineMeta(
                    batch_id=outcome.batch_id, attempt=outcome.attempt, request_hash=request_hash
                )
                without_line.append(
                    Unparsed(custom_id, Reason(outcome.reason), outcome.message,
                             source="request", status_code=outcome.status_code, meta=meta)
                )  # fmt: skip
                continue
            if outcome.custom_id != custom_id:
                answer = from_json(line)
                answer["custom_id"] = custom_id
                line = to_json(answer)
            key = (outcome.batch_id, outcome.attempt or 1)
            path = scratch / f"{key[0]}.a{key[1]}.jsonl"
            group = groups.setdefault(key, (path, [], [], {}))  # type: ignore[arg-type]
            group[1].append(line)
            group[2].append(custom_id)
            group[3][custom_id] = request_hash
    used: dict[str, set[str]] = {}
    firsts: dict[str, list[bytes]] = {}
    for (batch_id, _), group in groups.items():
        firsts.setdefault(batch_id, group[1])
        used.setdefault(batch_id, set()).update(group[2])
    for batch_id, extra in record.extra_lines(list(firsts)).items():
        sent = record.sends(batch_id)
        for line in extra:
            custom_id = publish._custom_id(line)
            if custom_id in sent and custom_id not in used[batch_id]:
                continue
            firsts[batch_id].append(line)
    for path, lines, _, _ in groups.values():
        path.write_bytes(b"".join(line + b"\n" for line in lines))
    return write_tables(
        [
            ResultFiles(
                path,
                batch_id=batch_id,
                status="completed",
                requested=requested,
                attempt=attempt,
                request_hashes=hashes,
            )
            for (batch_id, attempt), (path, _, requested, hashes) in groups.items()
        ],
        response_model=Label,
        parsed_path=parsed,
        unparsed_path=unparsed,
        rejected_inputs=[*invalid_inputs(folder), *without_line],
    )


def _assembled_as_in_memory(record: RequestRecord, build: Path, tmp_path: Path) -> ParseSummary:
    """Assemble the day's tables (streamed) into ``tmp_path/new`` and check they and their
    summary equal those of the in-memory version (``tmp_path/old``); the summary."""
    old = tmp_path / "old"
    expected = _in_memory_tables(
        record, build, old / "parsed.parquet", old / "unparsed.parquet", old / "scratch"
    )
    new = tmp_path / "new"
    summary = publish.assemble_tables(
        _Task(), record, build, new / "parsed.parquet", new / "unparsed.parquet",  # type: ignore[arg-type]
        new / "scratch",
    )  # fmt: skip

    assert summary == expected
    for table in ("parsed", "unparsed"):
        assert (
            pq.read_table(new / f"{table}.parquet").to_pylist()
            == pq.read_table(old / f"{table}.parquet").to_pylist()
        )
    return summary


@pytest.mark.parametrize("slice_rows", [progress.LOOKUP_ROWS, 1])
def test_streamed_tables_equal_the_in_memory_ones(
    day: tuple[RequestRecord, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    slice_rows: int,
) -> None:
    record, build = day
    # With a row at a time, every group's scratch files are appended to slice after slice.
    monkeypatch.setattr(progress, "LOOKUP_ROWS", slice_rows)
    summary = _assembled_as_in_memory(record, build, tmp_path)
    new = tmp_path / "new"
    assert not (new / "scratch").exists()
    # The day's story, not only agreement: every current row once, extras apart.
    parsed = pq.read_table(new / "parsed.parquet").to_pylist()
    unparsed = pq.read_table(new / "unparsed.parquet").to_pylist()
    assert sorted(r["custom_id"] for r in parsed) == ["a", "b", "c", "f", "h", "k"]
    assert {r["custom_id"]: r["request_hash"] for r in parsed}["f"] == "h-a"
    rows = sorted((r["custom_id"] or "", r["reason"]) for r in unparsed)
    assert rows == [
        ("", "invalid_line"), ("", "invalid_line"),  # the stray line, and the one for "zz"
        ("b", "duplicate"), ("d", "missing"), ("e", "http_error"),
        ("i", "invalid_input"), ("j", "invalid_input"),
    ]  # fmt: skip
    assert summary.requested == 10
    assert summary.parsed + summary.unparsed - summary.extra_lines == 10


def test_an_invalid_input_sharing_a_rows_id_is_decided_as_before(
    day: tuple[RequestRecord, Path], tmp_path: Path
) -> None:
    """The parser remembers across batches only the ids more than one row holds: here an
    input row never sent shares its custom_id with a current row of each batch (a, h).
    The tables are still exactly those of remembering every id."""
    record, build = day
    (build / INVALID_INPUTS_FILE).write_bytes(
        b"".join(
            to_json({"custom_id": c, "problem": "empty text", "text": ""}) + b"\n" for c in "ijah"
        )
    )
    _assembled_as_in_memory(record, build, tmp_path)
    new = tmp_path / "new"
    unparsed = pq.read_table(new / "unparsed.parquet").to_pylist()
    assert ("a", "duplicate") in {(r["custom_id"], r["reason"]) for r in unparsed}


def test_one_groups_requests_are_held_at_a_time(tmp_path: Path) -> None:
    """What a group requested is read back from its scratch files, appended slice after
    slice, when the parser reaches the group; the group read before is dropped then."""
    first, second = (
        publish._Group(tmp_path / f"{n}.jsonl", tmp_path / f"{n}.requests.arrow") for n in "ab"
    )
    first.append([b"1", b"2"], ["a", "b"], ["h-a", "h-b"])
    second.append([b"3"], ["c"], ["h-c"])
    first.append([b"4"], ["d"], ["h-d"])
    loaded: list[publish._GroupRequests] = []
    firsts, seconds = publish._GroupRequests(first, loaded), publish._GroupRequests(second, loaded)

    assert dict(firsts) == {"a": "h-a", "b": "h-b", "d": "h-d"}
    assert seconds.get("c") == "h-c" and seconds.get("a") is None
    assert loaded == [seconds] and firsts._hashes is None
    assert list(firsts) == ["a", "b", "d"]
    assert first.lines.read_bytes() == b"1\n2\n4\n"


@pytest.mark.parametrize("slice_rows", [1, 3])
def test_tables_from_the_outcomes_an_evaluation_kept(
    day: tuple[RequestRecord, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    slice_rows: int,
) -> None:
    """Once the day is evaluated, the tables are assembled from where it found each row's
    outcome (no outcome read from the record again): the same tables. A batch recorded
    since makes that stale, and the record is read instead."""
    record, build = day
    monkeypatch.setattr(progress, "LOOKUP_ROWS", slice_rows)  # several slices
    estimate = Estimate(0, 0, 0, None, None, False)
    plan = Build(str(build), 10, 2, {}, [], 0, 0, 1, "m", estimate)
    (build / PLAN_FILE).write_bytes(to_json(plan))
    progress.current_progress(record, build, Policy())
    with progress.stored_outcomes(record, build) as kept:
        assert kept is not None
        assert sum(b.num_rows for b in kept) == 8

    _assembled_as_in_memory(record, build, tmp_path / "kept")

    _collect(record, tmp_path, "batch_4", 1, sends=[Send("z", "h-z", 1, 1)], output=[])
    with progress.stored_outcomes(record, build) as kept:
        assert kept is None


def test_a_batch_holding_several_attempts(tmp_path: Path) -> None:
    """A batch sends new requests and retries together: its rows form one group per
    attempt, each in scratch files of its own."""
    with RequestRecord(tmp_path / "record.sqlite", "http://127.0.0.1:1/v1") as record:
        sends = [Send("a", "h-a", 1, 1), Send("b", "h-b", 2, 1), Send("c", "h-c", 2, 1)]
        output = [_answer("a", SPAM), _answer("b", HAM), _answer("c", SPAM)]
        _collect(record, tmp_path, "batch_1", 1, sends=sends, output=output)
        build = tmp_path / "build"
        build.mkdir()
        table = pa.table([["a", "b", "c"], ["h-a", "h-b", "h-c"]], schema=MANIFEST_SCHEMA)
        pq.write_table(table, build / MANIFEST_FILE)

        summary = _assembled_as_in_memory(record, build, tmp_path)

        assert (summary.parsed, summary.unparsed) == (3, 0)
        parsed = pq.read_table(tmp_path / "new" / "parsed.parquet").to_pylist()
        assert {r["custom_id"]: r["attempt"] for r in parsed} == {"a": 1, "b": 2, "c": 2}


class _RacingRecord(RequestRecord):
    """The real record, while another process records a batch as soon as the first lines
    are read (through a connection of its own)."""

    raced = False

    def lines(self, hashes: Sequence[str]) -> dict[str, bytes]:
        if not self.raced:
            self.raced = True
            with RequestRecord(self.path, self.backend) as other:
                other.record_batch(
                    "batch_9", partition="2026-11-02", sha256="s", attempt=1, round_=1,
                    path="r.jsonl", status="validating", sends=[Send("z", "h-z", 1, 1)],
                )  # fmt: skip
        return super().lines(hashes)


def test_a_change_while_assembling_from_kept_outcomes_assembles_from_the_record(
    day: tuple[RequestRecord, Path], tmp_path: Path
) -> None:
    """Another process records a batch while the day is assembled from the outcomes its
    evaluation kept (another day's run, in a backfill): the day is assembled again from the
    record, and its tables are those the record gives (no failed run, nothing mixed)."""
    record, build = day
    estimate = Estimate(0, 0, 0, None, None, False)
    (build / PLAN_FILE).write_bytes(
        to_json(Build(str(build), 10, 2, {}, [], 0, 0, 1, "m", estimate))
    )
    progress.current_progress(record, build, Policy())
    racing = _RacingRecord(record.path, record.backend)
    raced = tmp_path / "raced"

    summary = publish.assemble_tables(
        _Task(), racing, build, raced / "parsed.parquet", raced / "unparsed.parquet",  # type: ignore[arg-type]
        raced / "scratch",
    )  # fmt: skip

    racing.close()
    assert racing.raced
    with progress.stored_outcomes(record, build) as kept:
        assert kept is None  # stale: the race happened
    assert summary == _assembled_as_in_memory(record, build, tmp_path)
    for table in ("parsed", "unparsed"):
        assert (
            pq.read_table(raced / f"{table}.parquet").to_pylist()
            == pq.read_table(tmp_path / "new" / f"{table}.parquet").to_pylist()
        )
