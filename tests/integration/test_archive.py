"""The archive and public-list projection: every rule it applies, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta

import pytest

from api.runtime import open_views
from ledger.domain import rules
from ledger.errors import RuleError
from projections.archive import ArchiveView, replay
from tests.support import World, make_resident_id, now


@pytest.fixture
def view(world: World) -> Iterator[ArchiveView]:
    views = open_views(world.settings, world.ledger)
    yield views.archive
    views.close()


def submit(world: World, dept, **kw) -> dict:
    env = world.submission(dept, **kw)
    world.append_ok(env)
    return env["statement"]


def disclose(world: World, dept, rec: dict, listing: str = "black", **kw) -> None:
    fields = {"notice_served_at": now().date().isoformat()} if listing == "black" else {}
    world.append_ok(world.signed(dept, "record.disclosed", record_id=rec["id"], list=listing, **fields, **kw))


def listed(view: ArchiveView, listing: str, today: date) -> set[str]:
    view.catch_up_all()
    entries, cursor = view.public_list(listing, today, limit=200)
    assert cursor is None
    return {e["entry_id"] for e in entries}


def status_of(view: ArchiveView, rec: dict, today: date) -> str:
    view.catch_up_all()
    archive = view.archive(rec["subject"], today)
    return next(r["status"] for r in archive["records"] if r["record_id"] == rec["id"])


TODAY = now().date()


def test_serious_record_black_listed_for_the_maximum_period(world, view):
    dept = world.department()
    decided = TODAY - timedelta(days=10)
    rec = submit(world, dept, decision_date=decided.isoformat())
    disclose(world, dept, rec)
    until = rules.add_months(decided, 36)
    assert rec["id"] in listed(view, "black", TODAY)
    assert rec["id"] in listed(view, "black", until - timedelta(days=1))
    assert rec["id"] not in listed(view, "black", until)  # leaves at expiry, without any new event
    assert status_of(view, rec, until) == "expired"
    entry = view.public_list("black", TODAY)[0][0]
    assert entry["public_until"] == until.isoformat()


def test_chosen_period_within_bounds(world, view):
    dept = world.department()
    rec = submit(world, dept, decision_date=(TODAY - timedelta(days=10)).isoformat())
    disclose(world, dept, rec, period_months=12)
    until = rules.add_months(TODAY - timedelta(days=10), 12)
    assert rec["id"] in listed(view, "black", until - timedelta(days=1))
    assert rec["id"] not in listed(view, "black", until)


@pytest.mark.parametrize("item,months", [("food_drug.general", 12), ("food_drug.minor", 3)])
def test_general_and_minor_records_expire_after_their_maximum(world, view, item, months):
    dept = world.department()
    decided = TODAY - timedelta(days=5)
    rec = submit(world, dept, item=item, decision_date=decided.isoformat())
    end = rules.add_months(decided, months)
    assert status_of(view, rec, end - timedelta(days=1)) == "active"
    assert status_of(view, rec, end) == "expired"
    assert not listed(view, "black", TODAY)  # never on a public list


def test_five_year_cap_after_behaviour_ended(world, view):
    dept = world.department()
    decided = TODAY - timedelta(days=10)
    behaviour_end = decided - timedelta(days=4 * 365 + 200)
    rec = submit(world, dept, decision_date=decided.isoformat(), behaviour_end=behaviour_end.isoformat())
    disclose(world, dept, rec)
    cap = rules.add_years(behaviour_end, 5)
    assert cap < rules.add_months(decided, 36)
    assert rec["id"] in listed(view, "black", cap - timedelta(days=1))
    assert rec["id"] not in listed(view, "black", cap)


def test_minors_are_never_listed(world, view):
    dept = world.department()
    child = make_resident_id(TODAY.replace(year=TODAY.year - 15) - timedelta(days=3))
    rec = submit(world, dept, subject=child)
    before = world.ledger.count()
    (outcome,) = world.append(world.signed(dept, "record.disclosed", record_id=rec["id"], list="black",
                                           notice_served_at=TODAY.isoformat()))
    assert isinstance(outcome, RuleError) and "minors" in str(outcome)
    assert world.ledger.count() == before
    assert rec["id"] not in listed(view, "black", TODAY)


def test_red_list_exit_when_the_subject_enters_the_black_list(world, view):
    dept = world.department()
    subject = make_resident_id()
    good = submit(world, dept, item="food_drug.commendation", subject=subject)
    disclose(world, dept, good, "red")
    assert good["id"] in listed(view, "red", TODAY)
    bad = submit(world, dept, subject=subject)
    disclose(world, dept, bad)
    assert good["id"] not in listed(view, "red", TODAY)
    assert bad["id"] in listed(view, "black", TODAY)


def test_red_list_validity(world, view):
    dept = world.department()
    decided = TODAY - timedelta(days=30)
    rec = submit(world, dept, item="food_drug.commendation", decision_date=decided.isoformat())
    disclose(world, dept, rec, "red")
    end = rules.add_months(decided, 36)
    assert rec["id"] in listed(view, "red", end - timedelta(days=1))
    assert rec["id"] not in listed(view, "red", end)


def test_repair_after_minimum_leaves_the_list(world, view):
    dept = world.department()
    rec = submit(world, dept, decision_date=(TODAY - timedelta(days=400)).isoformat())
    disclose(world, dept, rec)
    assert rec["id"] in listed(view, "black", TODAY)
    archive = view.archive(rec["subject"], TODAY)
    assert archive["points"]["total"] == 100 - 30 and archive["points"]["from"][0]["record_id"] == rec["id"]
    world.append_ok(world.signed(dept, "record.repaired", record_id=rec["id"], method="fulfilment",
                                 proof_reference="p", commitment_reference="c"))
    assert rec["id"] not in listed(view, "black", TODAY)
    assert status_of(view, rec, TODAY) == "repaired"
    assert view.archive(rec["subject"], TODAY)["points"]["total"] == 100


def test_objection_flag_and_overdue(world, view):
    dept = world.department()
    window = world.department(items=[], roles=["service_window"])
    rec = submit(world, dept)
    filed = world.signed(window, "objection.filed", record_id=rec["id"], subject=rec["subject"], grounds="not me")
    world.append_ok(filed)
    assert status_of(view, rec, TODAY) == "disputed"
    deadline = rules.add_working_days(TODAY, 3)
    objection = view.archive(rec["subject"], deadline)["records"][0]["objections"][0]
    assert objection["deadline"] == deadline.isoformat() and not objection["overdue"]
    objection = view.archive(rec["subject"], deadline + timedelta(days=1))["records"][0]["objections"][0]
    assert objection["overdue"]
    world.append_ok(world.signed(dept, "objection.resolved", record_id=rec["id"],
                                 objection_id=filed["statement"]["id"], outcome="upheld", reason="checked"))
    assert status_of(view, rec, TODAY) == "active"


def test_revocation_removes_from_every_list(world, view):
    dept = world.department()
    rec = submit(world, dept)
    disclose(world, dept, rec)
    world.append_ok(world.signed(dept, "record.revoked", record_id=rec["id"], reason="annulled",
                                 annulling_document="court ruling 12"))
    assert rec["id"] not in listed(view, "black", TODAY)
    assert status_of(view, rec, TODAY) == "revoked"
    assert view.archive(rec["subject"], TODAY)["points"]["total"] == 100


def test_correction_away_leaves_the_list_and_keeps_versions(world, view):
    dept = world.department()
    rec = submit(world, dept, decision_date=(TODAY - timedelta(days=20)).isoformat())
    disclose(world, dept, rec)
    assert rec["id"] in listed(view, "black", TODAY)
    world.append_ok(world.signed(dept, "record.corrected", record_id=rec["id"], record_version=2,
                                 changes={"decision_date": (TODAY - timedelta(days=4 * 365)).isoformat()},
                                 reason="wrong decision date"))
    assert rec["id"] not in listed(view, "black", TODAY)
    doc = view.archive(rec["subject"], TODAY)["records"][0]
    assert doc["versions"][0]["fields"]["decision_date"] == rec["decision_date"]


def test_flags_and_grade(world, view):
    dept = world.department()
    subject = make_resident_id()
    submit(world, dept, item="food_drug.commendation", subject=subject)
    view.catch_up_all()
    a = view.archive(subject, TODAY)
    assert a["green_channel"] and not a["key_supervision"] and a["points"]["total"] == 105
    assert a["points"]["grade"] == "B"
    submit(world, dept, subject=subject)  # serious, food & drugs is a key-supervision field
    view.catch_up_all()
    a = view.archive(subject, TODAY)
    assert not a["green_channel"] and a["key_supervision"] and a["points"]["total"] == 75
    assert a["points"]["grade"] == "D"
    old = make_resident_id()
    submit(world, dept, item="food_drug.general", subject=old,
           decision_date=(TODAY - timedelta(days=4 * 365)).isoformat(),
           behaviour_end=(TODAY - timedelta(days=4 * 365)).isoformat())
    view.catch_up_all()
    assert view.archive(old, TODAY)["green_channel"]


def test_public_list_pages_filters_and_masking(world, view):
    a, b = world.department(), world.department()
    recs = []
    for i in range(7):
        dept = a if i % 2 == 0 else b
        rec = submit(world, dept, decision_date=(TODAY - timedelta(days=10 + i)).isoformat(), subject_name="王小明")
        disclose(world, dept, rec)
        recs.append(rec)
    view.catch_up_all()
    seen, cursor = [], None
    while True:
        page, cursor = view.public_list("black", TODAY, cursor=cursor, limit=3)
        seen += page
        if cursor is None:
            break
    assert [e["entry_id"] for e in seen] == [r["id"] for r in recs]  # newest decision first
    e = seen[0]
    assert e["name"] == "王*" and e["id_number"] == recs[0]["subject"][:4] + "*" * 10 + recs[0]["subject"][-4:]
    assert recs[0]["subject"] not in str(seen) and "王小明" not in str(seen)
    only_a, _ = view.public_list("black", TODAY, authority=a.code, limit=50)
    assert {x["authority"]["code"] for x in only_a} == {a.code} and len(only_a) == 4
    window, _ = view.public_list("black", TODAY, decided_from=(TODAY - timedelta(days=12)).isoformat(),
                                 decided_to=(TODAY - timedelta(days=11)).isoformat())
    assert [x["entry_id"] for x in window] == [recs[1]["id"], recs[2]["id"]]
    assert view.public_list("black", TODAY, field="tax")[0] == []


def test_as_of_position_equals_what_the_live_view_showed(world, view):
    dept = world.department()
    subject = make_resident_id()
    rec = submit(world, dept, subject=subject, decision_date=(TODAY - timedelta(days=400)).isoformat())
    disclose(world, dept, rec)
    view.catch_up_all()
    position = view.position()
    live_archive = view.archive(subject, TODAY)
    live_list = view.public_list("black", TODAY, limit=200)[0]
    world.append_ok(world.signed(dept, "record.repaired", record_id=rec["id"], method="donation",
                                 proof_reference="p", commitment_reference="c"))
    submit(world, dept, subject=subject)
    view.catch_up_all()
    assert view.archive(subject, TODAY) != live_archive
    then = replay(world.ledger, position)
    assert then.archive(subject, TODAY) == live_archive
    assert then.public_list("black", TODAY) == live_list
    now_model = replay(world.ledger, None)
    assert now_model.archive(subject, TODAY) == view.archive(subject, TODAY)
    assert now_model.public_list("black", TODAY) == view.public_list("black", TODAY, limit=200)[0]
