"""``credit-ledger copy`` from SQLite to PostgreSQL (and PostgreSQL to PostgreSQL), and the guard that no data
directory's keys ever found or serve a second history: on a real SQLite file and the real PostgreSQL."""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql

from ledger.errors import UnavailableError

from api.cli import main
from api.datadir import FOUNDING_RECORD, FoundingError, read_founding
from api.runtime import init, needs_init, open_ledger, open_views
from api.settings import Settings
from projections.transfer_sources import sqlite_head
from tests.conftest import PG_URL, need_postgres
from tests.e2e.test_server import _free_port
from tests.support import World, make_resident_id, random_history

pytestmark = pytest.mark.postgres


@pytest.fixture(autouse=True)
def _no_ledger_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("CREDIT_LEDGER_DATABASE_URL", "CREDIT_LEDGER_DATABASE_SCHEMA", "CREDIT_LEDGER_MIGRATION_DATABASE_URL",
                 "CREDIT_LEDGER_LOG_ORIGIN", "CREDIT_LEDGER_DATA_DIR"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def source(tmp_path: Path) -> Settings:
    """A SQLite ledger of a few hundred statements (records, corrections, disclosures, objections, queries
    accepted and refused) with checkpoints made at several sizes."""
    settings = Settings(data_dir=tmp_path / "source")
    world = World(settings)
    try:
        for round_ in range(3):
            random_history(world, 90, seed=round_)
            dept = world.department(purposes=["administrative_licensing"])
            world.append_ok(world.signed(dept, "query.requested", operator="staff-1", subject=make_resident_id(),
                                         purpose="administrative_licensing", legal_basis="x", scope="archive"),
                            world.signed(dept, "query.requested", operator="staff-2", subject=make_resident_id(),
                                         purpose="procurement_and_bidding", legal_basis="x", scope="archive"))
            views = open_views(settings, world.ledger)
            try:
                views.tree.catch_up_all()
                assert views.checkpointer.make() is not None
            finally:
                views.close()
        world.append_ok(world.submission(world.department()))  # entries past the last checkpoint too
    finally:
        world.close()
    return settings


@pytest.fixture
def schemas() -> Iterator[list[str]]:
    """Names of fresh PostgreSQL schemas (ask with ``next_schema``), all dropped afterwards."""
    need_postgres()
    made: list[str] = []
    yield made
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        for schema in made:
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


def next_schema(made: list[str]) -> str:
    made.append("t_" + uuid.uuid4().hex[:12])
    return made[-1]


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    rc = main(list(argv))
    out, err = capsys.readouterr()
    return rc, out, err


def copy(capsys: pytest.CaptureFixture[str], settings: Settings, schema: str, to: str = PG_URL) -> tuple[int, str, str]:
    return run(capsys, "copy", "--to", to, "--schema", schema, "--data", str(settings.data_dir))


def on_pg(settings: Settings, schema: str) -> Settings:
    return settings.model_copy(update={"database_url": PG_URL, "database_schema": schema})


def sqlite_rows(path: Path) -> dict[str, list[tuple[Any, ...]]]:
    with sqlite3.connect(path) as conn:
        return {
            "events": [(r[0], uuid.UUID(r[1]), r[2], r[3], bytes(r[4])) for r in conn.execute(
                "SELECT rowid, originator_id, originator_version, topic, state FROM stored_events ORDER BY rowid")],
            "entries": [(r[0], r[1], uuid.UUID(r[2]), bytes(r[3]), bytes(r[4]), *r[5:]) for r in conn.execute(
                "SELECT leaf_index, notification_id, statement_id, statement_digest, leaf_hash, recorded_at, outcome,"
                " key_id FROM ledger_entries ORDER BY leaf_index")],
            "checkpoints": [(r[0], bytes(r[1]), r[2], r[3]) for r in conn.execute(
                "SELECT size, root, note, created_at FROM log_checkpoints ORDER BY size")],
        }


def pg_rows(schema: str) -> dict[str, list[tuple[Any, ...]]]:
    with psycopg.connect(PG_URL) as conn:
        def q(query: str, table: str) -> list[tuple[Any, ...]]:
            return [tuple(bytes(v) if isinstance(v, memoryview) else v for v in r)
                    for r in conn.execute(sql.SQL(query).format(sql.Identifier(schema, table)))]
        return {
            "events": q("SELECT notification_id, originator_id, originator_version, topic, state FROM {}"
                        " ORDER BY notification_id", "ledger_events"),
            "entries": q("SELECT leaf_index, notification_id, statement_id, statement_digest, leaf_hash, recorded_at,"
                         " outcome, key_id FROM {} ORDER BY leaf_index", "ledger_entries"),
            "checkpoints": q("SELECT size, root, note, created_at FROM {} ORDER BY size", "log_checkpoints"),
        }


def pg_tables(schema: str) -> bool:
    with psycopg.connect(PG_URL) as conn:
        row = conn.execute("SELECT to_regclass(%s)", (f'"{schema}".ledger_events',)).fetchone()
        return row is not None and row[0] is not None


def audit(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, settings: Settings) -> str:
    """``audit verify`` as the CLI runs it on the ledger ``settings`` configure; its one line of output."""
    with monkeypatch.context() as m:
        if settings.database_url:
            m.setenv("CREDIT_LEDGER_DATABASE_URL", settings.database_url)
            m.setenv("CREDIT_LEDGER_DATABASE_SCHEMA", settings.database_schema)
        rc, out, err = run(capsys, "audit", "verify", "--data", str(settings.data_dir), "--jobs", "1")
    assert rc == 0, err
    return out.strip()


def test_a_copy_holds_every_event_entry_and_checkpoint_and_continues_densely(source, schemas, capsys, monkeypatch):
    schema = next_schema(schemas)
    before = sqlite_rows(source.sqlite_path)
    assert len(before["checkpoints"]) == 3 and len(before["entries"]) > 300
    assert any(r[6] and "refused" in r[6] for r in before["entries"])  # a refused query is in the copy too

    rc, out, err = copy(capsys, source, schema)
    assert rc == 0, err
    assert out.count("\n") == 1 and out.startswith(f"copied {len(before['events'])} events, {len(before['entries'])}")
    assert f"and 3 checkpoints to postgresql://postgres@127.0.0.1:5432/test schema {schema}" in out
    assert f"every checkpoint's root matches the tree of the copied leaves (latest at size {before['checkpoints'][-1][0]})" in out
    assert "events: " in err and "verified: " in err  # progress on stderr

    assert pg_rows(schema) == before  # row for row, the same positions, ids, bytes and checkpoints
    assert sqlite_rows(source.sqlite_path) == before  # the source keeps its history
    target = on_pg(source, schema)
    old, new = audit(capsys, monkeypatch, source), audit(capsys, monkeypatch, target)
    assert old.startswith(f"audit OK: {len(before['entries'])} entries, 3 checkpoints, root ")
    assert new.split("(")[0] == old.split("(")[0]  # the same entries, checkpoints and root

    record = read_founding(source.keys_dir)
    assert record is not None and record["database"] == f"postgresql://127.0.0.1:5432/test schema {schema}"
    assert record["copied_from"] == "sqlite"
    assert (source.keys_dir / FOUNDING_RECORD).stat().st_mode & 0o777 == 0o600

    # The copy goes on from where the source stopped: the next position and the next leaf.
    assert needs_init(target) is False
    world = World(target)
    try:
        (receipt,) = world.append_ok(world.submission(world.department()))[-1:]
        assert receipt.leaf_index == len(before["entries"]) + 2
        assert receipt.position == before["events"][-1][0] + 3
    finally:
        world.close()

    # The source is marked moved: neither served nor appended to again, and still audited.
    with pytest.raises(FoundingError, match=f"was moved to postgresql://postgres@127.0.0.1:5432/test schema {schema}"):
        needs_init(source)
    ledger = open_ledger(source)
    try:
        # The SQLite trigger's abort reaches the ledger as the library's IntegrityError: an unavailable ledger
        # (503), not a conflict a client would retry forever.
        with pytest.raises(UnavailableError, match="moved to .* it takes no more appends"):
            _append_one(ledger, source)
    finally:
        ledger.close()
    assert sqlite_rows(source.sqlite_path) == before
    assert audit(capsys, monkeypatch, source).split("(")[0] == old.split("(")[0]


def _append_one(ledger: Any, settings: Settings) -> None:
    """Try one append straight through the ledger (no guard above it) and raise what refused it."""
    from keys import KeyPair
    from ledger.domain.genesis import AUTHORITY_CODE
    from ledger.format.statements import format_datetime, make_envelope, parse_envelope
    from tests.support import make_uscc, now

    authority = KeyPair.load(settings.keys_dir / "authority.pem")
    statement = {"type": "department.registered", "id": str(uuid.uuid4()), "issuer": AUTHORITY_CODE,
                 "issued_at": format_datetime(now()), "ledger": settings.log_origin, "department": make_uscc(),
                 "name": "late", "items": [], "purposes": ["administrative_licensing"]}
    outcomes = ledger.append([parse_envelope(make_envelope(statement, authority.key_id, authority.sign))])
    for outcome in outcomes:
        if isinstance(outcome, Exception):
            raise outcome


def _unchanged_source(settings: Settings, before: dict[str, list[tuple[Any, ...]]]) -> None:
    """The source still takes appends (not marked moved), holds what it held, and its record is its own."""
    assert sqlite_head(settings.sqlite_path).moved_to is None
    assert sqlite_rows(settings.sqlite_path) == before
    record = read_founding(settings.keys_dir)
    assert record is not None and record["database"] == "sqlite" and record["copied_from"] is None
    assert needs_init(settings) is False


def test_a_target_holding_a_ledger_is_refused_and_left_as_it_was(source, schemas, tmp_path, capsys):
    schema = next_schema(schemas)
    other = World(on_pg(Settings(data_dir=tmp_path / "other"), schema))
    other.close()
    target_before, source_before = pg_rows(schema), sqlite_rows(source.sqlite_path)
    assert target_before["events"]

    rc, out, err = copy(capsys, source, schema)
    assert rc == 1 and out == ""
    assert err.count("\n") == 1 and err.startswith("credit-ledger: ") and "already holds a ledger" in err
    assert pg_rows(schema) == target_before
    _unchanged_source(source, source_before)


def test_a_target_holding_only_views_is_refused_too(source, schemas, capsys):
    """Another ledger's views and positions left in a schema would be taken as caught up by the copy's
    projections: such a target is not empty either, and is left as it was."""
    from api.migrate import migrate

    schema = next_schema(schemas)
    migrate(PG_URL, schema)
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute(sql.SQL("INSERT INTO {} (application_name, notification_id) VALUES ('archive', 40)")
                     .format(sql.Identifier(schema, "projection_positions")))
    source_before = sqlite_rows(source.sqlite_path)

    rc, out, err = copy(capsys, source, schema)
    assert rc == 1 and out == ""
    assert err.count("\n") == 1 and "already holds a ledger's events, checkpoints or views" in err
    assert not any(pg_rows(schema).values())
    _unchanged_source(source, source_before)


def test_an_unreachable_target_is_refused_and_nothing_changes(source, capsys):
    before = sqlite_rows(source.sqlite_path)
    rc, out, err = copy(capsys, source, "public", to=f"postgresql://postgres@127.0.0.1:{_free_port()}/test")
    assert rc == 1 and out == ""
    assert err.count("\n") == 1 and err.startswith("credit-ledger: cannot reach the target postgresql://")
    _unchanged_source(source, before)


def test_a_copy_that_does_not_check_out_leaves_the_target_empty(source, schemas, capsys, monkeypatch):
    """Checkpoints signed for another origin than the one configured do not verify: the copy is rolled back
    (the target's tables stay, without a row) and the source is not marked; the same copy then succeeds."""
    schema = next_schema(schemas)
    before = sqlite_rows(source.sqlite_path)
    monkeypatch.setenv("CREDIT_LEDGER_LOG_ORIGIN", "elsewhere.example/log")
    rc, out, err = copy(capsys, source, schema)
    assert rc == 1 and out == ""
    errors = [line for line in err.splitlines() if line.startswith("credit-ledger: ")]
    assert len(errors) == 1 and err.endswith(errors[0] + "\n")  # after the progress, one line
    assert "does not verify with this data directory's log key" in errors[0]
    assert pg_tables(schema) and pg_rows(schema) == {"events": [], "entries": [], "checkpoints": []}
    _unchanged_source(source, before)

    monkeypatch.delenv("CREDIT_LEDGER_LOG_ORIGIN")
    rc, out, err = copy(capsys, source, schema)
    assert rc == 0, err
    assert pg_rows(schema) == before


@pytest.mark.parametrize("record", ["recorded", "from before records"])
def test_init_or_serve_on_an_empty_database_with_keys_of_another_ledger_is_refused(source, schemas, capsys,
                                                                                  monkeypatch, record):
    """The user's way into a fork: keys that founded the SQLite ledger, the URL set to an empty database.
    ``init`` and ``serve``'s start refuse in one line naming ``copy``, and nothing is stored."""
    schema = next_schema(schemas)
    if record == "from before records":
        (source.keys_dir / FOUNDING_RECORD).unlink()
    target = on_pg(source, schema)
    with pytest.raises(FoundingError) as refused:
        needs_init(target)  # what serve asks before it starts
    message = str(refused.value)
    assert "\n" not in message and f"already sign the ledger in {source.sqlite_path}" in message
    assert f"credit-ledger copy --to postgresql://postgres@127.0.0.1:5432/test --schema {schema}" in message
    assert "fresh data directory" in message
    with pytest.raises(FoundingError):
        init(target)
    monkeypatch.setenv("CREDIT_LEDGER_DATABASE_URL", PG_URL)
    monkeypatch.setenv("CREDIT_LEDGER_DATABASE_SCHEMA", schema)
    rc, out, err = run(capsys, "init", "--data", str(source.data_dir))
    assert rc == 1 and out == "" and err == f"credit-ledger: {message}\n"
    assert not pg_tables(schema)  # not even the tables were made
    monkeypatch.delenv("CREDIT_LEDGER_DATABASE_URL")
    # The SQLite ledger itself is served as before; a data directory from before records gets its record.
    assert needs_init(source) is False
    found = read_founding(source.keys_dir)
    assert found is not None and found["database"] == "sqlite"


def test_a_ledger_emptied_under_its_keys_is_not_founded_again(tmp_path, schemas):
    schema = next_schema(schemas)
    settings = on_pg(Settings(data_dir=tmp_path / "data"), schema)
    World(settings).close()
    with psycopg.connect(PG_URL, autocommit=True) as conn:  # the database lost (dropped, restored empty)
        conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))
    with pytest.raises(FoundingError, match="already sign the ledger that was in it: .*restore it from a backup"):
        init(settings)
    assert not pg_tables(schema)


