"""The service runs as a role that may insert and select the ledger's tables but not change them."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest
from psycopg import sql

from api.cli import main as cli
from api.migrate import available, migrate
from api.settings import Settings
from tests.conftest import PG_URL, login_role
from tests.support import World, make_resident_id

pytestmark = pytest.mark.postgres


@pytest.fixture
def app_role() -> Iterator[tuple[str, str]]:
    with login_role() as role:
        yield role


def test_service_role_inserts_and_selects_but_cannot_update_or_delete(pg_schema, tmp_path, app_role, monkeypatch):
    role, app_url = app_role
    monkeypatch.setenv("CREDIT_LEDGER_DATABASE_URL", PG_URL)
    monkeypatch.setenv("CREDIT_LEDGER_DATABASE_SCHEMA", pg_schema)
    assert cli(["migrate", "--grant-to", role]) == 0
    settings = Settings(data_dir=tmp_path / "data", database_url=app_url, database_schema=pg_schema,
                        migration_database_url=PG_URL)
    world = World(settings)  # founds the ledger, appends and projects as the service's role
    try:
        dept = world.department()
        world.append_ok(world.submission(dept, subject=make_resident_id()))
        from api.runtime import open_views

        views = open_views(settings, world.ledger)
        try:
            assert views.archive.catch_up_all() > 0 and views.tree.catch_up_all() > 0
            assert views.checkpointer.make() is not None
        finally:
            views.close()
        count = world.ledger.count()
    finally:
        world.close()
    with psycopg.connect(app_url, autocommit=True) as conn:
        conn.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(pg_schema)))
        for statement in ("UPDATE ledger_events SET topic = topic", "DELETE FROM ledger_events",
                          "UPDATE ledger_entries SET recorded_at = recorded_at", "DELETE FROM ledger_entries",
                          "TRUNCATE ledger_events", "DELETE FROM log_checkpoints",
                          "ALTER TABLE ledger_events DISABLE TRIGGER ALL", "DROP TABLE ledger_entries"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(statement)
        assert conn.execute("SELECT COUNT(*) FROM ledger_entries").fetchone()[0] == count


def test_a_service_role_granted_before_the_append_lock_existed_may_take_it(pg_schema):
    """Upgrading a ledger whose service role was granted before the append lock table came: the migration
    that adds it lets that role lock it, so the service appends as before."""
    with login_role() as (role, url):
        with psycopg.connect(PG_URL) as conn:
            conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(pg_schema)))
            conn.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(pg_schema)))
            conn.execute("CREATE TABLE schema_migrations (version integer PRIMARY KEY, name text NOT NULL,"
                         " checksum text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())")
            for m in available():
                if m.name == "integrity":
                    break
                conn.execute(m.sql)
                conn.execute("INSERT INTO schema_migrations (version, name, checksum) VALUES (%s, %s, %s)",
                             (m.version, m.name, m.checksum))
            conn.execute(sql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(sql.Identifier(pg_schema),
                                                                          sql.Identifier(role)))
            conn.execute(sql.SQL("GRANT SELECT, INSERT ON ledger_events, ledger_entries TO {}")
                         .format(sql.Identifier(role)))
        migrate(PG_URL, pg_schema)
        with psycopg.connect(url) as conn:
            conn.execute(sql.SQL("LOCK TABLE {} IN EXCLUSIVE MODE").format(
                sql.Identifier(pg_schema, "ledger_append_lock")))
