"""Organisations as subjects and their responsible persons (落实到人), through the API, on both backends: an
organisation's serious record shows in the archive of each person responsible at the time of the behaviour, with
the measures that reach persons, and leaves with the organisation's record; tenures are recorded only by the
authority or a registrar, in a catalogue role; the live archive and an as-of replay agree."""

from __future__ import annotations

import uuid
from datetime import timedelta

import httpx
import pytest

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


ORG_NAME = "青岛某某食品有限公司"


def refused(client, world: World, env: dict, status: int, slug: str, words: str) -> None:
    """The statement is refused with the problem named, and nothing is stored."""
    before = world.ledger.count()
    r = client.post("/v1/statements", json=env)
    body = r.json()
    assert (r.status_code, body["status"], body["type"]) == (status, status, P + slug), r.text
    assert words in body["detail"], body["detail"]
    assert world.ledger.count() == before


def org_record(world: World, dept, org: str, item: str = "food_drug.serious", **kw) -> str:
    env = world.submission(dept, item=item, subject=org, subject_type="organisation", subject_name=ORG_NAME, **kw)
    world.append_ok(env)
    return env["statement"]["id"]


def black(world: World, dept, rid: str) -> None:
    world.append_ok(world.signed(dept, "record.disclosed", record_id=rid, list="black",
                                 notice_served_at=now().date().isoformat()))


def black_list(client) -> httpx.Response:
    client.app.state.views.archive.catch_up_all()  # type: ignore[attr-defined]
    r = client.get("/v1/public/lists/black", params={"limit": 200})
    assert r.status_code == 200, r.text
    return r


def test_a_black_listed_organisation_restricts_its_head_then_repair_lifts_it_and_the_list_is_masked(client, world):
    from ledger.format.identifiers import mask_resident_id

    v3(world)
    market = world.department(purposes=["enterprise_head_appointment"])
    org, person = make_uscc(), make_resident_id()
    world.append_ok(tenure(world, world.authority_dept, org, person, days_ago(900)))
    rid = org_record(world, market, org, behaviour_end=days_ago(420), decision_date=days_ago(400))
    black(world, market, rid)
    own = ask(client, world, market, org)
    assert {m["id"]: m["triggered_by"] for m in own["measures"]}["P-ENTERPRISE-HEAD"] == [rid]
    data = ask(client, world, market, person)
    assert [r["record_id"] for r in data["organisation_records"]] == [rid]
    (head,) = [m for m in data["measures"] if m["id"] == "P-ENTERPRISE-HEAD"]
    assert head["via_organisations"] == [rid] and head["triggered_by"] == []
    r = black_list(client)
    (entry,) = [e for e in r.json()["entries"] if e["entry_id"] == rid]
    assert entry["name"] == ORG_NAME[0] + "*" and entry["id_number"] == mask_resident_id(org)
    for secret in (org, ORG_NAME, person, "李四"):
        assert secret not in r.text
    world.append_ok(world.signed(market, "record.repaired", record_id=rid, method="fulfilment",
                                 proof_reference="p", commitment_reference="c"))
    data = ask(client, world, market, person)
    assert data["organisation_records"] == [] and "P-ENTERPRISE-HEAD" not in [m["id"] for m in data["measures"]]
    assert "P-ENTERPRISE-HEAD" not in [m["id"] for m in ask(client, world, market, org)["measures"]]
    assert rid not in [e["entry_id"] for e in black_list(client).json()["entries"]]


