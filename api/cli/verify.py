"""``credit-ledger verify``: check one receipt against the transparency log.

``verify fetch`` asks the ledger once for what the check needs (a signed checkpoint covering the receipt's
leaf and the inclusion proof up to it) and saves both; ``verify receipt`` checks the receipt, the envelope
and those files offline against the log's verifier key pinned out of band (``ledger.log.receipts``).
"""

from __future__ import annotations

import argparse
import json
import os
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from api.cli.common import CLIError, read_json

PROOF_FILE = "proof.json"
CHECKPOINT_FILE = "checkpoint.txt"


def _read_text(path: str, what: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CLIError(f"cannot read the {what} {path}: {getattr(exc, 'strerror', None) or exc}") from None


def verifier_key_from(value: str) -> str:
    """The log verifier key given on the command line: the key string itself, or a file holding it (as
    ``GET /v1/log/verifier-key`` answers)."""
    from ledger.log.note import NoteError, parse_verifier_key

    try:
        parse_verifier_key(value)
        return value
    except NoteError:
        pass
    try:
        is_file = Path(value).is_file()
    except OSError:
        is_file = False
    # neither a key nor a file: the check names what is wrong with it
    return _read_text(value, "log verifier key file").strip() if is_file else value


def cmd_verify_receipt(args: argparse.Namespace) -> int:
    from ledger.log.receipts import ReceiptError, verify_receipt

    receipt, envelope, proof = read_json(args.receipt), read_json(args.envelope), read_json(args.proof)
    note = _read_text(args.checkpoint, "checkpoint")
    try:
        result = verify_receipt(receipt, envelope, note, proof, verifier_key_from(args.log_verifier_key))
    except ReceiptError as exc:
        raise CLIError(f"receipt NOT verified: {exc}") from None
    print(result.line())
    return 0


def _get(url: str, timeout: float, *, method: str = "GET") -> tuple[int, bytes]:
    """The status and body of a GET (or POST without a body) of ``url``; an unreachable server is a CLIError."""
    request = urllib.request.Request(url, method=method, data=b"" if method == "POST" else None)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()
    except urllib.error.URLError as exc:
        raise CLIError(f"cannot reach {url}: {exc.reason}") from None


def _problem(status: int, body: bytes, what: str) -> CLIError:
    try:
        detail = json.loads(body).get("detail") or f"HTTP {status}"
    except (ValueError, AttributeError):
        detail = f"HTTP {status}"
    return CLIError(f"cannot fetch {what} ({status}): {detail}")


def fetch(receipt: dict[str, Any], base: str, timeout: float) -> tuple[str, dict[str, Any]]:
    """The latest signed checkpoint of the ledger at ``base`` (made now if none covers the receipt's leaf yet)
    and the inclusion proof of the receipt's leaf up to it."""
    from ledger.log.note import NoteError, parse_checkpoint

    index = receipt["leaf_index"]
    if not isinstance(index, int) or isinstance(index, bool) or index < 0:
        raise CLIError("the receipt's leaf_index is not a non-negative integer")

    def checkpoint(method: str) -> tuple[str, int] | None:
        status, body = _get(base + "/v1/log/checkpoint", timeout, method=method)
        if status == 404:
            return None
        if status != 200:
            raise _problem(status, body, "the checkpoint")
        note = body.decode("utf-8", errors="replace")
        try:
            return note, parse_checkpoint(note[: note.rfind("\n\n") + 1]).size
        except NoteError as exc:
            raise CLIError(f"the ledger's checkpoint is malformed: {exc}") from None

    latest = checkpoint("GET")
    if latest is None or latest[1] <= index:
        latest = checkpoint("POST")  # bring the log's tree up to date and sign a checkpoint now
    if latest is None or latest[1] <= index:
        raise CLIError(f"the ledger has no checkpoint of a log holding leaf {index} yet")
    note, size = latest
    query = urllib.parse.urlencode({"leaf_index": index, "tree_size": size})
    status, body = _get(f"{base}/v1/log/proof/inclusion?{query}", timeout)
    if status != 200:
        raise _problem(status, body, f"the inclusion proof of leaf {index}")
    try:
        proof = json.loads(body)
    except ValueError:
        raise CLIError("the ledger's inclusion proof is not JSON") from None
    return note, proof


def cmd_verify_fetch(args: argparse.Namespace) -> int:
    from ledger.log.receipts import ReceiptError, receipt_of

    try:
        receipt = receipt_of(read_json(args.receipt))
    except ReceiptError as exc:
        raise CLIError(f"{args.receipt}: {exc}") from None
    note, proof = fetch(receipt, args.url.rstrip("/"), args.timeout)
    out = Path(args.out)
    try:
        out.mkdir(parents=True, exist_ok=True)
        (out / CHECKPOINT_FILE).write_text(note, encoding="utf-8")
        (out / PROOF_FILE).write_text(json.dumps(proof, indent=2) + "\n", encoding="utf-8")
    except OSError as exc:
        raise CLIError(f"cannot write to {out}: {exc.strerror}") from None
    print(f"saved {out / CHECKPOINT_FILE} (log size {proof['tree_size']}) and {out / PROOF_FILE} (leaf "
          f"{proof['leaf_index']}); check offline: credit-ledger verify receipt --receipt {args.receipt} "
          f"--envelope ENVELOPE --checkpoint {out / CHECKPOINT_FILE} --proof {out / PROOF_FILE} "
          "--log-verifier-key KEY")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add this module's commands to the CLI's subcommands."""
    verify = sub.add_parser("verify", help="check a receipt against the transparency log").add_subparsers(
        dest="verify_command", required=True)

    p = verify.add_parser(
        "receipt", help="check offline that a receipt's entry is in the log",
        description="Recompute the entry's leaf from the envelope and the receipt, check the inclusion proof "
                    "against the checkpoint's root and the checkpoint's signature with the log's verifier key. "
                    "Nothing is fetched. Exit 0 with one line if it holds, 1 with one line naming what failed.")
    p.add_argument("--receipt", required=True, metavar="FILE",
                   help="the receipt JSON (what submit prints), or an answer or problem holding one under 'receipt'")
    p.add_argument("--envelope", required=True, metavar="FILE", help="the signed envelope that was submitted")
    p.add_argument("--checkpoint", required=True, metavar="FILE",
                   help="a signed checkpoint note (GET /v1/log/checkpoint; saved by verify fetch)")
    p.add_argument("--proof", required=True, metavar="FILE",
                   help="the inclusion proof JSON of GET /v1/log/proof/inclusion for the receipt's leaf and the "
                        "checkpoint's size (saved by verify fetch)")
    p.add_argument("--log-verifier-key", required=True, metavar="KEY",
                   help="the log's verifier key, origin+keyid+base64, pinned out of band (or a file holding it)")
    p.set_defaults(func=cmd_verify_receipt)

    p = verify.add_parser(
        "fetch", help="download the checkpoint and inclusion proof a receipt's check needs",
        description=f"Fetch the ledger's latest signed checkpoint (asking it to sign one if none covers the "
                    f"receipt's leaf yet) and the inclusion proof of the leaf up to it; save them as "
                    f"OUT/{CHECKPOINT_FILE} and OUT/{PROOF_FILE} for verify receipt. Nothing is checked here.")
    p.add_argument("--receipt", required=True, metavar="FILE",
                   help="the receipt JSON, or an answer or problem holding one under 'receipt'")
    p.add_argument("--url", default=os.environ.get("CREDIT_LEDGER_URL", "http://127.0.0.1:8000"),
                   help="the ledger's base URL (default: CREDIT_LEDGER_URL or http://127.0.0.1:8000)")
    p.add_argument("--out", required=True, metavar="DIR", help="directory to save the two files in (created if absent)")
    p.add_argument("--timeout", type=float, default=30.0, help="seconds to wait for each answer (default 30)")
    p.set_defaults(func=cmd_verify_fetch)
