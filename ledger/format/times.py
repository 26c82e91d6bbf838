"""The ledger's times and dates: RFC 3339 UTC timestamps with ``Z``, ISO calendar dates. Pure.

Statements carry timestamps like ``2026-01-31T08:00:00Z`` (fractions of a second allowed, at most
microseconds) and dates like ``2026-01-31``; the ledger writes its own times (``recorded_at``, checkpoint
times) with microseconds, ``2026-01-31T08:00:00.000000Z``, so that they sort as text in time order.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timezone
from typing import Any

from ledger.errors import ValidationError

_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?Z$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def parse_datetime(value: Any) -> datetime:
    """RFC 3339 UTC timestamp with a ``Z`` suffix, to an aware datetime."""
    if not isinstance(value, str) or not _DATETIME.match(value):
        raise ValidationError(f"{value!r} is not an RFC 3339 UTC timestamp like 2026-01-31T08:00:00Z")
    try:
        return datetime.fromisoformat(value)  # the Z gives UTC
    except ValueError:
        raise ValidationError(f"{value!r} is not a real date and time") from None


def parse_date(value: Any) -> date:
    """ISO calendar date YYYY-MM-DD."""
    if not isinstance(value, str) or not _DATE.match(value):
        raise ValidationError(f"{value!r} is not a date like 2026-01-31")
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ValidationError(f"{value!r} is not a real date") from None


def format_datetime(value: datetime) -> str:
    """Format an aware datetime as RFC 3339 UTC with microseconds and ``Z``."""
    return value.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
