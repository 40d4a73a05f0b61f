"""What requests will cost before they are sent: tokens and dollars, offline.

No tokenizer is downloaded: a request's input tokens are estimated as its bytes / 4 (the
request line includes the schema, which the provider counts too), then multiplied by the
calibration the request record has learnt for the model: reported / estimated input
tokens over the batches collected so far. Output tokens come from the record's average per
request for the model, else from ``max_tokens``, else are unknown (counted as 0 and said).
"""

import math
from dataclasses import dataclass

from synth_assets.batch import SynthError, batch_cost, estimate_tokens

from .record import RequestRecord


@dataclass(frozen=True, slots=True)
class Estimate:
    """Tokens and cost of some requests, and what the figures rest on."""

    requests: int
    input_tokens: int
    output_tokens: int
    usd: float | None  # None: no price for the model
    calibration: float | None  # reported / estimated input tokens so far (None: none yet)
    output_known: bool  # False: output tokens unknown, counted as 0

    def describe(self) -> str:
        """One phrase for a message: ``~120,000 input tokens, ~$0.0180``."""
        usd = f"${self.usd:,.4f}" if self.usd is not None else "an unknown price"
        output = f" + ~{self.output_tokens:,} output" if self.output_known else ""
        return f"{self.requests:,} requests, ~{self.input_tokens:,} input{output} tokens, ~{usd}"


class Estimator:
    """Estimates for one model on one backend, calibrated by the record."""

    def __init__(self, record: RequestRecord, model: str, max_tokens: int | None = None) -> None:
        self.model = model
        self.calibration = record.token_calibration(model)
        self._per_request = record.output_tokens_per_request(model)
        if self._per_request is None and max_tokens is not None:
            self._per_request = float(max_tokens)

    def raw_tokens(self, nbytes: int) -> int:
        """The uncalibrated estimate: what the enqueued-token budget counts."""
        return estimate_tokens(nbytes)

    def tokens(self, nbytes: int) -> int:
        """Input tokens of requests of ``nbytes`` bytes, calibrated when the record can."""
        return math.ceil(self.raw_tokens(nbytes) * (self.calibration or 1.0))

    def estimate(self, requests: int, nbytes: int) -> Estimate:
        """Tokens and cost of ``requests`` requests of ``nbytes`` bytes in all."""
        input_tokens = self.tokens(nbytes)
        known = self._per_request is not None
        output_tokens = math.ceil(requests * self._per_request) if known else 0  # type: ignore[operator]
        usd = batch_cost(self.model, input_tokens, output_tokens).usd
        return Estimate(requests, input_tokens, output_tokens, usd, self.calibration, known)


def check_spend(
    date: str,
    estimate: Estimate,
    *,
    per_partition: float | None,
    per_day: float | None,
    spent_today: float,
) -> None:
    """Refuse, in one sentence naming the estimate and the cap, a day whose requests would
    cost more than a spend cap allows; nothing has been uploaded when this raises."""
    if not estimate.requests or (per_partition is None and per_day is None):
        return
    if estimate.usd is None:
        raise SynthError(
            f"{date}: no price is known for this model ({estimate.describe()}), so the spend "
            "caps cannot be checked; lift task_settings.max_cost_usd_per_partition / "
            "max_cost_usd_per_day or use a priced model."
        )
    if per_partition is not None and estimate.usd > per_partition:
        raise SynthError(
            f"{date} would cost {estimate.describe()}, over task_settings."
            f"max_cost_usd_per_partition (${per_partition:,.4f}); nothing was sent. Raise "
            "the cap to send it: its rows wait, nothing is lost."
        )
    if per_day is not None and spent_today + estimate.usd > per_day:
        raise SynthError(
            f"{date} would cost {estimate.describe()}, and ${spent_today:,.4f} was submitted "
            f"today (UTC): over task_settings.max_cost_usd_per_day (${per_day:,.4f}); nothing "
            "was sent. Raise the cap or wait for tomorrow: its rows wait, nothing is lost."
        )
