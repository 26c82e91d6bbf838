"""POST /v1/statements and /batch over FastAPI's test client, on SQLite and PostgreSQL.

Every refusal asserts the status, the problem type and that the ledger did not grow.
"""

from __future__ import annotations

import json
import uuid
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from ledger.format.statements import format_datetime
from tests.support import World, now

P = "urn:credit-ledger:problem:"



def refused(client: TestClient, world: World, body, status: int, slug: str, *, raw: bytes | None = None,
            headers: dict[str, str] | None = None, path: str = "/v1/statements") -> dict:
    before = world.ledger.count()
    if raw is not None:
        r = client.post(path, content=raw, headers=headers or {"Content-Type": "application/json"})
    else:
        r = client.post(path, json=body)
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/problem+json"
    problem = r.json()
    assert problem["type"] == P + slug, problem
    assert problem["status"] == status and problem["title"] and problem.get("detail")
    assert world.ledger.count() == before, "a refused statement must not be stored"
    return problem


def test_submit_then_replay_gets_the_same_answer(client, world):
    dept = world.department()
    env = world.submission(dept)
    before = world.ledger.count()
    r1 = client.post("/v1/statements", json=env)
    assert r1.status_code == 201, r1.text
    receipt = r1.json()
    assert receipt["statement_id"] == env["statement"]["id"]
    assert receipt["leaf_index"] == before and receipt["position"] >= 1
    r2 = client.post("/v1/statements", json=env)
    assert r2.status_code == 200 and r2.headers["idempotent-replay"] == "true"
    assert r2.json() == receipt
    assert world.ledger.count() == before + 1


def test_healthz_and_openapi(client, world):
    h = client.get("/healthz").json()
    assert h["status"] == "ok" and h["catalogue_version"] == 1 and h["statements"] == world.ledger.count()
    spec = client.get("/openapi.json").json()
    post = spec["paths"]["/v1/statements"]["post"]
    assert post["requestBody"]["content"]["application/json"]["example"]["statement"]["type"] == "record.submitted"
    assert "409" in post["responses"] and "/v1/statements/batch" in spec["paths"]


def test_bad_signature(client, world):
    dept = world.department()
    env = world.submission(dept)
    env["statement"]["summary"] = "changed after signing"
    refused(client, world, env, 401, "bad-signature")


def test_unknown_key_id(client, world):
    dept = world.department()
    env = world.submission(dept)
    env["key_id"] = "ed25519:" + "ab" * 16
    refused(client, world, env, 401, "unknown-key")


def test_key_of_another_department(client, world):
    a, b = world.department(), world.department()
    stmt = world.submission(a)["statement"]
    env = world.envelope(stmt, b.key)  # signed by B's key, claims A as issuer
    p = refused(client, world, env, 403, "key-not-valid")
    assert b.code in p["detail"]


def test_revoked_key_signs_nothing_new_whatever_its_issued_at(client, world):
    dept = world.department()
    stored = world.submission(dept)
    world.append_ok(stored)
    revoke_at = now() - timedelta(minutes=10)
    world.append_ok(world.signed(world.authority_dept, "key.revoked", key_id=dept.key.key_id,
                                 effective_at=format_datetime(revoke_at), reason="laptop stolen"))
    refused(client, world, world.submission(dept), 403, "key-revoked")
    # Backdated to before effective_at: refused all the same, once the revocation is in the ledger.
    stmt = world.submission(dept)["statement"]
    stmt["issued_at"] = format_datetime(revoke_at - timedelta(seconds=1))
    refused(client, world, world.envelope(stmt, dept.key), 403, "key-revoked")
    # A byte-identical replay of a statement stored before the revocation still gets its receipt.
    again = client.post("/v1/statements", json=stored)
    assert again.status_code == 200 and again.headers["Idempotent-Replay"] == "true"


