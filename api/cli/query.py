"""``credit-ledger query``: sign a ``query.requested`` statement, post it to ``/v1/queries``, print the answer.

:func:`signed_query` (sign and check) and :func:`answer_of` (the answer, or a refusal in one line) are shared
with ``access-report``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from api.cli.common import CLIError, post, read_json, settings_from
from ledger.format.statements import IDENTITY_METHODS, PURPOSES, QUERY_SCOPES

# The legal basis a scope is read under when none is given (scopes not named here need --legal-basis).
DEFAULT_LEGAL_BASIS = {"review_report": "Shandong Social Credit Regulation art. 22 (query review)"}
# Filter kinds of ``ledger.domain.queries.FILTERS`` whose values are JSON integers.
INTEGER_FILTERS = ("int", "limit")


class QueryRefused(CLIError):
    """The ledger refused the query; ``problem`` is its RFC 9457 answer (with the ``receipt`` if it was recorded)."""

    def __init__(self, message: str, problem: dict[str, Any]) -> None:
        super().__init__(message)
        self.problem = problem


def refusal_line(status: int, problem: Any) -> str:
    """One line for a refused query: its status, problem type and detail, and whether the ledger recorded it."""
    body = problem if isinstance(problem, dict) else {}
    kind = str(body.get("type", "")).rsplit(":", 1)[-1] or "error"
    detail = body.get("detail") or body.get("title") or f"HTTP {status}"
    receipt = body.get("receipt")
    if isinstance(receipt, dict) and "leaf_index" in receipt:
        return (f"query refused ({status} {kind}): {detail}; the query is recorded in the ledger as leaf "
                f"{receipt['leaf_index']} (statement {receipt.get('statement_id')})")
    return f"query refused and not recorded ({status} {kind}): {detail}"


def signed_query(statement: dict[str, Any], key: str) -> dict[str, Any]:
    """The envelope of ``statement`` (a ``query.requested``; ``id`` and ``issued_at`` filled in if absent) signed
    with the key in file ``key``, after checking it as the ledger will (a failing check: nothing is sent)."""
    from keys import KeyPair
    from ledger.domain.queries import check_shape
    from ledger.errors import LedgerError
    from ledger.format.statements import format_datetime, make_envelope, parse_envelope

    statement.setdefault("id", str(uuid.uuid4()))
    statement.setdefault("issued_at", format_datetime(datetime.now(timezone.utc)))
    pair = KeyPair.load(Path(key))
    envelope = make_envelope(statement, pair.key_id, pair.sign)
    try:
        check_shape(parse_envelope(envelope).statement)
    except LedgerError as exc:
        raise CLIError(f"query not sent: {exc}") from None
    return envelope


def answer_of(status: int, body: Any) -> dict[str, Any]:
    """The answer (``receipt`` and ``data``) of ``POST /v1/queries``; a refusal raises :class:`QueryRefused`."""
    if status != 200 or not isinstance(body, dict) or "receipt" not in body:
        raise QueryRefused(refusal_line(status, body), body if isinstance(body, dict) else {})
    return body


def ask(statement: dict[str, Any], key: str, url: str, timeout: float, save_envelope: str | None = None) -> dict[str, Any]:
    """Sign and check ``statement`` (:func:`signed_query`), save the envelope to file ``save_envelope`` if given,
    post it to ``url``'s ``/v1/queries``; the answer, or :class:`QueryRefused`."""
    envelope = signed_query(statement, key)
    if save_envelope:
        write_json(save_envelope, envelope)
    return answer_of(*post(url.rstrip("/") + "/v1/queries", envelope, timeout))


