"""Prompt templates declared in YAML: ``[[column]]`` placeholders over an input row.

Dagster resolves ``{{ … }}`` in a component's YAML when it loads it (environment variables,
the load context), so prompts use double square brackets instead: ``[[subject]]`` is the
row's ``subject`` value, ``[[ text ]]`` (spaces allowed) its text. A missing or null value
renders as an empty string; anything else as ``str(value)``. There is no escape: a literal
``[[`` that is not followed by a column name and ``]]`` stays as it is.
"""

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from synth_assets.batch import Messages

PLACEHOLDER = re.compile(r"\[\[\s*([A-Za-z_][A-Za-z0-9_]*)\s*\]\]")


def placeholders(text: str) -> list[str]:
    """The column names a template uses, in order of first use."""
    return list(dict.fromkeys(PLACEHOLDER.findall(text)))


def render(text: str, row: Mapping[str, Any]) -> str:
    """``text`` with each ``[[column]]`` replaced by the row's value."""

    def value(match: re.Match[str]) -> str:
        found = row.get(match.group(1))
        return "" if found is None else str(found)

    return PLACEHOLDER.sub(value, text)


@dataclass(frozen=True, slots=True)
class PromptTemplate:
    """A task's prompt: an optional system message and a user message, both templates.

    Calling it with a row returns the chat messages of that row (what
    ``BatchTask.to_messages`` is).
    """

    user: str
    system: str | None = None

    def columns(self) -> list[str]:
        """Every column the two templates use."""
        return placeholders((self.system or "") + "\n" + self.user)

    def __call__(self, row: Mapping[str, Any]) -> Messages:
        """The chat messages for one input row."""
        messages: Messages = []
        if self.system:
            messages.append({"role": "system", "content": render(self.system, row)})
        messages.append({"role": "user", "content": render(self.user, row)})
        return messages