def test_statement_type_the_department_may_not_use(client, world):
    dept = world.department()
    other = world.department()
    env = world.signed(dept, "key.added", department=other.code, key_id=dept.key.key_id,
                       public_key=dept.key.public_key_b64, valid_from=format_datetime(now()))
    refused(client, world, env, 403, "forbidden")
    # objection.filed goes through a service-window department only
    rec = world.submission(dept)
    world.append_ok(rec)
    env = world.signed(dept, "objection.filed", record_id=rec["statement"]["id"],
                       subject=rec["statement"]["subject"], grounds="not me")
    refused(client, world, env, 403, "forbidden")


def test_catalogue_item_the_department_may_not_use(client, world):
    dept = world.department(items=["food_drug.general"])
    refused(client, world, world.submission(dept, item="food_drug.serious"), 403, "forbidden")
    refused(client, world, world.submission(dept, item="no_such.item"), 422, "invalid-statement")


def test_item_not_collectable(client, world):
    dept = world.department()
    p = refused(client, world, world.submission(dept, item="food_drug.simplified_penalty"), 422, "rule-violated")
    assert "not collected" in p["detail"]


@pytest.mark.parametrize("subject,reason", [
    ("110105194912310021", "wrong check digit"),
    ("110105194902300021", "birth date"),
])
def test_invalid_resident_id(client, world, subject, reason):
    dept = world.department()
    p = refused(client, world, world.submission(dept, subject=subject), 422, "invalid-statement")
    assert reason in p["detail"]


def test_missing_and_extra_fields(client, world):
    dept = world.department()
    p = refused(client, world, world.submission(dept, legal_basis=None), 422, "invalid-statement")
    assert "missing field(s): legal_basis" in p["detail"]
    p = refused(client, world, world.submission(dept, religion="none"), 422, "invalid-statement")
    assert "religion" in p["detail"]
    p = refused(client, world, world.submission(dept, details={"income": 1}), 422, "invalid-statement")
    assert "never collected" in p["detail"]
    p = refused(client, world, world.submission(dept, details={"colour": "red"}), 422, "invalid-statement")
    env = world.submission(dept)
    env["extra"] = 1
    refused(client, world, env, 422, "invalid-statement")


def test_date_in_the_future(client, world):
    dept = world.department()
    stmt = world.submission(dept)["statement"]
    stmt["issued_at"] = format_datetime(now() + timedelta(hours=1))
    p = refused(client, world, world.envelope(stmt, dept.key), 422, "invalid-statement")
    assert "future" in p["detail"]
    tomorrow = (now() + timedelta(days=1)).date().isoformat()
    refused(client, world, world.submission(dept, decision_date=tomorrow), 422, "invalid-statement")


def test_body_over_the_size_limit(client, world):
    dept = world.department()
    env = world.submission(dept, summary="x" * 2000)
    body = json.dumps(env).encode() + b" " * (world.settings.max_body_bytes + 1)
    refused(client, world, None, 413, "payload-too-large", raw=body)

    def chunks():
        yield json.dumps(env).encode()
        for _ in range(300):
            yield b" " * 1024

    before = world.ledger.count()
    r = client.post("/v1/statements", content=chunks(), headers={"Content-Type": "application/json"})
    assert r.status_code == 413 and r.json()["type"] == P + "payload-too-large"
    assert world.ledger.count() == before


@pytest.mark.parametrize("raw,slug", [
    (b"[" * 10000 + b"]" * 10000, "malformed"),
    (b'{"statement":' * 50 + b"1" + b"}" * 50, "malformed"),
    (b"not json", "malformed"),
    (b"\xff\xfe\x00", "malformed"),
    (b"", "malformed"),
    (b"[]", "malformed"),
])
def test_deeply_nested_or_non_json_bodies(client, world, raw, slug):
    refused(client, world, None, 400, slug, raw=raw)


