"""Errors of the ledger layer: refusals, each named by a slug (its reason, the problem type the API reports)
and a title. They carry no transport detail: the API decides how each is answered."""

from __future__ import annotations

from typing import Any, Protocol


class Recorded(Protocol):
    """What the ledger answers for a statement it recorded (its receipt), as a caller is shown it."""

    def as_dict(self) -> dict[str, Any]: ...


class LedgerError(Exception):
    """Base of the ledger's refusals: nothing was stored."""

    slug = "ledger-error"
    title = "Refused"


class MalformedError(LedgerError):
    """The body is not acceptable JSON (syntax, duplicate keys, nesting, size)."""

    slug = "malformed"
    title = "Malformed request body"


class ValidationError(LedgerError):
    """A statement does not match its type's schema or a domain rule on its values."""

    slug = "invalid-statement"
    title = "Invalid statement"


class AuthenticationError(LedgerError):
    """The signature or key does not authenticate the issuer."""

    slug = "bad-signature"
    title = "Signature not accepted"


class ForbiddenError(LedgerError):
    """The issuer is authenticated but may not do this."""

    slug = "forbidden"
    title = "Not permitted"


class RuleError(LedgerError):
    """The statement is well-formed but a domain rule refuses it now."""

    slug = "rule-violated"
    title = "Domain rule refused the statement"


class NotFoundError(LedgerError):
    """The statement refers to something that does not exist."""

    slug = "not-found"
    title = "Not found"


class ConflictError(LedgerError):
    """Same statement id with other content, or based on a stale version."""

    slug = "conflict"
    title = "Conflict"


class UnavailableError(LedgerError):
    """The ledger cannot take statements now (closing, overloaded)."""

    slug = "unavailable"
    title = "Service unavailable"


class QueryExpiredError(ForbiddenError):
    """A query sent again after its first answer's freshness ran out (measured from when it was recorded)."""

    slug = "query-expired"
    title = "Query expired"

    def __init__(self, detail: str, receipt: Recorded) -> None:
        super().__init__(detail)
        self.receipt = receipt


class IntegrityFailure(LedgerError):
    """The ledger's database holds what no append wrote (e.g. an authority event whose signature fails)."""

    slug = "ledger-integrity"
    title = "Ledger integrity failure"


class QueryRefusedError(ForbiddenError):
    """A query sent again that the policy refuses now (its key, or its department's purposes or roles changed)."""

    slug = "query-refused"
    title = "Query refused"


class WrongLedgerError(ForbiddenError):
    """The statement names another ledger (its log origin) than this one."""

    slug = "wrong-ledger"
    title = "Statement is for another ledger"


# What a ledger moved by ``credit-ledger copy`` says when a write reaches it (its database refuses the write).
MOVED_LEDGER = "it takes no more appends"
