"""Hostile checks on organisations, responsible persons, applications and the department inbox, on both
backends: a rebuild gives the views the live projection gave."""

from __future__ import annotations

from datetime import timedelta

from api.runtime import open_views
from projections.archive import ArchiveView
from tests.support import World, make_resident_id, make_uscc, now
from tests.integration.test_organisations import tenure, v3


def days_ago(n: int) -> str:
    return (now().date() - timedelta(days=n)).isoformat()


def _rows(view: ArchiveView) -> list[tuple]:
    return [tuple(r) for r in view.store.query(
        "SELECT id, organisation, person, until, doc FROM view_responsibilities ORDER BY id")]


def test_a_tenure_recorded_and_ended_in_one_page_rebuilds_as_page_by_page(world: World):
    v3(world)
    org, person = make_uscc(), make_resident_id()
    recorded = tenure(world, world.authority_dept, org, person, days_ago(400))
    world.append_ok(recorded)
    world.append_ok(world.signed(world.authority_dept, "responsibility.ended", responsibility_id=recorded["statement"]["id"],
                                 until=days_ago(10), reason="left the company"))
    views = open_views(world.settings, world.ledger)
    try:
        view: ArchiveView = views.archive
        while view.catch_up(batch=1):
            pass
        live, live_rows = view.digest(), _rows(view)
        view.reset()
        view.catch_up_all(batch=40)
        assert _rows(view) == live_rows
        assert view.digest() == live
    finally:
        views.close()


def test_open_items_rebuild_as_the_live_projection_wrote_them(world: World):
    v3(world)
    dept = world.department()
    window = world.department(items=[], roles=["service_window"])
    subject = make_resident_id()
    env = world.submission(dept, subject=subject, decision_date=days_ago(400))
    world.append_ok(env)
    rid = env["statement"]["id"]
    world.append_ok(world.signed(window, "repair.applied", record_id=rid, subject=subject, method="donation",
                                 reason="paid in full"))
    world.append_ok(world.signed(window, "objection.filed", record_id=rid, subject=subject, grounds="wrong date"))
    views = open_views(world.settings, world.ledger)
    try:
        view: ArchiveView = views.archive
        while view.catch_up(batch=1):
            pass
        query = "SELECT record_id, item_id, issuer, kind, deadline, doc FROM view_open_items ORDER BY item_id"
        live = [tuple(r) for r in view.store.query(query)]
        assert len(live) == 2
        view.reset()
        view.catch_up_all(batch=40)
        assert [tuple(r) for r in view.store.query(query)] == live
    finally:
        views.close()


def _cite(client, world: World, dept, subject: str, record_id: str) -> dict:
    before = world.ledger.count()
    r = client.post("/v1/statements", json=world.signed(
        dept, "measure.applied", measure="P-EMPLOYMENT", subject=subject, purpose="employment",
        decision_reference="青人社〔2026〕1号", records=[record_id]))
    assert r.status_code >= 400, r.text
    assert world.ledger.count() == before
    return {"status": r.status_code, "type": r.json()["type"], "detail": r.json()["detail"].replace(record_id, "X")}


def test_a_refused_measure_does_not_tell_whose_record_it_cites(client, world):
    """Without any query, a department must not learn from a refusal whether a record (a public-list entry id)
    is about a guessed person: citing another subject's record reads like citing none."""
    v3(world)
    owner = world.department()
    prober = world.department(items=[], purposes=["employment"])
    subject = make_resident_id()
    env = world.submission(owner, subject=subject, decision_date=days_ago(30))
    world.append_ok(env)
    rid = env["statement"]["id"]
    world.append_ok(world.signed(owner, "record.revoked", record_id=rid, reason="annulled",
                                 annulling_document="青复〔2026〕9号"))
    wrong_guess = _cite(client, world, prober, make_resident_id(), rid)
    right_guess = _cite(client, world, prober, subject, rid)
    assert right_guess == wrong_guess  # now: "is revoked on ..." against "is about another subject"


