"""``/v1/statements``: departments and the authority append signed statements."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import Response

from api.body import read_json
from api.deps import CommitterDep, SettingsDep
from api.observe import note
from api.openapi import BATCH_BODY, ENVELOPE_BODY, RECEIPT_RESPONSES, BATCH_RESPONSES
from api.problems import problem_of, status_of
from ledger.application import Receipt
from ledger.errors import LedgerError, MalformedError, ValidationError
from ledger.format.statements import Envelope, parse_envelope


def _not_a_query(envelope: Envelope) -> Envelope:
    """Queries are recorded where they are answered: ``POST /v1/queries``."""
    if envelope.statement.type == "query.requested":
        raise ValidationError("queries go to POST /v1/queries, which answers them")
    return envelope


router = APIRouter(prefix="/v1/statements", tags=["statements"])

CHECK_IN_THREAD_ITEMS = 100
"""A batch of more envelopes has their shapes checked in a worker thread, off the event loop."""


def _check_items(items: list[Any]) -> tuple[list[dict[str, Any] | None], list[tuple[int, Envelope]]]:
    """Each item's envelope checked on its own: the refusals in place, and the envelopes to submit."""
    results: list[dict[str, Any] | None] = [None] * len(items)
    parsed: list[tuple[int, Envelope]] = []
    for i, item in enumerate(items):
        try:
            parsed.append((i, _not_a_query(parse_envelope(item))))
        except LedgerError as exc:
            results[i] = {"index": i, "status": status_of(exc), "problem": problem_of(exc)}
    return results, parsed


def _json(body: Any, status: int, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type="application/json", headers=headers)


@router.post(
    "",
    summary="Append one signed statement",
    description=(
        "Verifies the Ed25519 signature over JCS(statement), the key's department and validity, the issuer's "
        "permissions, the type's schema and the domain rules, then appends. 201 with the receipt; an identical "
        "re-submission answers 200 with the same receipt (header `Idempotent-Replay: true`); the same id with "
        "other content is 409. Refusals are RFC 9457 problems and store nothing."
    ),
    openapi_extra=ENVELOPE_BODY,
    responses=RECEIPT_RESPONSES,
    status_code=201,
)
async def append_statement(request: Request, committer: CommitterDep, settings: SettingsDep) -> Response:
    envelope = _not_a_query(parse_envelope(await read_json(request, settings.max_body_bytes)))
    (outcome,) = await asyncio.wrap_future(committer.submit([envelope]))
    if isinstance(outcome, LedgerError):
        raise outcome
    assert isinstance(outcome, Receipt)
    note(request, statement_ids=[str(outcome.statement_id)], positions=[outcome.position])
    if outcome.replay:
        return _json(outcome.as_dict(), 200, {"Idempotent-Replay": "true"})
    return _json(outcome.as_dict(), 201)


@router.post(
    "/batch",
    summary="Append many signed statements in one request",
    description=(
        "Takes `{\"envelopes\": [...]}`. Each envelope is judged on its own, as by the single endpoint, and "
        "all accepted ones are appended in one transaction. The answer lists one result per envelope, in order: "
        "`status` (201, 200 for a replay, or the refusal's status) with a `receipt` or a `problem`."
    ),
    openapi_extra=BATCH_BODY,
    responses=BATCH_RESPONSES,
)
async def append_batch(request: Request, committer: CommitterDep, settings: SettingsDep) -> Response:
    body = await read_json(request, settings.max_batch_body_bytes, settings.max_batch_items)
    if not isinstance(body, dict) or set(body) != {"envelopes"} or not isinstance(body["envelopes"], list):
        raise MalformedError('a batch is {"envelopes": [envelope, ...]}')
    items = body["envelopes"]
    if not items:
        raise MalformedError("a batch needs at least one envelope")
    if len(items) > settings.max_batch_items:
        raise MalformedError(f"a batch holds at most {settings.max_batch_items} envelopes")
    if len(items) > CHECK_IN_THREAD_ITEMS:
        results, parsed = await asyncio.to_thread(_check_items, items)
    else:
        results, parsed = _check_items(items)
    if parsed:
        outcomes = await asyncio.wrap_future(committer.submit([e for _, e in parsed]))
        for (i, _), outcome in zip(parsed, outcomes, strict=True):
            if isinstance(outcome, LedgerError):
                results[i] = {"index": i, "status": status_of(outcome), "problem": problem_of(outcome)}
            else:
                results[i] = {"index": i, "status": 200 if outcome.replay else 201, "receipt": outcome.as_dict()}
    accepted = sum(1 for r in results if r and r["status"] in (200, 201))
    _note_batch(request, results)
    return _json({"accepted": accepted, "refused": len(items) - accepted, "results": results}, 200)


def _note_batch(request: Request, results: list[dict[str, Any] | None]) -> None:
    """Tell the access log and metrics a batch's counts, the positions its statements are at (first, last)
    and its refusals by problem type."""
    positions = [r["receipt"]["position"] for r in results if r and "receipt" in r]
    problems: dict[str, int] = {}
    for r in results:
        if r and "problem" in r:
            slug = r["problem"]["type"].rpartition(":")[2]
            problems[slug] = problems.get(slug, 0) + 1
    note(request, accepted=len(positions), refused=len(results) - len(positions),
         positions=[min(positions), max(positions)] if positions else [], problems=problems)