def test_an_ended_tenure_stops_reaching_the_person_and_ending_is_checked(client, world):
    v3(world)
    market = world.department(purposes=["enterprise_head_appointment"])
    registrar = world.department(items=[], roles=["registrar"])
    other = world.department(items=[], roles=["registrar"])
    org, person = make_uscc(), make_resident_id()
    open_ = tenure(world, registrar, org, person, days_ago(300))
    closed = tenure(world, registrar, org, person, days_ago(300), until=days_ago(200), role="principal")
    world.append_ok(open_, closed)
    rid = org_record(world, market, org, behaviour_end=days_ago(50), decision_date=days_ago(40))
    (reached,) = ask(client, world, market, person)["organisation_records"]
    assert reached["arising_from"]["responsibility_id"] == open_["statement"]["id"]
    tid = open_["statement"]["id"]

    def end(dept, responsibility_id: str = tid, until: str = days_ago(100)) -> dict:
        return world.signed(dept, "responsibility.ended", responsibility_id=responsibility_id, until=until,
                            reason="left the company")

    refused(client, world, end(other), 403, "forbidden", "only the department that recorded a tenure")
    refused(client, world, end(registrar, until=days_ago(301)), 422, "invalid-statement", "lies before the tenure")
    refused(client, world, end(registrar, closed["statement"]["id"], days_ago(150)), 422, "rule-violated",
            "cannot be extended")
    refused(client, world, end(registrar, "00000000-0000-4000-8000-000000000000"), 404, "not-found", "")
    world.append_ok(end(registrar))
    assert ask(client, world, market, person)["organisation_records"] == []
    assert [r["record_id"] for r in ask(client, world, market, org)["records"]] == [rid]
    refused(client, world, end(registrar, until=days_ago(120)), 409, "conflict", "already been ended")
    refused(client, world, end(world.authority_dept, until=days_ago(120)), 409, "conflict", "already been ended")
    # the authority may end a registrar's tenure (bringing its end forward)
    world.append_ok(end(world.authority_dept, closed["statement"]["id"], days_ago(250)))


def test_the_as_of_archive_shows_the_organisation_records_the_live_archive_showed_then(client, world):
    v3(world)
    market = world.department(purposes=["enterprise_head_appointment"])
    auditor = world.department(items=[], purposes=["audit"], roles=["auditor"])
    org, person = make_uscc(), make_resident_id()
    world.append_ok(tenure(world, world.authority_dept, org, person, days_ago(300)))
    rid = org_record(world, market, org, behaviour_end=days_ago(50), decision_date=days_ago(40))
    then = world.ledger.recorder.max_notification_id()
    live = ask(client, world, market, person)["organisation_records"]
    assert [r["record_id"] for r in live] == [rid]
    world.append_ok(world.signed(market, "record.revoked", record_id=rid, reason="annulled",
                                 annulling_document="青复〔2026〕9号"))
    after = world.ledger.recorder.max_notification_id()
    assert ask(client, world, market, person)["organisation_records"] == []

    def as_of(position: int) -> list:
        return ask(client, world, auditor, person, purpose="audit", scope="as_of_archive",
                   filters={"position": position})["organisation_records"]

    assert as_of(then) == live
    assert as_of(after) == []


def test_the_audit_verifies_a_ledger_with_tenures_and_organisations_records(world, capsys, monkeypatch):
    from api.cli import main as cli
    from api.runtime import open_views

    if world.settings.database_url:
        monkeypatch.setenv("CREDIT_LEDGER_DATABASE_URL", world.settings.database_url)
        monkeypatch.setenv("CREDIT_LEDGER_DATABASE_SCHEMA", world.settings.database_schema)
    v3(world)
    registrar = world.department(items=[], roles=["registrar"])
    dept = world.department(items=["food_drug.serious", "credit_agency.serious"])
    org, person = make_uscc(), make_resident_id()
    recorded = tenure(world, registrar, org, person, days_ago(300))
    world.append_ok(recorded)
    world.append_ok(world.signed(registrar, "responsibility.ended", responsibility_id=recorded["statement"]["id"],
                                 until=days_ago(10), reason="left"))
    org_record(world, dept, org, behaviour_end=days_ago(50), decision_date=days_ago(40))
    black(world, dept, org_record(world, dept, org, item="credit_agency.serious"))
    views = open_views(world.settings, world.ledger)
    try:
        views.tree.catch_up_all()
        views.checkpointer.make()
    finally:
        views.close()
    assert cli(["audit", "verify", "--data", str(world.settings.data_dir)]) == 0
    assert f"audit OK: {world.ledger.count()} entries" in capsys.readouterr().out


def test_subjects_must_match_their_type_and_the_item(client, world):
    v3(world)
    dept = world.department(items=["food_drug.serious", "volunteering.service_hours", "credit_agency.serious",
                                   "credit_agency_staff.serious"])
    org, adult = make_uscc(), make_resident_id()
    refused(client, world, world.submission(dept, subject=org), 422, "invalid-statement", "is not a resident ID")
    refused(client, world, world.submission(dept, subject=adult, subject_type="organisation"), 422,
            "invalid-statement", "is not a unified social credit code")
    for item in ("volunteering.service_hours", "credit_agency_staff.serious"):
        refused(client, world, world.submission(dept, item=item, subject=org, subject_type="organisation"), 422,
                "rule-violated", "about residents only")
    refused(client, world, world.submission(dept, item="credit_agency.serious", subject=adult), 422,
            "rule-violated", "about organisations only")
    agency = org_record(world, dept, org, item="credit_agency.serious")
    black(world, dept, agency)  # no minors rule for an organisation
    young = org_record(world, dept, make_uscc(), decision_date=days_ago(5))
    black(world, dept, young)
    listed = {e["entry_id"] for e in black_list(client).json()["entries"]}
    assert {agency, young} <= listed


