"""Fixtures: every integration test runs on SQLite (a real file) and on PostgreSQL.

PostgreSQL comes from CREDIT_LEDGER_TEST_POSTGRES_URL (default: the local server, database
``test``). Each test gets its own schema, created by the migrations and dropped afterwards. If the
server cannot be reached the PostgreSQL cases are skipped, unless CREDIT_LEDGER_REQUIRE_POSTGRES=1
(set by CI), which turns that into a failure.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
import pytest
from fastapi.testclient import TestClient
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from api.app import create_app
from api.settings import Settings
from tests.support import World

PG_URL = os.environ.get("CREDIT_LEDGER_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
REQUIRE_PG = os.environ.get("CREDIT_LEDGER_REQUIRE_POSTGRES") == "1"


def _pg_available() -> str | None:
    try:
        with psycopg.connect(PG_URL, connect_timeout=3) as conn:
            conn.execute("SELECT 1")
        return None
    except psycopg.Error as exc:
        return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


_PG_PROBLEM: list[str | None] = []


def pg_problem() -> str | None:
    if not _PG_PROBLEM:
        _PG_PROBLEM.append(_pg_available())
    return _PG_PROBLEM[0]


def need_postgres() -> None:
    problem = pg_problem()
    if problem is not None:
        if REQUIRE_PG:
            pytest.fail(f"PostgreSQL is required but unreachable at {PG_URL}: {problem}")
        pytest.skip(f"PostgreSQL unreachable: {problem}")


@pytest.fixture
def pg_schema() -> Iterator[str]:
    """A fresh, empty schema name on the test server, dropped after the test."""
    need_postgres()
    schema = "t_" + uuid.uuid4().hex[:12]
    yield schema
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def settings(request: pytest.FixtureRequest, tmp_path) -> Settings:  # type: ignore[no-untyped-def]
    """Settings for a fresh ledger on each backend."""
    if request.param == "postgres":
        schema = request.getfixturevalue("pg_schema")
        return Settings(data_dir=tmp_path / "data", database_url=PG_URL, database_schema=schema)
    return Settings(data_dir=tmp_path / "data")


@pytest.fixture
def client(world: World) -> Iterator[TestClient]:
    """The app over the world's settings, served in-process (its lifespan runs)."""
    with TestClient(create_app(world.settings)) as c:
        yield c


@contextmanager
def login_role(usage_on_schema: str | None = None) -> Iterator[tuple[str, str]]:
    """A new login role on the test server and its conninfo (with USAGE on the given schema, if any);
    dropped afterwards with whatever it owns."""
    role, password = "role_" + uuid.uuid4().hex[:10], uuid.uuid4().hex
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(sql.Identifier(role), sql.Literal(password)))
        if usage_on_schema:
            conn.execute(sql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(sql.Identifier(usage_on_schema),
                                                                          sql.Identifier(role)))
    params = conninfo_to_dict(PG_URL)
    params.update(user=role, password=password)
    try:
        yield role, make_conninfo(**params)
    finally:
        with psycopg.connect(PG_URL, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(role)))
            conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))


@pytest.fixture
def world(settings: Settings) -> Iterator[World]:
    """A founded ledger with the authority's key at hand."""
    w = World(settings)
    yield w
    w.close()
