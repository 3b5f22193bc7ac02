"""The one reader of an HTTP `Retry-After` header for our clients (the CRM adapters and the AI calls).

The local engine keeps its own (`jobs/engine/protocol.py`): it is the Inngest *server* reading its SDK's answer,
with Inngest's clamping rules, not a client obeying a provider.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime


def retry_after_seconds(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After value: delta-seconds or an HTTP date (RFC 9110 10.2.3).

    None when absent or unreadable (the caller falls back to its own wait); never negative (a date in the past
    or a negative number means "now"); a date without a time zone is unreadable rather than guessed.
    """
    if not value or not value.strip():
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:
        return max(0.0, seconds) if math.isfinite(seconds) else None
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())
