"""Joint incentive and punishment measures: the catalogue's check, which apply, and measure.applied. Pure."""

from __future__ import annotations

import copy
from datetime import datetime, timedelta, timezone
from typing import Any
from uuid import UUID, uuid4

import pytest

from keys import Department
from ledger.domain import record_doc
from ledger.domain.aggregates import MeasureApplication
from ledger.domain.catalogue import parse_catalogue, shipped_catalogue_document
from ledger.domain.commands.measures import check_cited_records
from ledger.domain.measures import applicable
from ledger.errors import ForbiddenError, RuleError, ValidationError
from tests.unit.domain_builders import AT, apply, change, department, entry, resident_id, statement, submitted, uscc

V2 = parse_catalogue(shipped_catalogue_document(2))
DAY = "2026-03-02"
SUBJECT = resident_id()


def doc(record_id: str, item: str, kind: str = "negative", severity: str | None = "serious", field: str = "food_drug",
        status: str = "active", disclosure: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"record_id": record_id, "item": item, "status": status, "disclosure": disclosure,
            "catalogue": {"kind": kind, "severity": severity, "field": field}}


def ids(found: list[dict[str, Any]]) -> dict[str, list[str]]:
    return {m["id"]: m["triggered_by"] for m in found}


def test_v2_corrects_key_supervision_and_adds_telecom_fraud_and_purposes():
    fields = V2.key_supervised_fields()
    assert {"traffic_safety", "tax", "financial_services", "e_commerce", "telecom_fraud"} <= fields
    assert "telecom_fraud.serious" in V2.items and V2.items["telecom_fraud.serious"].listing == "black"
    assert {"employment", "enterprise_head_appointment", "title_evaluation", "commendation"} <= set(V2.purposes)
    assert parse_catalogue(shipped_catalogue_document(1)).measures == {}


@pytest.mark.parametrize("change, words", [
    (lambda m: m.update(kind="reward"), "kind must be incentive or punishment"),
    (lambda m: m.update(purposes=["fishing"]), "unknown purpose"),
    (lambda m: m["trigger"].update(records={"items": ["no.such"]}), "unknown no.such"),
    (lambda m: m["trigger"].update(flags=["lucky"]), "trigger.flags must be among"),
    (lambda m: m.update(legal_basis=""), "legal_basis must be a non-empty string"),
    (lambda m: m.update(departments=[]), "departments"),
])
def test_the_catalogue_refuses_inconsistent_measures(change, words):
    document = copy.deepcopy(shipped_catalogue_document(2))
    change(document["measures"][0])
    with pytest.raises(ValidationError, match=words):
        parse_catalogue(document)
    document = copy.deepcopy(shipped_catalogue_document(2))
    document["measures"].append(copy.deepcopy(document["measures"][0]))
    with pytest.raises(ValidationError, match="duplicate id"):
        parse_catalogue(document)


def test_measures_follow_records_flags_department_and_purpose():
    flags = {"green_channel": True, "key_supervision": False}
    assert ids(applicable(V2, [], flags, DAY, "X", "administrative_licensing")) == {
        "I-ACCEPT-WITH-GAPS": [], "I-GREEN-CHANNEL": []}
    negative = [doc("r2", "traffic_safety.serious", field="traffic_safety"), doc("r1", "food_drug.general",
                                                                                   severity="general")]
    flags = {"green_channel": False, "key_supervision": True}
    assert ids(applicable(V2, negative, flags, DAY, "X", "administrative_licensing")) == {"P-KEY-SUPERVISION": ["r2"]}
    assert ids(applicable(V2, negative, flags, DAY, "X", "employment")) == {"P-EMPLOYMENT": ["r2"]}
    assert ids(applicable(V2, negative, flags, DAY, "X", "audit")) == {}
    # A repaired, expired or revoked record triggers nothing.
    for status in ("repaired", "expired", "revoked"):
        gone = [doc("r2", "traffic_safety.serious", field="traffic_safety", status=status)]
        assert applicable(V2, gone, flags, DAY, "X", "employment") == []
    # On the black list only while disclosed.
    listed = [doc("r3", "food_drug.serious", disclosure={"list": "black", "public_until": "2027-01-01"})]
    assert "P-ENTERPRISE-HEAD" in ids(applicable(V2, listed, flags, DAY, "X", "enterprise_head_appointment"))
    listed[0]["disclosure"]["public_until"] = DAY
    assert "P-ENTERPRISE-HEAD" not in ids(applicable(V2, listed, flags, DAY, "X", "enterprise_head_appointment"))
    # Priority needs both a positive record and the green channel; telecom fraud items trigger their own measure.
    positive = [doc("r4", "volunteering.service_hours", kind="positive", severity=None, field="volunteering")]
    assert ids(applicable(V2, positive, {"green_channel": True}, DAY, "X", "title_evaluation")) == {"I-PRIORITY": ["r4"]}
    assert applicable(V2, positive, {"green_channel": False}, DAY, "X", "title_evaluation") == []
    fraud = [doc("r5", "telecom_fraud.general", severity="general", field="telecom_fraud")]
    assert ids(applicable(V2, fraud, {}, DAY, "X", "administrative_licensing")) == {"P-TELECOM-FRAUD": ["r5"]}


