"""The one wiring place: from settings to a running ``Ledger`` (and its key files).

Used by the app factory's lifespan, by the CLI and by the tests with other settings.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, cast

from psycopg.conninfo import conninfo_to_dict

from api.datadir import FoundingError, check_data_dir, make_data_dir, prepare_sqlite, read_founding, write_founding
from api.migrate import migrate
from api.settings import Settings
from keys import KeyFileError, KeyPair, key_id_for, public_key_from_b64
from ledger.application import Ledger
from ledger.domain.catalogue import shipped_catalogue_document
from ledger.errors import IntegrityFailure
from ledger.domain.genesis import AUTHORITY_CODE, genesis_envelopes
from ledger.format.statements import format_datetime, parse_envelope
from ledger.log.note import NoteError, parse_verifier_key, verifier_key_string
from projections.checkpoints import Checkpointer
from projections.access_log import SQLITE_DDL as ACCESS_LOG_DDL
from projections.access_log import AccessLogView
from projections.answers import Answers
from projections.archive import SQLITE_DDL as ARCHIVE_DDL
from projections.archive import ArchiveView
from projections.logtree import SQLITE_DDL as LOG_DDL
from projections.logtree import LogTree
from projections.report import Reports
from projections.store import PostgresStore, SQLiteStore, Store
from projections.transfer_sources import Head, postgres_head, sqlite_head
from projections.worker import ProjectionWorker

AUTHORITY_KEY = "authority.pem"
AUTHORITY_PUB = "authority.pub"
LOG_KEY = "log.pem"
REPORT_KEY = "report.pem"


def ledger_env(settings: Settings) -> dict[str, str]:
    """The eventsourcing environment for the configured backend."""
    if settings.database_url:
        params = conninfo_to_dict(settings.database_url)
        return {
            "PERSISTENCE_MODULE": "eventsourcing.postgres",
            "APPLICATION_RECORDER_TOPIC": "ledger.adapters.recorders:PostgresLedgerRecorder",
            "CREATE_TABLE": "n",
            "POSTGRES_DBNAME": str(params.get("dbname") or "postgres"),
            "POSTGRES_HOST": str(params.get("host") or "127.0.0.1"),
            "POSTGRES_PORT": str(params.get("port") or "5432"),
            "POSTGRES_USER": str(params.get("user") or "postgres"),
            "POSTGRES_PASSWORD": str(params.get("password") or ""),
            "POSTGRES_SCHEMA": settings.database_schema,
            "POSTGRES_POOL_SIZE": str(settings.pool_size),
            "POSTGRES_MAX_OVERFLOW": "0",
            "POSTGRES_CONNECT_TIMEOUT": "10",
            "POSTGRES_LOCK_TIMEOUT": "30",
            "POSTGRES_ENABLE_DB_FUNCTIONS": "n",
        }
    prepare_sqlite(settings.data_dir, settings.sqlite_path)
    return {
        "PERSISTENCE_MODULE": "eventsourcing.sqlite",
        "APPLICATION_RECORDER_TOPIC": "ledger.adapters.recorders:SQLiteLedgerRecorder",
        "SQLITE_DBNAME": str(settings.sqlite_path),
        "SQLITE_LOCK_TIMEOUT": "30",
    }


def authority_public_key(settings: Settings) -> bytes | None:
    """The pinned authority public key (``keys/authority.pub``), if init has run."""
    path = settings.keys_dir / AUTHORITY_PUB
    if not path.exists():
        return None
    return public_key_from_b64(path.read_text(encoding="ascii").strip())


def open_ledger(settings: Settings) -> Ledger:
    """Migrate (PostgreSQL, if configured to) and construct the ledger application."""
    if settings.database_url and settings.migrate_on_start and not settings.read_only:
        migrate(settings.migration_database_url or settings.database_url, settings.database_schema)
    ledger = Ledger(
        ledger_env(settings),
        authority_public_key=authority_public_key(settings),
        max_clock_skew=timedelta(seconds=settings.max_clock_skew_seconds),
        verify_processes=settings.verify_processes,
        origin=settings.log_origin,
        max_statement_age=timedelta(seconds=settings.max_statement_age_seconds),
    )
    if settings.database_url:
        pass_through_conninfo(ledger, settings.database_url)
    return ledger


LIBRARY_PARAMS = frozenset({"dbname", "host", "port", "user", "password"})


def pass_through_conninfo(ledger: Ledger, conninfo: str) -> None:
    """Give the ledger's pool the URL's other parameters (``target_session_attrs=read-write`` above all: with a
    multi-host URL, each new connection goes to whichever server is the primary now) before it connects; the
    library's environment carries only database, hosts, ports, user and password (host and port lists pass
    through those as they are)."""
    extra = {k: v for k, v in conninfo_to_dict(conninfo).items() if k not in LIBRARY_PARAMS}
    datastore = getattr(getattr(ledger, "factory", None), "datastore", None)
    if extra and datastore is not None:
        datastore.pool.kwargs.update(extra)


@dataclass
class Views:
    """The read models and what serves them."""

    store: Store
    tree: LogTree
    checkpointer: Checkpointer
    archive: ArchiveView
    access_log: AccessLogView
    answers: Answers

    def worker(self, settings: Settings) -> ProjectionWorker:
        """A worker keeping the views caught up and checkpointing."""
        return ProjectionWorker(
            [self.tree.catch_up, self.archive.catch_up, self.access_log.catch_up], poll_seconds=min(settings.projection_poll_seconds, settings.checkpoint_interval_seconds),
            periodic=[(settings.checkpoint_interval_seconds, self.checkpointer.make)],
        )

    def close(self) -> None:
        self.store.close()


def open_store(settings: Settings) -> Store:
    """The views' database: the ledger's SQLite file or PostgreSQL schema (migrated by ``open_ledger``)."""
    if settings.database_url:
        return PostgresStore(settings.database_url, settings.database_schema, max_size=settings.pool_size)
    prepare_sqlite(settings.data_dir, settings.sqlite_path)
    return SQLiteStore(settings.sqlite_path, [*LOG_DDL, *ARCHIVE_DDL, *ACCESS_LOG_DDL])


def open_views(settings: Settings, ledger: Ledger) -> Views:
    """Open the views (with the log key from the data directory) over the ledger's events."""
    store = open_store(settings)
    try:
        log_key = verifier_only(settings) if settings.read_only else KeyPair.load(settings.keys_dir / LOG_KEY)
    except KeyFileError:
        store.close()
        raise
    tree = LogTree(store)
    archive = ArchiveView(ledger, store)
    access_log = AccessLogView(ledger, store)
    checkpointer = Checkpointer(store, tree, settings.log_origin, log_key)
    answers = Answers(ledger, store, archive, access_log)
    if not settings.read_only or (settings.keys_dir / REPORT_KEY).exists():
        answers.reports = Reports(ledger, store, tree, checkpointer, report_key(settings))
    return Views(store, tree, checkpointer, archive, access_log, answers)


