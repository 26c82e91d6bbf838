"""``credit-ledger report``: check a credit report offline (``ledger.log.report``) and render it for people."""

from __future__ import annotations

import argparse
from typing import Any

from api.cli.common import CLIError, read_json
from api.cli.verify import _read_text, verifier_key_from


def report_of(document: Any) -> Any:
    """The report in ``document``: a report itself, or a query's answer holding it under ``data``."""
    if isinstance(document, dict) and "format" not in document and isinstance(document.get("data"), dict):
        return document["data"]
    return document


def cmd_report_verify(args: argparse.Namespace) -> int:
    from ledger.log.report import ReportError, verify_report

    report = report_of(read_json(args.file))
    if (args.later_checkpoint is None) != (args.consistency_proof is None):
        raise CLIError("--later-checkpoint and --consistency-proof go together")
    later = _read_text(args.later_checkpoint, "later checkpoint") if args.later_checkpoint else None
    proof = read_json(args.consistency_proof) if args.consistency_proof else None
    try:
        result = verify_report(report, verifier_key_from(args.report_key), verifier_key_from(args.log_verifier_key),
                               later, proof)
    except ReportError as exc:
        raise CLIError(f"report NOT verified: {exc}") from None
    print(result.line())
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add this module's commands to the CLI's subcommands."""
    report = sub.add_parser("report", help="check a credit report").add_subparsers(dest="report_command",
                                                                                   required=True)
    p = report.add_parser(
        "verify", help="check a credit report offline with pinned keys",
        description="Check the report's signature with the pinned report key, its checkpoint's signature with the "
                    "pinned log key, that it is of that log, and every inclusion proof it carries against the "
                    "checkpoint's root; optionally that a later checkpoint extends the report's. Nothing is "
                    "fetched. Exit 0 with one line if it holds, 1 with one line naming what failed.")
    p.add_argument("file", metavar="FILE",
                   help="the report JSON (the data of a credit_report query's answer, or the whole answer)")
    p.add_argument("--report-key", required=True, metavar="KEY",
                   help="the ledger's report verifier key (GET /v1/report/verifier-key), pinned out of band, or a "
                        "file holding it")
    p.add_argument("--log-verifier-key", required=True, metavar="KEY",
                   help="the log's verifier key (GET /v1/log/verifier-key), pinned out of band, or a file holding it")
    p.add_argument("--later-checkpoint", metavar="FILE",
                   help="a later signed checkpoint of the log (GET /v1/log/checkpoint), to show the report's history "
                        "was not rewritten afterwards; needs --consistency-proof")
    p.add_argument("--consistency-proof", metavar="FILE",
                   help="the consistency proof JSON from the report's tree size to the later checkpoint's "
                        "(GET /v1/log/proof/consistency?first=M&second=N)")
    p.set_defaults(func=cmd_report_verify)
