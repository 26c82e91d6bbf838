"""The lead department's ``department_assessment`` scope: only for the authority role with the supervision
purpose, every asking recorded, and the figures right on a made-up ledger. Both backends."""

from __future__ import annotations

from datetime import date, datetime, timezone
from typing import Any

from fastapi.testclient import TestClient

from ledger.domain.assessment import BEIJING
from tests.support import Department, World, make_resident_id

P = "urn:credit-ledger:problem:"


def at(day: str) -> datetime:
    """10:00 Beijing time on ``day``."""
    return datetime.fromisoformat(day + "T02:00:00").replace(tzinfo=timezone.utc)


def on(world: World, day: str, dept: Department, kind: str, **fields: Any) -> dict[str, Any]:
    """Append one statement as if it were signed and recorded at 10:00 Beijing time on ``day``."""
    world.ledger.clock = lambda: at(day)
    env = world.signed(dept, kind, issued_at=at(day), **fields)
    world.append_ok(env)
    return env


def assessment_query(world: World, dept: Department, **filters: str) -> dict[str, Any]:
    return world.signed(dept, "query.requested", operator="inspector-1", purpose="supervision",
                        legal_basis="Qingdao public credit supervision and assessment rules",
                        scope="department_assessment",
                        **({"filters": filters} if filters else {}))


def made_up_ledger(world: World) -> dict[str, Department]:
    """Department A reports four records in June 2025 (lags 1, 7, 8, 14 working days: two late), corrects one,
    gets two objections (one resolved after its deadline, one never) and revokes one; B reports one in July."""
    a = world.department()
    b = world.department()
    window = world.department(items=[], purposes=["subject_self_query"], roles=["service_window"])
    subject = make_resident_id()
    records = [on(world, day, a, "record.submitted", **record_fields(subject, "2025-06-02"))
               for day in ("2025-06-03", "2025-06-11", "2025-06-12", "2025-06-20")]
    ids = [r["statement"]["id"] for r in records]
    on(world, "2025-06-13", a, "record.corrected", record_id=ids[0], record_version=1,
       changes={"summary": "corrected"}, reason="typo")
    late = on(world, "2025-06-16", window, "objection.filed", record_id=ids[1], subject=subject, grounds="not me")
    on(world, "2025-06-16", window, "objection.filed", record_id=ids[2], subject=subject, grounds="paid already")
    on(world, "2025-06-23", a, "objection.resolved", record_id=ids[1], objection_id=late["statement"]["id"],
       outcome="upheld", reason="checked")
    on(world, "2025-06-25", a, "record.revoked", record_id=ids[3], reason="annulled on review",
       annulling_document="QSJ-R-1")
    on(world, "2025-07-02", b, "record.submitted", **record_fields(make_resident_id(), "2025-07-01"))
    world.ledger.clock = lambda: datetime.now(timezone.utc)
    return {"a": a, "b": b, "window": window}


def record_fields(subject: str, decided: str) -> dict[str, Any]:
    return {"subject": subject, "subject_name": "张三", "item": "food_drug.general", "summary": "Sold food past its date",
            "decision_date": decided, "document_number": "QSJ-" + decided, "legal_basis": "Food Safety Law art. 124"}


def post(client: TestClient, world: World, env: dict[str, Any], status: int) -> dict[str, Any]:
    before = world.ledger.count()
    r = client.post("/v1/queries", json=env)
    assert r.status_code == status, r.text
    assert world.ledger.count() == before + 1  # recorded, whatever the outcome
    return r.json()


def test_the_assessment_is_refused_and_recorded_for_departments_without_the_authority_role(client, world):
    made_up_ledger(world)
    no_role = world.department(items=[], purposes=["supervision"])
    no_purpose = world.department(items=[], purposes=["audit"], roles=["auditor"])
    for dept, words in ((no_role, "needs the role authority"), (no_purpose, "purpose supervision is not allowed")):
        body = post(client, world, assessment_query(world, dept), 403)
        assert body["type"] == P + "query-refused" and words in body["detail"]
        assert "data" not in body and "rows" not in str(body)
        assert body["receipt"]["outcome"]["status"] == "refused"


def test_malformed_assessment_filters_store_nothing(client, world):
    lead = world.department(items=[], purposes=["supervision"], roles=["authority"])
    before = world.ledger.count()
    r = client.post("/v1/queries", json=assessment_query(world, lead, **{"from": "2025-07", "to": "2025-06"}))
    assert r.status_code == 422 and r.json()["type"] == P + "invalid-statement"
    assert world.ledger.count() == before


def test_the_figures_per_department_and_month_on_a_made_up_ledger(client, world):
    who = made_up_ledger(world)
    a, b = who["a"].code, who["b"].code
    # A refused query of A's (a purpose it does not hold), recorded this month.
    refused = world.signed(who["a"], "query.requested", operator="clerk", purpose="audit", legal_basis="x",
                           scope="ledger_entries", filters={"start": 0, "end": 1})
    post(client, world, refused, 403)
    lead = world.department(items=[], purposes=["supervision"], roles=["authority"])
    this_month = datetime.now(BEIJING).strftime("%Y-%m")
    body = post(client, world, assessment_query(world, lead, **{"from": "2025-06", "to": this_month}), 200)
    data = body["data"]
    assert body["receipt"]["outcome"] == {"status": "accepted"}
    assert data["reporting_deadline_working_days"] == 7 and data["revocation_report_working_days"] == 3
    rows = {(r["department"], r["month"]): r for r in data["rows"]}
    june = rows[(a, "2025-06")]
    assert (june["records"], june["late"], june["share_late"]) == (4, 2, 0.5)
    assert (june["lag_median"], june["lag_p95"]) == (7.5, 14)
    assert (june["corrections"], june["corrections_per_100_records"]) == (1, 25.0)
    assert (june["objections_filed"], june["objections_upheld"], june["objections_open"]) == (2, 1, 1)
    assert june["objections_overdue"] == 2  # one resolved after its deadline, one still open past it
    assert (june["revocations"], june["revocations_late"], june["revocations_undated"]) == (1, 0, 1)
    assert june["statements"] == 4 + 1 + 1 + 1  # records, correction, resolution, revocation
    assert rows[(who["window"].code, "2025-06")]["statements"] == 2
    july = rows[(b, "2025-07")]
    assert (july["records"], july["lag_median"], july["late"]) == (1, 1, 0)
    now_row = rows[(a, this_month)]
    assert now_row["refusals"] == {"purpose-not-registered": 1} and now_row["refused_queries"] == 1
    assert data["departments"][a].startswith("Dept ")
    assert "not in the ledger" in data["refused_statements"]
    # One department only.
    only_b = post(client, world, assessment_query(world, lead, department=b, **{"from": "2025-06", "to": "2025-07"}),
                  200)["data"]
    assert [(r["department"], r["month"]) for r in only_b["rows"]] == [(b, "2025-07")]
    assert date.fromisoformat(only_b["as_of_day"]) >= date(2026, 1, 1)
