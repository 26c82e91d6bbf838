"""Transparency log over HTTP and the offline audit, on SQLite and PostgreSQL, with tamper tests."""

from __future__ import annotations

import base64
import sqlite3
import time
from collections.abc import Callable

import psycopg
import pytest
from fastapi.testclient import TestClient
from psycopg import sql

from api.cli import main as cli
from api.runtime import open_views
from ledger.log import merkle
from ledger.log.note import format_checkpoint, open_checkpoint, sign_note
from tests.conftest import PG_URL
from tests.support import World

P = "urn:credit-ledger:problem:"


def d(s: str) -> bytes:
    return base64.b64decode(s)



def fill(world: World, n: int = 20) -> list:
    dept = world.department()
    return world.append_ok(*[world.submission(dept) for _ in range(n)])


def checkpoint(client: TestClient) -> tuple[str, object]:
    r = client.post("/v1/log/checkpoint")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    key = client.get("/v1/log/verifier-key").text.strip()
    cp, signers = open_checkpoint(r.text, key)
    return r.text, cp


def test_checkpoint_and_proofs_verify_against_recomputed_tree(client, world):
    fill(world, 10)
    note1, cp1 = checkpoint(client)
    fill(world, 13)
    note2, cp2 = checkpoint(client)
    assert cp2.size == world.ledger.count() > cp1.size
    hashes = client.get("/v1/log/leaf-hashes", params={"start": 0, "end": cp2.size}).json()["leaf_hashes"]
    assert merkle.root_from_leaf_hashes([d(h) for h in hashes]) == cp2.root
    for i in range(cp2.size):
        body = client.get("/v1/log/proof/inclusion", params={"leaf_index": i, "tree_size": cp2.size}).json()
        merkle.verify_inclusion(d(body["leaf_hash"]), i, cp2.size, [d(p) for p in body["proof"]], cp2.root)
    body = client.get("/v1/log/proof/consistency", params={"first": cp1.size, "second": cp2.size}).json()
    merkle.verify_consistency(cp1.size, cp2.size, [d(p) for p in body["proof"]], cp1.root, cp2.root)
    assert client.get("/v1/log/checkpoints", params={"size": cp1.size}).text == note1
    listed = client.get("/v1/log/checkpoints").json()["checkpoints"]
    assert [c["size"] for c in listed][-2:] == [cp1.size, cp2.size]


def test_inclusion_by_statement_id_and_latest_size(client, world):
    receipts = fill(world, 5)
    _, cp = checkpoint(client)
    body = client.get("/v1/log/proof/inclusion", params={"statement_id": str(receipts[2].statement_id)}).json()
    assert body["leaf_index"] == receipts[2].leaf_index and body["tree_size"] == cp.size
    merkle.verify_inclusion(d(body["leaf_hash"]), body["leaf_index"], cp.size, [d(p) for p in body["proof"]], cp.root)


@pytest.mark.parametrize("path,params", [
    ("/v1/log/proof/inclusion", {"leaf_index": 0, "tree_size": 10_000}),
    ("/v1/log/proof/inclusion", {"leaf_index": 50, "tree_size": 5}),
    ("/v1/log/proof/consistency", {"first": 3, "second": 10_000}),
    ("/v1/log/proof/consistency", {"first": 6, "second": 5}),
    ("/v1/log/leaf-hashes", {"start": 0, "end": 10_000}),
    ("/v1/log/leaf-hashes", {"start": 5, "end": 5}),
])
def test_requests_beyond_the_log_are_problems(client, world, path, params):
    fill(world, 5)
    checkpoint(client)
    r = client.get(path, params=params)
    assert r.status_code == 400 and r.json()["type"] == P + "invalid-range", r.text
    assert client.get("/v1/log/checkpoints", params={"size": 10_000}).json()["type"] == P + "not-found"


def test_checkpoint_follows_new_entries_by_itself(client, world):
    fill(world, 3)
    target = world.ledger.count()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        r = client.get("/v1/log/checkpoint")
        if r.status_code == 200 and open_checkpoint(r.text, client.get("/v1/log/verifier-key").text.strip())[0].size == target:
            break
        time.sleep(0.1)
    else:
        pytest.fail("no checkpoint covered the new entries within 20 s")


# Offline audit.

def audit(world: World, *extra: str) -> int:
    return cli(["audit", "verify", "--data", str(world.settings.data_dir), *extra])


