"""Shard files: split by request count and by bytes, each one a valid file with its identity."""

import hashlib
import json
from itertools import pairwise
from pathlib import Path

import pytest
from helpers import Triage
from hypothesis import given, settings
from hypothesis import strategies as st

from synth_assets.batch import (
    DuplicateCustomIdError,
    RequestBuilder,
    Shard,
    SynthError,
    validate_request_file,
    write_lines,
    write_shards,
)

BUILDER = RequestBuilder(model="gpt-4o-mini", response_model=Triage)


def requests(count: int, *, grow: int = 0) -> list[tuple[str, list[dict]]]:
    """``count`` requests; with ``grow``, message i is ``i * grow`` characters longer."""
    return [
        (f"email-{i:04d}", [{"role": "user", "content": f"email {i} " + "é" * (i * grow)}])
        for i in range(count)
    ]


def assert_shards_describe_their_files(shards: list[Shard], out: Path) -> None:
    assert sorted(p.name for p in out.iterdir()) == [
        f"requests-{i:05d}.jsonl" for i in range(len(shards))
    ]
    for shard in shards:
        data = Path(shard.path).read_bytes()
        ids = [json.loads(line)["custom_id"] for line in data.splitlines()]
        assert shard.bytes == len(data)
        assert shard.sha256 == hashlib.sha256(data).hexdigest()
        assert shard.requests == len(ids) == data.count(b"\n")
        assert (shard.first_custom_id, shard.last_custom_id) == (ids[0], ids[-1])
        assert (shard.model, shard.endpoint) == ("gpt-4o-mini", "/v1/chat/completions")
        assert validate_request_file(shard.path) == []


def ids_in(shards: list[Shard]) -> list[str]:
    return [
        json.loads(line)["custom_id"]
        for shard in shards
        for line in Path(shard.path).read_bytes().splitlines()
    ]


def test_count_limit_splits_in_order(tmp_path: Path) -> None:
    wanted = requests(10)

    shards = write_shards(wanted, BUILDER, tmp_path, max_requests=3)

    assert [s.requests for s in shards] == [3, 3, 3, 1]
    assert ids_in(shards) == [custom_id for custom_id, _ in wanted]
    assert_shards_describe_their_files(shards, tmp_path)


def test_byte_limit_splits_greedily_and_never_exceeds(tmp_path: Path) -> None:
    wanted = requests(12, grow=40)
    sizes = [len(BUILDER.encode(custom_id, messages)) for custom_id, messages in wanted]
    limit = max(sizes) + min(sizes)  # room for two lines at most, sometimes one

    shards = write_shards(wanted, BUILDER, tmp_path, max_bytes=limit)

    assert len(shards) > 1
    assert all(shard.bytes <= limit for shard in shards)
    assert sum(s.requests for s in shards) == len(wanted)
    assert sum(s.bytes for s in shards) == sum(sizes)
    assert ids_in(shards) == [custom_id for custom_id, _ in wanted]
    # greedy: a shard ends only when its next line would not fit
    starts = [0]
    for shard in shards:
        starts.append(starts[-1] + shard.requests)
    for shard, next_start in zip(shards[:-1], starts[1:-1], strict=True):
        assert shard.bytes + sizes[next_start] > limit
    assert_shards_describe_their_files(shards, tmp_path)


def test_both_limits_apply_together(tmp_path: Path) -> None:
    wanted = requests(20, grow=40)
    sizes = [len(BUILDER.encode(*request)) for request in wanted]
    limit = sum(sizes[:6]) - 1  # the first lines are cut by count, the longer ones by bytes

    shards = write_shards(wanted, BUILDER, tmp_path, max_requests=5, max_bytes=limit)

    assert all(s.requests <= 5 and s.bytes <= limit for s in shards)
    assert any(s.requests == 5 for s in shards) and any(s.requests < 5 for s in shards[:-1])
    assert ids_in(shards) == [custom_id for custom_id, _ in wanted]
    assert_shards_describe_their_files(shards, tmp_path)


def test_a_line_exactly_at_the_byte_limit_fits(tmp_path: Path) -> None:
    wanted = requests(3)
    limit = max(len(BUILDER.encode(*request)) for request in wanted)

    shards = write_shards(wanted, BUILDER, tmp_path, max_bytes=limit)

    assert [s.requests for s in shards] == [1, 1, 1]


