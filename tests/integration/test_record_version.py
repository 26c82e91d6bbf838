"""``record_version`` where a department needs it: in each record statement's receipt and in the archive
answer, the version a ``record.corrected`` must name next. Both backends, over the API."""

from __future__ import annotations

from typing import Any

import orjson

from projections.archive import replay
from tests.support import World, make_resident_id

P = "urn:credit-ledger:problem:"


def _post(client: Any, envelope: dict[str, Any]) -> Any:
    return client.post("/v1/statements", json=envelope)


def _correction(world: World, dept: Any, record_id: str, version: int, summary: str) -> dict[str, Any]:
    return world.signed(dept, "record.corrected", record_id=record_id, record_version=version,
                        changes={"summary": summary}, reason="reviewed")


def _refused_stale(client: Any, world: World, envelope: dict[str, Any]) -> None:
    before = world.ledger.count()
    r = _post(client, envelope)
    assert r.status_code == 409 and r.json()["type"] == P + "conflict", r.text
    assert world.ledger.count() == before


def test_each_record_statement_s_receipt_names_the_version_a_correction_must_name(client, world):
    dept = world.department()
    window = world.department(items=[], roles=["service_window"])
    submitted = world.submission(dept)
    record_id, subject = submitted["statement"]["id"], submitted["statement"]["subject"]
    first = _post(client, submitted)
    assert first.status_code == 201 and first.json()["record_version"] == 1
    objection = _post(client, world.signed(window, "objection.filed", record_id=record_id, subject=subject,
                                           grounds="the date is wrong"))
    assert objection.status_code == 201 and objection.json()["record_version"] == 2
    # The version before the objection is stale now: 409, nothing stored.
    _refused_stale(client, world, _correction(world, dept, record_id, first.json()["record_version"], "stale"))
    corrected_env = _correction(world, dept, record_id, objection.json()["record_version"], "with the receipt's")
    corrected = _post(client, corrected_env)
    assert corrected.status_code == 201 and corrected.json()["record_version"] == 3
    _refused_stale(client, world, _correction(world, dept, record_id, 2, "the receipt before"))
    # Sent again, a statement gets its own receipt back: the version its record had after it, not today's.
    again = _post(client, submitted)
    assert again.status_code == 200 and again.json() == first.json()
    again = _post(client, corrected_env)
    assert again.status_code == 200 and again.json() == corrected.json()
    # Statements that change no record carry none.
    registered = _post(client, world.signed(world.authority_dept, "department.registered",
                                            department=world.department().code, name="Again", items=[],
                                            purposes=["administrative_licensing"]))
    assert "record_version" not in registered.json()


def test_a_batch_gives_each_statement_on_one_record_its_own_version(client, world):
    dept = world.department()
    submitted = world.submission(dept)
    record_id = submitted["statement"]["id"]
    corrected = _correction(world, dept, record_id, 1, "in the same batch")
    r = client.post("/v1/statements/batch", json={"envelopes": [submitted, corrected]})
    assert r.status_code == 200 and r.json()["accepted"] == 2, r.text
    assert [item["receipt"]["record_version"] for item in r.json()["results"]] == [1, 2]
    again = client.post("/v1/statements/batch", json={"envelopes": [submitted, corrected]})
    assert [item["status"] for item in again.json()["results"]] == [200, 200]
    assert [item["receipt"] for item in again.json()["results"]] == [item["receipt"] for item in r.json()["results"]]
    _refused_stale(client, world, _correction(world, dept, record_id, 1, "stale"))


def _archive(client: Any, world: World, dept: Any, subject: str) -> list[dict[str, Any]]:
    q = world.signed(dept, "query.requested", operator="staff-7", purpose="administrative_licensing",
                     legal_basis="Administrative Licensing Law art. 31", scope="archive", subject=subject)
    r = client.post("/v1/queries", json=q)
    assert r.status_code == 200, r.text
    return r.json()["data"]["records"]


def test_the_archive_answer_gives_each_record_the_version_a_correction_must_name(client, world):
    dept = world.department(purposes=["administrative_licensing"])
    subject = make_resident_id()
    submitted = world.submission(dept, subject=subject)
    record_id = submitted["statement"]["id"]
    assert _post(client, submitted).status_code == 201
    assert _post(client, _correction(world, dept, record_id, 1, "first correction")).status_code == 201
    (record,) = _archive(client, world, dept, subject)
    assert record["record_id"] == record_id and record["record_version"] == 2
    _refused_stale(client, world, _correction(world, dept, record_id, 1, "stale"))
    ok = _post(client, _correction(world, dept, record_id, record["record_version"], "with the archive's"))
    assert ok.status_code == 201 and ok.json()["record_version"] == 3
    (record,) = _archive(client, world, dept, subject)
    assert record["record_version"] == 3 and record["fields"]["summary"] == "with the archive's"
    # An auditor's as-of replay computes the same documents, versions included.
    assert replay(world.ledger, None).docs[record_id]["record_version"] == 3


def test_documents_projected_before_they_kept_the_version_still_answer_it(client, world):
    dept = world.department(purposes=["administrative_licensing"])
    subject = make_resident_id()
    submitted = world.submission(dept, subject=subject)
    record_id = submitted["statement"]["id"]
    world.append_ok(submitted)
    world.append_ok(_correction(world, dept, record_id, 1, "before the upgrade"))
    assert _archive(client, world, dept, subject)[0]["record_version"] == 2
    store = client.app.state.views.store
    (doc,) = store.query("SELECT doc FROM archive_records WHERE record_id = %s", (record_id,))[0]
    older = orjson.loads(doc)
    del older["record_version"]
    with store.transaction() as tx:
        tx.execute("UPDATE archive_records SET doc = %s WHERE record_id = %s",
                   (orjson.dumps(older, option=orjson.OPT_SORT_KEYS).decode(), record_id))
    (record,) = _archive(client, world, dept, subject)
    assert record["record_version"] == 2
    assert _post(client, _correction(world, dept, record_id, record["record_version"], "after")).status_code == 201