def prepare(world: World, n: int = 30) -> None:
    fill(world, n)
    views = open_views(world.settings, world.ledger)
    try:
        views.tree.catch_up_all()
        views.checkpointer.make()
    finally:
        views.close()


def test_audit_verify_live_and_bundle(world, tmp_path, capsys, monkeypatch):
    _env(monkeypatch, world)
    prepare(world)
    assert audit(world) == 0
    assert "audit OK: " in capsys.readouterr().out
    bundle = tmp_path / "ledger.jsonl.gz"
    assert cli(["export", "--data", str(world.settings.data_dir), "--out", str(bundle)]) == 0
    capsys.readouterr()
    key = world.settings.keys_dir / "authority.pub"
    views = open_views(world.settings, world.ledger)
    verifier = views.checkpointer.verifier_key
    views.close()
    assert cli(["audit", "verify", "--bundle", str(bundle), "--authority-key", str(key),
                "--log-verifier-key", verifier]) == 0
    out = capsys.readouterr().out
    assert f"audit OK: {world.ledger.count()} entries" in out


def _env(monkeypatch, world: World) -> None:
    if world.settings.database_url:
        monkeypatch.setenv("CREDIT_LEDGER_DATABASE_URL", world.settings.database_url)
        monkeypatch.setenv("CREDIT_LEDGER_DATABASE_SCHEMA", world.settings.database_schema)


def tamper(world: World, action: Callable[[object, str], None]) -> None:
    """Run ``action(conn, events_table)`` as a superuser with the append-only triggers off."""
    if world.settings.database_url:
        schema = world.settings.database_schema
        with psycopg.connect(PG_URL, autocommit=True) as conn:
            conn.execute("SET session_replication_role = replica")  # superuser: triggers do not fire
            conn.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(schema)))
            action(conn, "ledger_events")
    else:
        conn = sqlite3.connect(world.settings.sqlite_path, isolation_level=None)
        for t in ("stored_events_no_update", "stored_events_no_delete", "ledger_entries_no_update",
                  "ledger_entries_no_delete"):
            conn.execute(f"DROP TRIGGER {t}")
        action(conn, "stored_events")
        conn.close()


def _rows(conn, table: str) -> list[tuple]:
    if isinstance(conn, sqlite3.Connection):
        return conn.execute(f"SELECT rowid, state FROM {table} ORDER BY rowid").fetchall()
    return conn.execute(f"SELECT notification_id, state FROM {table} ORDER BY notification_id").fetchall()


def _set_state(conn, table: str, nid: int, state: bytes) -> None:
    if isinstance(conn, sqlite3.Connection):
        conn.execute(f"UPDATE {table} SET state = ? WHERE rowid = ?", (state, nid))
    else:
        conn.execute(f"UPDATE {table} SET state = %s WHERE notification_id = %s", (state, nid))


def _delete(conn, table: str, nid: int) -> None:
    key = "rowid" if isinstance(conn, sqlite3.Connection) else "notification_id"
    mark = "?" if isinstance(conn, sqlite3.Connection) else "%s"
    conn.execute(f"DELETE FROM {table} WHERE {key} = {mark}", (nid,))


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_tamper_one_byte_is_named(world, capsys, monkeypatch, jobs):
    _env(monkeypatch, world)
    prepare(world)

    def flip(conn, table):
        nid, state = _rows(conn, table)[12]
        state = bytes(state)
        i = state.index(b"Sold food")
        _set_state(conn, table, nid, state[:i] + b"T" + state[i + 1:])

    tamper(world, flip)
    assert audit(world, "--jobs", jobs) == 1
    err = capsys.readouterr().err
    assert "audit FAILED at leaf 12 " in err and "signature" in err


def test_tamper_deleted_event_is_named(world, capsys, monkeypatch):
    _env(monkeypatch, world)
    prepare(world)
    tamper(world, lambda conn, table: _delete(conn, table, _rows(conn, table)[7][0]))
    assert audit(world) == 1
    err = capsys.readouterr().err
    assert "audit FAILED at leaf 7 " in err and "missing" in err


