from datetime import date

import pytest

from ledger.domain import rules


@pytest.mark.parametrize("start,months,expected", [
    (date(2026, 1, 31), 1, date(2026, 2, 28)),
    (date(2024, 1, 31), 1, date(2024, 2, 29)),
    (date(2026, 3, 15), 12, date(2027, 3, 15)),
    (date(2026, 11, 30), 3, date(2027, 2, 28)),
    (date(2026, 5, 1), 0, date(2026, 5, 1)),
])
def test_add_months(start, months, expected):
    assert rules.add_months(start, months) == expected


def test_public_until_uses_maximum_or_five_year_cap():
    # serious: 36 months after decision
    assert rules.public_until(date(2026, 1, 10), 36, None, 5) == date(2029, 1, 10)
    # behaviour ended long before: capped at behaviour_end + 5 years
    assert rules.public_until(date(2026, 1, 10), 36, date(2022, 6, 1), 5) == date(2027, 6, 1)
    assert rules.add_years(date(2024, 2, 29), 1) == date(2025, 2, 28)


def test_repair_allowed_after_minimum():
    assert rules.repair_allowed_from(date(2026, 1, 10), 12) == date(2027, 1, 10)


def test_working_days_skip_weekends():
    friday = date(2026, 11, 27)
    assert rules.add_working_days(friday, 1) == date(2026, 11, 30)  # Monday
    assert rules.add_working_days(friday, 3) == date(2026, 12, 2)
    assert rules.add_working_days(friday, 7) == date(2026, 12, 8)
