"""What an append answers for each envelope: a receipt, or the ledger error that refused it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID

from keys import KeyError_, SignatureError
from keys.errors import KeyNotValidError, UnknownKeyError
from ledger.errors import AuthenticationError, ForbiddenError, LedgerError


@dataclass(frozen=True)
class Receipt:
    """What the ledger answers for an appended statement (the same again on a replay).

    A statement about a record (``record.*``, ``objection.*``, ``statement.added``) gives the record's
    ``record_version`` after it: the version a ``record.corrected`` must name next."""

    statement_id: UUID
    type: str
    position: int
    leaf_index: int
    recorded_at: str
    replay: bool = False
    outcome: dict[str, Any] | None = None
    compromise_window: list[dict[str, Any]] | None = None  # a key revocation's: the entries to review
    record_version: int | None = None  # a record statement's: the record's version after it

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form (``replay`` is left out: a replay's answer equals the original)."""
        body: dict[str, Any] = {
            "statement_id": str(self.statement_id), "type": self.type, "position": self.position,
            "leaf_index": self.leaf_index, "recorded_at": self.recorded_at,
        }
        if self.record_version is not None:
            body["record_version"] = self.record_version
        if self.outcome is not None:
            body["outcome"] = self.outcome
        if self.compromise_window is not None:
            body["compromise_window"] = self.compromise_window
        return body


Outcome = Receipt | LedgerError

_KEY_ERRORS: dict[type[KeyError_], type[LedgerError]] = {
    SignatureError: AuthenticationError,
    UnknownKeyError: AuthenticationError,
    KeyNotValidError: ForbiddenError,
}


def key_problem(exc: KeyError_) -> LedgerError:
    """The ledger error answering a key or signature problem (its slug kept)."""
    for cls in type(exc).__mro__:
        if cls in _KEY_ERRORS:
            err = _KEY_ERRORS[cls](str(exc))
            err.slug = exc.slug
            return err
    return AuthenticationError(str(exc))
