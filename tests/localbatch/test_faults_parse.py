"""Every injected fault, parsed by the batch library into the right reason, nothing lost."""

from collections import Counter
from pathlib import Path

import openai
import pytest

from synth_assets.batch import Parsed, Reason, parse_results
from synth_assets.localbatch.faults import FaultKind, Faults

from .helpers import MODES, Triage, download, submit, wait, write_requests

# Every per-request fault at 8%: about 80% of the requests carry one, the rest are clean.
SPEC = ",".join(f"{kind}=0.08" for kind in FaultKind if kind is not FaultKind.BATCH_FAILED)
EXPECTED = {
    FaultKind.HTTP_429: Reason.HTTP_ERROR,
    FaultKind.HTTP_500: Reason.HTTP_ERROR,
    FaultKind.REQUEST_ERROR: Reason.REQUEST_ERROR,
    FaultKind.INVALID_JSON: Reason.INVALID_JSON,
    FaultKind.SCHEMA_MISMATCH: Reason.SCHEMA_MISMATCH,
    FaultKind.REFUSAL: Reason.REFUSAL,
    FaultKind.TRUNCATED: Reason.TRUNCATED,
    FaultKind.CONTENT_FILTER: Reason.CONTENT_FILTER,
    FaultKind.MISSING: Reason.MISSING,
    FaultKind.DUPLICATE: None,  # the first answer parses; the second is a duplicate row
    None: None,
}


def _parse(client: openai.OpenAI, batch, requests: Path, tmp_path: Path) -> list:
    return list(
        parse_results(
            download(client, batch.output_file_id, tmp_path / "out.jsonl"),
            download(client, batch.error_file_id, tmp_path / "err.jsonl"),
            response_model=Triage,
            requested=requests,
            batch_id=batch.id,
            status=batch.status,
        )
    )


def _assert_conserved(records: list, ids: list[str]) -> None:
    """Every requested id ends exactly once outside the extra-line rows."""
    rows = Counter(r.custom_id for r in records if isinstance(r, Parsed) or not r.is_extra_line)
    assert sorted(rows) == sorted(ids)
    assert set(rows.values()) == {1}


@pytest.mark.parametrize(("mode", "endpoint"), MODES)
def test_every_fault_kind_is_parsed_into_its_reason_with_conservation(
    openai_client: openai.OpenAI, tmp_path: Path, mode: str, endpoint: str
) -> None:
    requests = tmp_path / "requests.jsonl"
    ids = write_requests(requests, 400, mode=mode, endpoint=endpoint)
    batch = wait(
        openai_client,
        submit(
            openai_client,
            requests,
            endpoint=endpoint,
            metadata={"localbatch_faults": SPEC, "localbatch_seed": "7"},
        ).id,
    )
    assert batch.status == "completed"

    records = _parse(openai_client, batch, requests, tmp_path)

    _assert_conserved(records, ids)
    faults = Faults.parse(SPEC, seed=7)
    injected = {custom_id: faults.for_request(custom_id, batch.id) for custom_id in ids}
    assert set(injected.values()) == set(EXPECTED)  # 400 draws hit every kind
    for record in records:
        if not isinstance(record, Parsed) and record.reason is Reason.DUPLICATE:
            assert injected[record.custom_id] is FaultKind.DUPLICATE
            continue
        expected = EXPECTED[injected[record.custom_id]]
        got = None if isinstance(record, Parsed) else record.reason
        assert got == expected, (record.custom_id, injected[record.custom_id], record)
    duplicates = sum(
        1 for r in records if not isinstance(r, Parsed) and r.reason is Reason.DUPLICATE
    )
    assert duplicates == Counter(injected.values())[FaultKind.DUPLICATE]
    counts = batch.request_counts
    failed = sum(
        1
        for kind in injected.values()
        if kind in (FaultKind.HTTP_429, FaultKind.HTTP_500, FaultKind.REQUEST_ERROR)
    )
    assert (counts.total, counts.failed, counts.completed) == (400, failed, 400 - failed)


@pytest.mark.parametrize("ending", ["cancelled", "expired"])
def test_requests_never_run_are_parsed_as_cancelled_or_expired(
    openai_client: openai.OpenAI, tmp_path: Path, ending: str
) -> None:
    requests = tmp_path / "requests.jsonl"
    ids = write_requests(requests, 60)
    metadata = {"localbatch_chunk_size": "5", "localbatch_delay_s": "0.1"}
    if ending == "expired":
        metadata["localbatch_expire_after_s"] = "0.4"
    batch = submit(openai_client, requests, metadata=metadata)
    if ending == "cancelled":
        wait(openai_client, batch.id, until=lambda b: b.request_counts.completed >= 5)
        openai_client.batches.cancel(batch.id)
    batch = wait(openai_client, batch.id)
    assert batch.status == ending

    records = _parse(openai_client, batch, requests, tmp_path)

    _assert_conserved(records, ids)
    reasons = Counter(None if isinstance(r, Parsed) else r.reason for r in records)
    assert set(reasons) == {None, Reason(ending)}
    assert reasons[None] == batch.request_counts.completed


def test_a_failed_batch_leaves_every_request_batch_failed(
    openai_client: openai.OpenAI, tmp_path: Path
) -> None:
    requests = tmp_path / "requests.jsonl"
    ids = write_requests(requests, 10)
    batch = wait(
        openai_client,
        submit(openai_client, requests, metadata={"localbatch_faults": "batch_failed=1"}).id,
    )

    records = _parse(openai_client, batch, requests, tmp_path)

    _assert_conserved(records, ids)
    assert {r.reason for r in records} == {Reason.BATCH_FAILED}
