"""Statements and envelopes: the signed unit of the ledger, their schemas and canonical bytes.

An envelope is ``{"statement": {...}, "key_id": "...", "signature": "<base64 Ed25519>"}`` where the
signature covers JCS(statement). Every statement has ``type``, ``id`` (UUID chosen by the signer),
``issuer`` (a department's unified social credit code), ``issued_at`` (RFC 3339 UTC, ``Z``: ``times``) and
``ledger`` (the log origin of the ledger it is for: a statement signed for one ledger is refused by another),
plus the fields of its type listed in ``SCHEMAS``. Unknown or missing fields are refused.
"""

from __future__ import annotations

import functools
import hashlib
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ledger.format.canonical import canonical_bytes
from ledger.errors import MalformedError, ValidationError
from ledger.format.identifiers import IdentifierError, validate_resident_id, validate_uscc
from ledger.format.times import format_datetime as format_datetime  # importable from here too, as are
from ledger.format.times import parse_date, parse_datetime  # the parsers the schemas use

Validator = Callable[[Any], Any]

_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_KEY_ID = re.compile(r"^ed25519:[0-9a-f]{32}$")
_B64 = re.compile(r"^[A-Za-z0-9+/]+={0,2}$")

PURPOSES = (
    "administrative_licensing", "administrative_penalty", "administrative_enforcement",
    "public_benefits", "procurement_and_bidding", "public_funding", "qualification_certification",
    "civil_service_hiring", "appointment_and_promotion", "commendation", "research_management",
    "other_management", "subject_self_query", "authorised_third_party", "objection_handling",
    "repair_handling", "audit", "privacy_review", "supervision",
    "employment", "enterprise_head_appointment", "title_evaluation",
)
MEASURE_TYPES = ("measure.applied",)
RESPONSIBILITY_TYPES = ("responsibility.recorded", "responsibility.ended")
SUBJECT_TYPES = ("resident", "organisation")
ROLES = ("authority", "service_window", "privacy_officer", "auditor", "registrar")
AUTHORITY_TYPES = ("department.registered", "key.added", "key.revoked", "catalogue.published")
RECORD_TYPES = (
    "record.submitted", "record.corrected", "record.disclosed", "record.disclosure_withdrawn",
    "record.repaired", "record.revoked", "objection.filed", "objection.resolved", "statement.added",
    "repair.applied", "repair.decided", "deferral.applied", "deferral.decided", "commitment.signed",
)
WINDOW_TYPES = ("objection.filed", "statement.added", "repair.applied", "deferral.applied", "commitment.signed")
"""Statements a subject makes through a service window (the window's department signs them)."""
QUERY_SCOPES = ("archive", "subject_access_log", "access_log", "review_report", "ledger_entries", "as_of_archive",
                "as_of_lists", "key_compromise", "department_assessment", "credit_report", "department_inbox")
CORRECTABLE = ("subject_name", "summary", "decision_date", "document_number", "legal_basis",
               "behaviour_end", "valid_until", "details")


def _text(max_len: int) -> Validator:
    def check(value: Any) -> str:
        if not isinstance(value, str) or not value.strip():
            raise ValidationError("must be a non-empty string")
        if len(value) > max_len:
            raise ValidationError(f"must be at most {max_len} characters")
        return value
    return check


def _uuid(value: Any) -> uuid.UUID:
    if not isinstance(value, str):
        raise ValidationError("must be a UUID string")
    if _UUID.fullmatch(value):
        return uuid.UUID(value)
    try:
        uuid.UUID(value)
    except ValueError:
        raise ValidationError(f"{value!r} is not a UUID") from None
    raise ValidationError("UUIDs are written in lowercase 8-4-4-4-12 form")


def _uscc(value: Any) -> str:
    """A unified social credit code whose check character is right."""
    try:
        code = validate_uscc(value)
    except IdentifierError as exc:
        raise ValidationError(str(exc)) from None
    if code != value:
        raise ValidationError("unified social credit codes are written in upper case")
    return code


def _uscc_admitted(value: Any) -> str:
    """A code in USCC form whose check character the authority overrides (registration only)."""
    if not isinstance(value, str):
        raise ValidationError("unified social credit code must be a string")
    try:
        return validate_uscc(value, overrides=frozenset([value]))
    except IdentifierError as exc:
        raise ValidationError(str(exc)) from None