def test_adopting_does_not_tell_whose_record_it_names(client, world):
    v3(world)
    owner = world.department()
    prober = world.department()
    subject = make_resident_id()
    env = world.submission(owner, subject=subject, decision_date=days_ago(30))
    world.append_ok(env)
    rid = env["statement"]["id"]

    def adopt(guess: str, target: str) -> dict:
        before = world.ledger.count()
        r = client.post("/v1/statements", json=world.submission(prober, subject=guess, adopts=target))
        assert r.status_code >= 400, r.text
        assert world.ledger.count() == before
        return {"status": r.status_code, "detail": r.json()["detail"]}

    # now: "is about another subject" against "only a record from another source is adopted"
    assert adopt(make_resident_id(), rid) == adopt(subject, rid)


def test_a_responsible_persons_name_does_not_reach_a_public_list(client, world):
    v3(world)
    dept = world.department()
    org, person = make_uscc(), make_resident_id()
    world.append_ok(world.signed(world.authority_dept, "responsibility.recorded", organisation=org,
                                 organisation_name="青岛某某食品有限公司", person=person, person_name="欧阳明远",
                                 role="legal_representative", **{"from": days_ago(400)}))
    env = world.submission(dept, subject=org, subject_type="organisation", subject_name="青岛某某食品有限公司",
                           decision_date=days_ago(30))
    world.append_ok(env)
    before = world.ledger.count()
    r = client.post("/v1/statements", json=world.signed(
        dept, "record.disclosed", record_id=env["statement"]["id"], list="black",
        notice_served_at=now().date().isoformat(), public_reason="法定代表人欧阳明远组织生产过期食品"))
    client.app.state.views.archive.catch_up_all()  # type: ignore[attr-defined]
    page = client.get("/v1/public/lists/black", params={"limit": 200}).text
    assert "欧阳明远" not in page
    assert r.status_code == 422 and world.ledger.count() == before, r.text


def test_a_name_recorded_as_responsible_after_a_disclosure_is_masked_on_the_lists_live_and_as_of(client, world):
    """The disclosure came first, when the ledger did not know the name; a tenure recorded later makes the list
    mask it, live and in an auditor's as-of replay alike."""
    v3(world)
    dept = world.department()
    auditor = world.department(items=[], purposes=["audit"], roles=["auditor"])
    org = make_uscc()
    env = world.submission(dept, subject=org, subject_type="organisation", subject_name="青岛某某食品有限公司",
                           decision_date=days_ago(30))
    world.append_ok(env)
    world.append_ok(world.signed(dept, "record.disclosed", record_id=env["statement"]["id"], list="black",
                                 notice_served_at=now().date().isoformat(),
                                 public_reason="司马相如组织生产过期食品"))
    client.app.state.views.archive.catch_up_all()  # type: ignore[attr-defined]
    assert "司马相如" in client.get("/v1/public/lists/black", params={"limit": 200}).text  # not known as anyone yet
    world.append_ok(world.signed(world.authority_dept, "responsibility.recorded", organisation=org,
                                 organisation_name="青岛某某食品有限公司", person=make_resident_id(),
                                 person_name="司马相如", role="principal", **{"from": days_ago(400)}))
    client.app.state.views.archive.catch_up_all()  # type: ignore[attr-defined]
    page = client.get("/v1/public/lists/black", params={"limit": 200})
    (entry,) = [e for e in page.json()["entries"] if e["entry_id"] == env["statement"]["id"]]
    assert "司马相如" not in page.text and entry["reason"].endswith("组织生产过期食品")
    q = world.signed(auditor, "query.requested", operator="a-1", purpose="audit", legal_basis="审计法",
                     scope="as_of_lists", filters={"position": world.ledger.count() + 10, "list": "black"})
    r = client.post("/v1/queries", json=q)
    assert r.status_code == 200 and "司马相如" not in r.text, r.text
