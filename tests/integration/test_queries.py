"""Queries with a declared purpose: no log, no data; refusals logged; access-log views. Both backends."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from fastapi.testclient import TestClient

from api.cli import main as cli
from api.deps import get_answers, get_committer
from ledger.format.statements import format_datetime
from tests.support import World, make_resident_id, now

P = "urn:credit-ledger:problem:"
ID_CHECK = {"method": "id_card_reader", "reference": "window 3, card read 0815"}



def ask(world: World, dept, scope: str = "archive", purpose: str = "administrative_licensing", **fields) -> dict:
    return world.signed(dept, "query.requested", operator=fields.pop("operator", "staff-7"), purpose=purpose,
                        legal_basis="Administrative Licensing Law art. 31", scope=scope, **fields)


def in_ledger(world: World, env: dict) -> bool:
    import uuid

    return uuid.UUID(env["statement"]["id"]) in world.ledger.recorder.find_entries([uuid.UUID(env["statement"]["id"])])


def test_archive_query_is_logged_before_data_and_shares_only_shareable_records(client, world):
    dept = world.department(purposes=["administrative_licensing"])
    subject = make_resident_id()
    shown = world.submission(dept, subject=subject)
    expired = world.submission(dept, item="food_drug.minor", subject=subject,
                               decision_date=(now().date() - timedelta(days=200)).isoformat())
    repaired = world.submission(dept, subject=subject, decision_date=(now().date() - timedelta(days=400)).isoformat())
    world.append_ok(shown, expired, repaired)
    world.append_ok(world.signed(dept, "record.repaired", record_id=repaired["statement"]["id"], method="fulfilment",
                                 proof_reference="p", commitment_reference="c"))
    q = ask(world, dept, subject=subject)
    before = world.ledger.count()
    r = client.post("/v1/queries", json=q)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["receipt"]["outcome"] == {"status": "accepted"} and body["receipt"]["leaf_index"] == before
    assert world.ledger.count() == before + 1 and in_ledger(world, q)
    ids = [rec["record_id"] for rec in body["data"]["records"]]
    assert ids == [shown["statement"]["id"]]
    assert "versions" not in body["data"]["records"][0]
    assert body["data"]["key_supervision"] is True
    # The same envelope again: same receipt, logged once.
    again = client.post("/v1/queries", json=q)
    assert again.status_code == 200 and again.json()["receipt"] == body["receipt"]
    assert world.ledger.count() == before + 1


SCOPE_CASES = {
    "archive": (dict(purposes=["administrative_licensing"]), dict(purpose="administrative_licensing", subject=True)),
    "subject_access_log": (dict(items=[], purposes=["subject_self_query"], roles=["service_window"]),
                           dict(purpose="subject_self_query", subject=True, identity_check=ID_CHECK)),
    "access_log": (dict(items=[], purposes=["privacy_review"], roles=["privacy_officer"]),
                   dict(purpose="privacy_review")),
    "review_report": (dict(items=[], purposes=["privacy_review"], roles=["privacy_officer"]),
                      dict(purpose="privacy_review")),
    "ledger_entries": (dict(items=[], purposes=["audit"], roles=["auditor"]),
                       dict(purpose="audit", filters={"start": 0, "end": 3})),
    "as_of_archive": (dict(items=[], purposes=["audit"], roles=["auditor"]),
                      dict(purpose="audit", subject=True, filters={"position": 3})),
    "as_of_lists": (dict(items=[], purposes=["audit"], roles=["auditor"]),
                    dict(purpose="audit", filters={"position": 3, "list": "black"})),
    "key_compromise": (dict(items=[], purposes=["audit"], roles=["auditor"]),
                       dict(purpose="audit", filters={"key_id": "ed25519:" + "0" * 32})),
    "department_assessment": (dict(items=[], purposes=["supervision"], roles=["authority"]),
                              dict(purpose="supervision")),
    "credit_report": (dict(purposes=["employment"]), dict(purpose="employment", subject=True)),
    "department_inbox": (dict(purposes=["objection_handling"]), dict(purpose="objection_handling")),
}


def scoped_query(world: World, scope: str, subject: str) -> dict:
    dept_kw, q_kw = SCOPE_CASES[scope]
    dept = world.department(**dept_kw)
    q_kw = dict(q_kw)
    if q_kw.pop("subject", False):
        q_kw["subject"] = subject
    return ask(world, dept, scope=scope, **q_kw)


@pytest.mark.parametrize("scope", sorted(SCOPE_CASES))
def test_every_read_path_answers_only_after_its_entry_is_in_the_ledger(client, world, scope):
    """The data is read after the append: a read that fails leaves the entry; a good one finds it."""
    from ledger.format.statements import QUERY_SCOPES

    assert set(SCOPE_CASES) == set(QUERY_SCOPES)
    subject = make_resident_id()
    world.append_ok(world.submission(world.department(), subject=subject))
    seen: dict = {}

    class Watching:
        """Records whether the query's own entry was in the ledger when the read began, then fails."""

        def answer(self, values, now, position=None):
            seen["in_ledger_at_read"] = in_ledger(world, q)
            raise RuntimeError("storage failed while reading")

    async def watching():
        return Watching()

    q = scoped_query(world, scope, subject)
    client.app.dependency_overrides[get_answers] = watching
    before = world.ledger.count()
    quiet = TestClient(client.app, raise_server_exceptions=False)  # the server's own 500, as a caller sees it
    r = quiet.post("/v1/queries", json=q)
    assert r.status_code == 500 and r.json()["type"] == P + "internal"
    assert subject not in r.text and "data" not in r.json()
    assert seen == {"in_ledger_at_read": True}
    assert world.ledger.count() == before + 1 and in_ledger(world, q)
    client.app.dependency_overrides.clear()
    q2 = scoped_query(world, scope, subject)
    ok = client.post("/v1/queries", json=q2)
    assert ok.status_code == 200, ok.text
    assert ok.json()["receipt"]["leaf_index"] == world.ledger.count() - 1


