"""Why a requested row ended in the ``unparsed`` table (one reason per row)."""

from enum import StrEnum


class Reason(StrEnum):
    """Why a row has no valid answer; the README's reason table says when each applies."""

    INVALID_JSON = "invalid_json"
    SCHEMA_MISMATCH = "schema_mismatch"
    REFUSAL = "refusal"
    TRUNCATED = "truncated"
    CONTENT_FILTER = "content_filter"
    HTTP_ERROR = "http_error"
    REQUEST_ERROR = "request_error"
    EXPIRED = "expired"
    CANCELLED = "cancelled"
    BATCH_FAILED = "batch_failed"
    MISSING = "missing"
    DUPLICATE = "duplicate"
    INVALID_LINE = "invalid_line"
    INVALID_INPUT = "invalid_input"
    """An input row never sent: the dataset loader's ``problem`` column says why."""
