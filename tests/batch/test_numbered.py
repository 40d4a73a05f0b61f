"""The numbered fast path writes exactly what the general path writes."""

from pathlib import Path

from helpers import Triage

from synth_assets.batch import RequestBuilder, numbered, validate_request_file, write_request_file
from synth_assets.batch.shards import write_numbered_file

MESSAGES = [
    [{"role": "system", "content": "100% sure? say %s or %d"}, {"role": "user", "content": m}]
    for m in ("héllo", "same", "same", 'quote " and \\ backslash', "emoji 🎉\nnewline")
] * 3000  # several chunks


def test_numbered_fast_path_matches_the_general_path(tmp_path: Path) -> None:
    builder = RequestBuilder(model="gpt-4o-mini", response_model=Triage, params={"seed": 7})

    fast = write_numbered_file(iter(MESSAGES), builder, tmp_path / "fast.jsonl")
    general = write_request_file(numbered(MESSAGES), builder, tmp_path / "general.jsonl")

    assert (tmp_path / "fast.jsonl").read_bytes() == (tmp_path / "general.jsonl").read_bytes()
    same = ("requests", "bytes", "sha256", "first_custom_id", "last_custom_id")
    assert [getattr(fast, k) for k in same] == [getattr(general, k) for k in same]
    assert fast.last_custom_id == f"request-{len(MESSAGES) - 1}"
    assert validate_request_file(fast.path) == []


def test_no_messages_write_an_empty_file(tmp_path: Path) -> None:
    builder = RequestBuilder(model="gpt-4o-mini", response_model=Triage)

    shard = write_numbered_file([], builder, tmp_path / "empty.jsonl")

    assert (shard.requests, shard.bytes) == (0, 0)
    assert (tmp_path / "empty.jsonl").read_bytes() == b""
