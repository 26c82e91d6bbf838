"""The ledger's one timestamp format: RFC 3339 UTC with ``Z``, written with microseconds."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest

from ledger.domain.review import review
from ledger.errors import ValidationError
from ledger.format import statements
from ledger.format.times import format_datetime, parse_date, parse_datetime


def test_timestamps_parse_to_utc_and_format_with_microseconds():
    assert parse_datetime("2026-01-31T08:00:00Z") == datetime(2026, 1, 31, 8, tzinfo=timezone.utc)
    assert parse_datetime("2026-01-31T08:00:00.5Z").microsecond == 500000
    when = datetime(2026, 1, 31, 16, 0, 0, 123, tzinfo=timezone(timedelta(hours=8)))
    assert format_datetime(when) == "2026-01-31T08:00:00.000123Z"
    assert parse_datetime(format_datetime(when)) == when


@pytest.mark.parametrize("text", ["2026-01-31T08:00:00+00:00", "2026-01-31 08:00:00Z", "2026-01-31T08:00:00",
                                  "2026-02-30T08:00:00Z", "2026-01-31T08:00:00.1234567Z", 20260131, None])
def test_other_timestamps_are_refused(text):
    with pytest.raises(ValidationError):
        parse_datetime(text)


def test_dates():
    assert parse_date("2026-01-31") == date(2026, 1, 31)
    for text in ("2026-02-30", "2026-1-31", "2026-01-31T00:00:00Z"):
        with pytest.raises(ValidationError):
            parse_date(text)


def test_statements_and_the_review_use_the_same_format():
    assert statements.parse_datetime is parse_datetime and statements.parse_date is parse_date
    assert statements.format_datetime is format_datetime
    end = datetime(2026, 3, 7, tzinfo=timezone.utc)  # a Saturday
    row = {"query_id": "q1", "position": 1, "issued_at": format_datetime(end - timedelta(hours=1)),
           "department": "D", "operator": "o", "purpose": "audit", "scope": "archive"}
    assert [f["rule"] for f in review([row], set(), end - timedelta(days=1), end)] == ["outside-office-hours"]