def test_a_credit_report_proves_the_organisation_records_and_tenures_it_shows(client, world):
    import copy

    from keys import KeyPair
    from ledger.log.receipts import open_signed_checkpoint
    from ledger.log.report import ReportError, check_inclusion, signed_bytes, verify_report

    v3(world)
    market = world.department(purposes=["employment"])
    org, person = make_uscc(), make_resident_id()
    held = tenure(world, world.authority_dept, org, person, days_ago(300))
    world.append_ok(held)
    rid = org_record(world, market, org, behaviour_end=days_ago(50), decision_date=days_ago(40))
    world.append_ok(world.signed(market, "record.corrected", record_id=rid, record_version=1,
                                 changes={"summary": "Sold food past its use-by date, twice"}, reason="fuller"))
    report = ask(client, world, market, person, purpose="employment", scope="credit_report")
    report_key = client.get("/v1/report/verifier-key").text.strip()
    log_key = client.get("/v1/log/verifier-key").text.strip()
    assert report["records"] == [] and report["subject"] == {"id": person, "name": "李四"}
    (employment,) = [m for m in report["measures"] if m["id"] == "P-EMPLOYMENT"]
    assert employment["via_organisations"] == [rid]
    (shown,) = report["organisation_records"]
    assert shown["record_id"] == rid and shown["arising_from"]["responsibility_id"] == held["statement"]["id"]
    assert verify_report(report, report_key, log_key).subject == person
    checkpoint = open_signed_checkpoint(report["checkpoint"], log_key)
    proven = [check_inclusion(e, checkpoint, "entry") for e in shown["entries"]]
    assert [(s["type"], s.get("subject")) for s in proven] == [("record.submitted", org), ("record.corrected", None)]
    (recorded,) = [check_inclusion(e, checkpoint, "tenure") for e in shown["arising_from"]["entries"]]
    assert (recorded["type"], recorded["person"], recorded["organisation"]) == ("responsibility.recorded", person, org)
    changed = copy.deepcopy(report)
    changed["organisation_records"][0]["arising_from"]["role"] = "principal"
    with pytest.raises(ReportError, match="does not verify with the report key"):
        verify_report(changed, report_key, log_key)
    bent = copy.deepcopy(report)
    bent["organisation_records"][0]["entries"][0]["entry"]["statement"]["summary"] = "Something else"
    bent["signature"]["value"] = KeyPair.load(world.settings.keys_dir / "report.pem").sign(signed_bytes(bent))
    with pytest.raises(ReportError, match="does not lead to the checkpoint's root"):
        check_inclusion(bent["organisation_records"][0]["entries"][0], checkpoint, "entry")
    with pytest.raises(ReportError, match="organisation record .* entry 0"):
        verify_report(bent, report_key, log_key)  # the offline check proves every organisation entry itself
    # Re-signed with the report key, a tenure of someone else or of another organisation is still refused.
    signer = KeyPair.load(world.settings.keys_dir / "report.pem")
    for path, value in ((("arising_from", "responsibility_id"), str(uuid.uuid4())),
                        (("arising_from", "organisation"), make_uscc())):
        forged = copy.deepcopy(report)
        forged["organisation_records"][0][path[0]][path[1]] = value
        forged["signature"]["value"] = signer.sign(signed_bytes(forged))
        with pytest.raises(ReportError, match="organisation record"):
            verify_report(forged, report_key, log_key)
    forged = copy.deepcopy(report)
    forged["organisation_records"][0]["arising_from"]["entries"] = []
    forged["signature"]["value"] = signer.sign(signed_bytes(forged))
    with pytest.raises(ReportError, match="lacks its entries or the tenure"):
        verify_report(forged, report_key, log_key)
    # The printable report shows them apart, with the organisation and the role.
    from api.cli.report import render_html

    html, _ = render_html(report)
    assert f'data-organisation-record="{rid}"' in html and "青岛某某食品有限公司" in html
    assert "legal_representative" in html and "法定代表人" in html
