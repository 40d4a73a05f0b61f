"""Which failed requests are worth sending again, and which are not.

Retryable by default: rate limits and server errors (HTTP 429 and 5xx), requests the batch
never ran (``expired``, ``cancelled``) and answers that never came (``missing``). Not
retried by default: answers the model did give (schema_mismatch, refusal, invalid_json,
truncated, content_filter) and client errors (other 4xx) — sending them again would most
likely pay twice for the same failure.
"""

from collections.abc import Collection

from .reasons import Reason
from .records import Unparsed

DEFAULT_RETRY_REASONS = frozenset(
    {Reason.HTTP_ERROR, Reason.EXPIRED, Reason.CANCELLED, Reason.MISSING}
)


def is_retryable(record: Unparsed, reasons: Collection[str] = DEFAULT_RETRY_REASONS) -> bool:
    """True when ``record`` failed for a reason worth a resubmission."""
    if record.custom_id is None or record.is_extra_line or record.reason not in reasons:
        return False
    if record.reason == Reason.HTTP_ERROR:
        status = record.status_code
        return status is None or status == 429 or status >= 500
    return True
