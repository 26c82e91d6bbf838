"""Statements from the command line: ``sign`` one into an envelope, ``submit`` envelopes to a server."""

from __future__ import annotations

import argparse
import json
import sys
import uuid
from datetime import datetime, timezone
from pathlib import Path

from api.cli.common import CLIError, post, read_json, settings_from


def cmd_sign(args: argparse.Namespace) -> int:
    from keys import KeyPair
    from ledger.errors import LedgerError
    from ledger.format.statements import format_datetime, make_envelope, parse_envelope

    statement = read_json(args.statement)
    if not isinstance(statement, dict):
        raise CLIError(f"{args.statement}: a statement is a JSON object")
    statement.setdefault("id", str(uuid.uuid4()))
    statement.setdefault("issued_at", format_datetime(datetime.now(timezone.utc)))
    statement.setdefault("ledger", args.ledger or settings_from(args).log_origin)
    if args.issuer:
        statement["issuer"] = args.issuer
    pair = KeyPair.load(Path(args.key))
    envelope = make_envelope(statement, pair.key_id, pair.sign)
    try:
        parse_envelope(envelope)
    except LedgerError as exc:
        raise CLIError(f"{args.statement}: {exc}") from None
    text = json.dumps(envelope, ensure_ascii=False, indent=2) + "\n"
    if args.output:
        Path(args.output).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0


def cmd_submit(args: argparse.Namespace) -> int:
    body = read_json(args.envelope)
    batch = isinstance(body, list)
    url = args.url.rstrip("/") + ("/v1/statements/batch" if batch else "/v1/statements")
    status, answer = post(url, {"envelopes": body} if batch else body, args.timeout)
    if status >= 400:
        raise CLIError(f"refused ({status} {answer.get('type', '')}): {answer.get('detail', answer.get('title'))}")
    print(json.dumps(answer, ensure_ascii=False))
    if batch and answer.get("refused"):
        return 1
    return 0
