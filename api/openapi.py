"""OpenAPI request bodies and responses with examples.

Bodies are read raw (to refuse duplicate keys and to sign canonical bytes), so their schemas are
declared here rather than inferred from a model.
"""

from __future__ import annotations

from typing import Any

from api.problems import PROBLEM_SCHEMA

STATEMENT_EXAMPLE: dict[str, Any] = {
    "type": "record.submitted",
    "id": "3f0c5a52-8f7e-4d1b-9a51-2b8f0e3c9d11",
    "issuer": "91370200MA3C00001N",
    "issued_at": "2026-03-02T08:30:00Z",
    "ledger": "credit-ledger.example/log",
    "subject": "11010519491231002X",
    "subject_name": "张三",
    "item": "food_drug.serious",
    "summary": "Sold food past its use-by date after a written warning",
    "decision_date": "2026-02-27",
    "document_number": "青市监罚〔2026〕15号",
    "legal_basis": "Food Safety Law art. 124",
}
ENVELOPE_EXAMPLE: dict[str, Any] = {
    "statement": STATEMENT_EXAMPLE,
    "key_id": "ed25519:5c1c3f2d0b8a4e6f9a7b3c2d1e0f4a5b",
    "signature": "base64 Ed25519 signature over the RFC 8785 bytes of statement",
}
ENVELOPE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["statement", "key_id", "signature"],
    "additionalProperties": False,
    "properties": {
        "statement": {
            "type": "object",
            "required": ["type", "id", "issuer", "issued_at", "ledger"],
            "properties": {
                "type": {"type": "string"},
                "id": {"type": "string", "format": "uuid"},
                "issuer": {"type": "string", "description": "unified social credit code of the department"},
                "issued_at": {"type": "string", "format": "date-time"},
                "ledger": {"type": "string", "description": "the log origin of the ledger the statement is for"},
            },
            "description": "Fields by type are listed in the README.",
        },
        "key_id": {"type": "string", "pattern": "^ed25519:[0-9a-f]{32}$"},
        "signature": {"type": "string", "description": "base64 Ed25519 over JCS(statement)"},
    },
}
RECEIPT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["statement_id", "type", "position", "leaf_index", "recorded_at"],
    "properties": {
        "statement_id": {"type": "string", "format": "uuid"},
        "type": {"type": "string"},
        "position": {"type": "integer", "description": "the event's position in the ledger's global sequence"},
        "leaf_index": {"type": "integer", "description": "dense index of the entry in the transparency log"},
        "recorded_at": {"type": "string", "format": "date-time"},
        "record_version": {
            "type": "integer", "minimum": 1,
            "description": "statements about a record (record.*, objection.*, statement.added): the record's version "
                           "after this statement, the record_version a record.corrected must name next",
        },
        "outcome": {
            "type": "object", "required": ["status"],
            "description": "queries: the ledger's decision, recorded in the entry",
            "properties": {"status": {"type": "string", "enum": ["accepted", "refused"]},
                           "reason": {"type": "string", "description": "why a refused query was refused"}},
        },
        "compromise_window": {
            "type": "array", "items": {"type": "object"},
            "description": "key.revoked: the entries signed with the key and recorded or dated from effective_at "
                           "until the revocation",
        },
    },
}
RECEIPT_EXAMPLE = {
    "statement_id": STATEMENT_EXAMPLE["id"], "type": "record.submitted", "position": 42, "leaf_index": 41,
    "recorded_at": "2026-03-02T08:30:00.512345Z", "record_version": 1,
}
_PROBLEM = {"application/problem+json": {"schema": PROBLEM_SCHEMA}}


def _problem(example_slug: str, status: int, detail: str) -> dict[str, Any]:
    return {
        "application/problem+json": {
            "schema": PROBLEM_SCHEMA,
            "example": {"type": f"urn:credit-ledger:problem:{example_slug}", "title": "Refused", "status": status,
                        "detail": detail},
        }
    }


