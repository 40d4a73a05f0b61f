"""IdSet: the compact set behind first-answer-wins must behave exactly like a set."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from synth_assets.batch.idset import IdSet

# Ids that stress the encoding: empty, separators inside, lone surrogates, wide characters,
# prefixes and suffixes of each other.
AWKWARD = ["", "\x00", "a\x00b", "a", "ab", "b", "\ud800", "é", "請求-1", "req-1", "req-10", "eq-1"]
ids = st.lists(st.one_of(st.sampled_from(AWKWARD), st.text(max_size=12)), max_size=300)


@settings(max_examples=200, deadline=None)
@given(ids, st.sampled_from([1, 2, 64]))
def test_behaves_like_a_set(values: list[str], buckets: int) -> None:
    model: set[str] = set()
    compact = IdSet(buckets=buckets)
    for value in values:
        assert compact.add(value) == (value not in model), value
        model.add(value)
        assert value in compact
    assert len(compact) == len(model)
    assert sorted(compact) == sorted(model)
    for probe in AWKWARD:
        assert (probe in compact) == (probe in model), probe


def test_growth_keeps_every_id() -> None:
    # One starting bucket: 32 ids fill it, so 5,000 ids make it grow several times.
    compact = IdSet(buckets=1)
    values = [f"req-{i}" for i in range(5000)]
    assert all(compact.add(value) for value in values)
    assert not any(compact.add(value) for value in values)
    assert sorted(compact) == sorted(values)
    assert "req-5000" not in compact and "req-" not in compact and "eq-1" not in compact


def test_a_substring_across_two_ids_is_not_a_member() -> None:
    compact = IdSet(["ab", "cd"], buckets=1)  # one bucket holds "\0ab\0cd\0"
    assert "b\x00c" not in compact and "bc" not in compact and "abcd" not in compact
    assert "ab" in compact and "cd" in compact


def test_non_strings_are_not_members_and_buckets_must_be_a_power_of_two() -> None:
    assert 1 not in IdSet(["1"])
    with pytest.raises(ValueError, match="power of two"):
        IdSet(buckets=3)
