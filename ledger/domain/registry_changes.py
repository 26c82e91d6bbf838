"""What an authority statement changes in the key registry: the one replay of departments and keys that
the ``Authority`` aggregate and the auditor share. Pure.
"""

from __future__ import annotations

from typing import Any

from keys import Department, KeyRecord, KeyRegistry, public_key_from_b64
from ledger.format.statements import parse_datetime


def apply_authority_statement(registry: KeyRegistry, kind: str, s: dict[str, Any]) -> Department | None:
    """Apply an authority statement (its JSON fields) to ``registry``; return the department it registers,
    if it registers one. Statements that change no department or key are left alone."""
    if kind == "department.registered":
        department = Department(
            code=s["department"], name=s["name"], items=frozenset(s["items"]),
            purposes=frozenset(s["purposes"]), roles=frozenset(s.get("roles", [])),
        )
        registry.register(department)
        return department
    if kind == "key.added":
        registry.add_key(KeyRecord(key_id=s["key_id"], department=s["department"],
                                   public_key=public_key_from_b64(s["public_key"]),
                                   valid_from=parse_datetime(s["valid_from"])))
    elif kind == "key.revoked" and s["key_id"] in registry.keys:
        registry.revoke_key(s["key_id"], parse_datetime(s["effective_at"]))
    return None