def test_failure_before_the_append_returns_no_data(client, world):
    dept = world.department()
    subject = make_resident_id()
    world.append_ok(world.submission(dept, subject=subject))
    from ledger.adapters.committer import GroupCommitter

    stopped = GroupCommitter(world.ledger)  # never started: every submit fails before anything is stored

    async def no_writes():
        return stopped

    client.app.dependency_overrides[get_committer] = no_writes
    q = ask(world, dept, subject=subject)
    before = world.ledger.count()
    r = client.post("/v1/queries", json=q)
    assert r.status_code == 503 and r.json()["type"] == P + "unavailable"
    assert "records" not in r.text
    assert world.ledger.count() == before and not in_ledger(world, q)


@pytest.mark.parametrize("case,reason", [
    ("purpose", "purpose public_funding is not allowed"),
    ("third_party", "authorisation reference"),
    ("other_management", "justification"),
    ("stale", "stale"),
    ("role", "needs the role privacy_officer"),
])
def test_refused_queries_are_logged_with_their_reason(client, world, case, reason):
    dept = world.department(purposes=["administrative_licensing", "authorised_third_party", "other_management",
                                      "privacy_review"])
    subject = make_resident_id()
    if case == "purpose":
        q = ask(world, dept, subject=subject, purpose="public_funding")
    elif case == "third_party":
        q = ask(world, dept, subject=subject, purpose="authorised_third_party")
    elif case == "other_management":
        q = ask(world, dept, subject=subject, purpose="other_management")
    elif case == "stale":
        st = ask(world, dept, subject=subject)["statement"]
        st["issued_at"] = format_datetime(now() - timedelta(hours=2))
        q = world.envelope(st, dept.key)
    else:
        q = ask(world, dept, scope="access_log", purpose="privacy_review")
    before = world.ledger.count()
    r = client.post("/v1/queries", json=q)
    assert r.status_code == 403, r.text
    p = r.json()
    assert p["type"] == P + "query-refused" and reason in p["detail"]
    assert p["receipt"]["outcome"]["status"] == "refused" and reason in p["receipt"]["outcome"]["reason"]
    assert world.ledger.count() == before + 1 and in_ledger(world, q)
    views = client.app.state.views
    views.access_log.catch_up_all()
    (row,) = views.access_log.find({"department": dept.code})
    assert row["status"] == "refused" and reason in row["reason"] and row["query_id"] == q["statement"]["id"]


