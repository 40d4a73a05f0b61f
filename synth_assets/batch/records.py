"""The two kinds of result a requested row can end as."""

from dataclasses import dataclass, fields
from typing import Any

from pydantic import BaseModel

from .reasons import Reason


def is_extra_line(reason: str, custom_id: str | None) -> bool:
    """True for rows that are not requested rows: a second answer for an id (duplicate), or
    a line naming no requested id (invalid_line without custom_id). They are counted apart,
    so that parsed + unparsed (other rows) == requested holds. An invalid line that names a
    requested id is that request's outcome."""
    return reason == Reason.DUPLICATE or custom_id is None


@dataclass(slots=True)
class LineMeta:
    """What a result line says about where its answer came from and what it cost."""

    model: str | None = None
    batch_id: str | None = None
    request_id: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    total_tokens: int | None = None
    attempt: int | None = None  # 1 for the first submission, 2 for its first resubmission...
    request_hash: str | None = None  # the request's sha256 (RequestBuilder.encode_hashed)

    def as_dict(self) -> dict[str, Any]:
        """The fields by name (``dataclasses.asdict`` deep-copies, ~50× slower)."""
        return {name: getattr(self, name) for name in _META_FIELDS}


_META_FIELDS = tuple(f.name for f in fields(LineMeta))


@dataclass(slots=True)
class Parsed:
    """A requested row whose answer validated against the response model."""

    custom_id: str
    value: BaseModel
    meta: LineMeta

    def as_row(self) -> dict[str, Any]:
        """A flat dict: custom_id, the answer's fields (JSON-ready, by alias), metadata."""
        return {
            "custom_id": self.custom_id,
            **self.value.model_dump(mode="json", by_alias=True),
            **self.meta.as_dict(),
        }


@dataclass(slots=True)
class Unparsed:
    """A requested row (or an extra line) that yielded no valid answer, and why."""

    custom_id: str | None
    reason: Reason
    message: str | None = None
    raw: str | None = None
    status_code: int | None = None
    error_code: str | None = None
    source: str | None = None  # "output", "error" or "request" (never answered)
    meta: LineMeta | None = None

    def as_row(self) -> dict[str, Any]:
        """A flat dict with the unparsed table's columns."""
        meta = self.meta or LineMeta()
        return {
            "custom_id": self.custom_id,
            "reason": self.reason.value,
            "status_code": self.status_code,
            "error_code": self.error_code,
            "message": self.message,
            "raw": self.raw,
            "source": self.source,
            **meta.as_dict(),
        }

    @property
    def is_extra_line(self) -> bool:
        """True for duplicate and invalid lines, which are not requested rows."""
        return is_extra_line(self.reason, self.custom_id)
