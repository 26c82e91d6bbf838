"""``measure.applied`` through the API: accepted from a department the measure applies to, refused (and nothing
stored) from one it does not, counted in the subject's archive answer and the lead department's assessment.
Both backends."""

from __future__ import annotations

from ledger.domain.catalogue import shipped_catalogue_document
from tests.support import World, make_resident_id

P = "urn:credit-ledger:problem:"


def applied(world: World, dept, subject: str, measure: str = "I-GREEN-CHANNEL",
            purpose: str = "administrative_licensing") -> dict:
    return world.signed(dept, "measure.applied", measure=measure, subject=subject, purpose=purpose,
                        decision_reference="青审批〔2026〕12号")


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
