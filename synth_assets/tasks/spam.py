"""The tutorial's task: triage emails as spam or not spam.

The task itself is declared in ``synth_assets/defs/tasks/spam_triage/defs.yaml``; what needs
Python is the answer's model (the tutorial's ``SinglePrediction``). ``SPAM_TRIAGE``,
``SYSTEM_PROMPT`` and ``email_messages`` are read from that YAML on first use.
"""

import enum
from pathlib import Path
from typing import Any

from pydantic import BaseModel

SPAM_TRIAGE_YAML = (
    Path(__file__).resolve().parents[1] / "defs" / "tasks" / "spam_triage" / "defs.yaml"
)


class Labels(str, enum.Enum):
    """Enumeration for single-label text classification."""

    SPAM = "spam"
    NOT_SPAM = "not_spam"


class SinglePrediction(BaseModel):
    """Class for a single class label prediction."""

    class_label: Labels


def __getattr__(name: str) -> Any:
    # Lazily, so that importing the model (the YAML names it) never reads the YAML back.
    if name in ("SPAM_TRIAGE", "SYSTEM_PROMPT", "email_messages"):
        from .spec import load_task_file

        task = load_task_file(SPAM_TRIAGE_YAML)
        values = {
            "SPAM_TRIAGE": task,
            "SYSTEM_PROMPT": task.to_messages.system,  # type: ignore[attr-defined]
            "email_messages": task.to_messages,
        }
        globals().update(values)
        return values[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
