"""The set of request hashes a build claims: exact, whatever keys collide."""

import hashlib
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from synth_assets.pipeline.claims import ClaimedHashes


def sha(n: int) -> str:
    return hashlib.sha256(b"%d" % n).hexdigest()


# Slices of claims over a few distinct requests, so that repeats happen within a slice and
# across slices; with one hex digit of key, different hashes share keys all the time.
slices = st.lists(st.lists(st.integers(0, 40).map(sha), max_size=12), max_size=8)


@settings(max_examples=100, deadline=None)
@given(slices, st.sampled_from([1, 2, 16]))
def test_each_claim_is_new_exactly_when_no_earlier_claim_had_it(
    tmp_path_factory: pytest.TempPathFactory, claims: list[list[str]], key_chars: int
) -> None:
    seen: set[str] = set()
    with ClaimedHashes(tmp_path_factory.mktemp("build"), key_chars=key_chars) as claimed:
        futures = [claimed.claim(hashes) for hashes in claims]  # all queued at once
        for hashes, future in zip(claims, futures, strict=True):
            assert future.result() == set(hashes) - seen
            seen.update(hashes)


def test_its_files_are_gone_once_closed(tmp_path: Path) -> None:
    with ClaimedHashes(tmp_path) as claimed:
        assert claimed.claim([sha(1), sha(2), sha(1)]).result() == {sha(1), sha(2)}
        assert claimed.claim([sha(2), sha(3)]).result() == {sha(3)}
        assert claimed.claim([]).result() == set()

    assert list(tmp_path.iterdir()) == []
