"""Setting a ledger up: ``init``, ``keys new``, ``migrate``."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from api.cli.common import CLIError, settings_from
from api.settings import Settings

if TYPE_CHECKING:
    from api.runtime import InitResult

# How far before now a new key's ``valid_from`` lies by default: a clock a little behind the ledger's still
# signs with the key at once, and the key reaches back no further than that.
VALID_FROM_MARGIN = timedelta(minutes=1)


def cmd_init(args: argparse.Namespace) -> int:
    from api.runtime import init

    settings = settings_from(args)
    print_init(settings, init(settings), sys.stdout)
    return 0


def print_init(settings: Settings, result: InitResult, out: TextIO) -> None:
    """What ``init`` did: keys created, ledger founded, the authority's key id
    and code. ``serve`` prints the same on stderr when it runs ``init``."""
    for path in result.created_keys:
        print(f"created key {path} (mode 0600)", file=out)
    where = settings.database_url and "PostgreSQL" or str(settings.sqlite_path)
    if result.founded:
        print(f"founded the ledger in {where}: authority registered, its key added, catalogue v1 published", file=out)
    else:
        print(f"the ledger in {where} was already founded", file=out)
    print(f"authority key id: {result.authority_key_id}", file=out)
    print(f"authority code (issuer of authority statements): {result.authority_code}", file=out)


def cmd_keys_new(args: argparse.Namespace) -> int:
    """A new key pair; with ``--department``, also the authority's ``key.added`` statement for it, ready to
    sign (in ``--statement-out``, or under ``statement`` in the JSON printed)."""
    from keys import KeyPair

    out = Path(args.out)
    if args.department is None and (args.valid_from is not None or args.statement_out is not None):
        raise CLIError("--valid-from and --statement-out need --department (the department the key is for)")
    if out.exists():
        raise CLIError(f"{out} exists; refusing to overwrite a key")
    statement_out = Path(args.statement_out) if args.statement_out else None
    if statement_out is not None:
        if statement_out.resolve() == out.resolve():
            raise CLIError("--statement-out and --out name the same file")
        if not statement_out.parent.is_dir():
            raise CLIError(f"cannot write {statement_out}: no directory {statement_out.parent}")
    pair = KeyPair.generate()
    statement = key_added(args, pair.key_id, pair.public_key_b64) if args.department is not None else None
    pair.save(out)
    printed: dict[str, Any] = {"key_id": pair.key_id, "public_key": pair.public_key_b64, "private_key_file": str(out)}
    if statement is not None and statement_out is not None:
        try:
            statement_out.write_text(json.dumps(statement, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
        except OSError as exc:
            out.unlink()
            raise CLIError(f"cannot write {statement_out}: {exc.strerror}") from None
        printed["statement_file"] = str(statement_out)
    elif statement is not None:
        printed["statement"] = statement
    print(json.dumps(printed, ensure_ascii=False))
    return 0


def key_added(args: argparse.Namespace, key_id: str, public_key: str) -> dict[str, Any]:
    """The ``key.added`` statement registering this key for ``--department`` (the authority issues it;
    ``sign`` fills in ``id``, ``issued_at`` and ``ledger``), checked against the statement schema."""
    from ledger.domain.genesis import AUTHORITY_CODE
    from ledger.errors import LedgerError
    from ledger.format.identifiers import uscc_check_char
    from ledger.format.statements import parse_statement
    from ledger.format.times import parse_datetime

    if args.valid_from is None:
        start = datetime.now(timezone.utc).replace(microsecond=0) - VALID_FROM_MARGIN
        valid_from = start.strftime("%Y-%m-%dT%H:%M:%SZ")
    else:
        valid_from = args.valid_from
        try:
            parse_datetime(valid_from)
        except LedgerError as exc:
            raise CLIError(f"--valid-from: {exc}") from None
    statement = {"type": "key.added", "issuer": AUTHORITY_CODE, "department": args.department,
                 "key_id": key_id, "public_key": public_key, "valid_from": valid_from}
    draft = {**statement, "id": "00000000-0000-4000-8000-000000000000", "issued_at": valid_from,
             "ledger": settings_from(args).log_origin}
    try:
        parse_statement(draft)
    except LedgerError as exc:
        raise CLIError(f"--department {args.department}: {exc}") from None
    expected = uscc_check_char(args.department[:17])
    if args.department[17] != expected:  # admitted: the authority may have registered it with check_override
        print(f"warning: the check character of {args.department} fails (expected {expected}): the ledger accepts "
              "this key only for a department registered with check_override", file=sys.stderr)
    return statement


def cmd_migrate(args: argparse.Namespace) -> int:
    from api.migrate import migrate

    settings = settings_from(args)
    if not settings.database_url:
        print("no CREDIT_LEDGER_DATABASE_URL set: the SQLite backend creates its tables itself")
        return 0
    done = migrate(settings.migration_database_url or settings.database_url, settings.database_schema)
    if done:
        for m in done:
            print(f"applied {m.version:04d}_{m.name}.sql")
    else:
        print("the database is up to date")
    if args.grant_to:
        from api.migrate import grant

        grant(settings.migration_database_url or settings.database_url, settings.database_schema, args.grant_to)
        print(f"granted {args.grant_to}: select and insert on the ledger's tables, read and write on the views")
    return 0
