"""A record's disclosure on the black or red list, its withdrawal and the record's repair, decided by their
commands on a ``CreditRecord`` in memory: the event each accepted statement triggers, and each refusal."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest

from ledger.domain.aggregates import CreditRecord
from ledger.errors import ConflictError, ForbiddenError, RuleError, ValidationError
from tests.unit.domain_builders import TODAY, apply, change, department, refused, resident_id, submitted

DEPT = department()
OTHER = department()
NOTICE = (TODAY - timedelta(days=10)).isoformat()


def disclosure(record: CreditRecord, listing: str = "black", issuer: str = DEPT.code, **fields: Any):
    if listing == "black" and "notice_served_at" not in fields:
        fields["notice_served_at"] = NOTICE
    given = {k: v for k, v in fields.items() if v is not None}
    return change(record, "record.disclosed", issuer, list=listing, **given)


def withdrawal(record: CreditRecord, issuer: str = DEPT.code):
    return change(record, "record.disclosure_withdrawn", issuer, reason="decided on review")


def repair(record: CreditRecord, method: str = "fulfilment", issuer: str = DEPT.code):
    return change(record, "record.repaired", issuer, method=method, proof_reference="receipt 12",
                  commitment_reference="letter 3")


# record.disclosed

@pytest.mark.parametrize("months,until", [(None, "2028-11-22"), (12, "2026-11-22"), (36, "2028-11-22")])
def test_a_black_list_disclosure_lasts_its_period(months: int | None, until: str):
    record = submitted(DEPT)  # serious, decided 2025-11-22
    event = apply(record, disclosure(record, period_months=months, exit_conditions="pay the fine"))
    assert isinstance(event, CreditRecord.Disclosed)
    assert (event.public_until, event.period_months) == (until, months or 36)
    assert record.disclosure is not None and record.disclosure["list"] == "black"
    assert record.disclosure["public_until"] == until and record.disclosure["notice_served_at"] == NOTICE


def test_a_black_list_disclosure_ends_five_years_after_the_behaviour():
    record = submitted(DEPT, decision_date="2025-11-22", behaviour_end="2021-01-10")
    assert apply(record, disclosure(record)).public_until == "2026-01-10"


@pytest.mark.parametrize("extra,until", [({}, "2028-06-30"), ({"valid_until": "2027-01-01"}, "2027-01-01")])
def test_a_red_list_disclosure_lasts_the_validity(extra: dict[str, Any], until: str):
    record = submitted(DEPT, item="food_drug.commendation", decision_date="2025-06-30", **extra)
    event = apply(record, disclosure(record, "red"))
    assert (event.public_until, event.period_months) == (until, None)


def test_only_the_submitting_department_discloses():
    record = submitted(DEPT)
    refused(record, disclosure(record, issuer=OTHER.code), ForbiddenError,
            "only the department that submitted this record may disclose it")


def test_a_record_goes_on_its_items_list_only():
    record = submitted(DEPT)
    refused(record, disclosure(record, "red"), RuleError, "catalogue item food_drug.serious is not a red-list item")
    general = submitted(DEPT, item="food_drug.general")
    refused(general, disclosure(general), RuleError, "catalogue item food_drug.general is not a black-list item")
    licence = submitted(DEPT, item="food_drug.licence")
    refused(licence, disclosure(licence, "red"), RuleError, "catalogue item food_drug.licence is not a red-list item")


def test_a_record_is_disclosed_once_at_a_time():
    record = submitted(DEPT)
    apply(record, disclosure(record))
    refused(record, disclosure(record), ConflictError,
            "the record is already disclosed; withdraw the disclosure first")
    apply(record, withdrawal(record))
    assert apply(record, disclosure(record, period_months=12)).public_until == "2026-11-22"


def test_a_repaired_record_is_not_disclosed():
    record = submitted(DEPT, item="food_drug.minor")  # minor: repaired at once
    apply(record, repair(record))
    refused(record, disclosure(record), RuleError, "a repaired record is no longer disclosed")  # before its list
    serious = submitted(DEPT, decision_date="2024-11-22")
    apply(serious, repair(serious))
    refused(serious, disclosure(serious), RuleError, "a repaired record is no longer disclosed")


@pytest.mark.parametrize("born,accepted", [(date(2008, 3, 2), True), (date(2008, 3, 3), False)])
def test_minors_are_never_on_a_public_list(born: date, accepted: bool):
    record = submitted(DEPT, subject=resident_id(born))
    if accepted:
        apply(record, disclosure(record))
    else:
        refused(record, disclosure(record), RuleError,
                "minors are never put on a public list (the subject is under 18)")


@pytest.mark.parametrize("field,text,kinds", [
    ("public_reason", "张三 sold spoiled food", "the subject's name"),
    ("exit_conditions", "call 13812345678 when paid", "a phone number"),
    ("remedies", "write to zhang@example.com", "an e-mail address"),
])
def test_public_text_names_no_one(field: str, text: str, kinds: str):
    record = submitted(DEPT)
    refused(record, disclosure(record, **{field: text}), ValidationError, f"{field} holds personal data ({kinds})")


def test_public_text_names_neither_the_subjects_name_nor_a_former_one():
    record = submitted(DEPT)
    apply(record, change(record, "record.corrected", DEPT.code, record_version=1, changes={"subject_name": "李四"},
                         reason="wrong name"))
    for name in ("张三", "李四"):
        refused(record, disclosure(record, public_reason=f"{name} sold spoiled food"), ValidationError,
                "public_reason holds personal data (the subject's name)")


def test_the_subject_is_notified_before_a_black_list_disclosure():
    record = submitted(DEPT)
    refused(record, disclosure(record, notice_served_at=None), RuleError,
            "a black-list disclosure needs notice_served_at: the subject must be notified first")
    refused(record, disclosure(record, notice_served_at=(TODAY + timedelta(days=1)).isoformat()), ValidationError,
            "notice_served_at lies after the statement's issue date")
    assert apply(record, disclosure(record, notice_served_at=TODAY.isoformat())).period_months == 36


@pytest.mark.parametrize("months", [0, 11, 37])
def test_a_black_list_period_lies_within_the_severitys_bounds(months: int):
    record = submitted(DEPT)
    refused(record, disclosure(record, period_months=months), RuleError,
            "period_months for serious records must be from 12 to 36")


# record.disclosure_withdrawn

def test_a_disclosure_is_withdrawn_by_the_submitting_department():
    record = submitted(DEPT)
    apply(record, disclosure(record))
    refused(record, withdrawal(record, OTHER.code), ForbiddenError,
            "only the department that submitted this record may withdraw the disclosure of it")
    event = apply(record, withdrawal(record))
    assert isinstance(event, CreditRecord.DisclosureWithdrawn) and record.disclosure is None


def test_only_a_disclosed_record_has_its_disclosure_withdrawn():
    record = submitted(DEPT)
    refused(record, withdrawal(record), RuleError, "the record is not disclosed")


# record.repaired

@pytest.mark.parametrize("item,decided,allowed_from,months", [
    ("food_drug.serious", "2025-03-02", None, 12),
    ("food_drug.serious", "2025-03-03", "2026-03-03", 12),
    ("food_drug.general", "2025-12-02", None, 3),
    ("food_drug.general", "2025-12-03", "2026-03-03", 3),
    ("food_drug.minor", "2026-03-02", None, 0),
])
def test_a_repair_waits_for_the_minimum_disclosure_period(item: str, decided: str, allowed_from: str | None,
                                                          months: int):
    record = submitted(DEPT, item=item, decision_date=decided)
    if allowed_from is None:
        assert isinstance(apply(record, repair(record)), CreditRecord.Repaired) and record.repaired
    else:
        refused(record, repair(record), RuleError, f"repair is possible only after the minimum disclosure period "
                f"of {months} months, from {allowed_from}")


def test_a_repair_follows_a_catalogue_method():
    record = submitted(DEPT, decision_date="2024-01-10")
    refused(record, repair(record, "prayer"), ValidationError,
            "method: must be one of fulfilment, volunteering, donation")
    apply(record, repair(record, "volunteering"))
    assert record.doc["repaired"]["method"] == "volunteering"


def test_a_record_is_repaired_once():
    record = submitted(DEPT, decision_date="2024-01-10")
    apply(record, repair(record))
    refused(record, repair(record, "donation"), ConflictError, "the record is already repaired")


@pytest.mark.parametrize("item", ["food_drug.commendation", "food_drug.licence", "volunteering.service_hours"])
def test_only_negative_records_are_repaired(item: str):
    record = submitted(DEPT, item=item, decision_date="2020-01-10")
    refused(record, repair(record), RuleError, "only untrustworthy (negative) records are repaired")


def test_only_the_submitting_department_repairs():
    record = submitted(DEPT, decision_date="2024-01-10")
    refused(record, repair(record, issuer=OTHER.code), ForbiddenError,
            "only the department that submitted this record may repair it")
