"""``measure.applied`` through the API: accepted from a department the measure applies to, refused (and nothing
stored) from one it does not or when a record it cites is missing, another subject's or no longer shared, counted
in the subject's archive answer and the lead department's assessment. Both backends."""

from __future__ import annotations

import uuid

from ledger.domain.catalogue import shipped_catalogue_document
from tests.support import World, make_resident_id

P = "urn:credit-ledger:problem:"


def applied(world: World, dept, subject: str, measure: str = "I-GREEN-CHANNEL",
            purpose: str = "administrative_licensing", **extra) -> dict:
    return world.signed(dept, "measure.applied", measure=measure, subject=subject, purpose=purpose,
                        decision_reference="青审批〔2026〕12号", **extra)


def test_measure_applied_is_refused_without_the_measure_and_counted_with_it(client, world):
    world.append_ok(world.signed(world.authority_dept, "catalogue.published", version=2,
                                 catalogue=shipped_catalogue_document(2)))
    licensing = world.department(purposes=["administrative_licensing"])
    hr = world.department(purposes=["employment"])
    lead = world.department(items=[], purposes=["supervision"], roles=["authority"])
    subject = make_resident_id()
    for dept, measure, purpose, status, words in (
            (hr, "I-GREEN-CHANNEL", "administrative_licensing", 403, "not registered for the purpose"),
            (hr, "I-GREEN-CHANNEL", "employment", 403, "is applied only for the purpose"),
            (licensing, "NO-SUCH", "administrative_licensing", 422, "has no measure 'NO-SUCH'")):
        before = world.ledger.count()
        env = applied(world, dept, subject, measure, purpose)
        r = client.post("/v1/statements", json=env)
        assert r.status_code == status and words in r.json()["detail"], r.text
        assert world.ledger.count() == before
    r = client.post("/v1/statements", json=applied(world, licensing, subject))
    assert r.status_code == 201, r.text
    assert "record_version" not in r.json()  # an application of a measure changes no record
    q = world.signed(licensing, "query.requested", operator="w-2", purpose="administrative_licensing",
                     legal_basis="Administrative Licensing Law art. 31", scope="archive", subject=subject)
    data = client.post("/v1/queries", json=q).json()["data"]
    (one,) = data["measures_applied"]
    assert (one["measure"], one["department"], one["decision_reference"]) == (
        "I-GREEN-CHANNEL", licensing.code, "青审批〔2026〕12号")
    a = world.signed(lead, "query.requested", operator="lead-1", purpose="supervision",
                     legal_basis="青信用〔2018〕3号", scope="department_assessment",
                     filters={"department": licensing.code})
    totals = client.post("/v1/queries", json=a).json()["data"]["totals"]
    assert [t["measures_applied"] for t in totals] == [1]


