"""The query policy (``ledger/domain/queries.py``): shapes refused before storing, decisions recorded. Pure."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

import pytest

from keys import Department
from ledger.errors import ValidationError
from ledger.domain.queries import MAX_PAGE, check_shape, decide
from ledger.format.statements import format_datetime, parse_statement
from tests.support import make_resident_id, make_uscc

NOW = datetime(2026, 11, 24, 2, tzinfo=timezone.utc)
WINDOW = Department(make_uscc(), "window", purposes=frozenset({"subject_self_query"}),
                    roles=frozenset({"service_window"}))
OFFICER = Department(make_uscc(), "officer", purposes=frozenset({"privacy_review"}),
                     roles=frozenset({"privacy_officer"}))


def query(dept: Department, scope: str, purpose: str, **fields) -> object:
    return parse_statement({"type": "query.requested", "id": str(uuid.uuid4()), "issuer": dept.code,
                            "issued_at": format_datetime(NOW), "ledger": "credit-ledger.test", "operator": "clerk-1",
                            "purpose": purpose, "legal_basis": "basis", "scope": scope, **fields})


ID_CHECK = {"method": "face_verification", "reference": "match 77"}


@pytest.mark.parametrize("scope", ["subject_access_log", "archive"])
def test_a_self_query_without_an_identity_check_is_refused_with_the_reason(scope):
    st = query(WINDOW, scope, "subject_self_query", subject=make_resident_id())
    check_shape(st)  # well-formed: recorded, as refused
    outcome = decide(WINDOW, st, NOW, timedelta(minutes=5))
    assert outcome["status"] == "refused" and "identity_check" in outcome["reason"]
    checked = query(WINDOW, scope, "subject_self_query", subject=make_resident_id(), identity_check=ID_CHECK)
    assert decide(WINDOW, checked, NOW, timedelta(minutes=5)) == {"status": "accepted"}


@pytest.mark.parametrize("filters,message", [
    ({"from": "0001-01-01T00:00:00Z"}, "between 2000-01-01"),
    ({"to": "9999-12-31T23:59:59Z"}, "between 2000-01-01"),
    ({"from": "1999-12-31T23:59:59Z"}, "between 2000-01-01"),
    ({"from": "2026-11-02T00:00:00Z", "to": "2026-11-01T00:00:00Z"}, "from must not be after to"),
])
@pytest.mark.parametrize("scope", ["review_report", "access_log"])
def test_datetime_filters_out_of_range_or_reversed_are_malformed(scope, filters, message):
    with pytest.raises(ValidationError, match=message):
        check_shape(query(OFFICER, scope, "privacy_review", filters=filters))


def test_datetime_filters_at_the_bounds_are_well_formed():
    check_shape(query(OFFICER, "review_report", "privacy_review",
                      filters={"from": "2000-01-01T00:00:00Z", "to": "9000-01-01T00:00:00Z"}))
    check_shape(query(OFFICER, "review_report", "privacy_review",
                      filters={"from": "2026-11-01T00:00:00Z", "to": "2026-11-01T00:00:00Z"}))


@pytest.mark.parametrize("limit", [0, MAX_PAGE + 1, -1, True, "10"])
def test_page_limits_out_of_range_are_malformed(limit):
    with pytest.raises(ValidationError, match="filters.limit"):
        check_shape(query(OFFICER, "access_log", "privacy_review", filters={"limit": limit}))
    with pytest.raises(ValidationError, match="filters.limit"):
        check_shape(query(WINDOW, "subject_access_log", "subject_self_query", subject=make_resident_id(),
                          identity_check=ID_CHECK, filters={"limit": limit}))


def test_pages_take_before_and_limit():
    check_shape(query(OFFICER, "access_log", "privacy_review", filters={"before": 12, "limit": MAX_PAGE}))
    check_shape(query(WINDOW, "subject_access_log", "subject_self_query", subject=make_resident_id(),
                      identity_check=ID_CHECK, filters={"before": 3, "limit": 1}))
    with pytest.raises(ValidationError, match="filters.before"):
        check_shape(query(OFFICER, "access_log", "privacy_review", filters={"before": -1}))
