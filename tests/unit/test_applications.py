"""Repair and deferral applications, credit commitments, records from other sources and adult students' items,
decided by their commands on a ``CreditRecord`` in memory: the event each accepted statement triggers and what it
leaves in the record's document, and each refusal with its problem."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone
from typing import Any

import pytest

from ledger.domain import rules
from ledger.domain.aggregates import CreditRecord
from ledger.domain.catalogue import parse_catalogue, shipped_catalogue_document
from ledger.errors import ConflictError, ForbiddenError, RuleError, ValidationError
from tests.unit.domain_builders import (
    AT, CATALOGUE, TODAY, apply, change, department, entry, refused, resident_id, submission, submitted,
)

V3 = parse_catalogue(shipped_catalogue_document(3))
DEPT = department(items=("food_drug.serious", "food_drug.general", "food_drug.commendation", "student.exam_cheating"))
OTHER = department()
WINDOW = department(items=(), roles=("service_window",))
OLD = (TODAY - timedelta(days=400)).isoformat()  # past the serious items' 12 months


def on(day: date) -> datetime:
    return datetime.combine(day, time(9), tzinfo=timezone.utc)


def commitment(record: CreditRecord, subject: str | None = None):
    return change(record, "commitment.signed", WINDOW.code, subject=subject or record.subject, text="I will pay")


def repair_application(record: CreditRecord, **fields: Any):
    return change(record, "repair.applied", WINDOW.code, subject=record.subject, reason="paid",
                  **{"method": "fulfilment", **fields})


def repair_decision(record: CreditRecord, application_id: str, outcome: str = "granted", issuer: str = DEPT.code,
                    at: datetime = AT):
    return change(record, "repair.decided", issuer, at=at, application_id=application_id, outcome=outcome,
                  reason="checked")


def deferral_application(record: CreditRecord, until: date, at: datetime = AT):
    return change(record, "deferral.applied", WINDOW.code, at=at, subject=record.subject, until=until.isoformat(),
                  reason="time to pay")


def deferral_decision(record: CreditRecord, application_id: str, outcome: str = "granted", at: datetime = AT,
                      **fields: Any):
    return change(record, "deferral.decided", DEPT.code, at=at, application_id=application_id, outcome=outcome,
                  reason="checked", **fields)


def disclosure(record: CreditRecord, at: datetime = AT):
    return change(record, "record.disclosed", DEPT.code, at=at, list="black",
                  notice_served_at=at.date().isoformat())


# Commitments and repair applications.

def test_a_repair_application_citing_a_commitment_is_granted_by_the_records_department():
    record = submitted(DEPT, decision_date=OLD)
    signed = commitment(record)
    assert isinstance(apply(record, signed), CreditRecord.CommitmentSigned)
    applied = repair_application(record, commitment_id=str(signed.id))
    event = apply(record, applied)
    assert isinstance(event, CreditRecord.RepairApplied)
    deadline = rules.add_working_days(TODAY, CATALOGUE.application_days).isoformat()
    assert event.deadline == deadline
    app = record.applications[str(applied.id)]
    assert app == {"kind": "repair", "filed_at": applied.body["issued_at"], "deadline": deadline, "reason": "paid",
                   "method": "fulfilment", "commitment_id": str(signed.id), "decided": None}
    assert [c["id"] for c in record.commitments] == [str(signed.id)]
    refused(record, repair_decision(record, str(applied.id), issuer=OTHER.code), ForbiddenError,
            "only the department that submitted this record")
    decided = repair_decision(record, str(applied.id))
    assert isinstance(apply(record, decided), CreditRecord.RepairDecided)
    assert record.repaired and record.doc["repaired"]["by_statement"] == str(decided.id)
    assert record.applications[str(applied.id)]["decided"]["outcome"] == "granted"
    refused(record, repair_decision(record, str(applied.id)), ConflictError, "already decided")
    refused(record, repair_application(record), ConflictError, "already repaired")


def test_repair_applications_are_refused_for_the_wrong_subject_record_method_or_commitment():
    record = submitted(DEPT, decision_date=OLD)
    refused(record, commitment(record, subject=resident_id()), RuleError, "subject is not the record's subject")
    refused(record, repair_application(record, method="prayer"), ValidationError, "method: must be one of")
    other = submitted(DEPT)
    foreign = commitment(other)
    apply(other, foreign)
    refused(record, repair_application(record, commitment_id=str(foreign.id)), RuleError, "no credit commitment")
    positive = submitted(DEPT, item="food_drug.commendation")
    refused(positive, repair_application(positive), RuleError, "only untrustworthy")
    applied = repair_application(record)
    apply(record, applied)
    refused(record, repair_application(record), ConflictError, "still open")
    refused(record, repair_decision(record, "00000000-0000-4000-8000-000000000000"), RuleError,
            "no repair application")
    apply(record, change(record, "record.revoked", DEPT.code, reason="annulled", annulling_document="d"))
    refused(record, commitment(record), RuleError, "revoked")


def test_a_repair_is_granted_only_after_the_minimum_period_and_a_refusal_leaves_the_record():
    record = submitted(DEPT, item="food_drug.general", decision_date=(TODAY - timedelta(days=30)).isoformat())
    applied = repair_application(record)
    apply(record, applied)
    refused(record, repair_decision(record, str(applied.id)), RuleError, "minimum disclosure period of 3 months")
    apply(record, repair_decision(record, str(applied.id), outcome="refused"))
    assert not record.repaired and record.applications[str(applied.id)]["decided"]["reason"] == "checked"
    again = repair_application(record)
    apply(record, again)  # the refused application is closed
    later = on(TODAY + timedelta(days=70))
    apply(record, repair_decision(record, str(again.id), at=later))
    assert record.repaired and record.doc["repaired"]["method"] == "fulfilment"


# Deferral applications.

def test_a_granted_deferral_holds_back_a_disclosure_until_its_day():
    record = submitted(DEPT)
    asked = rules.add_months(TODAY, V3.deferral_max_months)
    applied = deferral_application(record, asked)
    apply(record, applied, V3)
    refused(record, deferral_decision(record, str(applied.id), until=(asked + timedelta(days=1)).isoformat()),
            ValidationError, "at the latest", V3)
    refused(record, deferral_decision(record, str(applied.id), outcome="refused", until=asked.isoformat()),
            ValidationError, "only a granted deferral has an end", V3)
    granted = TODAY + timedelta(days=30)
    apply(record, deferral_decision(record, str(applied.id), until=granted.isoformat()), V3)
    assert record.doc["deferred_until"] == granted.isoformat()
    assert record.applications[str(applied.id)]["decided"]["until"] == granted.isoformat()
    refused(record, disclosure(record), RuleError, f"deferral granted to the subject runs until {granted}", V3)
    refused(record, disclosure(record, on(granted - timedelta(days=1))), RuleError, "deferral", V3)
    assert isinstance(apply(record, disclosure(record, on(granted)), V3), CreditRecord.Disclosed)


@pytest.mark.parametrize("days", [0, -1])
def test_a_deferral_lies_after_the_application_day_and_within_the_catalogues_months(days: int):
    record = submitted(DEPT)
    refused(record, deferral_application(record, TODAY + timedelta(days=days)), ValidationError,
            "until: must lie after", V3)
    too_far = rules.add_months(TODAY, V3.deferral_max_months) + timedelta(days=1)
    refused(record, deferral_application(record, too_far), ValidationError, "at most 6 months", V3)
    refused(record, deferral_application(record, TODAY + timedelta(days=10)), RuleError, "allows no deferrals")


def test_deferrals_do_not_chain_past_the_longest_one_counted_from_the_first_granted():
    record = submitted(DEPT)
    first = deferral_application(record, TODAY + timedelta(days=60))
    apply(record, first, V3)
    apply(record, deferral_decision(record, str(first.id)), V3)
    later = on(TODAY + timedelta(days=50))
    cap = rules.add_months(TODAY, V3.deferral_max_months)
    refused(record, deferral_application(record, cap + timedelta(days=1), at=later), ValidationError,
            f"when the first granted deferral was applied for: by {cap}", V3)
    extension = deferral_application(record, cap, at=later)
    apply(record, extension, V3)
    apply(record, deferral_decision(record, str(extension.id), at=later), V3)
    assert record.doc["deferred_until"] == cap.isoformat()


def test_a_deferral_is_not_granted_once_its_day_has_passed_nor_applied_for_twice_or_once_disclosed():
    record = submitted(DEPT)
    applied = deferral_application(record, TODAY + timedelta(days=10))
    apply(record, applied, V3)
    refused(record, deferral_application(record, TODAY + timedelta(days=20)), ConflictError, "still open", V3)
    refused(record, deferral_decision(record, str(applied.id), at=on(TODAY + timedelta(days=10))), RuleError,
            "already run out", V3)
    apply(record, deferral_decision(record, str(applied.id), outcome="refused"), V3)
    assert "deferred_until" not in record.doc
    apply(record, disclosure(record), V3)
    refused(record, deferral_application(record, TODAY + timedelta(days=20)), RuleError, "already disclosed", V3)


# Records from other sources and adult students' items.

def submit(catalogue=V3, adopted: dict[str, Any] | None = None, **kw: Any) -> CreditRecord:
    stmt = submission(DEPT, **kw)
    record = CreditRecord.submit(stmt, entry(stmt), DEPT, catalogue, adopted)
    record.collect_events()
    return record


def submit_refused(error: type[Exception], message: str, **kw: Any) -> None:
    with pytest.raises(error) as caught:
        submit(**kw)
    assert type(caught.value) is error and message in str(caught.value), str(caught.value)


def test_a_reference_only_record_is_never_disclosed_and_is_adopted_by_a_departments_own_record():
    ref = submit(source="financial_credit_database", source_reference="FCD-1")
    assert ref.doc["source"] == "financial_credit_database" and ref.doc["source_reference"] == "FCD-1"
    refused(ref, disclosure(ref), RuleError, "reference only", V3)
    submit_refused(ValidationError, "knows no source", source="gossip")
    submit_refused(ValidationError, "knows no source", catalogue=CATALOGUE, source="financial_credit_database")
    submit_refused(ValidationError, "source_reference: only a record from another source", source_reference="x")
    own = submit(subject=ref.subject)
    same = f"adopts: {ref.id} is not a record from another source about this subject that is still in force"
    for adopted in (own.doc, submit(source="market_credit_agency").doc, None):  # one answer for every reason
        submit_refused(RuleError, same, subject=ref.subject, adopts=str(ref.id), adopted=adopted)
    submit_refused(ValidationError, "cannot adopt", subject=ref.subject, adopts=str(ref.id), adopted=ref.doc,
                   source="market_credit_agency")
    adopting = submit(subject=ref.subject, adopts=str(ref.id), adopted=ref.doc)
    assert adopting.doc["adopts"] == str(ref.id) and "source" not in adopting.doc
    assert isinstance(apply(adopting, disclosure(adopting), V3), CreditRecord.Disclosed)


@pytest.mark.parametrize(("born", "behaviour_end", "accepted"), [
    (date(2008, 6, 1), None, False),                # 17 on the decision date
    (date(2008, 1, 1), "2025-12-01", False),        # 18 on the decision date, 17 when the behaviour ended
    (date(2008, 1, 1), None, True),                 # 18 on the decision date
    (date(2007, 11, 1), "2025-12-01", True),        # 18 when the behaviour ended
])
def test_a_students_item_is_recorded_only_for_adults(born: date, behaviour_end: str | None, accepted: bool):
    fields: dict[str, Any] = dict(item="student.exam_cheating", subject=resident_id(born),
                                  decision_date="2026-02-01", behaviour_end=behaviour_end)
    if accepted:
        assert submit(**fields).doc["item"] == "student.exam_cheating"
    else:
        submit_refused(RuleError, "recorded only for adults", **fields)


def test_a_correction_may_not_move_a_students_behaviour_to_before_the_subject_was_18():
    record = submit(item="student.exam_cheating", subject=resident_id(date(2008, 1, 1)), decision_date="2026-02-01")
    moved = change(record, "record.corrected", DEPT.code, record_version=1, changes={"behaviour_end": "2025-12-01"},
                   reason="the exam was in December")
    refused(record, moved, RuleError, "recorded only for adults", V3)
    kept = change(record, "record.corrected", DEPT.code, record_version=1, changes={"behaviour_end": "2026-01-02"},
                  reason="the exam was in January")
    assert isinstance(apply(record, kept, V3), CreditRecord.Corrected)


def test_a_reference_only_record_takes_no_repair_or_deferral_application_only_a_commitment():
    ref = submit(source="financial_credit_database")
    refused(ref, repair_application(ref), RuleError, "repaired or put right at its source", V3)
    refused(ref, deferral_application(ref, TODAY + timedelta(days=30)), RuleError, "at its source", V3)
    assert isinstance(apply(ref, commitment(ref), V3), CreditRecord.CommitmentSigned)
