"""The first statements of a ledger: the authority registers itself, its key, and the catalogue.

Pure: builds signed envelopes from a key pair, a catalogue document and a time.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from keys import KeyPair
from ledger.format.statements import format_datetime, make_envelope

AUTHORITY_CODE = "11370200MB0000001F"
AUTHORITY_NAME = "Qingdao Public Credit Information Centre"
DEFAULT_ORIGIN = "credit-ledger.example/log"


def authority_statement(kind: str, fields: dict[str, Any], issued_at: datetime, issuer: str = AUTHORITY_CODE,
                        ledger: str = DEFAULT_ORIGIN) -> dict[str, Any]:
    """A statement dict with a fresh id, the issuer, the issue time and the ledger's origin filled in."""
    return {"type": kind, "id": str(uuid.uuid4()), "issuer": issuer, "issued_at": format_datetime(issued_at),
            "ledger": ledger, **fields}


def genesis_envelopes(
    authority: KeyPair, catalogue: dict[str, Any], issued_at: datetime, ledger: str = DEFAULT_ORIGIN,
    code: str = AUTHORITY_CODE, name: str = AUTHORITY_NAME,
) -> list[dict[str, Any]]:
    """Signed envelopes that found a ledger: authority registered, its key added, catalogue published."""
    statements = [
        authority_statement("department.registered", {
            "department": code, "name": name, "items": [], "purposes": ["audit", "privacy_review"],
            "roles": ["authority"],
        }, issued_at, code, ledger),
        authority_statement("key.added", {
            "department": code, "key_id": authority.key_id, "public_key": authority.public_key_b64,
            "valid_from": format_datetime(issued_at),
        }, issued_at, code, ledger),
        authority_statement("catalogue.published", {
            "version": catalogue["version"], "catalogue": catalogue,
        }, issued_at, code, ledger),
    ]
    return [make_envelope(s, authority.key_id, authority.sign) for s in statements]
