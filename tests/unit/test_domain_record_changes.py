"""A record's correction, revocation, objections and the subject's statements, decided by their commands on a
``CreditRecord`` in memory: the event each accepted statement triggers, and each refusal with its problem."""

from __future__ import annotations

from typing import Any

import pytest

from ledger.domain.aggregates import CreditRecord
from ledger.domain.catalogue import parse_catalogue, shipped_catalogue_document
from ledger.errors import ConflictError, ForbiddenError, RuleError, ValidationError
from ledger.format.statements import CORRECTABLE
from tests.unit.domain_builders import (
    TODAY, apply, change, department, refused, resident_id, statement, submitted,
)

DEPT = department()
OTHER = department()
WINDOW = department(items=(), roles=("service_window",))


def correction(record: CreditRecord, issuer: str = DEPT.code, version: int | None = None, **changes: Any):
    return change(record, "record.corrected", issuer, record_version=record.version if version is None else version,
                  changes=changes, reason="a typing error")


def revocation(record: CreditRecord, issuer: str = DEPT.code):
    return change(record, "record.revoked", issuer, reason="annulled on review", annulling_document="复议决定 2026-7")


def objection(record: CreditRecord, subject: str | None = None, **fields: Any):
    return change(record, "objection.filed", WINDOW.code, subject=subject or record.subject, grounds="not me",
                  **fields)


def resolution(record: CreditRecord, objection_id: str, outcome: str = "upheld", issuer: str = DEPT.code):
    return change(record, "objection.resolved", issuer, objection_id=objection_id, outcome=outcome,
                  reason="checked the file")


# record.corrected

def test_a_correction_keeps_the_replaced_values_and_the_expiry():
    record = submitted(DEPT)
    before = dict(record.fields)
    event = apply(record, correction(record, summary="Sold food past its use-by date, twice"))
    assert isinstance(event, CreditRecord.Corrected)
    assert event.expires_on == "2028-11-22" and event.public_until is None
    assert record.version == 2 and record.history == [before]
    assert record.fields == {**before, "summary": "Sold food past its use-by date, twice"}


def test_a_corrected_decision_date_moves_the_expiry_and_the_disclosures_end():
    record = submitted(DEPT)
    apply(record, change(record, "record.disclosed", DEPT.code, list="black", notice_served_at=TODAY.isoformat(),
                         period_months=24))
    event = apply(record, correction(record, decision_date="2025-10-01"))
    assert (event.expires_on, event.public_until) == ("2028-10-01", "2027-10-01")
    assert record.doc["expires_on"] == "2028-10-01" and record.disclosure is not None
    assert record.disclosure["public_until"] == "2027-10-01" and record.disclosure["period_months"] == 24


def test_only_the_submitting_department_corrects_and_is_not_named_to_others():
    record = submitted(DEPT)
    error = refused(record, correction(record, OTHER.code, summary="x"), ForbiddenError,
                    "only the department that submitted this record may correct it")
    assert DEPT.code not in str(error)


def test_a_correction_is_based_on_the_current_version():
    record = submitted(DEPT)
    apply(record, correction(record, summary="first"))
    refused(record, correction(record, version=1, summary="second"), ConflictError,
            "record is at version 2, the correction was based on version 1")


def test_only_correctable_fields_are_corrected():
    record = submitted(DEPT)
    refused(record, correction(record, subject=resident_id()), ValidationError,
            f"changes: subject cannot be corrected (correctable: {', '.join(CORRECTABLE)})")
    refused(record, correction(record, item="food_drug.general"), ValidationError, "changes: item cannot be corrected")
    refused(record, correction(record), ValidationError, "changes: must change at least one field")


@pytest.mark.parametrize("changes,message", [
    ({"summary": " "}, "changes.summary: must be a non-empty string"),
    ({"decision_date": "2025-13-01"}, "changes.decision_date: '2025-13-01' is not a real date"),
    ({"details": {"income": 10}}, "details: income is never collected (Shandong regulation art. 42)"),
    ({"details": []}, "details: must be a JSON object"),
    ({"decision_date": "2026-03-03"}, "decision_date: 2026-03-03 lies after the statement's issue date"),
    ({"valid_until": "2025-11-01"}, "valid_until: must lie after the decision date"),
])
def test_corrected_values_are_checked_as_a_submissions_are(changes: dict[str, Any], message: str):
    record = submitted(DEPT)
    refused(record, correction(record, **changes), ValidationError, message)


def test_a_positive_records_validity_is_corrected_within_its_items_bound():
    record = submitted(DEPT, item="food_drug.commendation", decision_date="2025-06-30")
    assert apply(record, correction(record, valid_until="2027-01-31")).expires_on == "2027-01-31"
    refused(record, correction(record, valid_until="2028-07-01"), ValidationError, "by 2028-06-30")


# record.revoked

