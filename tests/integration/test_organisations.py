"""Organisations as subjects and their responsible persons (落实到人), through the API, on both backends: an
organisation's serious record shows in the archive of each person responsible at the time of the behaviour, with
the measures that reach persons, and leaves with the organisation's record; tenures are recorded only by the
authority or a registrar, in a catalogue role; the live archive and an as-of replay agree."""

from __future__ import annotations

from datetime import timedelta

from ledger.domain.catalogue import shipped_catalogue_document
from tests.support import World, make_resident_id, make_uscc, now

P = "urn:credit-ledger:problem:"


def v3(world: World) -> None:
    world.append_ok(world.signed(world.authority_dept, "catalogue.published", version=3,
                                 catalogue=shipped_catalogue_document(3)))


def days_ago(n: int) -> str:
    return (now().date() - timedelta(days=n)).isoformat()


def tenure(world: World, dept, org: str, person: str, start: str, **extra) -> dict:
    fields = {"organisation": org, "organisation_name": "青岛某某食品有限公司", "person": person, "person_name": "李四",
              "role": "legal_representative", "from": start, **extra}
    return world.signed(dept, "responsibility.recorded", **fields)


def ask(client, world: World, dept, subject: str, purpose: str = "enterprise_head_appointment",
        scope: str = "archive", **extra) -> dict:
    q = world.signed(dept, "query.requested", operator="op-1", purpose=purpose, legal_basis="青信用〔2018〕3号",
                     scope=scope, subject=subject, **extra)
    r = client.post("/v1/queries", json=q)
    assert r.status_code == 200, r.text
    return r.json()["data"]


def test_an_organisations_serious_record_reaches_the_person_responsible_then_leaves_with_it(client, world):
    v3(world)
    market = world.department(purposes=["enterprise_head_appointment"])
    org, person, later = make_uscc(), make_resident_id(), make_resident_id()
    world.append_ok(tenure(world, world.authority_dept, org, person, days_ago(400), until=days_ago(20)),
                    tenure(world, world.authority_dept, org, later, days_ago(19)))
    record = world.submission(market, subject=org, subject_type="organisation", subject_name="青岛某某食品有限公司",
                              behaviour_end=days_ago(60), decision_date=days_ago(30))
    world.append_ok(record)
    rid = record["statement"]["id"]
    data = ask(client, world, market, person)
    (reached,) = data["organisation_records"]
    assert reached["record_id"] == rid and reached["arising_from"]["organisation"] == org
    assert reached["arising_from"]["role"] == "legal_representative"
    assert data["records"] == []  # the person's own records: none
    (head,) = [m for m in data["measures"] if m["id"] == "P-ENTERPRISE-HEAD"] or [None]
    assert head is None  # P-ENTERPRISE-HEAD needs the record on the black list
    employment = [m for m in data["measures"] if m["id"] == "P-COMMENDATION"]
    assert employment == []  # not this purpose
    # the successor, responsible only after the behaviour, is not reached
    assert ask(client, world, market, later)["organisation_records"] == []
    # the organisation's own archive holds the record, as a person's does
    own = ask(client, world, market, org)
    assert [r["record_id"] for r in own["records"]] == [rid]
    # revoked: it leaves the person's archive too
    world.append_ok(world.signed(market, "record.revoked", record_id=rid, reason="annulled",
                                 annulling_document="青复〔2026〕9号"))
    assert ask(client, world, market, person)["organisation_records"] == []


def test_only_the_authority_or_a_registrar_records_tenures_in_a_catalogue_role(client, world):
    v3(world)
    plain = world.department()
    registrar = world.department(items=[], roles=["registrar"])
    org, person = make_uscc(), make_resident_id()
    for dept, extra, status, words in (
            (plain, {}, 403, "neither the authority nor a registrar"),
            (registrar, {"role": "janitor"}, 422, "has no responsible role 'janitor'"),
            (registrar, {"until": days_ago(500)}, 422, "lies before the tenure's start")):
        before = world.ledger.count()
        env = tenure(world, dept, org, person, days_ago(100), **extra)
        r = client.post("/v1/statements", json=env)
        assert r.status_code == status and words in r.json()["detail"], r.text
        assert world.ledger.count() == before
    world.append_ok(tenure(world, registrar, org, person, days_ago(100)))
