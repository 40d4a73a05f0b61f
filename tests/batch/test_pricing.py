"""Prices: the genai-prices table at half price, our overrides first, unknown never zero."""

import pytest

from synth_assets.batch.pricing import batch_cost


def test_a_known_model_costs_half_its_published_price() -> None:
    # gpt-4o-mini is published at $0.15 in / $0.60 out per 1M tokens.
    cost = batch_cost("gpt-4o-mini-2024-07-18", 1_000_000, 1_000_000)
    assert cost.priced_as == "gpt-4o-mini"
    assert cost.usd == pytest.approx((0.15 + 0.60) / 2)


def test_an_override_prices_a_model_the_table_lacks_and_replaces_one_it_has() -> None:
    prices = {"my-vllm-model": (1.0, 3.0), "gpt-4o-mini": (10.0, 10.0)}
    assert batch_cost("my-vllm-model", 1_000_000, 0, prices).usd == pytest.approx(0.5)
    assert batch_cost("my-vllm-model-2026-01-01", 0, 1_000_000, prices).usd == pytest.approx(1.5)
    assert batch_cost("gpt-4o-mini", 1_000_000, 0, prices).usd == pytest.approx(5.0)


def test_a_model_priced_nowhere_has_an_unknown_cost_never_zero() -> None:
    cost = batch_cost("my-vllm-model", 1_000_000, 1_000_000)
    assert cost.usd is None
    assert "unknown" in str(cost)
