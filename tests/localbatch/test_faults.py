"""Fault specs: parsing, deterministic per-custom_id draws, rates that hold."""

from collections import Counter

import pytest
from hypothesis import given
from hypothesis import strategies as st

from synth_assets.localbatch.faults import FaultKind, Faults, FaultSpecError


def test_a_spec_round_trips() -> None:
    faults = Faults.parse(" http_429=0.02, invalid_json=0.01 ,batch_failed", seed=5)
    assert dict(faults.rates) == {
        FaultKind.HTTP_429: 0.02,
        FaultKind.INVALID_JSON: 0.01,
        FaultKind.BATCH_FAILED: 1.0,
    }
    assert Faults.parse(faults.spec, seed=5) == faults


@pytest.mark.parametrize(
    ("spec", "names"),
    [
        ("gremlins=0.1", "gremlins"),
        ("http_429=lots", "lots"),
        ("http_429=1.5", "1.5"),
        ("http_429=0.6,refusal=0.6", "add up"),
    ],
)
def test_a_bad_spec_says_what_is_wrong(spec: str, names: str) -> None:
    with pytest.raises(FaultSpecError, match=names):
        Faults.parse(spec)


def test_no_spec_means_no_faults() -> None:
    assert Faults.parse("").for_request("anything") is None
    assert not Faults.parse(None).batch_fails("batch_x")


@given(custom_id=st.text(max_size=64), seed=st.integers(0, 2**31))
def test_the_draw_depends_only_on_seed_and_custom_id(custom_id: str, seed: int) -> None:
    spec = "http_500=0.3,refusal=0.3,missing=0.3"
    assert Faults.parse(spec, seed).for_request(custom_id) == Faults.parse(spec, seed).for_request(
        custom_id
    )


def test_rates_hold_over_many_requests() -> None:
    faults = Faults.parse("http_429=0.1,truncated=0.2,duplicate=0.05", seed=1)
    drawn = Counter(faults.for_request(f"row-{i}") for i in range(20000))
    assert abs(drawn[FaultKind.HTTP_429] / 20000 - 0.1) < 0.01
    assert abs(drawn[FaultKind.TRUNCATED] / 20000 - 0.2) < 0.015
    assert abs(drawn[FaultKind.DUPLICATE] / 20000 - 0.05) < 0.01
    assert abs(drawn[None] / 20000 - 0.65) < 0.015


def test_another_seed_picks_other_requests() -> None:
    ids = [f"row-{i}" for i in range(200)]
    first = [Faults.parse("refusal=0.5", 1).for_request(i) for i in ids]
    second = [Faults.parse("refusal=0.5", 2).for_request(i) for i in ids]
    assert first != second


def test_batch_failure_is_drawn_per_batch() -> None:
    assert Faults.parse("batch_failed=1").batch_fails("batch_a")
    assert not Faults.parse("batch_failed=0").batch_fails("batch_a")
    assert Faults.parse("batch_failed=1").for_request("row") is None  # not a per-request fault
