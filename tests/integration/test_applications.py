"""Repair and deferral applications, credit commitments, records from other sources, adult students' items and
occupational groups, through the API, on both backends: each accepted statement shows in the archive answer and
in an as-of replay alike; each refusal is its problem, with nothing stored."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest

from ledger.domain import rules
from ledger.domain.catalogue import shipped_catalogue_document
from ledger.format.statements import format_datetime
from tests.support import World, make_resident_id, now

P = "urn:credit-ledger:problem:"
TODAY = now().date()
# What an accepted application statement leaves on its record, compared between the live archive and a replay.
KEPT = ("applications", "commitments", "deferred_until", "repaired", "statements", "source", "adopts", "disclosure")


def v3(world: World) -> None:
    world.append_ok(world.signed(world.authority_dept, "catalogue.published", version=3,
                                 catalogue=shipped_catalogue_document(3)))


def days_ago(n: int) -> str:
    return (TODAY - timedelta(days=n)).isoformat()


def refused(client, world: World, env: dict, status: int, slug: str, words: str) -> dict:
    before = world.ledger.count()
    r = client.post("/v1/statements", json=env)
    assert r.status_code == status, r.text
    problem = r.json()
    assert r.headers["content-type"].startswith("application/problem+json")
    assert problem["status"] == status and problem["type"] == P + slug and words in problem["detail"], problem
    assert world.ledger.count() == before
    return problem


def archive(client, world: World, subject: str, scope: str = "archive") -> dict:
    if scope == "archive":
        dept = world.department(purposes=["administrative_licensing"])
        q = world.signed(dept, "query.requested", operator="op-1", purpose="administrative_licensing",
                         legal_basis="Administrative Licensing Law art. 31", scope="archive", subject=subject)
    else:
        dept = world.department(items=[], purposes=["audit"], roles=["auditor"])
        q = world.signed(dept, "query.requested", operator="op-1", purpose="audit", legal_basis="audit",
                         scope="as_of_archive", subject=subject,
                         filters={"at": format_datetime(datetime.now(timezone.utc))})
    r = client.post("/v1/queries", json=q)
    assert r.status_code == 200, r.text
    return r.json()["data"]


def record_in(data: dict, record_id: str) -> dict:
    (found,) = [r for r in data["records"] if r["record_id"] == record_id]
    return found


def black_list(client) -> set[str]:
    client.app.state.views.archive.catch_up_all()
    r = client.get("/v1/public/lists/black", params={"limit": 200})
    assert r.status_code == 200, r.text
    return {e["entry_id"] for e in r.json()["entries"]}


def replay_matches_live(client, world: World, subject: str) -> None:
    """An as-of replay after the events shows each record of the subject as the live archive view does."""
    view = client.app.state.views.archive
    view.catch_up_all()
    live = {d["record_id"]: d for d in view.archive(subject, TODAY)["records"]}
    then = {d["record_id"]: d for d in archive(client, world, subject, "as_of_archive")["records"]}
    assert set(then) == set(live) and live
    for rid, doc in live.items():
        assert {k: doc.get(k) for k in KEPT} == {k: then[rid].get(k) for k in KEPT}
        assert doc["status"] == then[rid]["status"]


def setup(world: World):
    dept = world.department(purposes=["administrative_licensing"])
    window = world.department(items=[], roles=["service_window"])
    return dept, window


def submit(world: World, dept, **kw) -> dict:
    env = world.submission(dept, **kw)
    world.append_ok(env)
    return env["statement"]


# Repair applications and credit commitments.

def test_a_repair_application_with_a_commitment_granted_repairs_the_record(client, world):
    dept, window = setup(world)
    other = world.department()
    subject = make_resident_id()
    rec = submit(world, dept, subject=subject, decision_date=days_ago(400))
    elsewhere = submit(world, dept, subject=subject, item="food_drug.general", decision_date=days_ago(200))
    world.append_ok(world.signed(dept, "record.disclosed", record_id=rec["id"], list="black",
                                 notice_served_at=TODAY.isoformat(), period_months=24))
    assert rec["id"] in black_list(client)
    points_before = archive(client, world, subject)["points"]["total"]
    commitment = world.signed(window, "commitment.signed", record_id=rec["id"], subject=subject,
                              text="I will pay the fine and not sell expired food again")
    refused(client, world, world.signed(other, "commitment.signed", record_id=rec["id"], subject=subject, text="t"),
            403, "forbidden", "service-window")
    world.append_ok(commitment)
    cid = commitment["statement"]["id"]
    foreign = world.signed(window, "commitment.signed", record_id=elsewhere["id"], subject=subject, text="t")
    world.append_ok(foreign)
    applying = dict(record_id=rec["id"], subject=subject, method="fulfilment", reason="fine paid")
    refused(client, world, world.signed(other, "repair.applied", **applying), 403, "forbidden", "service-window")
    refused(client, world, world.signed(window, "repair.applied", **applying,
                                        commitment_id=foreign["statement"]["id"]),
            422, "rule-violated", "no credit commitment")
    application = world.signed(window, "repair.applied", **applying, commitment_id=cid)
    world.append_ok(application)
    aid = application["statement"]["id"]
    refused(client, world, world.signed(window, "repair.applied", **applying), 409, "conflict", "still open")
    shown = record_in(archive(client, world, subject), rec["id"])
    deadline = rules.add_working_days(TODAY, 10).isoformat()
    assert shown["applications"][aid]["deadline"] == deadline and shown["applications"][aid]["decided"] is None
    assert shown["applications"][aid]["commitment_id"] == cid and shown["applications"][aid]["kind"] == "repair"
    assert [c["id"] for c in shown["commitments"]] == [cid]
    replay_matches_live(client, world, subject)
    deciding = dict(record_id=rec["id"], application_id=aid, outcome="granted", reason="fulfilled",
                    proof_reference="receipt 7")
    refused(client, world, world.signed(other, "repair.decided", **deciding), 403, "forbidden", "only the department")
    world.append_ok(world.signed(dept, "repair.decided", **deciding))
    refused(client, world, world.signed(dept, "repair.decided", **deciding), 409, "conflict", "already decided")
    data = archive(client, world, subject)
    assert rec["id"] not in [r["record_id"] for r in data["records"]]
    assert rec["id"] not in [p["record_id"] for p in data["points"]["from"]]
    assert data["points"]["total"] != points_before
    assert rec["id"] not in black_list(client)
    then = record_in(archive(client, world, subject, "as_of_archive"), rec["id"])
    assert then["status"] == "repaired" and then["repaired"]["method"] == "fulfilment"
    assert then["applications"][aid]["decided"]["outcome"] == "granted"
    replay_matches_live(client, world, subject)


def test_a_repair_before_the_minimum_period_is_refused_and_a_refusal_keeps_its_reason(client, world):
    dept, window = setup(world)
    subject = make_resident_id()
    rec = submit(world, dept, subject=subject, item="food_drug.general", decision_date=days_ago(30))
    application = world.signed(window, "repair.applied", record_id=rec["id"], subject=subject, method="donation",
                               reason="donated")
    world.append_ok(application)
    aid = application["statement"]["id"]
    deciding = dict(record_id=rec["id"], application_id=aid, reason="too early")
    refused(client, world, world.signed(dept, "repair.decided", outcome="granted", **deciding),
            422, "rule-violated", "minimum disclosure period of 3 months")
    world.append_ok(world.signed(dept, "repair.decided", outcome="refused", **deciding))
    shown = record_in(archive(client, world, subject), rec["id"])
    assert shown["status"] == "active" and shown["repaired"] is None
    assert shown["applications"][aid]["decided"]["outcome"] == "refused"
    assert shown["applications"][aid]["decided"]["reason"] == "too early"
    refused(client, world, world.signed(dept, "repair.decided", outcome="refused", **deciding),
            409, "conflict", "already decided")
    # the refused one is closed: a new application may be filed
    world.append_ok(world.signed(window, "repair.applied", record_id=rec["id"], subject=subject, method="donation",
                                 reason="donated again"))
    replay_matches_live(client, world, subject)


# Deferral applications.

def test_a_granted_deferral_holds_back_the_disclosure(client, world):
    v3(world)
    dept, window = setup(world)
    subject = make_resident_id()
    rec = submit(world, dept, subject=subject)
    asked = rules.add_months(TODAY, 4).isoformat()
    applying = dict(record_id=rec["id"], subject=subject, reason="I need time to pay")
    refused(client, world, world.signed(window, "deferral.applied", **applying,
                                        until=rules.add_months(TODAY, 7).isoformat()),
            422, "invalid-statement", "at most 6 months")
    application = world.signed(window, "deferral.applied", **applying, until=asked)
    world.append_ok(application)
    aid = application["statement"]["id"]
    deciding = dict(record_id=rec["id"], application_id=aid, outcome="granted", reason="agreed")
    refused(client, world, world.signed(dept, "deferral.decided", **deciding,
                                        until=rules.add_months(TODAY, 5).isoformat()),
            422, "invalid-statement", "at the latest")
    granted = rules.add_months(TODAY, 2).isoformat()
    world.append_ok(world.signed(dept, "deferral.decided", **deciding, until=granted))
    refused(client, world, world.signed(dept, "record.disclosed", record_id=rec["id"], list="black",
                                        notice_served_at=TODAY.isoformat()),
            422, "rule-violated", "deferral")
    assert rec["id"] not in black_list(client)
    note = world.signed(window, "statement.added", record_id=rec["id"], subject=subject, text="I paid half already")
    world.append_ok(note)
    shown = record_in(archive(client, world, subject), rec["id"])
    assert shown["deferred_until"] == granted
    assert shown["applications"][aid]["until"] == asked and shown["applications"][aid]["decided"]["until"] == granted
    assert shown["applications"][aid]["deadline"] == rules.add_working_days(TODAY, 10).isoformat()
    assert [(s["id"], s["text"]) for s in shown["statements"]] == [(note["statement"]["id"], "I paid half already")]
    replay_matches_live(client, world, subject)


def test_a_disclosed_record_and_a_catalogue_without_deferrals_take_no_deferral(client, world):
    dept, window = setup(world)
    subject = make_resident_id()
    rec = submit(world, dept, subject=subject)
    applying = dict(record_id=rec["id"], subject=subject, reason="time",
                    until=rules.add_months(TODAY, 1).isoformat())
    refused(client, world, world.signed(window, "deferral.applied", **applying),
            422, "rule-violated", "allows no deferrals")  # catalogue v1
    v3(world)
    world.append_ok(world.signed(dept, "record.disclosed", record_id=rec["id"], list="black",
                                 notice_served_at=TODAY.isoformat()))
    refused(client, world, world.signed(window, "deferral.applied", **applying),
            422, "rule-violated", "already disclosed")


# Records from other sources.

def test_a_record_from_another_source_is_for_reference_only_until_a_department_adopts_it(client, world):
    v3(world)
    dept, _ = setup(world)
    subject = make_resident_id()
    submit(world, dept, subject=subject, item="food_drug.general", decision_date=days_ago(60))
    before = archive(client, world, subject)["points"]
    refused(client, world, world.submission(dept, subject=subject, source="credit_bureau_x"),
            422, "invalid-statement", "knows no source 'credit_bureau_x'")
    ref = submit(world, dept, subject=subject, source="financial_credit_database", source_reference="FCD-2026-1")
    data = archive(client, world, subject)
    shown = record_in(data, ref["id"])
    assert shown["reference_only"] is True and shown["source"] == "financial_credit_database"
    assert data["points"] == before
    refused(client, world, world.signed(dept, "record.disclosed", record_id=ref["id"], list="black",
                                        notice_served_at=TODAY.isoformat()),
            422, "rule-violated", "reference only")
    assert ref["id"] not in black_list(client)
    own = submit(world, dept, subject=subject)
    stranger = submit(world, dept, subject=make_resident_id(), source="market_credit_agency")
    for adopts in (own["id"], stranger["id"], "0b0f0000-0000-4000-8000-000000000000"):  # one answer for each
        refused(client, world, world.submission(dept, subject=subject, adopts=adopts), 422, "rule-violated",
                f"adopts: {adopts} is not a record from another source about this subject that is still in force")
    adopting = submit(world, dept, subject=subject, adopts=ref["id"])
    world.append_ok(world.signed(dept, "record.disclosed", record_id=adopting["id"], list="black",
                                 notice_served_at=TODAY.isoformat()))
    assert adopting["id"] in black_list(client) and ref["id"] not in black_list(client)
    shown = record_in(archive(client, world, subject), adopting["id"])
    assert shown["adopts"] == ref["id"] and "reference_only" not in shown
    replay_matches_live(client, world, subject)


# Adult students' items and occupational groups.

def test_a_students_item_is_recorded_only_for_adults_on_the_behaviours_last_day(client, world):
    v3(world)
    school = world.department(items=["student.exam_cheating"])
    eighteen = TODAY - timedelta(days=20)  # the subject turned 18 twenty days ago
    subject = make_resident_id(born=date(eighteen.year - 18, eighteen.month, min(eighteen.day, 28)))
    fields = dict(item="student.exam_cheating", subject=subject, summary="Cheated in an examination",
                  decision_date=days_ago(5), details={"exam": "national college entrance"})
    refused(client, world, world.submission(school, behaviour_end=days_ago(100), **fields),
            422, "rule-violated", "only for adults")
    world.append_ok(world.submission(school, **fields))  # 18 on the decision date, no behaviour end given
    adult = make_resident_id(born=date(TODAY.year - 30, 1, 1))
    world.append_ok(world.submission(school, **{**fields, "subject": adult}, behaviour_end=days_ago(100)))


@pytest.mark.parametrize("version", [1, 3])
def test_an_occupational_group_is_one_of_the_catalogues(client, world, version):
    if version == 3:
        v3(world)
    dept, _ = setup(world)
    problem = refused(client, world, world.submission(dept, details={"occupational_group": "astronaut"}),
                      422, "invalid-statement", "occupational_group 'astronaut'")
    assert "lawyer" in problem["detail"] and "tour_guide" in problem["detail"]
    world.append_ok(world.submission(dept, details={"occupational_group": "lawyer"}))
