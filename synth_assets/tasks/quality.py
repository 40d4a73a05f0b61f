"""What to check on generated text: the ``quality`` attributes of a task's YAML.

The checks themselves (asset checks on the task's ``parsed`` table) are computed by
``synth_assets.pipeline.quality``.
"""

from pydantic import BaseModel, ConfigDict, Field, field_validator


class QualityAttrs(BaseModel):
    """Checks on generated text (asset checks on the task's parsed table)."""

    model_config = ConfigDict(extra="forbid")

    text_field: str = Field(description="The answer field holding the generated text.")
    # (Bounds are checked by a validator: Dagster's YAML resolution takes plain types only.)
    max_near_duplicate_rate: float = Field(
        default=0.05, description="Share of rows that may repeat an earlier row (0 to 1)."
    )
    min_length_spread: float = Field(
        default=0.15,
        description="Least coefficient of variation of the text lengths (0: all the same).",
    )
    language_column: str | None = Field(
        default=None, description="The input column naming the language asked for."
    )
    min_language_match: float = Field(
        default=0.9, description="Least share of rows written in the asked language (0 to 1)."
    )

    @field_validator("max_near_duplicate_rate", "min_length_spread", "min_language_match")
    @classmethod
    def _share(cls, value: float) -> float:
        if not 0 <= value <= 1:
            raise ValueError("must be between 0 and 1")
        return value
