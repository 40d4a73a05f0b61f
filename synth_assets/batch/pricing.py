"""What a batch costs: a configurable price table with published defaults.

Prices are USD per 1M tokens at the standard (synchronous) rate, as published around
March 2026; the Batch API charges half. A model missing from the table has an unknown
cost (None), never zero. Dated names (``gpt-4o-mini-2024-07-18``) map to their family.
"""

import re
from collections.abc import Mapping
from dataclasses import dataclass

STANDARD_PRICES: Mapping[str, tuple[float, float]] = {
    "gpt-4o": (2.50, 10.00),
    "gpt-4o-mini": (0.15, 0.60),
    "gpt-4.1": (2.00, 8.00),
    "gpt-4.1-mini": (0.40, 1.60),
    "gpt-4.1-nano": (0.10, 0.40),
    "gpt-5": (1.25, 10.00),
    "gpt-5-mini": (0.25, 2.00),
    "gpt-5-nano": (0.05, 0.40),
    "o3": (2.00, 8.00),
    "o4-mini": (1.10, 4.40),
    "gpt-3.5-turbo": (0.50, 1.50),
}
BATCH_DISCOUNT = 0.5
_DATED = re.compile(r"-(\d{4}-\d{2}-\d{2}|\d{4})$")
# A rough, tokenizer-free estimate: English text averages about four characters a token.
CHARS_PER_TOKEN = 4


@dataclass(frozen=True, slots=True)
class Cost:
    """A cost estimate in USD; ``usd`` is None when the model's price is unknown."""

    usd: float | None
    model: str
    priced_as: str | None

    def __str__(self) -> str:
        if self.usd is None:
            return f"unknown (no price for {self.model!r})"
        return f"${self.usd:,.4f}"


def model_family(
    model: str, prices: Mapping[str, tuple[float, float]] = STANDARD_PRICES
) -> str | None:
    """The price-table entry for ``model``: itself, or its name without a date suffix."""
    if model in prices:
        return model
    undated = _DATED.sub("", model)
    return undated if undated in prices else None


def batch_cost(
    model: str,
    input_tokens: int,
    output_tokens: int,
    prices: Mapping[str, tuple[float, float]] = STANDARD_PRICES,
) -> Cost:
    """The Batch-API cost of the given token counts (half the standard price)."""
    family = model_family(model, prices)
    if family is None:
        return Cost(None, model, None)
    input_price, output_price = prices[family]
    usd = (input_tokens * input_price + output_tokens * output_price) / 1e6 * BATCH_DISCOUNT
    return Cost(usd, model, family)


def estimate_tokens(characters: int) -> int:
    """A rough input-token estimate from a character count."""
    return (characters + CHARS_PER_TOKEN - 1) // CHARS_PER_TOKEN