def write_json(path: str, value: Any) -> None:
    """Write ``value`` as indented UTF-8 JSON to file ``path``."""
    try:
        Path(path).write_text(json.dumps(value, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    except OSError as exc:
        raise CLIError(f"cannot write {path}: {exc.strerror}") from None


def parse_filters(scope: str, pairs: list[str], from_file: Any) -> dict[str, Any]:
    """The ``filters`` object of a query of ``scope``: the JSON object of ``--filters-json`` overridden by the
    ``--filter k=v`` pairs, whose values are integers where the scope's schema says so, text otherwise."""
    from ledger.domain.queries import FILTERS

    allowed = FILTERS[scope]
    if from_file is not None and not isinstance(from_file, dict):
        raise CLIError("--filters-json: the filters are a JSON object")
    filters: dict[str, Any] = dict(from_file or {})
    for pair in pairs:
        name, sep, text = pair.partition("=")
        if not sep or not name:
            raise CLIError(f"--filter {pair}: write it as name=value")
        filters[name] = text
        if allowed.get(name) in INTEGER_FILTERS:
            try:
                filters[name] = int(text, 10)
            except ValueError:
                raise CLIError(f"--filter {pair}: {name} is an integer") from None
    unknown = sorted(set(filters) - set(allowed))
    if unknown:
        known = ", ".join(allowed) if allowed else "none"
        raise CLIError(f"{unknown[0]} is not a filter of scope {scope} (its filters: {known})")
    return filters


def cmd_query(args: argparse.Namespace) -> int:
    legal_basis = args.legal_basis or DEFAULT_LEGAL_BASIS.get(args.scope)
    if not legal_basis:
        raise CLIError(f"scope {args.scope} needs --legal-basis (the law or rule the read is made under)")
    filters = parse_filters(args.scope, args.filter or [], read_json(args.filters_json) if args.filters_json else None)
    statement: dict[str, Any] = {
        "type": "query.requested", "issuer": args.issuer, "ledger": args.ledger or settings_from(args).log_origin, "operator": args.operator,
        "purpose": args.purpose, "legal_basis": legal_basis, "scope": args.scope,
    }
    optional = {"subject": args.subject, "authorisation_ref": args.authorisation_ref,
                "justification": args.justification}
    statement.update({k: v for k, v in optional.items() if v is not None})
    if filters:
        statement["filters"] = filters
    if args.identity_check is not None:
        method, sep, reference = args.identity_check.partition(":")
        if not sep:
            raise CLIError(f"--identity-check {args.identity_check}: write it as METHOD:REFERENCE")
        statement["identity_check"] = {"method": method, "reference": reference}
    try:
        answer = ask(statement, args.key, args.url, args.timeout, args.save_envelope)
    except QueryRefused as exc:
        if args.output and "receipt" in exc.problem:
            write_json(args.output, exc.problem)
            raise CLIError(f"{exc}; the problem and its receipt are in {args.output}") from None
        raise
    if args.output:
        write_json(args.output, answer)
        receipt = answer["receipt"]
        print(f"query accepted, recorded as leaf {receipt['leaf_index']}; the answer is in {args.output}")
    else:
        sys.stdout.write(json.dumps(answer, ensure_ascii=False, indent=2) + "\n")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add this module's commands to the CLI's subcommands."""
    p = sub.add_parser(
        "query", help="read personal data with a signed, logged query (POST /v1/queries)",
        description="Sign a query.requested statement, post it to /v1/queries and print the answer (receipt and "
                    "data) as JSON. The ledger records the query before it reads anything; a refused query is "
                    "recorded too (exit 1, one line naming its leaf).")
    p.add_argument("--key", required=True, help="the department's private key file (PKCS#8 PEM)")
    p.add_argument("--issuer", required=True, help="the department's unified social credit code")
    p.add_argument("--operator", required=True, help="the staff id of the person reading")
    p.add_argument("--scope", required=True, choices=QUERY_SCOPES, metavar="SCOPE",
                   help="what is read: " + ", ".join(QUERY_SCOPES))
    p.add_argument("--purpose", required=True, choices=PURPOSES, metavar="PURPOSE",
                   help="the declared purpose: " + ", ".join(PURPOSES))
    p.add_argument("--legal-basis", help="the law or rule the read is made under (required, except for "
                                         + ", ".join(f"{s}: default {b!r}" for s, b in DEFAULT_LEGAL_BASIS.items())
                                         + ")")
    p.add_argument("--subject", help="the resident ID read about (scopes archive, subject_access_log, as_of_archive)")
    p.add_argument("--filter", action="append", metavar="NAME=VALUE",
                   help="one filter of the scope (repeatable); a number where the scope's schema has an integer "
                        "(e.g. limit, start, end), text otherwise")
    p.add_argument("--filters-json", metavar="FILE",
                   help="a JSON object of filters ('-' for stdin); --filter entries override its keys")
    p.add_argument("--authorisation-ref", help="the subject's written authorisation (needed for authorised_third_party)")
    p.add_argument("--justification", help="why the read is needed (needed for other_management)")
    p.add_argument("--identity-check", metavar="METHOD:REF",
                   help="how the service window checked the person asking is the subject (needed for "
                        "subject_self_query); METHOD is one of " + ", ".join(IDENTITY_METHODS))
    p.add_argument("--ledger", help="the ledger's log origin (default: CREDIT_LEDGER_LOG_ORIGIN)")
    p.add_argument("--url", default=os.environ.get("CREDIT_LEDGER_URL", "http://127.0.0.1:8000"),
                   help="the ledger's base URL (default: CREDIT_LEDGER_URL or http://127.0.0.1:8000)")
    p.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for the answer (default 60)")
    p.add_argument("--save-envelope", metavar="FILE",
                   help="also write the signed envelope here before posting (to check its receipt later with "
                        "`verify receipt`)")
    p.add_argument("--output", metavar="FILE",
                   help="write the answer JSON here instead of stdout (a refused query: the problem with its receipt)")
    p.set_defaults(func=cmd_query)