def test_malformed_or_unsigned_queries_are_not_stored(client, world):
    dept = world.department()
    before = world.ledger.count()
    q = ask(world, dept)  # archive needs a subject
    r = client.post("/v1/queries", json=q)
    assert r.status_code == 422 and r.json()["type"] == P + "invalid-statement"
    q = ask(world, dept, subject=make_resident_id())
    q["statement"]["operator"] = "someone else"
    r = client.post("/v1/queries", json=q)
    assert r.status_code == 401 and r.json()["type"] == P + "bad-signature"
    r = client.post("/v1/statements", json=ask(world, dept, subject=make_resident_id()))
    assert r.status_code == 422 and "queries go to" in r.json()["detail"]
    r = client.post("/v1/queries", json=world.submission(dept))
    assert r.status_code == 422
    assert world.ledger.count() == before


def test_subject_sees_exactly_the_queries_about_them(client, world):
    dept = world.department(purposes=["administrative_licensing", "public_benefits"])
    other_dept = world.department(purposes=["administrative_licensing"])
    window = world.department(items=[], purposes=["subject_self_query"], roles=["service_window"])
    me, someone = make_resident_id(), make_resident_id()
    about_me = [ask(world, dept, subject=me), ask(world, other_dept, subject=me, operator="staff-9"),
                ask(world, dept, subject=me, purpose="public_funding")]  # refused, still listed
    for q in [*about_me, ask(world, dept, subject=someone), ask(world, other_dept, subject=someone)]:
        assert client.post("/v1/queries", json=q).status_code in (200, 403)
    mine = ask(world, window, scope="subject_access_log", purpose="subject_self_query", subject=me,
               identity_check=ID_CHECK)
    r = client.post("/v1/queries", json=mine)
    assert r.status_code == 200, r.text
    listed = r.json()["data"]["queries"]
    assert len(listed) == len(about_me) + 1  # the self-query is about me too, and was logged first
    assert {q["department"] for q in listed} == {dept.code, other_dept.code, window.code}
    assert all(set(q) == {"date", "department", "purpose", "scope", "outcome"} for q in listed)  # no operator
    assert someone not in r.text and "staff-9" not in r.text


def test_privacy_officer_access_log_and_review_report(client, world):
    officer = world.department(items=[], purposes=["privacy_review"], roles=["privacy_officer"])
    depts = [world.department(purposes=["administrative_licensing", "other_management"]) for _ in range(3)]
    subject = make_resident_id()
    world.append_ok(world.submission(depts[0], subject=subject))
    for d in depts:
        assert client.post("/v1/queries", json=ask(world, d, subject=subject)).status_code == 200
    q = ask(world, depts[1], subject=subject, purpose="other_management", justification="tip-off about licence fraud")
    assert client.post("/v1/queries", json=q).status_code == 200
    mine = ask(world, officer, scope="access_log", purpose="privacy_review", filters={"subject": subject})
    r = client.post("/v1/queries", json=mine)
    assert r.status_code == 200, r.text
    own, *rows = r.json()["data"]["queries"]  # newest first: the officer's own read about the subject
    assert own["query_id"] == mine["statement"]["id"] and own["department"] == officer.code
    assert len(rows) == 4 and {x["operator"] for x in rows} == {"staff-7"}
    by_purpose = client.post("/v1/queries", json=ask(world, officer, scope="access_log", purpose="privacy_review",
                                                     filters={"purpose": "other_management"})).json()
    assert [x["query_id"] for x in by_purpose["data"]["queries"]] == [q["statement"]["id"]]
    report = client.post("/v1/queries", json=ask(world, officer, scope="review_report", purpose="privacy_review"))
    assert report.status_code == 200
    findings = report.json()["data"]["findings"]
    rules = {f["rule"] for f in findings}
    assert {"other-management", "many-departments", "no-record-link"} <= rules
    other = next(f for f in findings if f["rule"] == "other-management")
    assert other["query_ids"] == [q["statement"]["id"]]
    link = [f for f in findings if f["rule"] == "no-record-link"]
    assert {f["query_ids"][0] for f in link} >= {x["query_id"] for x in rows if x["department"] != depts[0].code}
    # the officer's own reads are in the log too
    views = client.app.state.views
    views.access_log.catch_up_all()
    assert len(views.access_log.find({"department": officer.code})) == 3