def test_a_postgresql_ledger_copies_into_another_schema(source, schemas, capsys, monkeypatch):
    first, second = next_schema(schemas), next_schema(schemas)
    assert copy(capsys, source, first)[0] == 0
    monkeypatch.setenv("CREDIT_LEDGER_DATABASE_URL", PG_URL)
    monkeypatch.setenv("CREDIT_LEDGER_DATABASE_SCHEMA", first)
    rc, out, err = copy(capsys, source, second)
    assert rc == 0, err
    assert pg_rows(second) == pg_rows(first) == sqlite_rows(source.sqlite_path)
    with pytest.raises(FoundingError, match=f"test schema {first} was moved to .* schema {second}"):
        needs_init(on_pg(source, first))
    assert needs_init(on_pg(source, second)) is False
    ledger = open_ledger(on_pg(source, first))
    try:
        with pytest.raises(Exception, match="moved to"):
            _append_one(ledger, source)
    finally:
        ledger.close()
    assert pg_rows(first) == pg_rows(second)


def test_a_source_whose_leaves_do_not_give_its_checkpoints_roots_is_not_copied(source, schemas, capsys):
    """The check before the target commits recomputes the tree: one changed leaf hash fails the copy."""
    schema = next_schema(schemas)
    with sqlite3.connect(source.sqlite_path) as conn:
        conn.execute("DROP TRIGGER ledger_entries_no_update")
        conn.execute("UPDATE ledger_entries SET leaf_hash = zeroblob(32) WHERE leaf_index = 5")
    before = sqlite_rows(source.sqlite_path)
    rc, out, err = copy(capsys, source, schema)
    assert rc == 1 and out == ""
    first = before["checkpoints"][0][0]
    assert err.splitlines()[-1] == (f"credit-ledger: the checkpoint of size {first} does not have the root of the "
                                    f"copied leaves; nothing was kept in postgresql://postgres@127.0.0.1:5432/test "
                                    f"schema {schema}, and the source is unchanged")
    assert pg_rows(schema) == {"events": [], "entries": [], "checkpoints": []}
    _unchanged_source(source, before)