@dataclass(frozen=True)
class VerifierOnly:
    """The public half of the log key: what a read-only server needs to check and serve checkpoints (it signs
    none)."""

    public_key: bytes

    @property
    def private_key(self) -> Any:
        raise KeyFileError("a read-only server holds no private log key: checkpoints are signed on the primary")


def verifier_only(settings: Settings) -> KeyPair:
    """The log's verifier key for a read-only server: ``CREDIT_LEDGER_LOG_VERIFIER_KEY`` (its origin must be the
    configured one), else the public half of ``keys/log.pem``."""
    if settings.log_verifier_key:
        try:
            key = parse_verifier_key(settings.log_verifier_key)
        except NoteError as exc:
            raise KeyFileError(f"CREDIT_LEDGER_LOG_VERIFIER_KEY is not a verifier key: {exc}") from None
        if key.name != settings.log_origin:
            raise KeyFileError(f"CREDIT_LEDGER_LOG_VERIFIER_KEY names {key.name!r}, not the log origin "
                               f"{settings.log_origin!r}")
        return cast(KeyPair, VerifierOnly(key.public_key))
    return cast(KeyPair, VerifierOnly(KeyPair.load(settings.keys_dir / LOG_KEY).public_key))


def report_key(settings: Settings) -> KeyPair:
    """The ledger's report key (``keys/report.pem``), which signs credit reports; a data directory made before
    reports existed gets one here (it signs nothing of the history, so a new one forks nothing)."""
    path = settings.keys_dir / REPORT_KEY
    if not path.exists():
        try:
            KeyPair.generate().save(path)
        except FileExistsError:  # another process of the same service made it first
            pass
    return KeyPair.load(path)


