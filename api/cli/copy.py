"""``credit-ledger copy``: move the configured ledger into an empty PostgreSQL database or schema."""

from __future__ import annotations

import argparse
import sys
import time
from datetime import datetime, timezone

from api.cli.common import CLIError, settings_from


def register(sub: argparse._SubParsersAction) -> None:
    """Add this module's commands to the CLI's subcommands."""
    p = sub.add_parser("copy", help="copy this ledger (every event, entry and checkpoint) into an empty PostgreSQL "
                                    "database, check it, and mark this one moved")
    p.add_argument("--to", required=True, metavar="URL",
                   help="postgresql://user:pass@host:port/db of the target, as its owner (the tables are created)")
    p.add_argument("--schema", default="public", help="the target's schema (default public)")
    p.add_argument("--data", help="data directory (default ./ledger-data or CREDIT_LEDGER_DATA_DIR)")
    p.set_defaults(func=cmd_copy)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _n(count: int, one: str, many: str | None = None) -> str:
    return f"{count} {one if count == 1 else many or one + 's'}"


def cmd_copy(args: argparse.Namespace) -> int:
    import base64
    import sqlite3

    import psycopg

    from api.datadir import check_data_dir
    from api.migrate import migrate
    from api.runtime import (LOG_KEY, database_identity, display_url, ledger_head, open_ledger,
                             record_founding)
    from keys import KeyPair
    from ledger.format.statements import format_datetime
    from ledger.log.note import verifier_key_string
    from projections.transfer import TransferError, copy_ledger
    from projections.transfer_sources import PostgresSource, SQLiteSource, Source, postgres_head, sqlite_head

    settings = settings_from(args)
    check_data_dir(settings.data_dir)
    if not args.to.startswith(("postgresql://", "postgres://")):
        raise CLIError("--to must be a postgresql://user:password@host:port/database URL")
    try:
        target = settings.model_copy(update={"database_url": args.to, "database_schema": args.schema,
                                             "migration_database_url": None})
        here, there = database_identity(settings), database_identity(target)
    except psycopg.ProgrammingError as exc:
        raise CLIError(f"--to is not a valid PostgreSQL URL: {_first_line(exc)}") from None
    if here == there:
        raise CLIError(f"the target {there} is the configured ledger itself: give another database or --schema")
    shown = f"{display_url(args.to)} schema {args.schema}"
    log_key = KeyPair.load(settings.keys_dir / LOG_KEY)

    source_head = ledger_head(settings)
    if source_head.moved_to is not None:
        raise CLIError(f"this ledger was already moved to {source_head.moved_to}")
    if source_head.size == 0:
        hint = ""
        if settings.database_url and sqlite_head(settings.sqlite_path).size:
            hint = f"; to copy the SQLite ledger in {settings.data_dir}, run copy with CREDIT_LEDGER_DATABASE_URL unset"
        raise CLIError(f"there is no ledger to copy in {settings.database_url and here or settings.sqlite_path}{hint}")
    try:
        target_head = postgres_head(args.to, args.schema)
    except psycopg.Error as exc:
        raise CLIError(f"cannot reach the target {shown}: {_first_line(exc)}") from None
    if target_head.holds_rows:
        raise CLIError(f"{shown} already holds a ledger ({target_head.size} entries): copy only into an empty "
                       "database or schema; nothing was changed")

    started = time.monotonic()
    if not settings.database_url:
        open_ledger(settings).close()  # a file from an older version gets its tables up to date first
    try:
        migrate(args.to, args.schema)
    except psycopg.Error as exc:
        raise CLIError(f"could not create the tables in {shown}: {_first_line(exc)}") from None

    shown_at: dict[str, float] = {}

    def progress(what: str, done: int, total: int) -> None:
        now = time.monotonic()
        if what not in shown_at or now - shown_at[what] >= 2:
            shown_at[what] = now
            of = f" of {total}" if total else ""
            print(f"{what}: {done}{of} ({now - started:.1f} s)", file=sys.stderr)

    source: Source
    if settings.database_url:
        source = PostgresSource.connect(settings.migration_database_url or settings.database_url,
                                        settings.database_schema)
    else:
        source = SQLiteSource(settings.sqlite_path)
    try:
        report = copy_ledger(source, args.to, args.schema, verifier_key_string(settings.log_origin, log_key.public_key),
                             settings.log_origin, shown, format_datetime(datetime.now(timezone.utc)), progress)
    except TransferError as exc:
        kept = "" if exc.copied else f"; nothing was kept in {shown}, and the source is unchanged"
        raise CLIError(f"{exc}{kept}") from None
    except (psycopg.Error, sqlite3.Error) as exc:
        raise CLIError(f"the copy failed and nothing was kept in {shown} (its tables are created, empty); the "
                       f"source is unchanged: {_first_line(exc)}") from None
    finally:
        source.close()
    record_founding(target, source_head, copied_from=here)
    elapsed = time.monotonic() - started
    checked = (f"every checkpoint's root matches the tree of the copied leaves (latest at size "
               f"{report.latest_checkpoint})" if report.checkpoints else "no checkpoint to compare")
    print(f"copied {_n(report.events, 'event')}, {_n(report.entries, 'entry', 'entries')} and "
          f"{_n(report.checkpoints, 'checkpoint')} to {shown} in {elapsed:.1f} s; {checked}; root at size "
          f"{report.entries}: {base64.b64encode(report.root).decode()}")
    schema = f" CREDIT_LEDGER_DATABASE_SCHEMA={args.schema}" if args.schema != "public" else ""
    print(f"the source now refuses appends; serve the copy with CREDIT_LEDGER_DATABASE_URL={display_url(args.to)}"
          f"{schema} credit-ledger serve (add the password; `credit-ledger migrate --grant-to ROLE` gives a service "
          "role its rights)", file=sys.stderr)
    return 0