def test_duplicate_keys_refused(client, world):
    dept = world.department()
    env = world.submission(dept)
    text = json.dumps(env)
    raw = text.replace('"statement": {', '"statement": {"summary": "other", ', 1).encode()
    p = refused(client, world, None, 400, "malformed", raw=raw)
    assert "duplicate" in p["detail"]


def test_wrong_media_type(client, world):
    refused(client, world, None, 415, "unsupported-media-type", raw=b"{}", headers={"Content-Type": "text/plain"})


def test_same_id_other_content_is_409(client, world):
    dept = world.department()
    env = world.submission(dept)
    assert client.post("/v1/statements", json=env).status_code == 201
    stmt = dict(env["statement"], summary="something else")
    p = refused(client, world, world.envelope(stmt, dept.key), 409, "conflict")
    assert "other content" in p["detail"]
    # The same id on another statement type is a conflict too.
    other = world.signed(dept, "record.revoked", record_id=env["statement"]["id"], reason="r", annulling_document="d")
    other["statement"]["id"] = env["statement"]["id"]
    other = world.envelope(other["statement"], dept.key)
    refused(client, world, other, 409, "conflict")


def test_unknown_record(client, world):
    dept = world.department()
    env = world.signed(dept, "record.revoked", record_id=str(uuid.uuid4()), reason="r", annulling_document="d")
    refused(client, world, env, 404, "not-found")


def test_batch_mixed_results(client, world):
    dept = world.department()
    good = [world.submission(dept) for _ in range(5)]
    bad_sig = world.submission(dept)
    bad_sig["signature"] = good[0]["signature"]
    malformed = {"statement": {"type": "record.submitted"}, "key_id": dept.key.key_id, "signature": "AA=="}
    before = world.ledger.count()
    r = client.post("/v1/statements/batch", json={"envelopes": [*good, bad_sig, malformed, good[0]]})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["accepted"] == 6 and body["refused"] == 2
    statuses = [x["status"] for x in body["results"]]
    assert statuses == [201] * 5 + [401, 422, 200]
    assert body["results"][7]["receipt"] == body["results"][0]["receipt"]
    assert body["results"][5]["problem"]["type"] == P + "bad-signature"
    leafs = [x["receipt"]["leaf_index"] for x in body["results"][:5]]
    assert leafs == list(range(before, before + 5))
    assert world.ledger.count() == before + 5


def test_batch_envelope_refusals(client, world):
    refused(client, world, {"envelopes": []}, 400, "malformed", path="/v1/statements/batch")
    refused(client, world, {"items": []}, 400, "malformed", path="/v1/statements/batch")
    refused(client, world, [1, 2], 400, "malformed", path="/v1/statements/batch")


def test_unknown_route_is_a_problem(client, world):
    r = client.get("/v1/nothing")
    assert r.status_code == 404 and r.json()["type"] == P + "not-found"


@pytest.mark.parametrize("mutate,status,slug", [
    (lambda s: s.update(issuer=["x"]), 422, "invalid-statement"),
    (lambda s: s.update(type=["record.submitted"]), 422, "invalid-statement"),
    (lambda s: s.update(details={"case_reference": ["a"] * 100_000}), 422, "invalid-statement"),
    (lambda s: s.update(subject={"a": 1}), 422, "invalid-statement"),
])
def test_wrongly_typed_values_and_huge_arrays_are_refused(client, world, mutate, status, slug):
    dept = world.department()
    env = world.submission(dept)
    mutate(env["statement"])
    body = json.dumps(env).encode()
    if len(body) > world.settings.max_body_bytes:
        refused(client, world, None, 413, "payload-too-large", raw=body)
    else:
        refused(client, world, env, status, slug)


def test_batch_with_too_many_envelopes(client, world):
    dept = world.department()
    env = world.submission(dept)
    too_many = {"envelopes": [env] * (world.settings.max_batch_items + 1)}
    p = refused(client, world, too_many, 400, "malformed", path="/v1/statements/batch")
    assert "at most" in p["detail"]
