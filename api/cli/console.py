"""``credit-ledger console``: the local web console of a department's privacy officer, auditor, service window
or lead department, reading the ledger only through its API with queries signed by the holder's key."""

from __future__ import annotations

import argparse
import ipaddress
import os
import secrets
from pathlib import Path

from api.cli.common import CLIError

ROLE_CHOICES = ("privacy_officer", "auditor", "service_window", "authority")


def register(sub: argparse._SubParsersAction) -> None:
    """Add this module's commands to the CLI's subcommands."""
    p = sub.add_parser("console", help="serve the local web console on a loopback address (every read a signed, "
                                       "logged query)")
    p.add_argument("--key", required=True, help="the department's private key (PKCS#8 PEM, mode 0600); it never "
                                                 "leaves this process")
    p.add_argument("--issuer", required=True, help="the department's unified social credit code")
    p.add_argument("--operator", required=True, help="the staff id of the person using the console (in every query)")
    p.add_argument("--url", default=os.environ.get("CREDIT_LEDGER_URL", "http://127.0.0.1:8000"),
                   help="the ledger's API (default CREDIT_LEDGER_URL or http://127.0.0.1:8000)")
    p.add_argument("--port", type=int, default=8700, help="port to serve the console on (default 8700)")
    p.add_argument("--host", help="loopback address to serve the console on (default: a random one in 127.0.0.0/8, "
                                  "so that the browser sends the console's cookie to no other local server)")
    p.add_argument("--role", action="append", choices=ROLE_CHOICES,
                   help="show this role's pages (repeat for several; default: every role's)")
    p.add_argument("--ledger", help="the ledger's log origin, named by every statement (default: the origin of the "
                                    "ledger's verifier key)")
    p.add_argument("--authority-key", help="file with the authority's base64 public key (authority.pub), pinned "
                                           "for the auditor's verification (default: the ledger's own first entries)")
    p.add_argument("--log-verifier-key", help="the log's verifier key, pinned for checking checkpoints (default: "
                                              "the one the ledger serves)")
    p.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for each answer of the ledger")
    p.set_defaults(func=cmd_console)


def random_loopback() -> str:
    """An address in 127.0.0.0/8 other than 127.0.0.1. Cookies are kept per host, not per port (RFC 6265
    section 8.5): on 127.0.0.1 the console's cookie would go to every local server its user visits."""
    a, b, c = secrets.randbelow(256), secrets.randbelow(256), 1 + secrets.randbelow(254)
    return f"127.{a}.{b}.{c}" if (a, b) != (0, 0) else f"127.{1 + a}.{b}.{c}"


def cmd_console(args: argparse.Namespace) -> int:
    import uvicorn

    from api.console.app import ROLES, Console, create_console
    from api.console.client import LedgerClient, LedgerUnreachable, origin_of
    from api.console.security import Secret
    from keys import KeyPair, public_key_from_b64

    if not 0 < args.port < 65536:
        raise CLIError(f"--port {args.port} is not a port number")
    host = args.host or random_loopback()
    try:
        if not ipaddress.IPv4Address(host).is_loopback:
            raise ValueError
    except ValueError:
        raise CLIError(f"--host {args.host}: the console serves on an IPv4 loopback address only (127.0.0.0/8)") from None
    key = KeyPair.load(Path(args.key))
    pinned = None
    if args.authority_key:
        try:
            pinned = public_key_from_b64(Path(args.authority_key).read_text().strip())
        except (OSError, ValueError) as exc:
            raise CLIError(f"--authority-key {args.authority_key}: {exc}") from None
    probe = LedgerClient(args.url, key, args.issuer, args.operator, args.ledger or "", args.timeout)
    try:
        status, verifier = probe.get("/v1/log/verifier-key")
    except LedgerUnreachable as exc:
        raise CLIError(str(exc)) from None
    if status != 200 or not isinstance(verifier, str):
        raise CLIError(f"{args.url} is not a credit ledger (GET /v1/log/verifier-key answered {status})")
    origin = args.ledger or origin_of(args.log_verifier_key or verifier)
    client = LedgerClient(args.url, key, args.issuer, args.operator, origin, args.timeout)
    secret = Secret(args.port, host=host)
    roles = tuple(r for r in ROLES if r in args.role) if args.role else ROLES
    app = create_console(Console(client, secret, roles, pinned, args.log_verifier_key))
    print(f"credit-ledger console for {args.issuer} (operator {args.operator}) reading {args.url}", flush=True)
    print(f"open {secret.url()}", flush=True)
    uvicorn.run(app, host=host, port=args.port, log_level="warning", server_header=False)
    return 0