def _registered_code(value: Any) -> str:
    """A code in USCC form; the ledger checks it names a registered department."""
    if not isinstance(value, str):
        raise ValidationError("unified social credit code must be a string")
    return _registered_code_text(value)


@functools.lru_cache(maxsize=4096)
def _registered_code_text(value: str) -> str:
    """(Issuers repeat: the check of each code is kept; refusals are not cached, they raise.)"""
    code = _uscc_admitted(value)
    if code != value:
        raise ValidationError("unified social credit codes are written in upper case")
    return code


def _resident(value: Any) -> str:
    try:
        rid = validate_resident_id(value)
    except IdentifierError as exc:
        raise ValidationError(str(exc)) from None
    if rid != value:
        raise ValidationError("resident IDs are written with an upper-case X")
    return rid


def _subject(value: Any) -> str:
    """A record's subject: a resident ID, or an organisation's unified social credit code."""
    if isinstance(value, str):
        try:
            return _resident(value)
        except ValidationError as resident_problem:
            try:
                return _uscc(value)
            except ValidationError:
                raise ValidationError(f"{resident_problem} (nor is it a unified social credit code)") from None
    raise ValidationError("must be a resident ID or a unified social credit code")


def subject_is_resident(value: str) -> bool:
    """Whether a checked subject is a resident ID (else it is an organisation's code)."""
    try:
        validate_resident_id(value)
    except IdentifierError:
        return False
    return True


def _enum(*choices: str) -> Validator:
    def check(value: Any) -> str:
        if value not in choices:
            raise ValidationError("must be one of " + ", ".join(choices))
        return value
    return check


def _list_of(inner: Validator, max_len: int = 200) -> Validator:
    def check(value: Any) -> list[Any]:
        if not isinstance(value, list) or len(value) > max_len:
            raise ValidationError(f"must be a list of at most {max_len} items")
        if len(set(map(str, value))) != len(value):
            raise ValidationError("must not repeat an element")
        return [inner(v) for v in value]
    return check


def _int(lo: int, hi: int) -> Validator:
    def check(value: Any) -> int:
        if not isinstance(value, int) or isinstance(value, bool) or not lo <= value <= hi:
            raise ValidationError(f"must be an integer from {lo} to {hi}")
        return value
    return check


