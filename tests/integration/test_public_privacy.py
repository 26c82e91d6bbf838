"""Personal data on the public lists: none, live, over HTTP and as of an earlier position. Both backends.

The black list once carried a department's free-text ``summary`` (written for other departments)
verbatim next to the masked name: ``李四 (ID 370202199001011237, phone 13800000000) sold counterfeit
milk powder``. A public entry now carries the catalogue's wording or the ``public_reason`` written for
publication, and every department-written text on it passes the personal-data screen.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from projections.archive import replay
from tests.support import World, now

P = "urn:credit-ledger:problem:"
NAME = "李四"
ID = "370202199001011237"
PHONE = "13800000000"
SUMMARY = f"{NAME} (ID {ID}, phone {PHONE}) sold counterfeit milk powder"
SECRETS = [NAME, ID, PHONE, "counterfeit milk powder", "lisi@example.com", "6222021234567890128"]
TITLE = "Serious untrustworthy conduct: food and drugs"



def leaks(text: str) -> list[str]:
    return [s for s in SECRETS if s in text]


def listed_record(world: World, dept, **disclosure) -> dict:
    env = world.submission(dept, subject=ID, subject_name=NAME, summary=SUMMARY)
    world.append_ok(env)
    rec = env["statement"]
    world.append_ok(world.signed(dept, "record.disclosed", record_id=rec["id"], list="black",
                                 notice_served_at=now().date().isoformat(), **disclosure))
    return rec


def test_the_summary_never_reaches_a_public_list_live_over_http_or_as_of(client, world):
    dept = world.department()
    auditor = world.department(items=[], purposes=["audit"], roles=["auditor"])
    plain = listed_record(world, dept)
    published = listed_record(world, dept, public_reason="Sold counterfeit infant formula at a market stall")
    views = client.app.state.views  # type: ignore[attr-defined]
    views.archive.catch_up_all()
    today = now().date()

    live, _ = views.archive.public_list("black", today, limit=200)
    by_id = {e["entry_id"]: e for e in live}
    assert by_id[plain["id"]]["reason"] == TITLE and by_id[plain["id"]]["category"] == TITLE
    assert by_id[published["id"]]["reason"] == "Sold counterfeit infant formula at a market stall"
    assert by_id[plain["id"]]["name"] == "李*" and leaks(str(live)) == []

    r = client.get("/v1/public/lists/black")
    assert r.status_code == 200 and r.json()["entries"] == live and leaks(r.text) == []

    assert replay(world.ledger, None).public_list("black", today) == live  # the as-of code path
    position = world.ledger.recorder.max_notification_id()
    r = client.post("/v1/queries", json=world.signed(
        auditor, "query.requested", operator="auditor-1", purpose="audit", legal_basis="audit of the lists",
        scope="as_of_lists", filters={"position": position, "list": "black"}))
    assert r.status_code == 200, r.text
    assert r.json()["data"]["entries"] == live and leaks(r.text) == []


def test_personal_data_in_record_fields_shown_publicly_is_masked(client, world):
    """Legal basis and document number are record fields (not screened when submitted or corrected)
    that the list shows: a correction putting personal data there is masked on every path."""
    dept = world.department()
    rec = listed_record(world, dept)
    world.append_ok(world.signed(
        dept, "record.corrected", record_id=rec["id"], record_version=2, reason="fuller reference",
        changes={"legal_basis": f"Food Safety Law art. 124; heard {NAME}, card 6222 0212 3456 7890 128",
                 "document_number": f"青市监罚〔2026〕15号 tel {PHONE}"}))
    views = client.app.state.views  # type: ignore[attr-defined]
    views.archive.catch_up_all()
    today = now().date()
    (entry,), _ = views.archive.public_list("black", today)
    assert entry["legal_basis"] == "Food Safety Law art. 124; heard 李*, card [bank card]"
    assert entry["document_number"] == "青市监罚〔2026〕15号 tel [phone]"
    r = client.get("/v1/public/lists/black")
    assert r.json()["entries"] == [entry] and leaks(r.text) == []
    assert replay(world.ledger, None).public_list("black", today) == [entry]


@pytest.mark.parametrize("field", ["public_reason", "exit_conditions", "remedies"])
def test_a_disclosure_whose_public_text_holds_personal_data_is_refused(client, world, field):
    dept = world.department()
    env = world.submission(dept, subject=ID, subject_name=NAME, summary=SUMMARY,
                           decision_date=(now().date() - timedelta(days=30)).isoformat())
    world.append_ok(env)
    rec = env["statement"]
    before = world.ledger.count()
    r = client.post("/v1/statements", json=world.signed(
        dept, "record.disclosed", record_id=rec["id"], list="black", notice_served_at=now().date().isoformat(),
        **{field: SUMMARY}))
    assert r.status_code == 422, r.text
    assert r.headers["content-type"] == "application/problem+json"
    problem = r.json()
    assert problem["type"] == P + "invalid-statement"
    assert field in problem["detail"]
    assert all(word in problem["detail"] for word in ("resident ID", "phone number", "subject's name"))
    assert leaks(r.text) == []  # the refusal names the kinds, never the data
    assert world.ledger.count() == before and world.ledger.record(rec["id"]).disclosure is None