def test_auditor_reads_entries_and_state_as_of(client, world):
    auditor = world.department(items=[], purposes=["audit"], roles=["auditor"])
    dept = world.department()
    subject = make_resident_id()
    rec = world.submission(dept, subject=subject)
    (receipt,) = world.append_ok(rec)
    world.append_ok(world.signed(dept, "record.revoked", record_id=rec["statement"]["id"], reason="r",
                                 annulling_document="d"))
    r = client.post("/v1/queries", json=ask(world, auditor, scope="ledger_entries", purpose="audit",
                                           filters={"start": receipt.leaf_index, "end": receipt.leaf_index + 2}))
    assert r.status_code == 200, r.text
    entries = r.json()["data"]["entries"]
    assert [e["leaf_index"] for e in entries] == [receipt.leaf_index, receipt.leaf_index + 1]
    assert '"record.revoked"' in entries[1]["statement"]
    r = client.post("/v1/queries", json=ask(world, auditor, scope="as_of_archive", purpose="audit", subject=subject,
                                           filters={"position": receipt.position}))
    then = r.json()["data"]
    assert then["records"][0]["status"] == "active" and then["position"] == receipt.position
    r = client.post("/v1/queries", json=ask(world, auditor, scope="as_of_archive", purpose="audit", subject=subject,
                                           filters={"at": format_datetime(datetime.now(timezone.utc))}))
    assert r.json()["data"]["records"][0]["status"] == "revoked"
    r = client.post("/v1/queries", json=ask(world, auditor, scope="as_of_archive", purpose="audit", subject=subject,
                                           filters={"at": "2001-01-01T00:00:00Z"}))
    assert r.status_code == 200 and r.json()["data"]["records"] == [] and r.json()["data"]["position"] == 0
    r = client.post("/v1/queries", json=ask(world, auditor, scope="as_of_lists", purpose="audit",
                                           filters={"position": receipt.position, "list": "black"}))
    assert r.status_code == 200 and r.json()["data"]["entries"] == []
    # auditors may not read a plain archive for another purpose they lack
    r = client.post("/v1/queries", json=ask(world, auditor, subject=subject))
    assert r.status_code == 403


def test_audit_verify_covers_queries(client, world, capsys, monkeypatch):
    if world.settings.database_url:
        monkeypatch.setenv("CREDIT_LEDGER_DATABASE_URL", world.settings.database_url)
        monkeypatch.setenv("CREDIT_LEDGER_DATABASE_SCHEMA", world.settings.database_schema)
    dept = world.department()
    subject = make_resident_id()
    client.post("/v1/queries", json=ask(world, dept, subject=subject))
    client.post("/v1/queries", json=ask(world, dept, subject=subject, purpose="public_funding"))
    client.post("/v1/log/checkpoint")
    assert cli(["audit", "verify", "--data", str(world.settings.data_dir)]) == 0, capsys.readouterr().err
