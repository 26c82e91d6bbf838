"""A record's submission command (``CreditRecord.submit``) in memory: what its ``Submitted`` event carries, and
each refusal with its problem."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from ledger.domain.aggregates import CreditRecord
from ledger.domain.aggregates import RECORD_COMMANDS
from ledger.errors import ForbiddenError, RuleError, ValidationError
from ledger.format.statements import RECORD_TYPES
from tests.unit.domain_builders import CATALOGUE, TODAY, department, entry, submission


def submit(**kw: Any) -> CreditRecord:
    dept = kw.pop("dept", None) or department()
    stmt = submission(dept, **kw)
    return CreditRecord.submit(stmt, entry(stmt), dept, CATALOGUE)


def refused(error: type[Exception], message: str, **kw: Any) -> None:
    with pytest.raises(error) as caught:
        submit(**kw)
    assert type(caught.value) is error
    assert message in str(caught.value), str(caught.value)


def test_every_lifecycle_statement_type_has_one_command():
    assert set(RECORD_COMMANDS) == set(RECORD_TYPES) - {"record.submitted"}


def test_a_submission_freezes_the_catalogue_facts_and_the_expiry_into_its_event():
    dept = department()
    stmt = submission(dept, decision_date="2025-06-30", details={"fine_amount_cny": 5000, "case_reference": "c-1"})
    record = CreditRecord.submit(stmt, entry(stmt), dept, CATALOGUE)
    (event,) = record.collect_events()
    assert isinstance(event, CreditRecord.Submitted) and event.originator_id == stmt.id
    assert event.statement == stmt.canonical.decode() and event.catalogue_version == 1
    assert event.item == {"code": "food_drug.serious", "kind": "negative", "severity": "serious",
                          "field": "food_drug", "listing": "black", "publishable": True,
                          "title": "Serious untrustworthy conduct: food and drugs", "key_supervision": True,
                          "version": 1}
    assert event.expires_on == "2028-06-30"  # serious: 36 months after the decision
    assert record.issuer == dept.code and record.subject == stmt.values["subject"] and record.version == 1
    assert record.fields["details"] == {"fine_amount_cny": 5000, "case_reference": "c-1"}
    assert record.doc["expires_on"] == "2028-06-30" and record.history == [] and record.disclosure is None


@pytest.mark.parametrize("item,extra,expires", [
    ("food_drug.general", {"decision_date": "2025-06-30"}, "2026-06-30"),
    ("food_drug.serious", {"decision_date": "2025-06-30", "behaviour_end": "2020-01-31"}, "2025-01-31"),
    ("food_drug.commendation", {"decision_date": "2025-06-30"}, "2028-06-30"),
    ("food_drug.commendation", {"decision_date": "2025-06-30", "valid_until": "2026-01-01"}, "2026-01-01"),
    ("food_drug.licence", {"decision_date": "2025-06-30"}, None),
    ("volunteering.service_hours", {"decision_date": "2025-06-30"}, None),
])
def test_when_a_submitted_record_expires(item: str, extra: dict[str, str], expires: str | None):
    record = submit(item=item, **extra)
    assert record.doc["expires_on"] == expires


def test_an_item_the_catalogue_has_not_is_refused():
    refused(ValidationError, "catalogue v1 has no item 'food_drug.unheard_of'", item="food_drug.unheard_of")


def test_a_department_submits_only_the_items_it_is_registered_for():
    dept = department(items=("food_drug.general",))
    refused(ForbiddenError, f"department {dept.code} may not submit records of catalogue item food_drug.serious",
            dept=dept)


def test_an_item_not_collected_by_regulation_is_refused():
    refused(RuleError, "catalogue item food_drug.simplified_penalty is not collected (not recorded by regulation)",
            item="food_drug.simplified_penalty")


def test_a_subjects_statement_is_not_submitted_as_a_record():
    refused(RuleError, "a subject's statement is added with statement.added", item="subject.statement")


def test_only_positive_records_have_a_validity():
    refused(ValidationError, "valid_until: only positive records have a validity period",
            valid_until=(TODAY + timedelta(days=30)).isoformat())


@pytest.mark.parametrize("details,message", [
    ({"income": 1}, "details: income is never collected (Shandong regulation art. 42)"),
    ({"award_name": "x"}, "details: award_name is not a field of catalogue item food_drug.serious (allowed: "
                          "case_reference, fine_amount_cny, occupational_group, penalty_type)"),
    ({"fine_amount_cny": "5000"}, "details: fine_amount_cny must be a integer"),
    ({"fine_amount_cny": True}, "details: fine_amount_cny must be a integer"),
    ({"case_reference": "x" * 501}, "details: case_reference must be a string"),
])
def test_details_follow_the_items_schema(details: dict[str, Any], message: str):
    refused(ValidationError, message, details=details)


def test_date_details_are_real_dates():
    assert submit(item="food_drug.licence", details={"valid_from": "2025-02-28"}).fields["details"]
    refused(ValidationError, "'2025-02-30' is not a real date", item="food_drug.licence",
            details={"valid_from": "2025-02-30"})


@pytest.mark.parametrize("name", ["decision_date", "behaviour_end"])
def test_dates_after_the_issue_date_are_refused(name: str):
    tomorrow = (TODAY + timedelta(days=1)).isoformat()
    refused(ValidationError, f"{name}: {tomorrow} lies after the statement's issue date", **{name: tomorrow})
    assert submit(**{name: TODAY.isoformat()}).version == 1


@pytest.mark.parametrize("item,until,message", [
    ("food_drug.commendation", "2025-06-30", "at most 36 months after it (catalogue item food_drug.commendation), "
                                             "by 2028-06-30"),
    ("food_drug.commendation", "2028-07-01", "at most 36 months after it (catalogue item food_drug.commendation), "
                                             "by 2028-06-30"),
    ("volunteering.service_hours", "2030-07-01", "at most 60 months after it (catalogue item "
                                                 "volunteering.service_hours), by 2030-06-30"),
])
def test_a_validity_lies_after_the_decision_and_within_the_catalogues_bound(item: str, until: str, message: str):
    refused(ValidationError, "valid_until: must lie after the decision date and " + message, item=item,
            decision_date="2025-06-30", valid_until=until)
    assert submit(item=item, decision_date="2025-06-30", valid_until="2028-06-30").doc["expires_on"] == "2028-06-30"