def test_a_revoked_record_no_longer_changes():
    record = submitted(DEPT)
    stmt = revocation(record)
    event = apply(record, stmt)
    assert isinstance(event, CreditRecord.Revoked) and record.revoked
    assert record.doc["revoked"] == {"at": stmt.body["issued_at"], "reason": "annulled on review",
                                     "by_statement": str(stmt.id)}
    for stmt in (correction(record, summary="x"), revocation(record),
                 change(record, "record.disclosed", DEPT.code, list="black", notice_served_at=TODAY.isoformat()),
                 change(record, "record.repaired", DEPT.code, method="donation", proof_reference="p",
                        commitment_reference="c")):
        refused(record, stmt, RuleError, "the record was revoked; it can no longer change")


def test_only_the_submitting_department_revokes():
    record = submitted(DEPT)
    refused(record, revocation(record, OTHER.code), ForbiddenError,
            "only the department that submitted this record may revoke it")


# objection.filed and objection.resolved

@pytest.mark.parametrize("needs_verification,deadline", [(None, "2026-03-05"), (False, "2026-03-05"),
                                                          (True, "2026-03-11")])
def test_an_objection_is_due_in_the_catalogues_working_days(needs_verification: bool | None, deadline: str):
    record = submitted(DEPT)
    extra: dict[str, Any] = {} if needs_verification is None else {"needs_verification": needs_verification}
    stmt = objection(record, **extra)
    event = apply(record, stmt)
    assert isinstance(event, CreditRecord.ObjectionFiled) and event.deadline == deadline
    assert record.disputed and record.objections[str(stmt.id)]["deadline"] == deadline


def test_only_the_records_subject_objects():
    record = submitted(DEPT)
    refused(record, objection(record, subject=resident_id()), RuleError,
            "the objection's subject is not the record's subject")


def test_a_revoked_record_takes_no_objection():
    record = submitted(DEPT)
    apply(record, revocation(record))
    refused(record, objection(record), RuleError, "the record was revoked; there is nothing to object to")


def test_an_objection_is_resolved_once_by_the_submitting_department():
    record = submitted(DEPT)
    filed = objection(record)
    apply(record, filed)
    refused(record, resolution(record, str(filed.id), issuer=OTHER.code), ForbiddenError,
            "only the department that submitted this record may resolve objections to it")
    event = apply(record, resolution(record, str(filed.id)))
    assert isinstance(event, CreditRecord.ObjectionResolved) and not record.disputed and not record.revoked
    refused(record, resolution(record, str(filed.id)), ConflictError, "the objection is already resolved")


def test_only_an_objection_on_the_record_is_resolved():
    record = submitted(DEPT)
    elsewhere = submitted(DEPT)
    filed = objection(elsewhere)
    apply(elsewhere, filed)
    refused(record, resolution(record, str(filed.id)), RuleError, f"no objection {filed.id} on this record")


def test_an_objection_upheld_by_revoking_revokes_the_record():
    record = submitted(DEPT)
    filed = objection(record)
    apply(record, filed)
    apply(record, resolution(record, str(filed.id), outcome="revoked"))
    assert record.revoked and not record.disputed
    refused(record, correction(record, summary="x"), RuleError, "the record was revoked")


# statement.added

def test_the_subject_adds_a_statement_even_to_a_revoked_record():
    record = submitted(DEPT)
    apply(record, revocation(record))
    stmt = change(record, "statement.added", WINDOW.code, subject=record.subject, text="my side of it")
    event = apply(record, stmt)
    assert isinstance(event, CreditRecord.StatementAdded)
    assert record.doc["statements"] == [{"id": str(stmt.id), "at": stmt.body["issued_at"], "text": "my side of it"}]


def test_only_the_records_subject_adds_a_statement():
    record = submitted(DEPT)
    refused(record, change(record, "statement.added", WINDOW.code, subject=resident_id(), text="t"), RuleError,
            "the statement's subject is not the record's subject")


# The record's item in the catalogue in force.

def test_a_record_whose_item_left_the_catalogue_takes_no_change():
    record = submitted(DEPT)
    document = dict(shipped_catalogue_document(), version=2)
    document["items"] = [i for i in document["items"] if i["code"] != "food_drug.serious"]
    without = parse_catalogue(document)
    for stmt in (correction(record, summary="x"), objection(record),
                 change(record, "statement.added", WINDOW.code, subject=record.subject, text="t")):
        refused(record, stmt, RuleError, "the record's catalogue item food_drug.serious is not in the current "
                "catalogue", catalogue=without)


def test_a_statement_that_is_no_lifecycle_statement_is_refused():
    record = submitted(DEPT)
    stmt = statement("key.revoked", DEPT.code, key_id="ed25519:" + "0" * 32, effective_at="2026-03-01T00:00:00Z",
                     reason="r")
    refused(record, stmt, ValidationError, "key.revoked is not a record lifecycle statement")