@dataclass(frozen=True)
class InitResult:
    """What ``init`` did."""

    created_keys: list[Path]
    founded: bool
    authority_key_id: str
    authority_code: str


def check_key_files(settings: Settings) -> None:
    """Refuse to start with a data directory (DataDirectoryError) or a private key (KeyFileError) that group
    or others may read; the error names the path and the chmod to run."""
    check_data_dir(settings.data_dir)
    for pem in sorted(settings.keys_dir.glob("*.pem")):
        KeyPair.load(pem)


def needs_init(settings: Settings) -> bool:
    """True if the data directory has no authority key yet; with one, the ledger it is configured for must be
    one these keys may serve (``check_founding``: FoundingError otherwise)."""
    if not (settings.keys_dir / AUTHORITY_KEY).exists():
        return True
    check_founding(settings)
    return False


def init(settings: Settings) -> InitResult:
    """Create the authority and log keys (if missing) and found the ledger (if empty)."""
    created: list[Path] = []
    make_data_dir(settings.data_dir)
    settings.keys_dir.mkdir(parents=True, exist_ok=True)
    settings.keys_dir.chmod(0o700)
    for name in (AUTHORITY_KEY, LOG_KEY, REPORT_KEY):
        path = settings.keys_dir / name
        if not path.exists():
            KeyPair.generate().save(path)
            created.append(path)
    authority = KeyPair.load(settings.keys_dir / AUTHORITY_KEY)
    pub = settings.keys_dir / AUTHORITY_PUB
    if not pub.exists():
        pub.write_text(base64.b64encode(authority.public_key).decode("ascii") + "\n", encoding="ascii")
    pinned = authority_public_key(settings)
    if pinned != authority.public_key:
        raise KeyFileError(f"{pub} does not match {settings.keys_dir / AUTHORITY_KEY}")
    check_founding(settings, adopt=False)  # before anything is created in the database
    ledger = open_ledger(settings)
    try:
        founded = False
        try:
            founder = ledger.authority()
        except IntegrityFailure:  # its founding statements do not verify with this authority key
            raise KeyFileError("this ledger was founded by another authority key than the one in "
                               + str(settings.keys_dir)) from None
        if founder is None:
            now = datetime.now(timezone.utc) - timedelta(seconds=1)
            envelopes = [parse_envelope(e) for e in genesis_envelopes(authority, shipped_catalogue_document(), now, settings.log_origin)]
            outcomes = ledger.append(envelopes)
            failed = [o for o in outcomes if isinstance(o, Exception)]
            if failed:
                raise RuntimeError(f"could not found the ledger: {failed[0]}")
            founded = True
        elif ledger.authority_public_key is not None and not any(
            k.public_key == authority.public_key for k in ledger.authority().registry.keys.values()  # type: ignore[union-attr]
        ):
            raise KeyFileError("this ledger was founded by another authority key than the one in " + str(settings.keys_dir))
    finally:
        ledger.close()
    if founded or read_founding(settings.keys_dir) is None:
        record_founding(settings, ledger_head(settings))
    return InitResult(created_keys=created, founded=founded, authority_key_id=authority.key_id,
                      authority_code=AUTHORITY_CODE)


# Never two histories under one log key. ``init`` records in the data directory which ledger its keys founded
# (``keys/ledger.json``, 0600: origin, verifier key, first leaf hash, the database), ``copy`` points the record
# at the ledger's new home; before anything founds a ledger or serves one, ``check_founding`` holds the
# configured database against the record.

def display_url(conninfo: str) -> str:
    """``postgresql://user@host:port/db`` of a conninfo, without its password."""
    p = conninfo_to_dict(conninfo)
    user = f"{p['user']}@" if p.get("user") else ""
    return f"postgresql://{user}{p.get('host') or '127.0.0.1'}:{p.get('port') or '5432'}/{p.get('dbname') or 'postgres'}"


def database_identity(settings: Settings) -> str:
    """Which database holds the configured ledger, without user or password: ``sqlite`` (the file in the data
    directory, wherever the directory is moved) or ``postgresql://host:port/db schema S``."""
    if not settings.database_url:
        return "sqlite"
    p = conninfo_to_dict(settings.database_url)
    return (f"postgresql://{p.get('host') or '127.0.0.1'}:{p.get('port') or '5432'}/{p.get('dbname') or 'postgres'}"
            f" schema {settings.database_schema}")