def test_names_and_the_folder_are_the_callers(tmp_path: Path) -> None:
    out = tmp_path / "2024-05-01" / "triage"

    shards = write_shards(requests(2), BUILDER, out, name="triage", max_requests=1)

    assert [Path(s.path).name for s in shards] == ["triage-00000.jsonl", "triage-00001.jsonl"]
    assert all(Path(s.path).parent == out for s in shards)


def test_zero_rows_write_no_file(tmp_path: Path) -> None:
    shards = write_shards([], BUILDER, tmp_path / "out")

    assert shards == []
    assert list((tmp_path / "out").iterdir()) == []


def test_one_oversized_request_is_a_clear_error_and_leaves_nothing(tmp_path: Path) -> None:
    wanted = [*requests(4), ("huge", [{"role": "user", "content": "x" * 5000}])]
    limit = 3 * len(BUILDER.encode(*wanted[0]))

    with pytest.raises(SynthError, match=r"request 'huge' alone is \d+ bytes, over the \d+-byte"):
        write_shards(wanted, BUILDER, tmp_path, max_bytes=limit)

    assert list(tmp_path.iterdir()) == []  # no shard, no .tmp


def test_a_late_duplicate_id_leaves_nothing(tmp_path: Path) -> None:
    wanted = [*requests(6), requests(1)[0]]

    with pytest.raises(DuplicateCustomIdError, match="row 0 and row 6"):
        write_shards(wanted, BUILDER, tmp_path, max_requests=2)

    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("limits", [{"max_requests": 0}, {"max_bytes": 0}])
def test_limits_must_be_positive(limits: dict, tmp_path: Path) -> None:
    with pytest.raises(SynthError, match="positive"):
        write_shards(requests(1), BUILDER, tmp_path, **limits)


def test_a_shard_of_several_megabytes_keeps_its_bytes_in_order(tmp_path: Path) -> None:
    wanted = [
        (f"big-{i:04d}", [{"role": "user", "content": f"{i} " + "lorem ipsum " * 1000}])
        for i in range(700)
    ]

    (shard,) = write_shards(wanted, BUILDER, tmp_path)

    assert shard.bytes > 8 << 20
    assert ids_in([shard]) == [custom_id for custom_id, _ in wanted]
    assert_shards_describe_their_files([shard], tmp_path)


def greedy(sizes: list[int], max_requests: int, max_bytes: int) -> list[list[int]]:
    """The shards' lines (by position) of a line-by-line greedy split."""
    shards: list[list[int]] = []
    total = 0
    for position, size in enumerate(sizes):
        if not shards or len(shards[-1]) >= max_requests or total + size > max_bytes:
            shards.append([])
            total = 0
        shards[-1].append(position)
        total += size
    return shards


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.integers(0, 25), max_size=40),
    st.integers(1, 6),
    st.integers(30, 120),  # over the longest line (29 bytes)
    st.lists(st.integers(0, 40), max_size=8),
)
def test_lines_given_in_batches_split_as_line_by_line(
    tmp_path_factory: pytest.TempPathFactory,
    sizes: list[int],
    max_requests: int,
    max_bytes: int,
    cuts: list[int],
) -> None:
    out = tmp_path_factory.mktemp("shards")
    lines = [b"%d:" % i + b"x" * size + b"\n" for i, size in enumerate(sizes)]  # distinct
    ids = [f"r{i}" for i in range(len(lines))]
    bounds = [0, *sorted(c for c in cuts if c < len(lines)), len(lines)]
    batches = [(ids[a:b], lines[a:b]) for a, b in pairwise(bounds)]

    shards = write_lines(
        batches,
        out,
        model="gpt-4o-mini",
        endpoint="/v1/chat/completions",
        max_requests=max_requests,
        max_bytes=max_bytes,
    )

    expected = greedy([len(line) for line in lines], max_requests, max_bytes)
    assert [Path(s.path).read_bytes() for s in shards] == [
        b"".join(lines[p] for p in shard) for shard in expected
    ]
    assert [(s.requests, s.first_custom_id, s.last_custom_id) for s in shards] == [
        (len(shard), ids[shard[0]], ids[shard[-1]]) for shard in expected
    ]