def test_the_records_a_measure_cites_must_exist_be_the_subjects_and_be_shared(client, world):
    world.append_ok(world.signed(world.authority_dept, "catalogue.published", version=2,
                                 catalogue=shipped_catalogue_document(2)))
    hr = world.department(purposes=["employment"])
    subject = make_resident_id()
    active, revoked = world.submission(hr, subject=subject), world.submission(hr, subject=subject)
    elsewhere = world.submission(hr)  # another subject's record
    world.append_ok(active, revoked, elsewhere)
    world.append_ok(world.signed(hr, "record.revoked", record_id=revoked["statement"]["id"], reason="annulled",
                                 annulling_document="青复〔2026〕3号"))
    ids = {name: env["statement"]["id"] for name, env in (("active", active), ("revoked", revoked),
                                                          ("elsewhere", elsewhere))}
    unknown = str(uuid.uuid4())
    answers = set()
    for cited, failing in (([ids["active"], unknown], unknown), ([ids["elsewhere"]], ids["elsewhere"]),
                           ([ids["active"], ids["revoked"]], ids["revoked"])):
        before = world.ledger.count()
        r = client.post("/v1/statements", json=applied(world, hr, subject, "P-EMPLOYMENT", "employment",
                                                       records=cited))
        problem = r.json()
        assert r.status_code == 422 and problem["type"] == P + "rule-violated", r.text
        assert f"record {failing} is not a department's own record about the measure's subject" in problem["detail"]
        assert elsewhere["statement"]["subject"] not in r.text
        assert world.ledger.count() == before
        answers.add(problem["detail"].replace(failing, "…"))
    assert len(answers) == 1  # unknown, another subject's, revoked: one answer, telling nothing of whose it is
    # Within one batch: a record submitted before the measure may ground it; one revoked before it may not.
    fresh, gone = world.submission(hr, subject=subject), world.submission(hr, subject=subject)
    world.append_ok(gone)
    before = world.ledger.count()
    batch = [fresh, applied(world, hr, subject, "P-EMPLOYMENT", "employment",
                            records=[fresh["statement"]["id"], ids["active"]]),
             world.signed(hr, "record.revoked", record_id=gone["statement"]["id"], reason="annulled",
                          annulling_document="青复〔2026〕4号"),
             applied(world, hr, subject, "P-EMPLOYMENT", "employment", records=[gone["statement"]["id"]])]
    r = client.post("/v1/statements/batch", json={"envelopes": batch})
    assert r.status_code == 200, r.text
    results = r.json()["results"]
    assert [x["status"] for x in results] == [201, 201, 201, 422], results
    assert "is not a department's own record about the measure's subject" in results[3]["problem"]["detail"]
    assert world.ledger.count() == before + 3
    q = world.signed(hr, "query.requested", operator="hr-4", purpose="employment",
                     legal_basis="Labour Contract Law art. 8", scope="archive", subject=subject)
    data = client.post("/v1/queries", json=q).json()["data"]
    (one,) = data["measures_applied"]
    assert one["measure"] == "P-EMPLOYMENT"


def test_measures_applied_are_read_from_the_view_and_filled_once_into_an_older_one(client, world):
    """The answer reads a subject's own rows; a database whose view predates the table gets the measures applied
    so far read into it once, from the events, and a rebuild gives the same rows."""
    from projections.archive import ArchiveView

    world.append_ok(world.signed(world.authority_dept, "catalogue.published", version=2,
                                 catalogue=shipped_catalogue_document(2)))
    licensing = world.department(purposes=["administrative_licensing"])
    subject, other = make_resident_id(), make_resident_id()
    world.append_ok(applied(world, licensing, subject), applied(world, licensing, other),
                    applied(world, licensing, subject, "I-ACCEPT-WITH-GAPS"))

    def answer() -> list:
        q = world.signed(licensing, "query.requested", operator="w-2", purpose="administrative_licensing",
                         legal_basis="Administrative Licensing Law art. 31", scope="archive", subject=subject)
        return [{k: v for k, v in m.items() if k != "position"}
                for m in client.post("/v1/queries", json=q).json()["data"]["measures_applied"]]

    first = answer()
    assert [m["measure"] for m in first] == ["I-GREEN-CHANNEL", "I-ACCEPT-WITH-GAPS"]
    view = client.app.state.views.archive
    rows = sorted(view.store.query("SELECT statement_id, subject, position, doc FROM view_measures_applied"))
    assert len(rows) == 3
    with view.store.transaction() as tx:  # as a database written before the table was
        tx.execute("DELETE FROM view_measures_applied")
        tx.execute("DELETE FROM view_measures_filled")
    fresh = ArchiveView(world.ledger, view.store)
    fresh.catch_up()
    assert sorted(view.store.query("SELECT statement_id, subject, position, doc FROM view_measures_applied")) == rows
    fresh.catch_up()  # once only
    assert len(view.store.query("SELECT 1 FROM view_measures_filled")) == 1
    fresh.reset()
    fresh.catch_up_all()
    assert sorted(view.store.query("SELECT statement_id, subject, position, doc FROM view_measures_applied")) == rows
    assert answer() == first
