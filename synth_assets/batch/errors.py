"""The project's exception tree.

Every error a user can cause (bad file, bad model, bad configuration, unreachable backend)
is a :class:`SynthError` whose message is one sentence naming what to fix. The CLI and the
Dagster layer catch this base class and show the message; anything else is a bug.
"""

from dataclasses import dataclass


class SynthError(Exception):
    """Base class of every error a user can cause and fix."""


class UnsupportedModelError(SynthError):
    """The response model cannot be expressed as a strict JSON schema."""


class DuplicateCustomIdError(SynthError):
    """Two requests were given the same custom_id."""


class InvalidCustomIdError(SynthError):
    """A custom_id is empty, not a string or longer than the Batch API allows."""


@dataclass(frozen=True, slots=True)
class FileProblem:
    """One problem found in a request file; ``line`` is 1-based, None for the whole file."""

    line: int | None
    code: str
    message: str

    def __str__(self) -> str:
        where = f"line {self.line}" if self.line is not None else "file"
        return f"{where}: {self.message}"


class InvalidRequestFileError(SynthError):
    """A request file failed validation; ``problems`` lists every problem with its line."""

    def __init__(self, path: str, problems: list[FileProblem]) -> None:
        self.path = path
        self.problems = problems
        first = problems[0] if problems else None
        extra = len(problems) - 1
        more = f" (and {extra} more problem{'s' if extra > 1 else ''})" if extra else ""
        super().__init__(f"{path} is not a valid Batch-API request file: {first}{more}.")


class BackendError(SynthError):
    """The Batch API could not be reached or refused a call."""
