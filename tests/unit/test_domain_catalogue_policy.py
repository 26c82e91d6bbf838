"""The catalogue's policy (``ledger/domain/catalogue_policy.py``): what catalogue version 1 says about an item,
read by pure functions, at the edges of each period. No aggregate, no database."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from keys import Department
from ledger.domain import catalogue_policy as policy
from ledger.domain.catalogue import parse_catalogue, shipped_catalogue_document
from ledger.errors import ForbiddenError, RuleError, ValidationError
from tests.unit.domain_builders import CATALOGUE

ITEMS = CATALOGUE.items
SERIOUS, GENERAL, MINOR = ITEMS["food_drug.serious"], ITEMS["food_drug.general"], ITEMS["food_drug.minor"]
COMMENDATION, LICENCE = ITEMS["food_drug.commendation"], ITEMS["food_drug.licence"]
HOURS, STATEMENT = ITEMS["volunteering.service_hours"], ITEMS["subject.statement"]


def dept(*items: str) -> Department:
    return Department("11370200MA0000001X", "d", items=frozenset(items))


def test_departments_are_registered_for_the_catalogues_items():
    policy.check_items_known(CATALOGUE, ["food_drug.serious", "tax.general"])
    policy.check_items_known(None, ["anything"])  # before the first catalogue
    with pytest.raises(ValidationError, match=r"^items: catalogue v1 has no item 'tax\.unknown'$"):
        policy.check_items_known(CATALOGUE, ["food_drug.serious", "tax.unknown"])


def test_which_department_reports_which_item():
    assert policy.reportable_item(CATALOGUE, "food_drug.serious", dept("food_drug.serious")) is SERIOUS
    with pytest.raises(ValidationError, match="catalogue v1 has no item 'x.y'"):
        policy.reportable_item(CATALOGUE, "x.y", dept("x.y"))
    with pytest.raises(ForbiddenError, match="department 11370200MA0000001X may not submit records of catalogue item "
                                             "food_drug.general"):
        policy.reportable_item(CATALOGUE, "food_drug.general", dept("food_drug.serious"))
    with pytest.raises(RuleError, match="is not collected"):
        policy.reportable_item(CATALOGUE, "tax.simplified_penalty", dept("tax.simplified_penalty"))
    with pytest.raises(RuleError, match="added with statement.added"):
        policy.reportable_item(CATALOGUE, "subject.statement", dept("subject.statement"))


def test_a_records_item_is_read_from_the_catalogue_in_force():
    assert policy.record_item(CATALOGUE, "food_drug.minor") is MINOR
    with pytest.raises(RuleError, match="^the record's catalogue item gone.item is not in the current catalogue$"):
        policy.record_item(CATALOGUE, "gone.item")


def test_the_item_snapshot_names_the_field_under_key_supervision():
    assert policy.item_snapshot(HOURS, CATALOGUE)["key_supervision"] is False
    assert policy.item_snapshot(SERIOUS, CATALOGUE) == {
        "code": "food_drug.serious", "kind": "negative", "severity": "serious", "field": "food_drug",
        "listing": "black", "publishable": True, "title": SERIOUS.title, "key_supervision": True, "version": 1}
    assert policy.item_snapshot(STATEMENT, CATALOGUE)["field"] is None


@pytest.mark.parametrize("item,details,message", [
    (STATEMENT, {"x": "y"}, "details: x is not a field of catalogue item subject.statement (allowed: none)"),
    (LICENCE, {"valid_from": 20250101}, "details: valid_from must be a date"),
    (LICENCE, {"valid_from": "1st of May"}, "'1st of May' is not a date like 2026-01-31"),
    (HOURS, {"hours": 1.5}, "details: hours must be a integer"),
    (SERIOUS, {"case_reference": ""}, "details: case_reference must be a string"),
    (SERIOUS, {"genes": "x", "unknown": 1}, "details: genes is never collected"),
    (SERIOUS, "not an object", "details: must be a JSON object"),
])
def test_details_outside_the_items_schema_are_refused(item: Any, details: Any, message: str):
    with pytest.raises(ValidationError) as caught:
        policy.check_details(details, item, CATALOGUE)
    assert message in str(caught.value)


def test_details_within_the_items_schema_pass():
    policy.check_details({}, STATEMENT, CATALOGUE)
    policy.check_details({"hours": 12, "organisation": "Red Cross"}, HOURS, CATALOGUE)
    policy.check_details({"valid_from": "2024-02-29", "licence_number": "L-1"}, LICENCE, CATALOGUE)
    policy.check_details({"case_reference": "x" * 500, "fine_amount_cny": 0}, SERIOUS, CATALOGUE)


def test_only_positive_records_state_a_validity():
    policy.check_validity_allowed({"valid_until": "2027-01-01"}, COMMENDATION)
    policy.check_validity_allowed({}, SERIOUS)
    for item in (SERIOUS, LICENCE, STATEMENT):
        with pytest.raises(ValidationError, match="only positive records have a validity period"):
            policy.check_validity_allowed({"valid_until": "2027-01-01"}, item)


@pytest.mark.parametrize("item,until,ok", [
    (COMMENDATION, "2028-01-31", True), (COMMENDATION, "2028-02-01", False), (COMMENDATION, "2025-01-31", False),
    (COMMENDATION, "2025-02-01", True), (HOURS, "2030-01-31", True), (HOURS, "2030-02-01", False),
])
def test_a_validity_ends_within_the_items_period_or_the_catalogues_cap(item: Any, until: str, ok: bool):
    fields = {"decision_date": "2025-01-31", "valid_until": until}
    if ok:
        policy.check_valid_until(fields, item, CATALOGUE)
    else:
        with pytest.raises(ValidationError, match="must lie after the decision date"):
            policy.check_valid_until(fields, item, CATALOGUE)
    policy.check_valid_until({"decision_date": "2025-01-31"}, item, CATALOGUE)  # no validity: nothing to check


@pytest.mark.parametrize("item,fields,expires", [
    (SERIOUS, {}, "2028-01-31"),
    (GENERAL, {}, "2026-01-31"),
    (MINOR, {}, "2025-04-30"),  # three months, clamped to the month's end
    (SERIOUS, {"behaviour_end": "2021-06-01"}, "2026-06-01"),  # five years after the behaviour ended
    (SERIOUS, {"behaviour_end": "2024-06-01"}, "2028-01-31"),
    (COMMENDATION, {}, "2028-01-31"),
    (COMMENDATION, {"valid_until": "2026-05-05"}, "2026-05-05"),
    (HOURS, {}, None),
    (HOURS, {"valid_until": "2026-05-05"}, "2026-05-05"),
    (LICENCE, {}, None),
])
def test_when_a_record_stops_being_shared(item: Any, fields: dict[str, str], expires: str | None):
    assert policy.expires_on({"decision_date": "2025-01-31", **fields}, item, CATALOGUE) == expires


def test_each_item_has_its_list():
    policy.check_listing(SERIOUS, "black")
    policy.check_listing(COMMENDATION, "red")
    for item, listing in ((SERIOUS, "red"), (GENERAL, "black"), (COMMENDATION, "black"), (HOURS, "red")):
        with pytest.raises(RuleError, match=f"^catalogue item {item.code} is not a {listing}-list item$"):
            policy.check_listing(item, listing)


@pytest.mark.parametrize("requested,months", [(None, 36), (12, 12), (36, 36), (11, None), (37, None)])
def test_a_black_list_period(requested: int | None, months: int | None):
    if months is None:
        with pytest.raises(RuleError, match="^period_months for serious records must be from 12 to 36$"):
            policy.black_list_months(SERIOUS, requested, CATALOGUE)
    else:
        assert policy.black_list_months(SERIOUS, requested, CATALOGUE) == months


@pytest.mark.parametrize("item,listing,months,fields,until", [
    (SERIOUS, "black", 24, {}, date(2027, 1, 31)),
    (SERIOUS, "black", 36, {"behaviour_end": "2020-12-31"}, date(2025, 12, 31)),
    (COMMENDATION, "red", None, {}, date(2028, 1, 31)),
    (COMMENDATION, "red", None, {"valid_until": "2026-07-01"}, date(2026, 7, 1)),
])
def test_how_long_a_disclosure_is_shown(item: Any, listing: str, months: int | None, fields: dict[str, str],
                                        until: date):
    assert policy.disclosure_until({"decision_date": "2025-01-31", **fields}, item, listing, months, CATALOGUE) == until


def test_what_is_repaired_and_how():
    for item in (SERIOUS, GENERAL, MINOR):
        policy.check_repairable(item)
    for item in (COMMENDATION, LICENCE, HOURS, STATEMENT):
        with pytest.raises(RuleError, match="only untrustworthy"):
            policy.check_repairable(item)
    for method in ("fulfilment", "volunteering", "donation"):
        policy.check_repair_method(method, CATALOGUE)
    with pytest.raises(ValidationError, match="^method: must be one of fulfilment, volunteering, donation$"):
        policy.check_repair_method("apology", CATALOGUE)


@pytest.mark.parametrize("item,today,ok", [
    (SERIOUS, date(2026, 1, 31), True), (SERIOUS, date(2026, 1, 30), False),
    (GENERAL, date(2025, 4, 30), True), (GENERAL, date(2025, 4, 29), False),
    (MINOR, date(2025, 1, 31), True),
])
def test_a_repair_is_due_after_the_minimum_period(item: Any, today: date, ok: bool):
    fields = {"decision_date": "2025-01-31"}
    if ok:
        policy.check_repair_due(fields, item, CATALOGUE, today)
    else:
        with pytest.raises(RuleError, match="only after the minimum disclosure period"):
            policy.check_repair_due(fields, item, CATALOGUE, today)


@pytest.mark.parametrize("filed,verify,deadline", [
    (date(2026, 3, 2), False, date(2026, 3, 5)),  # Monday: three working days
    (date(2026, 3, 5), False, date(2026, 3, 10)),  # Thursday: over the weekend
    (date(2026, 3, 7), False, date(2026, 3, 11)),  # Saturday
    (date(2026, 3, 2), True, date(2026, 3, 11)),  # seven working days with verification
])
def test_when_an_objection_is_due(filed: date, verify: bool, deadline: date):
    assert policy.objection_deadline(CATALOGUE, filed, verify) == deadline


def test_the_policy_follows_the_catalogue_version_in_force():
    document = shipped_catalogue_document()
    document = dict(document, version=2, repair_methods=["apology"], objection_deadline_working_days={
        "alone": 1, "with_verification": 2}, disclosure={**document["disclosure"], "behaviour_cap_years": 2})
    v2 = parse_catalogue(document)
    policy.check_repair_method("apology", v2)
    with pytest.raises(ValidationError, match="must be one of apology$"):
        policy.check_repair_method("donation", v2)
    assert policy.objection_deadline(v2, date(2026, 3, 2), True) == date(2026, 3, 4)
    fields = {"decision_date": "2025-01-31", "behaviour_end": "2024-01-01"}
    assert policy.expires_on(fields, v2.items["food_drug.serious"], v2) == "2026-01-01"
    assert policy.expires_on(fields, SERIOUS, CATALOGUE) == "2028-01-31"
