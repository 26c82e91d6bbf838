"""The key registry: which department holds which key, valid from when, revoked when.

Pure state, changed only by applying the authority's events in ledger order (the ledger's
``Authority`` aggregate and the auditor do that), so "which key was valid when" replays exactly.

Once a key's revocation is in the ledger, no new statement signed with it is accepted, whatever its
``issued_at``: a key thought stolen could otherwise sign statements dated before ``effective_at``.
Statements already recorded stay valid; those recorded with the key from ``effective_at`` until the
revocation are its compromise window, listed for review.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime

from keys.errors import KeyNotValidError, KeyRevokedError, UnknownKeyError


@dataclass(frozen=True)
class Department:
    """A registered department: its unified social credit code and what it may do."""

    code: str
    name: str
    items: frozenset[str] = frozenset()
    purposes: frozenset[str] = frozenset()
    roles: frozenset[str] = frozenset()


@dataclass(frozen=True)
class KeyRecord:
    """A department's public key: valid for statements issued from ``valid_from`` until its revocation is
    recorded (``revoked_at``: the revocation's ``effective_at``, the start of the compromise window)."""

    key_id: str
    department: str
    public_key: bytes
    valid_from: datetime
    revoked_at: datetime | None = None

    def valid_at(self, when: datetime) -> bool:
        """True if a new statement issued at ``when`` may be signed with this key."""
        return when >= self.valid_from and self.revoked_at is None


@dataclass
class KeyRegistry:
    """Departments and keys, as of some point of the ledger."""

    departments: dict[str, Department] = field(default_factory=dict)
    keys: dict[str, KeyRecord] = field(default_factory=dict)

    def register(self, department: Department) -> None:
        """Add or update a department (a later registration replaces its permissions)."""
        self.departments[department.code] = department

    def add_key(self, record: KeyRecord) -> None:
        """Add a key."""
        self.keys[record.key_id] = record

    def revoke_key(self, key_id: str, effective_at: datetime) -> None:
        """Mark a key revoked (``effective_at``: from when it is thought compromised)."""
        self.keys[key_id] = replace(self.keys[key_id], revoked_at=effective_at)

    def key_for(self, key_id: str, issuer: str, issued_at: datetime) -> KeyRecord:
        """Return the key record if ``key_id`` belongs to ``issuer``, was valid at ``issued_at`` and is not
        revoked (the registry as it stands where the statement is placed in the ledger)."""
        record = self.keys.get(key_id)
        if record is None:
            raise UnknownKeyError(f"key {key_id} is not registered")
        if record.department != issuer:
            raise KeyNotValidError(f"key {key_id} belongs to department {record.department}, not {issuer}")
        if issued_at < record.valid_from:
            raise KeyNotValidError(
                f"key {key_id} is valid from {record.valid_from.isoformat()}, "
                f"the statement was issued at {issued_at.isoformat()}"
            )
        if record.revoked_at is not None:
            raise KeyRevokedError(
                f"key {key_id} is revoked (effective {record.revoked_at.isoformat()}): "
                "no new statement signed with it is accepted, whatever its issued_at"
            )
        return record