def _bool(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValidationError("must be true or false")
    return value


def _object(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ValidationError("must be a JSON object")
    return value


def _key_id(value: Any) -> str:
    if not isinstance(value, str) or not _KEY_ID.match(value):
        raise ValidationError("must be a key id like ed25519:<32 hex digits>")
    return value


def _b64(value: Any) -> str:
    if not isinstance(value, str) or not _B64.match(value) or len(value) > 200:
        raise ValidationError("must be standard base64")
    return value


def _origin(value: Any) -> str:
    """The log origin of the ledger a statement is for (a checkpoint's first line: no line breaks)."""
    if not isinstance(value, str) or not value or len(value) > 200 or not value.isprintable() or value != value.strip():
        raise ValidationError("must be the ledger's log origin (printable text of at most 200 characters)")
    return value


IDENTITY_METHODS = ("id_card_reader", "id_card_inspection", "face_verification", "electronic_id", "authorised_agent")


def _identity_check(value: Any) -> dict[str, str]:
    """How a service window checked that the person asking is the subject: method and a reference."""
    if not isinstance(value, dict) or set(value) != {"method", "reference"}:
        raise ValidationError("must be an object with method and reference")
    if value["method"] not in IDENTITY_METHODS:
        raise ValidationError("method: must be one of " + ", ".join(IDENTITY_METHODS))
    try:
        _text(200)(value["reference"])
    except ValidationError as exc:
        raise ValidationError(f"reference: {exc}") from None
    return value


COMMON: dict[str, Validator] = {
    "type": _enum(*AUTHORITY_TYPES, *RECORD_TYPES, *MEASURE_TYPES, *RESPONSIBILITY_TYPES, "query.requested"),
    "id": _uuid,
    "issuer": _registered_code,
    "issued_at": parse_datetime,
    "ledger": _origin,
}

# Per type: (required fields, optional fields).
SCHEMAS: dict[str, tuple[dict[str, Validator], dict[str, Validator]]] = {
    "department.registered": (
        {"department": _uscc, "name": _text(200), "items": _list_of(_text(100), 1000),
         "purposes": _list_of(_enum(*PURPOSES), len(PURPOSES))},
        {"roles": _list_of(_enum(*ROLES), len(ROLES)), "check_override": _bool},
    ),
    "key.added": (
        {"department": _registered_code, "key_id": _key_id, "public_key": _b64, "valid_from": parse_datetime},
        {},
    ),
    "key.revoked": ({"key_id": _key_id, "effective_at": parse_datetime, "reason": _text(500)}, {}),
    "catalogue.published": ({"version": _int(1, 1_000_000), "catalogue": _object}, {}),
    "record.submitted": (
        {"subject": _subject, "subject_name": _text(100), "item": _text(100), "summary": _text(2000),
         "decision_date": parse_date, "document_number": _text(100), "legal_basis": _text(500)},
        {"behaviour_end": parse_date, "valid_until": parse_date, "details": _object,
         "subject_type": _enum(*SUBJECT_TYPES), "source": _text(64), "source_reference": _text(200),
         "adopts": _uuid},
    ),
    "record.corrected": (
        {"record_id": _uuid, "record_version": _int(1, 1_000_000), "changes": _object, "reason": _text(500)},
        {},
    ),
    "record.disclosed": (
        {"record_id": _uuid, "list": _enum("black", "red")},
        {"notice_served_at": parse_date, "period_months": _int(0, 120),
         "exit_conditions": _text(1000), "remedies": _text(1000), "public_reason": _text(500)},
    ),
    "record.disclosure_withdrawn": ({"record_id": _uuid, "reason": _text(500)}, {}),
    "record.repaired": (
        {"record_id": _uuid, "method": _text(50), "proof_reference": _text(200),
         "commitment_reference": _text(200)},
        {},
    ),
    "record.revoked": ({"record_id": _uuid, "reason": _text(500), "annulling_document": _text(200)}, {}),
    "objection.filed": (
        {"record_id": _uuid, "subject": _subject, "grounds": _text(2000)},
        {"needs_verification": _bool},
    ),
    "objection.resolved": (
        {"record_id": _uuid, "objection_id": _uuid, "outcome": _enum("upheld", "corrected", "revoked"),
         "reason": _text(1000)},
        {},
    ),
    "statement.added": ({"record_id": _uuid, "subject": _subject, "text": _text(2000)}, {}),
    "repair.applied": (
        {"record_id": _uuid, "subject": _subject, "method": _text(50), "reason": _text(2000)},
        {"commitment_id": _uuid, "identity_check": _identity_check},
    ),
    "repair.decided": (
        {"record_id": _uuid, "application_id": _uuid, "outcome": _enum("granted", "refused"), "reason": _text(1000)},
        {"proof_reference": _text(200)},
    ),
    "deferral.applied": (
        {"record_id": _uuid, "subject": _subject, "until": parse_date, "reason": _text(2000)},
        {"identity_check": _identity_check},
    ),
    "deferral.decided": (
        {"record_id": _uuid, "application_id": _uuid, "outcome": _enum("granted", "refused"), "reason": _text(1000)},
        {"until": parse_date},
    ),
    "commitment.signed": (
        {"record_id": _uuid, "subject": _subject, "text": _text(2000)},
        {"identity_check": _identity_check},
    ),
    "responsibility.recorded": (
        {"organisation": _uscc, "organisation_name": _text(200), "person": _resident, "person_name": _text(100),
         "role": _text(50), "from": parse_date},
        {"until": parse_date},
    ),
    "responsibility.ended": ({"responsibility_id": _uuid, "until": parse_date, "reason": _text(500)}, {}),
    "measure.applied": (
        {"measure": _text(64), "subject": _subject, "purpose": _enum(*PURPOSES), "decision_reference": _text(200)},
        {"records": _list_of(_uuid, 100)},
    ),
    "query.requested": (
        {"operator": _text(64), "purpose": _enum(*PURPOSES), "legal_basis": _text(500), "scope": _enum(*QUERY_SCOPES)},
        {"subject": _subject, "authorisation_ref": _text(200), "justification": _text(1000), "filters": _object,
         "identity_check": _identity_check},
    ),
}


@dataclass(frozen=True)
class Statement:
    """A checked statement: its parsed values, the original object and its canonical bytes."""

    type: str
    id: uuid.UUID
    issuer: str
    issued_at: datetime
    values: dict[str, Any]
    body: dict[str, Any]
    canonical: bytes

    @property
    def digest(self) -> bytes:
        """SHA-256 of the canonical bytes: equal digests mean the same statement."""
        return hashlib.sha256(self.canonical).digest()


@dataclass(frozen=True)
class Envelope:
    """A statement with the key id and signature that claim it."""

    statement: Statement
    key_id: str
    signature: str


def _check_fields(obj: dict[str, Any], required: dict[str, Validator], optional: dict[str, Validator]) -> dict[str, Any]:
    missing = [k for k in required if k not in obj]
    if missing:
        raise ValidationError("missing field(s): " + ", ".join(missing))
    extra = [k for k in obj if k not in required and k not in optional]
    if extra:
        raise ValidationError("field(s) not allowed here: " + ", ".join(sorted(extra)))
    values: dict[str, Any] = {}
    for name, value in obj.items():
        check = required.get(name) or optional[name]
        try:
            values[name] = check(value)
        except ValidationError as exc:
            raise ValidationError(f"{name}: {exc}") from None
    return values


# Per type: every field's validator (the common ones last, as ``parse_statement`` orders the values),
# and the fields a statement must have.
_FIELDS: dict[str, tuple[dict[str, Validator], frozenset[str]]] = {
    kind: ({**required, **optional, **COMMON}, frozenset(required) | frozenset(COMMON))
    for kind, (required, optional) in SCHEMAS.items()
}


def parse_statement(obj: Any) -> Statement:
    """Check a statement object against its type's schema; return it with its canonical bytes.

    A statement that has every field its type needs and no other, each valid, is checked in one pass;
    anything else goes through the full check, which names the first problem.
    """
    if type(obj) is dict:
        kind = obj.get("type")
        fields = _FIELDS.get(kind) if type(kind) is str else None
        if (fields is not None and obj.keys() >= fields[1] and obj.keys() <= fields[0].keys()
                and not (kind == "department.registered" and obj.get("check_override") is True)):
            validators = fields[0]
            try:
                values = {name: validators[name](value) for name, value in obj.items() if name not in COMMON}
                for name, check in COMMON.items():
                    values[name] = check(obj[name])
            except ValidationError:
                pass
            else:
                return Statement(type=values["type"], id=values["id"], issuer=values["issuer"],
                                 issued_at=values["issued_at"], values=values, body=obj,
                                 canonical=canonical_bytes(obj))
    return _parse_statement_checked(obj)


def _parse_statement_checked(obj: Any) -> Statement:
    if not isinstance(obj, dict):
        raise ValidationError("statement must be a JSON object")
    kind = obj.get("type")
    if not isinstance(kind, str) or kind not in SCHEMAS:
        raise ValidationError(f"unknown statement type {kind!r}")
    required, optional = SCHEMAS[kind]
    if kind == "department.registered" and obj.get("check_override") is True:
        required = {**required, "department": _uscc_admitted}
    common = _check_fields({k: obj[k] for k in COMMON if k in obj}, COMMON, {})
    values = _check_fields({k: v for k, v in obj.items() if k not in COMMON}, required, optional)
    values.update(common)
    return Statement(
        type=kind, id=common["id"], issuer=common["issuer"], issued_at=common["issued_at"],
        values=values, body=obj, canonical=canonical_bytes(obj),
    )


def parse_envelope(obj: Any) -> Envelope:
    """Check an envelope's shape and its statement; the signature is checked by the ledger."""
    if not isinstance(obj, dict):
        raise MalformedError("an envelope is a JSON object with statement, key_id and signature")
    extra = set(obj) - {"statement", "key_id", "signature"}
    missing = {"statement", "key_id", "signature"} - set(obj)
    if missing or extra:
        parts = []
        if missing:
            parts.append("missing " + ", ".join(sorted(missing)))
        if extra:
            parts.append("not allowed " + ", ".join(sorted(extra)))
        raise ValidationError("envelope: " + "; ".join(parts))
    try:
        key_id = _key_id(obj["key_id"])
        signature = _b64(obj["signature"])
    except ValidationError as exc:
        raise ValidationError(f"envelope: {exc}") from None
    return Envelope(statement=parse_statement(obj["statement"]), key_id=key_id, signature=signature)


def make_envelope(statement: dict[str, Any], key_id: str, sign: Callable[[bytes], str]) -> dict[str, Any]:
    """Build a wire envelope: sign JCS(statement) with ``sign`` (e.g. ``KeyPair.sign``)."""
    return {"statement": statement, "key_id": key_id, "signature": sign(canonical_bytes(statement))}