ENVELOPE_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": ENVELOPE_SCHEMA, "example": ENVELOPE_EXAMPLE}},
    }
}
BATCH_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object", "required": ["envelopes"], "additionalProperties": False,
                    "properties": {"envelopes": {"type": "array", "minItems": 1, "items": ENVELOPE_SCHEMA}},
                },
                "example": {"envelopes": [ENVELOPE_EXAMPLE]},
            }
        },
    }
}
RECEIPT_RESPONSES: dict[int | str, dict[str, Any]] = {
    201: {"description": "Appended", "content": {"application/json": {"schema": RECEIPT_SCHEMA, "example": RECEIPT_EXAMPLE}}},
    200: {"description": "Identical re-submission: the original receipt",
          "content": {"application/json": {"schema": RECEIPT_SCHEMA, "example": RECEIPT_EXAMPLE}}},
    400: {"description": "Malformed body", "content": _problem("malformed", 400, "duplicate JSON object key 'id'")},
    401: {"description": "Signature or key not accepted",
          "content": _problem("bad-signature", 401, "signature does not verify over the statement's canonical bytes")},
    403: {"description": "Not permitted", "content": _problem("forbidden", 403, "department may not submit this item")},
    404: {"description": "Referenced record not found", "content": _PROBLEM},
    409: {"description": "Same id with other content, or a stale version", "content": _PROBLEM},
    413: {"description": "Body too large: more bytes, or more JSON brackets, commas and quotes, than the "
                        "endpoint takes", "content": _PROBLEM},
    415: {"description": "Not JSON", "content": _PROBLEM},
    422: {"description": "Schema or domain rule refused it",
          "content": _problem("invalid-statement", 422, "subject: resident ID 1101**********0021: wrong check digit")},
    503: {"description": "Storage unavailable or write queue full", "content": _PROBLEM},
}
BATCH_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "One result per envelope",
        "content": {"application/json": {"schema": {
            "type": "object", "required": ["accepted", "refused", "results"],
            "properties": {
                "accepted": {"type": "integer"}, "refused": {"type": "integer"},
                "results": {"type": "array", "items": {
                    "type": "object", "required": ["index", "status"],
                    "properties": {"index": {"type": "integer"}, "status": {"type": "integer"},
                                   "receipt": RECEIPT_SCHEMA, "problem": PROBLEM_SCHEMA},
                }},
            },
        }}},
    },
    400: RECEIPT_RESPONSES[400], 413: RECEIPT_RESPONSES[413], 415: RECEIPT_RESPONSES[415],
    503: RECEIPT_RESPONSES[503],
}

QUERY_EXAMPLE: dict[str, Any] = {
    "statement": {
        "type": "query.requested", "id": "8d3c2a10-4b6e-4f7a-9c1d-0e2f3a4b5c6d", "issuer": "91370200MA3C00001N",
        "issued_at": "2026-03-02T09:00:00Z", "ledger": "credit-ledger.example/log", "operator": "staff-0042", "subject": "11010519491231002X",
        "purpose": "administrative_licensing", "legal_basis": "Administrative Licensing Law art. 31",
        "scope": "archive",
    },
    "key_id": "ed25519:5c1c3f2d0b8a4e6f9a7b3c2d1e0f4a5b",
    "signature": "base64 Ed25519 signature over the RFC 8785 bytes of statement",
}
QUERY_BODY: dict[str, Any] = {
    "requestBody": {"required": True, "content": {"application/json": {"schema": ENVELOPE_SCHEMA,
                                                                         "example": QUERY_EXAMPLE}}}
}
QUERY_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"description": "Recorded, then answered", "content": {"application/json": {"schema": {
        "type": "object", "required": ["receipt", "data"],
        "properties": {"receipt": RECEIPT_SCHEMA, "data": {
            "type": "object",
            "description": "by scope; for archive: records (each with its fields, status and record_version, the "
                           "version a record.corrected must name), points, green_channel, key_supervision, as_of_day",
        }}}}}},
    403: {"description": "Recorded as refused (the problem carries the receipt), or not permitted",
          "content": _problem("query-refused", 403, "purpose other_management needs a written justification")},
    **{k: v for k, v in RECEIPT_RESPONSES.items() if k in (400, 401, 413, 415, 422, 503)},
}

READ_PROBLEMS: dict[int | str, dict[str, Any]] = {
    400: {"description": "A size, index, range, date or cursor outside what the log or list holds",
          "content": _problem("invalid-range", 400, "tree size 10000 is beyond the log's current size 42")},
    404: {"description": "No such checkpoint, statement or route", "content": _PROBLEM},
    422: {"description": "A parameter of the wrong type or form", "content": _PROBLEM},
    503: {"description": "Storage unavailable", "content": _PROBLEM},
}