def test_tamper_deleted_event_and_entry_is_named(world, capsys, monkeypatch):
    _env(monkeypatch, world)
    prepare(world)

    def delete_both(conn, table):
        nid = _rows(conn, table)[9][0]
        _delete(conn, table, nid)
        mark = "?" if isinstance(conn, sqlite3.Connection) else "%s"
        conn.execute(f"DELETE FROM ledger_entries WHERE notification_id = {mark}", (nid,))

    tamper(world, delete_both)
    assert audit(world) == 1
    err = capsys.readouterr().err
    assert "audit FAILED at leaf 10 " in err and "expected leaf 9" in err


def test_tamper_swapped_events_are_named(world, capsys, monkeypatch):
    _env(monkeypatch, world)
    prepare(world)

    def swap(conn, table):
        rows = _rows(conn, table)
        (a, sa), (b, sb) = rows[14], rows[15]
        _set_state(conn, table, a, bytes(sb))
        _set_state(conn, table, b, bytes(sa))

    tamper(world, swap)
    assert audit(world) == 1
    err = capsys.readouterr().err
    assert "audit FAILED at leaf 14 " in err and "leaf hash" in err


def test_forked_checkpoint_is_detected(world, capsys, monkeypatch):
    """A checkpoint signed with the log key over another history is not consistent with the ledger."""
    _env(monkeypatch, world)
    prepare(world, 10)
    views = open_views(world.settings, world.ledger)
    try:
        size = views.tree.size()
        forged_root = merkle.leaf_hash(b"another history")
        fill(world, 3)
        views.tree.catch_up_all()
        note = sign_note(format_checkpoint(views.checkpointer.origin, size + 1, forged_root),
                         views.checkpointer.origin, views.checkpointer.log_key.private_key)
        with views.store.transaction() as tx:
            tx.execute("INSERT INTO log_checkpoints (size, root, note, created_at) VALUES (%s, %s, %s, %s)",
                       (size + 1, forged_root, note, "2026-01-01T00:00:00Z"))
        views.checkpointer.make()
    finally:
        views.close()
    assert audit(world) == 1
    err = capsys.readouterr().err
    assert f"checkpoint of size {size + 1}" in err and "forked" in err


def test_checkpoint_beyond_the_ledger_is_detected(world, capsys, monkeypatch):
    _env(monkeypatch, world)
    prepare(world, 5)
    views = open_views(world.settings, world.ledger)
    try:
        size = views.tree.size() + 100
        note = sign_note(format_checkpoint(views.checkpointer.origin, size, merkle.leaf_hash(b"x")),
                         views.checkpointer.origin, views.checkpointer.log_key.private_key)
        with views.store.transaction() as tx:
            tx.execute("INSERT INTO log_checkpoints (size, root, note, created_at) VALUES (%s, %s, %s, %s)",
                       (size, merkle.leaf_hash(b"x"), note, "2026-01-01T00:00:00Z"))
    finally:
        views.close()
    assert audit(world) == 1
    assert f"checkpoint of size {size}" in capsys.readouterr().err


def test_proofs_after_a_rebuild_elsewhere_are_problems_not_errors(world):
    """A tree reset by another process (a rebuild) must not leave a server's cached size answering 500s."""
    from projections.logtree import LogTree

    fill(world, 6)
    serving = open_views(world.settings, world.ledger)
    other = open_views(world.settings, world.ledger)
    try:
        serving.tree.catch_up_all()
        size = serving.tree.size()
        assert len(serving.tree.inclusion_proof(0, size)) > 0  # caches the size
        other.tree.reset()  # a rebuild starts elsewhere
        with pytest.raises(ValueError, match="beyond the log's current size 0"):
            serving.tree.inclusion_proof(0, size)
        other.tree.catch_up_all()
        assert serving.tree.inclusion_proof(0, size) == LogTree(other.store).inclusion_proof(0, size)
    finally:
        serving.close()
        other.close()


@pytest.mark.parametrize("query", [
    "/v1/log/checkpoints?after=3281103163604426817536", "/v1/log/checkpoints?size=9223372036854775808",
    "/v1/log/proof/inclusion?leaf_index=9223372036854775808",
    "/v1/log/proof/consistency?first=1&second=9223372036854775808",
    "/v1/log/leaf-hashes?start=0&end=9223372036854775808",
])
def test_indexes_beyond_64_bits_are_invalid_requests(client, world, query):
    before = world.ledger.count()
    r = client.get(query)
    assert r.status_code == 422, r.text
    assert r.headers["content-type"] == "application/problem+json" and r.json()["type"].endswith("invalid-request")
    assert world.ledger.count() == before
