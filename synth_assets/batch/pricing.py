"""What a batch costs: the maintained ``genai-prices`` table, with our overrides.

Prices come from the `genai-prices <https://pypi.org/project/genai-prices/>`_ package's
bundled data (USD per 1M tokens at the standard, synchronous rate; it is only updated by
upgrading the package: nothing is fetched at run time). The Batch API charges half.
:data:`PRICE_OVERRIDES` (or the ``prices`` argument) prices models the table lacks, or
replaces its price, e.g. a self-hosted model's. A model priced nowhere has an unknown cost
(None), never zero. Dated names (``gpt-4o-mini-2024-07-18``) map to their family.
"""

import re
from collections.abc import Mapping
from dataclasses import dataclass

import genai_prices

# model -> (input, output) USD per 1M tokens at the standard rate; checked before the table.
PRICE_OVERRIDES: Mapping[str, tuple[float, float]] = {}
BATCH_DISCOUNT = 0.5
PROVIDER = "openai"
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


def batch_cost(
    model: str,
    input_tokens: int,
    output_tokens: int,
    prices: Mapping[str, tuple[float, float]] | None = None,
) -> Cost:
    """The Batch-API cost of the given token counts (half the standard price).

    ``prices`` (default :data:`PRICE_OVERRIDES`) is looked up first, by name then by name
    without its date suffix; then the ``genai-prices`` table for OpenAI's models.
    """
    overrides = PRICE_OVERRIDES if prices is None else prices
    for name in (model, _DATED.sub("", model)):
        if name in overrides:
            input_price, output_price = overrides[name]
            usd = (input_tokens * input_price + output_tokens * output_price) / 1e6
            return Cost(usd * BATCH_DISCOUNT, model, name)
    usage = genai_prices.Usage(input_tokens=input_tokens, output_tokens=output_tokens)
    try:
        price = genai_prices.calc_price(usage, model, provider_id=PROVIDER)
    except LookupError:
        return Cost(None, model, None)
    return Cost(float(price.total_price) * BATCH_DISCOUNT, model, price.model.id)


def estimate_tokens(characters: int) -> int:
    """A rough input-token estimate from a character count."""
    return (characters + CHARS_PER_TOKEN - 1) // CHARS_PER_TOKEN
