"""Moving to PostgreSQL as a user would: ``credit-ledger copy`` as a real process, then a real
``credit-ledger serve`` on the copy, and the old ledger and an empty database refused by ``serve``."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import uuid
from pathlib import Path

import httpx
import psycopg
import pytest
from psycopg import sql

from api.runtime import open_views
from api.settings import Settings
from tests.conftest import PG_URL
from tests.e2e.test_server import CLI, _free_port, cli
from tests.support import World, wait_until_serving

pytestmark = [pytest.mark.server, pytest.mark.postgres]


def _one_error_line(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode == 1, proc.stderr
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("credit-ledger: "), proc.stderr
    return lines[0]


def test_copy_then_serve_the_copy_and_never_the_old_ledger_or_a_second_one(tmp_path: Path, pg_schema: str):
    env = {k: v for k, v in os.environ.items() if not k.startswith("CREDIT_LEDGER_")}
    cli("init", env=env, cwd=tmp_path)
    settings = Settings(data_dir=tmp_path / "ledger-data")
    world = World(settings)
    try:
        dept = world.department()
        world.append_ok(*[world.submission(dept) for _ in range(20)])
        views = open_views(settings, world.ledger)
        try:
            views.tree.catch_up_all()
            checkpoint = views.checkpointer.make()
        finally:
            views.close()
        assert checkpoint is not None
        world.append_ok(world.submission(dept))
        count = world.ledger.count()
    finally:
        world.close()
    with sqlite3.connect(settings.sqlite_path) as conn:
        last_position = conn.execute("SELECT MAX(rowid) FROM stored_events").fetchone()[0]

    copied = cli("copy", "--to", PG_URL, "--schema", pg_schema, env=env, cwd=tmp_path)
    assert copied.stdout.startswith(f"copied {count} events, {count} entries and 1 checkpoint to ")
    assert f"every checkpoint's root matches the tree of the copied leaves (latest at size {checkpoint.size})" \
        in copied.stdout and "events: " in copied.stderr

    pg_env = {**env, "CREDIT_LEDGER_DATABASE_URL": PG_URL, "CREDIT_LEDGER_DATABASE_SCHEMA": pg_schema}
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    with open(tmp_path / "server.log", "w+") as log:
        server = subprocess.Popen([CLI, "serve", "--port", str(port), "--log-level", "warning"], cwd=tmp_path,
                                  env=pg_env, stdout=log, stderr=subprocess.STDOUT)
        try:
            wait_until_serving(server, url, log)
            health = httpx.get(url + "/healthz").json()
            assert health["backend"] == "postgres" and health["statements"] == count
            answer = httpx.post(url + "/v1/statements", json=world.submission(dept), timeout=30)
            assert answer.status_code == 201, answer.text
            receipt = answer.json()
            assert (receipt["position"], receipt["leaf_index"]) == (last_position + 1, count)
            served = httpx.get(url + "/v1/log/checkpoints", params={"size": checkpoint.size})
            assert served.status_code == 200 and served.text == checkpoint.note
        finally:
            server.terminate()
            server.wait(20)
        log.seek(0)
        assert "running init first" not in log.read()

    # The old SQLite ledger is not served again (one line, at once), and both ledgers audit.
    refused = cli("serve", "--port", str(_free_port()), env=env, cwd=tmp_path, check=False)
    assert "was moved to postgresql://postgres@127.0.0.1:5432/test schema " + pg_schema in _one_error_line(refused)
    old = cli("audit", "verify", "--jobs", "1", env=env, cwd=tmp_path)
    new = cli("audit", "verify", "--jobs", "1", env=pg_env, cwd=tmp_path)
    assert old.stdout.startswith(f"audit OK: {count} entries, 1 checkpoints")
    assert new.stdout.startswith(f"audit OK: {count + 1} entries")

    # These keys found no second ledger in an empty schema: serve refuses, naming copy, and makes nothing.
    empty = "t_" + uuid.uuid4().hex[:12]
    try:
        refused = cli("serve", "--port", str(_free_port()), env={**pg_env, "CREDIT_LEDGER_DATABASE_SCHEMA": empty},
                      cwd=tmp_path, check=False)
        line = _one_error_line(refused)
        assert f"credit-ledger copy --to postgresql://postgres@127.0.0.1:5432/test --schema {empty}" in line
        with psycopg.connect(PG_URL) as conn:
            found = conn.execute("SELECT to_regclass(%s)", (f'"{empty}".ledger_events',)).fetchone()
        assert found is not None and found[0] is None
    finally:
        with psycopg.connect(PG_URL, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(empty)))
