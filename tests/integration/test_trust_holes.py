"""Attacks on the ledger's promises, each tried as an attacker would, on both backends.

No log, no data: a query sent again must pass every check a new one passes. No write without a valid
key: a revoked key signs nothing new, a small-order key is never registered, a statement for another
ledger is refused, and backdating is bounded. Every refusal stores nothing.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from api.settings import Settings
from ledger.errors import QueryExpiredError, ValidationError, WrongLedgerError
from ledger.format.statements import format_datetime
from tests.support import World, make_resident_id, now

P = "urn:credit-ledger:problem:"



def ask(world: World, dept, **fields) -> dict:
    return world.signed(dept, "query.requested", operator="staff-7", purpose="administrative_licensing",
                        legal_basis="Administrative Licensing Law art. 31", scope="archive", **fields)


def refused(client: TestClient, world: World, body: dict, status: int, slug: str, path: str) -> dict:
    before = world.ledger.count()
    r = client.post(path, json=body)
    assert r.status_code == status, r.text
    problem = r.json()
    assert problem["type"] == P + slug, problem
    assert "data" not in problem
    assert world.ledger.count() == before, "a refused statement must not be stored"
    return problem


def subject_with_record(world: World, dept) -> str:
    subject = make_resident_id()
    world.append_ok(world.submission(dept, subject=subject))
    return subject


# No log, no data: replays.

def test_replayed_query_with_a_forged_key_and_signature_gets_no_data(client, world):
    dept = world.department()
    q = ask(world, dept, subject=subject_with_record(world, dept))
    assert client.post("/v1/queries", json=q).status_code == 200
    # Rebuilt from what an access-log reader sees: the statement, but no valid signature.
    for key_id, signature in (("ed25519:" + "0" * 32, "AAAA"), (dept.key.key_id, "AAAA"),
                              (dept.key.key_id, world.authority.sign(b"other bytes"))):
        forged = {**q, "key_id": key_id, "signature": signature}
        problem = refused(client, world, forged, 401, "bad-signature" if key_id == dept.key.key_id else "unknown-key",
                          "/v1/queries")
        assert "receipt" not in problem


def test_replayed_query_after_its_key_was_revoked_gets_no_data(client, world):
    dept = world.department()
    q = ask(world, dept, subject=subject_with_record(world, dept))
    assert client.post("/v1/queries", json=q).status_code == 200
    world.append_ok(world.signed(world.authority_dept, "key.revoked", key_id=dept.key.key_id,
                                 effective_at=format_datetime(now()), reason="stolen"))
    refused(client, world, q, 403, "key-revoked", "/v1/queries")


def test_replayed_query_after_the_department_lost_the_purpose_gets_no_data(client, world):
    dept = world.department()
    q = ask(world, dept, subject=subject_with_record(world, dept))
    assert client.post("/v1/queries", json=q).status_code == 200
    world.append_ok(world.signed(world.authority_dept, "department.registered", department=dept.code, name="Dept",
                                 items=[], purposes=["public_benefits"]))
    problem = refused(client, world, q, 403, "query-refused", "/v1/queries")
    assert "administrative_licensing" in problem["detail"]


def test_replay_freshness_runs_from_when_the_ledger_recorded_the_query(world):
    dept = world.department()
    subject = subject_with_record(world, dept)
    t0 = now()
    # Signed 4 minutes ahead (inside the allowed skew): freshness from issued_at would last until t0 + 9 min.
    q = world.envelope(world.statement("query.requested", dept.code, issued_at=t0 + timedelta(minutes=4),
                                       operator="staff-7", purpose="administrative_licensing", legal_basis="L",
                                       scope="archive", subject=subject), dept.key)
    world.ledger.clock = lambda: t0
    (first,) = world.append(q)
    assert first.outcome == {"status": "accepted"}
    world.ledger.clock = lambda: t0 + timedelta(minutes=4)
    (again,) = world.append(q)
    assert again.replay and again.position == first.position
    before = world.ledger.count()
    world.ledger.clock = lambda: t0 + timedelta(minutes=6)
    (late,) = world.append(q)
    assert isinstance(late, QueryExpiredError) and late.receipt.position == first.position
    assert world.ledger.count() == before


def test_a_statement_replayed_under_another_signature_is_refused(client, world):
    dept = world.department()
    rec = world.submission(dept)
    assert client.post("/v1/statements", json=rec).status_code == 201
    refused(client, world, {**rec, "signature": "AAAA"}, 401, "bad-signature", "/v1/statements")
    refused(client, world, {**rec, "key_id": "ed25519:" + "0" * 32}, 401, "unknown-key", "/v1/statements")
    again = client.post("/v1/statements", json=rec)
    assert again.status_code == 200 and again.headers["Idempotent-Replay"] == "true"


# Revoked keys, weak keys, other ledgers, backdating.

def test_a_revoked_key_cannot_backdate_a_record_onto_the_black_list(client, world):
    dept = world.department()
    rec = world.submission(dept, subject=make_resident_id(), decision_date=(now().date() - timedelta(days=30)).isoformat())
    world.append_ok(rec)
    effective = now() - timedelta(hours=20)
    world.append_ok(world.signed(world.authority_dept, "key.revoked", key_id=dept.key.key_id,
                                 effective_at=format_datetime(effective), reason="stolen"))
    before = effective - timedelta(seconds=1)
    backdated = world.envelope(world.statement(
        "record.submitted", dept.code, issued_at=before, subject=make_resident_id(), subject_name="李四",
        item="food_drug.serious", summary="s", decision_date=(now().date() - timedelta(days=30)).isoformat(),
        document_number="D-1", legal_basis="L"), dept.key)
    refused(client, world, backdated, 403, "key-revoked", "/v1/statements")
    disclose = world.envelope(world.statement(
        "record.disclosed", dept.code, issued_at=before, record_id=rec["statement"]["id"], list="black",
        notice_served_at=(now().date() - timedelta(days=10)).isoformat()), dept.key)
    refused(client, world, disclose, 403, "key-revoked", "/v1/statements")
    assert client.get("/v1/public/lists/black").json()["entries"] == []


@pytest.mark.parametrize("hex_key", [
    "0100000000000000000000000000000000000000000000000000000000000000",  # the identity: order 1
    "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",  # order 2
    "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",  # order 8
    "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",  # y = p: not canonical
])
def test_a_small_order_or_non_canonical_public_key_is_never_registered(client, world, hex_key):
    import base64

    from keys import key_id_for

    dept = world.department()
    raw = bytes.fromhex(hex_key)
    env = world.signed(world.authority_dept, "key.added", department=dept.code, key_id=key_id_for(raw),
                       public_key=base64.b64encode(raw).decode(), valid_from=format_datetime(now() - timedelta(days=1)))
    problem = refused(client, world, env, 422, "invalid-statement", "/v1/statements")
    assert "public_key" in problem["detail"]
    # And so no signature "of the right shape" is accepted with it.
    forged = {**world.submission(dept), "key_id": key_id_for(raw), "signature": base64.b64encode(bytes(64)).decode()}
    refused(client, world, forged, 401, "unknown-key", "/v1/statements")


def test_a_statement_signed_for_another_ledger_is_refused(tmp_path, settings):
    other_settings = Settings(**{**settings.model_dump(), "data_dir": tmp_path / "other-ledger",
                                 "log_origin": "other-city.example/log"})
    if settings.database_url:
        other_settings = other_settings.model_copy(update={"database_schema": settings.database_schema + "_b"})
    home, other = World(settings), World(other_settings)
    try:
        dept = home.department()
        # The same department and key registered in the other ledger too.
        other.append_ok(
            other.signed(other.authority_dept, "department.registered", department=dept.code, name="Dept",
                         items=["food_drug.serious"], purposes=["administrative_licensing"]),
            other.signed(other.authority_dept, "key.added", department=dept.code, key_id=dept.key.key_id,
                         public_key=dept.key.public_key_b64, valid_from=format_datetime(now() - timedelta(days=1))),
        )
        rec = home.submission(dept)
        home.append_ok(rec)
        before = other.ledger.count()
        (outcome,) = other.append(rec)
        assert isinstance(outcome, WrongLedgerError) and "other-city.example/log" in str(outcome)
        (outcome,) = other.append(ask(home, dept, subject=rec["statement"]["subject"]))
        assert isinstance(outcome, WrongLedgerError)
        assert other.ledger.count() == before
    finally:
        home.close()
        other.close()
        if settings.database_url:
            import psycopg
            from psycopg import sql

            with psycopg.connect(settings.database_url, autocommit=True) as conn:
                conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(
                    sql.Identifier(other_settings.database_schema)))


def test_issued_at_may_lie_at_most_the_allowed_age_behind_the_ledger(world):
    dept = world.department()
    old = world.envelope(world.statement("record.submitted", dept.code, issued_at=now() - timedelta(days=2),
                                         subject=make_resident_id(), subject_name="张三", item="food_drug.serious",
                                         summary="s", decision_date=(now().date() - timedelta(days=30)).isoformat(),
                                         document_number="D", legal_basis="L"), dept.key)
    before = world.ledger.count()
    (outcome,) = world.append(old)
    assert isinstance(outcome, ValidationError) and "before the ledger's clock" in str(outcome)
    assert world.ledger.count() == before


def test_valid_until_is_bounded_by_the_catalogue(world):
    dept = world.department()
    before = world.ledger.count()
    (outcome,) = world.append(world.submission(dept, item="food_drug.commendation", valid_until="2999-12-31"))
    assert isinstance(outcome, ValidationError) and "at most 36 months" in str(outcome)
    assert world.ledger.count() == before
    world.append_ok(world.submission(dept, item="food_drug.commendation",
                                     valid_until=(now().date() + timedelta(days=300)).isoformat()))


def test_statement_ids_stay_globally_unique_across_replays(world):
    dept = world.department()
    rec = world.submission(dept)
    (first,) = world.append_ok(rec)
    (again,) = world.append_ok(rec)
    assert again.replay and again.leaf_index == first.leaf_index
    assert uuid.UUID(rec["statement"]["id"]) in world.ledger.recorder.find_entries([uuid.UUID(rec["statement"]["id"])])


def test_audit_fails_at_an_entry_signed_after_its_keys_revocation(world):
    """A history that breaks the rule (here: written past the ledger) fails the audit at that very leaf."""
    from api.runtime import authority_public_key, open_views
    from ledger.domain.audit import AuditEntry, AuditFailure, Auditor
    from ledger.format.canonical import canonical_bytes
    from projections.audit import live_entries

    dept = world.department()
    effective = now() - timedelta(hours=1)
    world.append_ok(world.signed(world.authority_dept, "key.revoked", key_id=dept.key.key_id,
                                 effective_at=format_datetime(effective), reason="stolen"))
    views = open_views(world.settings, world.ledger)
    try:
        entries = list(live_entries(world.ledger, views.store))
        auditor = Auditor(authority_public_key(world.settings), views.checkpointer.verifier_key,
                          world.settings.log_origin)
    finally:
        views.close()
    for entry in entries:
        auditor.add(entry)
    backdated = world.envelope(world.statement(
        "record.submitted", dept.code, issued_at=effective - timedelta(seconds=1), subject=make_resident_id(),
        subject_name="李四", item="food_drug.serious", summary="s", decision_date="2026-01-10", document_number="D",
        legal_basis="L"), dept.key)
    forged = AuditEntry(len(entries), entries[-1].position + 1, canonical_bytes(backdated["statement"]).decode(),
                        backdated["key_id"], backdated["signature"], format_datetime(now()))
    with pytest.raises(AuditFailure) as info:
        auditor.add(forged)
    assert f"leaf {len(entries)}" in str(info.value) and "revoked" in str(info.value)


def test_a_revocation_lists_its_compromise_window_and_an_auditor_can_page_it(client, world):
    dept = world.department()
    other = world.department()
    effective = now() - timedelta(hours=2)
    before_window = world.envelope(world.statement(
        "record.submitted", dept.code, issued_at=effective - timedelta(hours=1), subject=make_resident_id(),
        subject_name="张三", item="food_drug.serious", summary="s",
        decision_date=(now().date() - timedelta(days=30)).isoformat(), document_number="D0", legal_basis="L"),
        dept.key)
    world.ledger.clock = lambda: effective - timedelta(minutes=30)  # recorded before effective_at
    world.append_ok(before_window)
    world.ledger.clock = lambda: now()
    in_window = [world.submission(dept) for _ in range(3)]
    world.append_ok(*in_window, world.submission(other))
    revocation = world.signed(world.authority_dept, "key.revoked", key_id=dept.key.key_id,
                              effective_at=format_datetime(effective), reason="laptop stolen")
    r = client.post("/v1/statements", json=revocation)
    assert r.status_code == 201, r.text
    window = r.json()["compromise_window"]
    assert [e["statement_id"] for e in window] == [e["statement"]["id"] for e in in_window]
    assert all(e["type"] == "record.submitted" and e["position"] < r.json()["position"] for e in window)
    # The same answer when the revocation is sent again.
    again = client.post("/v1/statements", json=revocation)
    assert again.status_code == 200 and again.json()["compromise_window"] == window
    # An auditor reads the same window through a logged query.
    auditor = world.department(items=[], purposes=["audit"], roles=["auditor"])
    q = world.signed(auditor, "query.requested", operator="audit-1", purpose="audit", legal_basis="L",
                     scope="key_compromise", filters={"key_id": dept.key.key_id})
    before = world.ledger.count()
    answer = client.post("/v1/queries", json=q)
    assert answer.status_code == 200, answer.text
    assert world.ledger.count() == before + 1
    data = answer.json()["data"]
    assert data["revoked"] and data["department"] == dept.code
    assert data["revocation_position"] == r.json()["position"]
    assert [e["statement_id"] for e in data["entries"]] == [e["statement_id"] for e in window]
    # Without the auditor's role: refused, and recorded as refused.
    q2 = world.signed(other, "query.requested", operator="x", purpose="administrative_licensing", legal_basis="L",
                      scope="key_compromise", filters={"key_id": dept.key.key_id})
    refused_answer = client.post("/v1/queries", json=q2)
    assert refused_answer.status_code == 403 and "data" not in refused_answer.json()


def test_a_record_signed_with_a_key_another_process_registered_loads_without_a_false_alarm(world):
    """Record events are verified as they load; a key registered through another process since this one last
    looked is found by looking again, not reported as a forged row."""
    from api.runtime import open_ledger

    world.ledger.authority()  # this process's view of the registry, before the key exists
    other = open_ledger(world.settings)
    try:
        original, world.ledger = world.ledger, other
        dept = world.department()
        rec = world.submission(dept)
        world.append_ok(rec)
    finally:
        world.ledger = original
        other.close()
    assert world.ledger.record(rec["statement"]["id"]).issuer == dept.code
