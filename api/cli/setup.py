"""Setting a ledger up: ``init``, ``keys new``, ``migrate``."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from api.cli.common import CLIError, settings_from


def cmd_init(args: argparse.Namespace) -> int:
    from api.runtime import init

    settings = settings_from(args)
    result = init(settings)
    for path in result.created_keys:
        print(f"created key {path} (mode 0600)")
    where = settings.database_url and "PostgreSQL" or str(settings.sqlite_path)
    if result.founded:
        print(f"founded the ledger in {where}: authority registered, its key added, catalogue v1 published")
    else:
        print(f"the ledger in {where} was already founded")
    print(f"authority key id: {result.authority_key_id}")
    print(f"authority code (issuer of authority statements): {result.authority_code}")
    return 0


def cmd_keys_new(args: argparse.Namespace) -> int:
    from keys import KeyPair

    out = Path(args.out)
    if out.exists():
        raise CLIError(f"{out} exists; refusing to overwrite a key")
    pair = KeyPair.generate()
    pair.save(out)
    print(json.dumps({"key_id": pair.key_id, "public_key": pair.public_key_b64, "private_key_file": str(out)}))
    return 0


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
