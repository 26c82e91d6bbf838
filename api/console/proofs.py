"""Proofs from the transparency log, checked twice: here (``ledger.log``: the note's signature with the log's
verifier key, the RFC 9162 proof against the checkpoint's root) and again in the page (``merkle.js``, with the
browser's own SHA-256), each result shown.

The log's endpoints are public and hold hashes only: reading them is not a query.
"""

from __future__ import annotations

import base64
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from api.console.app import Console
from ledger.log.merkle import ProofError, verify_consistency, verify_inclusion
from ledger.log.note import NoteError, open_checkpoint


def b64d(text: str) -> bytes:
    return base64.b64decode(text, validate=True)


def signed_checkpoint(console: Console, size: int | None = None) -> dict[str, Any]:
    """The checkpoint of ``size`` (None: the latest), its signature checked here: ``size``, ``root`` (base64),
    ``note``, ``signature_ok``, ``error``."""
    client = console.client
    if size is None:
        status, note = client.get("/v1/log/checkpoint")
    else:
        status, note = client.get("/v1/log/checkpoints", size=size)
    if status != 200 or not isinstance(note, str):
        return {"size": size, "root": None, "note": None, "signature_ok": False,
                "error": f"no checkpoint{'' if size is None else f' of size {size}'} ({status})"}
    try:
        cp, _ = open_checkpoint(note, console.verifier_key(), client.origin)
    except NoteError as exc:
        return {"size": size, "root": None, "note": note, "signature_ok": False, "error": f"signature: {exc}"}
    return {"size": cp.size, "root": base64.b64encode(cp.root).decode(), "note": note, "signature_ok": True,
            "error": None}


def inclusion(console: Console, statement_id: str | None = None, leaf_index: int | None = None) -> dict[str, Any]:
    """The inclusion proof of a statement (by id) or leaf in the latest checkpoint, checked here."""
    client = console.client
    params: dict[str, Any] = {"statement_id": statement_id} if statement_id else {"leaf_index": leaf_index}
    status, body = client.get("/v1/log/proof/inclusion", **params)
    if status in (400, 404) and not (isinstance(body, dict) and "not in the ledger" in str(body.get("detail"))):
        client.request("POST", "/v1/log/checkpoint")  # the leaf is newer than the latest checkpoint
        status, body = client.get("/v1/log/proof/inclusion", **params)
    if status != 200 or not isinstance(body, dict):
        detail = body.get("detail") if isinstance(body, dict) else body
        return {"ok": False, "error": f"no proof ({status}): {detail}"}
    checkpoint = signed_checkpoint(console, int(body["tree_size"]))
    result = {**body, "checkpoint": checkpoint, "ok": False, "error": checkpoint["error"]}
    if checkpoint["signature_ok"]:
        try:
            verify_inclusion(b64d(body["leaf_hash"]), int(body["leaf_index"]), int(body["tree_size"]),
                             [b64d(h) for h in body["proof"]], b64d(checkpoint["root"]))
            result["ok"] = True
        except (ProofError, ValueError) as exc:
            result["error"] = f"the proof does not hold: {exc}"
    return result


def consistency(console: Console, first: dict[str, Any], second: dict[str, Any]) -> dict[str, Any]:
    """The consistency proof between two checked checkpoints, checked here."""
    status, body = console.client.get("/v1/log/proof/consistency", first=first["size"], second=second["size"])
    if status != 200 or not isinstance(body, dict):
        return {"ok": False, "proof": [], "error": f"no proof ({status})"}
    out = {"proof": body["proof"], "ok": False, "error": None}
    if not (first["signature_ok"] and second["signature_ok"]):
        out["error"] = "a checkpoint's signature does not verify"
        return out
    try:
        verify_consistency(first["size"], second["size"], [b64d(h) for h in body["proof"]], b64d(first["root"]),
                           b64d(second["root"]))
        out["ok"] = True
    except (ProofError, ValueError) as exc:
        out["error"] = str(exc)
    return out


def routes(console: Console) -> list[Route]:
    def proof_page(request: Request) -> Response:
        q = request.query_params
        statement_id = q.get("statement_id") or None
        leaf = q.get("leaf_index")
        if statement_id is None and not (leaf or "").isdigit():
            return console.page(request, "error.html", status=400, message="Give a statement id or a leaf index.")
        result = inclusion(console, statement_id, None if statement_id else int(leaf or 0))
        return console.page(request, "proof.html", result=result, statement_id=statement_id,
                            position=q.get("position"))

    return [Route("/proof", proof_page)]
