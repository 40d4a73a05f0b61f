"""The tutorial's task: triage emails as spam or not spam."""

import enum
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel

from synth_assets.batch.requests import Messages

from .base import BatchTask
from .dataset import DatasetSpec


class Labels(str, enum.Enum):
    """Enumeration for single-label text classification."""

    SPAM = "spam"
    NOT_SPAM = "not_spam"


class SinglePrediction(BaseModel):
    """Class for a single class label prediction."""

    class_label: Labels


SYSTEM_PROMPT = (
    "You triage a company inbox. Classify the email as spam (unsolicited bulk mail, scams, "
    "phishing) or not_spam (everything a person at the company would want to see)."
)


def email_messages(row: Mapping[str, Any]) -> Messages:
    """The chat messages for one email: instructions, then the email itself."""
    header = f"From: {row.get('sender', '')}\nSubject: {row.get('subject', '')}\n\n"
    return [
        {"role": "system", "content": SYSTEM_PROMPT},
        {"role": "user", "content": header + str(row["text"])},
    ]


SPAM_TRIAGE = BatchTask(
    name="spam_triage",
    description="Label each email spam / not_spam (the instructor Bulk Generation tutorial).",
    input_name="emails",
    dataset=DatasetSpec(
        path="data/emails",
        id_column="email_id",
        text_column="body",
        date_column="date",
        extra_columns=("sender", "subject", "language", "label"),
    ),
    to_messages=email_messages,
    response_model=SinglePrediction,
    model="gpt-4o-mini",
    label_field="class_label",
    truth_column="label",
)
