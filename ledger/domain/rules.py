"""Pure date rules: disclosure windows, repair eligibility, objection deadlines.

No clock is read here: every function takes the dates it needs, so replays are deterministic.
"""

from __future__ import annotations

import calendar
from datetime import date, timedelta


def add_months(start: date, months: int) -> date:
    """Same day ``months`` later, clamped to the month's last day (Jan 31 + 1 month = Feb 28/29)."""
    total = start.month - 1 + months
    year, month = start.year + total // 12, total % 12 + 1
    return date(year, month, min(start.day, calendar.monthrange(year, month)[1]))


def add_years(start: date, years: int) -> date:
    """Same day ``years`` later (Feb 29 becomes Feb 28 in a common year)."""
    return add_months(start, 12 * years)


def public_until(decision_date: date, max_months: int, behaviour_end: date | None, cap_years: int) -> date:
    """Last day of publication: min(decision + maximum period, behaviour end + cap years).

    Publication ends automatically on this date (exclusive: shown while ``today < public_until``).
    """
    until = add_months(decision_date, max_months)
    if behaviour_end is not None:
        until = min(until, add_years(behaviour_end, cap_years))
    return until


def repair_allowed_from(decision_date: date, min_months: int) -> date:
    """First day a repair may be granted: after the minimum disclosure period."""
    return add_months(decision_date, min_months)


def add_working_days(start: date, days: int) -> date:
    """``days`` working days (Monday to Friday) after ``start``; public holidays are not modelled."""
    current = start
    left = days
    while left > 0:
        current += timedelta(days=1)
        if current.weekday() < 5:
            left -= 1
    return current
