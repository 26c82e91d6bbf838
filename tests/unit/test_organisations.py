"""Organisations as subjects and their responsible persons (落实到人), pure: the tenure aggregate's rules, which of an
organisation's records reach a person, the measures that follow them, and the subject's type against the item."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from keys import Department
from ledger.domain.archive_rules import responsible_for
from ledger.domain.catalogue import parse_catalogue, shipped_catalogue_document
from ledger.domain.catalogue_policy import check_subject
from ledger.domain.genesis import AUTHORITY_CODE
from ledger.domain.measures import applicable
from ledger.domain.responsibility import Responsibility, tenure
from ledger.errors import ConflictError, ForbiddenError, RuleError, ValidationError
from tests.unit.domain_builders import TODAY, apply, change, department, entry, resident_id, statement, \
    submitted, uscc

V3 = parse_catalogue(shipped_catalogue_document(3))
DAY = TODAY.isoformat()
ORG, PERSON = uscc(), resident_id()
REGISTRAR = department(items=(), roles=("registrar",))
AUTHORITY = Department(AUTHORITY_CODE, "authority", items=frozenset(), purposes=frozenset({"audit"}),
                       roles=frozenset({"authority"}))


def ago(days: int) -> str:
    return (TODAY - timedelta(days=days)).isoformat()


def recorded(dept=REGISTRAR, **extra: Any):
    fields = {"organisation": ORG, "organisation_name": "青岛某某食品有限公司", "person": PERSON,
              "person_name": "李四", "role": "legal_representative", "from": ago(300), **extra}
    return statement("responsibility.recorded", dept.code, **fields)


def held(**extra: Any) -> Responsibility:
    stmt = recorded(**extra)
    agg = Responsibility.record(stmt, entry(stmt), REGISTRAR, V3, AUTHORITY_CODE)
    agg.collect_events()
    return agg


def ended(agg: Responsibility, dept=REGISTRAR, until: str = ago(100)) -> None:
    stmt = statement("responsibility.ended", dept.code, responsibility_id=str(agg.id), until=until, reason="left")
    agg.end(stmt, entry(stmt), dept, AUTHORITY_CODE)


@pytest.mark.parametrize("dept, extra, error, words", [
    (department(), {}, ForbiddenError, "neither the authority nor a registrar"),
    (REGISTRAR, {"role": "janitor"}, ValidationError, "no responsible role 'janitor'"),
    (REGISTRAR, {"until": ago(400)}, ValidationError, "lies before the tenure's start"),
    (REGISTRAR, {"from": (TODAY + timedelta(days=1)).isoformat()}, ValidationError, "once it has begun"),
    (REGISTRAR, {"person": resident_id(TODAY - timedelta(days=17 * 366))}, RuleError, "under 18 on the tenure's"),
])
def test_a_tenure_is_recorded_by_the_authority_or_a_registrar_in_a_catalogue_role(dept, extra, error, words):
    stmt = recorded(dept, **extra)
    with pytest.raises(error, match=words):
        Responsibility.record(stmt, entry(stmt), dept, V3, AUTHORITY_CODE)


def test_a_tenure_ends_once_by_its_recorder_or_the_authority_never_later_than_recorded():
    agg = held()
    version = agg.version
    for dept, until, error, words in (
            (department(roles=("registrar",)), ago(100), ForbiddenError, "only the department that recorded"),
            (REGISTRAR, ago(301), ValidationError, "lies before the tenure's start")):
        with pytest.raises(error, match=words):
            ended(agg, dept, until)
    assert agg.version == version and agg.until is None and not agg.ended
    ended(agg)
    assert agg.until == ago(100) and agg.ended
    for dept in (REGISTRAR, AUTHORITY):
        with pytest.raises(ConflictError, match="already been ended"):
            ended(agg, dept, ago(120))
    assert agg.until == ago(100)
    capped = held(until=ago(200))
    with pytest.raises(RuleError, match="already ends on .* cannot be extended"):
        ended(capped, until=ago(150))
    ended(capped, AUTHORITY, ago(250))  # brought forward, by the authority
    assert capped.until == ago(250) and capped.ended


def view(start: str, until: str | None = None, person: str = PERSON, role: str = "legal_representative") -> dict:
    s = {"id": f"t-{start}-{person[-4:]}", "organisation": ORG, "organisation_name": "青岛某某食品有限公司",
         "person": person, "person_name": "李四", "role": role, "from": start, "issuer": REGISTRAR.code}
    if until is not None:
        s["until"] = until
    return tenure(s, None)


DEPT = department(items=("food_drug.serious", "food_drug.general", "credit_agency.serious"))


def org_doc(item: str = "food_drug.serious", behaviour: int | None = 60, decided: int = 40, **kw: Any) -> Any:
    return submitted(DEPT, V3, item=item, subject=ORG, subject_type="organisation", subject_name="青岛某某食品有限公司",
                     decision_date=ago(decided), behaviour_end=None if behaviour is None else ago(behaviour), **kw)


def test_an_organisations_serious_records_reach_whoever_held_a_role_on_the_behaviour_day():
    serious = org_doc()
    by_decision = org_doc(behaviour=None, decided=150)  # no behaviour end: the decision date counts
    general = org_doc(item="food_drug.general")
    other_org = submitted(DEPT, V3, subject=uscc(), subject_type="organisation", subject_name="另一公司",
                          decision_date=ago(40))
    docs = [serious.doc, by_decision.doc, general.doc, other_org.doc]
    found = responsible_for(PERSON, [view(ago(100))], docs, TODAY)
    assert [r["record_id"] for r in found] == [str(serious.id)]
    (shown,) = found
    assert shown["arising_from"] == {"organisation": ORG, "organisation_name": "青岛某某食品有限公司",
                                     "role": "legal_representative", "responsibility_id": view(ago(100))["id"]}
    assert shown["status"] == "active" and "versions" not in shown
    tenures = [view(ago(300), ago(100)), view(ago(60), ago(60), role="principal")]
    both = responsible_for(PERSON, tenures, docs, TODAY)
    assert [(r["record_id"], r["arising_from"]["role"]) for r in both] == [
        (str(by_decision.id), "legal_representative"), (str(serious.id), "principal")]  # each day inclusive
    assert responsible_for(PERSON, [view(ago(59))], docs, TODAY) == []  # came after the behaviour
    left = responsible_for(PERSON, [view(ago(300), ago(61))], docs, TODAY)  # left before the behaviour
    assert [r["record_id"] for r in left] == [str(by_decision.id)]
    assert responsible_for(resident_id(), [view(ago(300))], docs, TODAY) == []  # someone else's tenure
    # a record leaves with its organisation's: revoked, or repaired
    revoked = org_doc()
    apply(revoked, change(revoked, "record.revoked", DEPT.code, reason="annulled", annulling_document="复1"), V3)
    old = org_doc(behaviour=420, decided=400)
    apply(old, change(old, "record.repaired", DEPT.code, method="fulfilment", proof_reference="p",
                      commitment_reference="c"), V3)
    assert responsible_for(PERSON, [view(ago(500))], [revoked.doc, old.doc], TODAY) == []


def test_the_measures_that_reach_persons_follow_the_organisations_records():
    rec = org_doc()
    reached = responsible_for(PERSON, [view(ago(100))], [rec.doc], TODAY)

    def measures(purpose: str, organisation_records: list | None) -> dict[str, tuple]:
        found = applicable(V3, [], {}, DAY, DEPT.code, purpose, organisation_records)
        return {m["id"]: (m["triggered_by"], m.get("via_organisations")) for m in found}

    assert measures("employment", reached)["P-EMPLOYMENT"] == ([], [str(rec.id)])
    assert "P-EMPLOYMENT" not in measures("employment", None)
    assert "P-ENTERPRISE-HEAD" not in measures("enterprise_head_appointment", reached)  # not on the black list
    apply(rec, change(rec, "record.disclosed", DEPT.code, list="black", notice_served_at=DAY), V3)
    reached = responsible_for(PERSON, [view(ago(100))], [rec.doc], TODAY)
    assert measures("enterprise_head_appointment", reached)["P-ENTERPRISE-HEAD"] == ([], [str(rec.id)])
    # a measure that does not reach persons ignores the organisation's records
    key = [m.id for m in V3.measures.values() if not m.reaches_responsible_persons and m.records is not None]
    assert key and not set(key) & set(measures("administrative_licensing", reached))


@pytest.mark.parametrize("subject, kind, item, error, words", [
    (ORG, None, "food_drug.serious", ValidationError, "is not a resident ID"),
    (PERSON, "organisation", "food_drug.serious", ValidationError, "is not a unified social credit code"),
    (ORG, "organisation", "volunteering.service_hours", RuleError, "about residents only"),
    (ORG, "organisation", "credit_agency_staff.serious", RuleError, "about residents only"),
    (PERSON, None, "credit_agency.serious", RuleError, "about organisations only"),
])
def test_the_subject_is_of_its_stated_type_and_of_a_type_the_item_is_about(subject, kind, item, error, words):
    values = {"subject": subject, **({"subject_type": kind} if kind else {})}
    with pytest.raises(error, match=words):
        check_subject(values, V3.items[item])


@pytest.mark.parametrize("subject, kind, item", [
    (ORG, "organisation", "credit_agency.serious"), (ORG, "organisation", "food_drug.serious"),
    (PERSON, None, "food_drug.serious"), (PERSON, "resident", "credit_agency_staff.serious"),
])
def test_subjects_of_the_right_type_pass(subject, kind, item):
    check_subject({"subject": subject, **({"subject_type": kind} if kind else {})}, V3.items[item])