def _where(settings: Settings, identity: str) -> str:
    return str(settings.sqlite_path) if identity == "sqlite" else identity


def ledger_head(settings: Settings) -> Head:
    """What the configured database holds of a ledger (nothing is created to find out)."""
    if settings.database_url:
        return postgres_head(settings.database_url, settings.database_schema)
    return sqlite_head(settings.sqlite_path)


def record_founding(settings: Settings, head: Head, copied_from: str | None = None) -> None:
    """Record that the keys of ``settings``' data directory sign the ledger in its configured database."""
    if head.first_leaf_hash is None:
        return
    log_key = KeyPair.load(settings.keys_dir / LOG_KEY)
    record = {
        "format": "credit-ledger-founding/1", "origin": settings.log_origin,
        "log_verifier_key": verifier_key_string(settings.log_origin, log_key.public_key),
        "first_leaf_hash": base64.b64encode(head.first_leaf_hash).decode("ascii"),
        "first_key_id": head.first_key_id, "database": database_identity(settings),
        "recorded_at": format_datetime(datetime.now(timezone.utc)), "copied_from": copied_from,
    }
    write_founding(settings.keys_dir, record)


def _way_out(settings: Settings, elsewhere: str, here: str) -> str:
    """What to do instead of founding a second ledger under these keys."""
    fresh = "or use a fresh data directory (--data) for a new ledger"
    if elsewhere == here:
        return f"restore it from a backup, {fresh}"
    if not settings.database_url:
        return f"serve that ledger (CREDIT_LEDGER_DATABASE_URL and CREDIT_LEDGER_DATABASE_SCHEMA), {fresh}"
    schema = "" if settings.database_schema == "public" else f" --schema {settings.database_schema}"
    source = ("with CREDIT_LEDGER_DATABASE_URL unset" if elsewhere == str(settings.sqlite_path)
              else "with CREDIT_LEDGER_DATABASE_URL set to that ledger's database")
    return f"move that ledger here with `credit-ledger copy --to {display_url(settings.database_url)}{schema}` ({source}), {fresh}"


def check_founding(settings: Settings, adopt: bool = True) -> Head:
    """Refuse (FoundingError, one line naming the way out) to found or serve a ledger where that would give two
    histories under one log key: a database that holds no ledger while the keys already sign one (the record,
    or a data directory from before records with a founded SQLite file beside the keys), a ledger that
    ``copy`` moved away, a ledger other than the one the keys founded. With ``adopt``, a founded ledger whose
    first entry these keys' authority signed is recorded if no record exists yet."""
    record = read_founding(settings.keys_dir)
    here = database_identity(settings)
    head = ledger_head(settings)
    copied_away = (record is not None and head.size > 0 and record.get("copied_from") == here
                   and record.get("database") != here)
    if head.moved_to is not None or copied_away:
        target = head.moved_to or _where(settings, str(record.get("database") if record else ""))
        raise FoundingError(
            f"the ledger in {_where(settings, here)} was moved to {target} by credit-ledger copy and takes no more "
            "appends: serve the copy (CREDIT_LEDGER_DATABASE_URL and CREDIT_LEDGER_DATABASE_SCHEMA); this one stays "
            "readable for audit verify and export")
    if head.size == 0:
        elsewhere = None
        if record is not None:
            elsewhere = _where(settings, str(record.get("database")))
        elif settings.database_url and sqlite_head(settings.sqlite_path).size:
            elsewhere = str(settings.sqlite_path)
        if elsewhere is not None:
            raise FoundingError(
                f"{_where(settings, here)} holds no ledger, and the keys in {settings.keys_dir} already sign the "
                f"ledger {'that was in it' if elsewhere == _where(settings, here) else 'in ' + elsewhere}: founding"
                f" another here would give two histories under one log key; {_way_out(settings, elsewhere, _where(settings, here))}")
        return head
    if record is None:
        pinned = authority_public_key(settings)
        if adopt and pinned is not None and head.first_key_id == key_id_for(pinned):
            record_founding(settings, head)
        return head
    if record["first_leaf_hash"] != base64.b64encode(head.first_leaf_hash or b"").decode("ascii"):
        raise FoundingError(
            f"the keys in {settings.keys_dir} founded the ledger in {_where(settings, str(record.get('database')))},"
            f" not the one in {_where(settings, here)}: give the data directory of this ledger (--data)")
    return head
