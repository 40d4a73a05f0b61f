"""The stored objects: files and batches as rows, and as the API's JSON objects."""

from dataclasses import dataclass
from typing import Any

from pydantic_core import from_json

from .config import BatchSettings


@dataclass(frozen=True, slots=True)
class FileRecord:
    """One stored file."""

    seq: int
    id: str
    filename: str
    purpose: str
    bytes: int
    created_at: int
    expires_at: int | None
    path: str

    def to_api(self) -> dict[str, Any]:
        """The OpenAI ``file`` object."""
        return {
            "id": self.id,
            "object": "file",
            "bytes": self.bytes,
            "created_at": self.created_at,
            "expires_at": self.expires_at,
            "filename": self.filename,
            "purpose": self.purpose,
            "status": "processed",
            "status_details": None,
        }


@dataclass(frozen=True, slots=True)
class BatchRecord:
    """One batch row: the API-visible fields plus the runner's bookkeeping."""

    seq: int
    id: str
    endpoint: str
    model: str | None
    input_file_id: str
    input_path: str
    input_bytes: int
    completion_window: str
    status: str
    metadata: str | None
    settings: str
    output_file_id: str | None
    error_file_id: str | None
    errors: str | None
    created_at: int
    in_progress_at: int | None
    expires_at: int
    expires_at_exact: float
    finalizing_at: int | None
    completed_at: int | None
    failed_at: int | None
    expired_at: int | None
    cancelling_at: int | None
    cancelled_at: int | None
    total: int
    completed: int
    failed: int
    input_tokens: int
    output_tokens: int
    cached_tokens: int
    reasoning_tokens: int
    input_offset: int
    next_chunk: int
    next_run_at: float
    lease_owner: str | None
    lease_until: float
    step_failures: int

    @property
    def batch_settings(self) -> BatchSettings:
        """The settings frozen into this batch when it was created."""
        return BatchSettings.from_json(from_json(self.settings))

    def to_api(self) -> dict[str, Any]:
        """The OpenAI ``batch`` object."""
        errors = from_json(self.errors) if self.errors else None
        return {
            "id": self.id,
            "object": "batch",
            "endpoint": self.endpoint,
            "model": self.model,
            "errors": {"object": "list", "data": errors} if errors is not None else None,
            "input_file_id": self.input_file_id,
            "completion_window": self.completion_window,
            "status": self.status,
            "output_file_id": self.output_file_id,
            "error_file_id": self.error_file_id,
            "created_at": self.created_at,
            "in_progress_at": self.in_progress_at,
            "expires_at": self.expires_at,
            "finalizing_at": self.finalizing_at,
            "completed_at": self.completed_at,
            "failed_at": self.failed_at,
            "expired_at": self.expired_at,
            "cancelling_at": self.cancelling_at,
            "cancelled_at": self.cancelled_at,
            "request_counts": {
                "total": max(self.total, self.completed + self.failed),
                "completed": self.completed,
                "failed": self.failed,
            },
            "usage": {
                "input_tokens": self.input_tokens,
                "input_tokens_details": {"cached_tokens": self.cached_tokens},
                "output_tokens": self.output_tokens,
                "output_tokens_details": {"reasoning_tokens": self.reasoning_tokens},
                "total_tokens": self.input_tokens + self.output_tokens,
            },
            "metadata": from_json(self.metadata) if self.metadata else None,
        }


@dataclass(frozen=True, slots=True)
class Part:
    """One committed chunk output (``kind`` "output" or "error") of a running batch."""

    batch_id: str
    chunk: int
    kind: str
    path: str
    bytes: int


@dataclass(frozen=True, slots=True)
class NewFile:
    """A finished file to register (its content is already at ``path``)."""

    id: str
    filename: str
    purpose: str
    bytes: int
    path: str
