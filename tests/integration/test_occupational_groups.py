"""The catalogue's occupational groups as filters, through the API, on both backends: the public lists by
group (any code but the latest catalogue's refused, naming them), also after a rebuild; the lead department's
assessment of one group's records (a filter of the wrong form refused before anything is stored)."""

from __future__ import annotations

from datetime import date

from ledger.domain.catalogue import shipped_catalogue_document
from tests.support import World, make_resident_id

P = "urn:credit-ledger:problem:"


def v3(world: World) -> None:
    world.append_ok(world.signed(world.authority_dept, "catalogue.published", version=3,
                                 catalogue=shipped_catalogue_document(3)))


def listed(world: World, dept, group: str | None) -> str:
    details = {"details": {"occupational_group": group}} if group else {}
    env = world.submission(dept, **details)
    world.append_ok(env)
    rid = env["statement"]["id"]
    world.append_ok(world.signed(dept, "record.disclosed", record_id=rid, list="black",
                                 notice_served_at=date.today().isoformat(), period_months=24))
    return rid


def black(client, **params: str) -> set[str]:
    r = client.get("/v1/public/lists/black", params={"limit": 200, **params})
    assert r.status_code == 200, r.text
    return {e["entry_id"] for e in r.json()["entries"]}


def test_the_lists_filter_by_occupational_group_also_after_a_rebuild(client, world):
    v3(world)
    dept = world.department()
    teacher, lawyer, none = listed(world, dept, "teacher"), listed(world, dept, "lawyer"), listed(world, dept, None)
    view = client.app.state.views.archive
    for rebuilt in (False, True):
        if rebuilt:
            view.reset()
        view.catch_up_all()
        assert {teacher, lawyer, none} <= black(client)
        assert black(client, occupational_group="teacher") == {teacher}
        assert black(client, occupational_group="lawyer") == {lawyer}
        assert black(client, occupational_group="tour_guide") == set()


def test_an_unknown_group_is_refused_naming_the_catalogues(client, world):
    v3(world)
    dept = world.department()
    listed(world, dept, "teacher")
    client.app.state.views.archive.catch_up_all()
    before = world.ledger.count()
    for bad in ("astronaut", "Teacher", "teacher' OR 1=1 --"):
        r = client.get("/v1/public/lists/black", params={"occupational_group": bad})
        assert r.status_code == 422, r.text
        problem = r.json()
        assert problem["type"] == P + "invalid-statement" and "catalogue v3" in problem["detail"]
        assert "teacher" in problem["detail"] and "tour_guide" in problem["detail"]
    assert world.ledger.count() == before


def assessment(world: World, lead, **filters: str) -> dict:
    return world.signed(lead, "query.requested", operator="inspector-1", purpose="supervision",
                        legal_basis="Qingdao public credit supervision and assessment rules",
                        scope="department_assessment", filters=filters)


def test_the_assessment_of_one_group_counts_only_its_records_statements(client, world):
    v3(world)
    dept = world.department()
    window = world.department(items=[], purposes=["subject_self_query"], roles=["service_window"])
    lead = world.department(items=[], purposes=["supervision"], roles=["authority"])
    subject = make_resident_id()
    ids = {}
    for group in ("teacher", "teacher", "lawyer", None):
        env = world.submission(dept, subject=subject,
                               **({"details": {"occupational_group": group}} if group else {}))
        world.append_ok(env)
        ids.setdefault(group, []).append(env["statement"]["id"])
    world.append_ok(world.signed(dept, "record.revoked", record_id=ids["lawyer"][0], reason="annulled",
                                 annulling_document="QSJ-R-1"),
                    world.signed(window, "objection.filed", record_id=ids["teacher"][0], subject=subject,
                                 grounds="not me"))

    def totals(**filters: str) -> tuple[dict, dict]:
        r = client.post("/v1/queries", json=assessment(world, lead, **filters))
        assert r.status_code == 200, r.text
        data = r.json()["data"]
        return data, {t["department"]: t for t in data["totals"]}

    data, by = totals(occupational_group="teacher")
    assert data["occupational_group"] == "teacher" and "occupational_group_unknown" not in data
    assert (by[dept.code]["records"], by[dept.code]["statements"], by[dept.code]["revocations"]) == (2, 2, 0)
    assert (by[dept.code]["objections_filed"], by[window.code]["statements"]) == (1, 1)
    assert world.authority_dept.code not in by  # registrations and catalogues are about no record
    _, lawyers = totals(occupational_group="lawyer")
    assert (lawyers[dept.code]["records"], lawyers[dept.code]["revocations"]) == (1, 1) and window.code not in lawyers
    _, everyone = totals()
    assert (everyone[dept.code]["records"], everyone[dept.code]["revocations"]) == (4, 1)
    # a code of the right form the catalogue in force does not list is refused, naming the groups; nothing stored
    before = world.ledger.count()
    r = client.post("/v1/queries", json=assessment(world, lead, occupational_group="astronaut"))
    assert r.status_code == 422 and r.json()["type"] == P + "invalid-statement", r.text
    assert "must be one of the occupational groups" in r.json()["detail"] and "tour_guide" in r.json()["detail"]
    assert world.ledger.count() == before


def test_a_group_filter_of_the_wrong_form_stores_nothing(client, world):
    v3(world)
    lead = world.department(items=[], purposes=["supervision"], roles=["authority"])
    before = world.ledger.count()
    for bad in ("Teacher", "teacher; DROP"):
        r = client.post("/v1/queries", json=assessment(world, lead, occupational_group=bad))
        assert r.status_code == 422, r.text
        assert r.json()["type"] == P + "invalid-statement" and "occupational_group" in r.json()["detail"]
    assert world.ledger.count() == before
