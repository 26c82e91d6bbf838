"""The argument parser of ``credit-ledger``: each command and the function that runs it."""

from __future__ import annotations

import argparse
import os
from importlib import metadata

from api.cli import console, copy, query, report, verify
from api.cli.audit import cmd_access_report, cmd_audit_verify, cmd_export
from api.cli.serve import cmd_serve
from api.cli.setup import cmd_init, cmd_keys_new, cmd_migrate
from api.cli.statements import cmd_sign, cmd_submit
from api.cli.views import cmd_project, cmd_rebuild

# Commands the installed tool no longer has, with where they went (said in one line instead of the usage).
GONE = {"bench": "the benchmark is not part of the installed tool: run `python3 -m bench` from a checkout"}

_DATA_HELP = "data directory (default: CREDIT_LEDGER_DATA_DIR, else ./ledger-data)"
_URL_HELP = "the ledger's base URL (default: CREDIT_LEDGER_URL, else http://127.0.0.1:8000)"
_TIMEOUT_HELP = "seconds to wait for the answer (default: %(default)s)"


def version() -> str:
    """The installed distribution's version (``unknown`` when run from a checkout that is not installed)."""
    try:
        return metadata.version("credit-ledger")
    except metadata.PackageNotFoundError:
        return "unknown"


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``credit-ledger``."""
    parser = argparse.ArgumentParser(prog="credit-ledger", description="Signed, event-sourced credit ledger.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {version()}",
                        help="print the installed version and exit")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("init", help="create the authority and log keys and found the ledger")
    p.add_argument("--data", help=_DATA_HELP)
    p.set_defaults(func=cmd_init)

    keys = sub.add_parser("keys", help="key pairs").add_subparsers(dest="keys_command", required=True)
    p = keys.add_parser("new", help="create an Ed25519 key pair (PKCS#8 PEM, mode 0600)")
    p.add_argument("--out", required=True, help="private key file to create (never overwritten)")
    p.add_argument("--department", metavar="CODE",
                   help="also make the authority's key.added statement registering this key for department CODE, "
                        "ready to sign (no id, issued_at or ledger: sign fills them in)")
    p.add_argument("--valid-from", metavar="T",
                   help="with --department: the key's valid_from, RFC 3339 UTC like 2026-01-31T08:00:00Z "
                        "(default: a minute before now)")
    p.add_argument("--statement-out", metavar="FILE",
                   help="with --department: write the statement to FILE (default: under \"statement\" in the "
                        "JSON printed)")
    p.set_defaults(func=cmd_keys_new)

    p = sub.add_parser("sign", help="turn a statement JSON file into a signed envelope")
    p.add_argument("statement", help="statement JSON file ('-' for stdin); id, issued_at and ledger are filled in if absent")
    p.add_argument("--key", required=True, help="private key file (PKCS#8 PEM)")
    p.add_argument("--issuer", help="set the statement's issuer (department code)")
    p.add_argument("--ledger", help="the log origin of the ledger the statement is for, if the file has none "
                                    "(default: CREDIT_LEDGER_LOG_ORIGIN)")
    p.add_argument("-o", "--output", help="write the envelope here instead of stdout")
    p.set_defaults(func=cmd_sign)

    p = sub.add_parser("submit", help="POST an envelope (or a JSON list of envelopes) to the ledger")
    p.add_argument("envelope", help="envelope JSON file ('-' for stdin)")
    p.add_argument("--url", default=os.environ.get("CREDIT_LEDGER_URL", "http://127.0.0.1:8000"), help=_URL_HELP)
    p.add_argument("--timeout", type=float, default=30.0, help=_TIMEOUT_HELP)
    p.set_defaults(func=cmd_submit)

    p = sub.add_parser("serve", help="run the HTTP service (runs init first on an empty data directory)")
    p.add_argument("--data", help=_DATA_HELP)
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default: %(default)s)")
    p.add_argument("--port", type=int, default=8000, help="port to listen on (default: %(default)s)")
    p.add_argument("--log-level", default="info", choices=["critical", "error", "warning", "info", "debug", "trace"],
                   help="the server's log level (default: %(default)s)")
    p.add_argument("--workers", type=int, default=1, help="worker processes (each with its own group committer)")
    p.add_argument("--read-only", action="store_true",
                   help="serve reads only, from a PostgreSQL hot standby (CREDIT_LEDGER_READ_ONLY): appends, queries "
                        "and checkpoint signing are refused naming the primary; no migrations, no projections")
    p.add_argument("--primary", metavar="URL",
                   help="with --read-only, the primary service's base URL (default: CREDIT_LEDGER_PRIMARY_URL)")
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("access-report", help="the privacy officer's review report (itself a logged query)")
    p.add_argument("--key", required=True, help="the privacy officer department's private key")
    p.add_argument("--issuer", required=True, help="the privacy officer department's code")
    p.add_argument("--operator", required=True, help="the staff id of the person reading")
    p.add_argument("--legal-basis", default="Shandong Social Credit Regulation art. 22 (query review)",
                   help="the query's legal basis (default: %(default)s)")
    p.add_argument("--from", dest="start", help="RFC 3339 UTC start (default: 7 days before --to)")
    p.add_argument("--to", dest="end", help="RFC 3339 UTC end (default: now)")
    p.add_argument("--ledger", help="the ledger's log origin (default: CREDIT_LEDGER_LOG_ORIGIN)")
    p.add_argument("--url", default=os.environ.get("CREDIT_LEDGER_URL", "http://127.0.0.1:8000"), help=_URL_HELP)
    p.add_argument("--timeout", type=float, default=60.0, help=_TIMEOUT_HELP)
    p.set_defaults(func=cmd_access_report)

    p = sub.add_parser("project", help="run the projections as a separate worker process")
    p.add_argument("--data", help=_DATA_HELP)
    p.add_argument("--once", action="store_true", help="catch up once and exit")
    p.add_argument("--quiet", action="store_true", help="print nothing but errors")
    p.set_defaults(func=cmd_project)

    p = sub.add_parser("rebuild", help="drop a view, rebuild it from the events, compare digests")
    p.add_argument("view", nargs="?", default="all", choices=["all", "archive", "access_log", "log_tree"],
                   help="the view to rebuild (default: all)")
    p.add_argument("--data", help=_DATA_HELP)
    p.set_defaults(func=cmd_rebuild)

    p = sub.add_parser("export", help="write a self-contained audit bundle (JSON lines; .gz to compress)")
    p.add_argument("--data", help=_DATA_HELP)
    p.add_argument("--out", required=True, help="the bundle file to write (mode 0600; a name ending .gz is gzipped)")
    p.set_defaults(func=cmd_export)

    audit = sub.add_parser("audit", help="verify the whole history").add_subparsers(dest="audit_command", required=True)
    p = audit.add_parser("verify", help="re-verify every signature, the tree and every checkpoint")
    p.add_argument("--data", help=_DATA_HELP + "; the live ledger to verify when no --bundle is given")
    p.add_argument("--bundle", help="verify an exported bundle instead of the live database")
    p.add_argument("--authority-key", help="file with the authority's base64 public key (authority.pub)")
    p.add_argument("--log-verifier-key", help="the log's verifier key string (GET /v1/log/verifier-key)")
    p.add_argument("--jobs", type=int, default=os.cpu_count() or 1,
                   help="processes checking signatures of a live ledger (default: one per core; 1: no workers)")
    p.set_defaults(func=cmd_audit_verify)

    p = sub.add_parser("migrate", help="apply pending PostgreSQL migrations")
    p.add_argument("--grant-to", help="the service's role: may insert and select the ledger's tables, nothing more")
    p.set_defaults(func=cmd_migrate)

    for module in (copy, query, verify, report, console):
        module.register(sub)
    return parser