def test_measure_applied_only_by_a_department_the_measure_applies_to():
    licensing = Department(uscc(), "Licensing", purposes=frozenset({"administrative_licensing"}))

    def applied(dept: Department, measure: str = "I-GREEN-CHANNEL", purpose: str = "administrative_licensing",
                catalogue: Any = V2) -> MeasureApplication:
        st = statement("measure.applied", dept.code, measure=measure, subject=SUBJECT, purpose=purpose,
                       decision_reference="QX-2026-7")
        return MeasureApplication.apply(st, entry(st), dept, catalogue)

    done = applied(licensing)
    assert (done.subject, done.measure, done.measure_kind) == (SUBJECT, "I-GREEN-CHANNEL", "incentive")
    with pytest.raises(ForbiddenError, match="only for the purpose"):
        applied(licensing, "P-EMPLOYMENT", "administrative_licensing")
    with pytest.raises(ForbiddenError, match="not registered for the purpose employment"):
        applied(licensing, "P-EMPLOYMENT", "employment")
    with pytest.raises(RuleError, match="no measure 'NOPE'"):
        applied(licensing, "NOPE")
    with pytest.raises(RuleError, match="has no joint incentive"):
        applied(licensing, catalogue=parse_catalogue(shipped_catalogue_document(1)))
    document = copy.deepcopy(shipped_catalogue_document(2))
    document["measures"][0]["departments"] = ["91370200MA3C00001N"]
    named = parse_catalogue(document)
    with pytest.raises(ForbiddenError, match="is not applied by department"):
        applied(licensing, document["measures"][0]["id"], "administrative_licensing", named)


def test_the_records_a_measure_cites_exist_are_the_subjects_and_shareable_on_its_day():
    dept = department()
    mine = [submitted(dept, subject=SUBJECT, decision_date=(AT.date() - timedelta(days=500)).isoformat())
            for _ in range(5)]
    other = submitted(dept)  # another subject's
    old = submitted(dept, subject=SUBJECT, item="food_drug.minor",
                    decision_date=(AT.date() - timedelta(days=3 * 365)).isoformat())
    apply(mine[1], change(mine[1], "record.revoked", dept.code, reason="annulled", annulling_document="court 1"))
    apply(mine[2], change(mine[2], "record.repaired", dept.code, method="fulfilment", proof_reference="p",
                          commitment_reference="c"))
    apply(mine[3], change(mine[3], "objection.filed", dept.code, subject=SUBJECT, grounds="not me"))
    docs: dict[UUID, Any] = {r.id: r.doc for r in [*mine, other, old]}
    day = AT.date().isoformat()
    assert [record_doc.status(docs[r.id], day) for r in [*mine, old]] == [
        "active", "revoked", "repaired", "disputed", "active", "expired"]

    def cite(*records: Any) -> Any:
        return statement("measure.applied", dept.code, measure="P-EMPLOYMENT", subject=SUBJECT, purpose="employment",
                         decision_reference="QX-2026-8", records=[str(r) for r in records])

    check_cited_records(cite(mine[0].id, mine[3].id, mine[4].id), docs)  # active and disputed records may ground it
    check_cited_records(cite(), {})
    check_cited_records(statement("measure.applied", dept.code, measure="P-EMPLOYMENT", subject=SUBJECT,
                                  purpose="employment", decision_reference="QX-2026-8"), {})
    # Whatever the reason (unknown, another subject's, revoked, repaired, expired), the same answer: a refusal must
    # not tell whose a record is or what state it is in.
    unknown = uuid4()
    answers = set()
    for record, known in ((unknown, {**docs, unknown: None}), (unknown, docs), (other.id, docs), (mine[1].id, docs),
                          (mine[2].id, docs), (old.id, docs)):
        with pytest.raises(RuleError, match=f"record {record} is not a department's own record about the measure's "
                                             f"subject, shared on {day}") as caught:
            check_cited_records(cite(mine[0].id, record), known)
        assert other.subject not in str(caught.value)
        answers.add(str(caught.value).replace(str(record), "…"))
    assert len(answers) == 1
    # Shareable is judged on the statement's own day: the old record was still shared before it expired.
    expired_on = old.doc["expires_on"]
    before = datetime.fromisoformat(expired_on).replace(tzinfo=timezone.utc) - timedelta(days=1)
    earlier = statement("measure.applied", dept.code, at=before, measure="P-EMPLOYMENT", subject=SUBJECT,
                        purpose="employment", decision_reference="QX-2026-8", records=[str(old.id)])
    check_cited_records(earlier, docs)


def test_a_record_from_another_source_does_not_ground_a_measure():
    dept = department()
    v3 = parse_catalogue(shipped_catalogue_document(3))
    ref = submitted(dept, catalogue=v3, subject=SUBJECT, source="financial_credit_database")
    own = submitted(dept, catalogue=v3, subject=SUBJECT)
    cite = statement("measure.applied", dept.code, measure="P-EMPLOYMENT", subject=SUBJECT, purpose="employment",
                     decision_reference="QX-2026-9", records=[str(own.id), str(ref.id)])
    with pytest.raises(RuleError, match=f"record {ref.id} is not a department's own record"):
        check_cited_records(cite, {own.id: own.doc, ref.id: ref.doc})
