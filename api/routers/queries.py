"""``/v1/queries``: reads of personal data, each a signed query recorded before any data leaves."""

from __future__ import annotations

import asyncio
from datetime import datetime, timezone

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import Response

from api.body import read_json
from api.deps import AnswersDep, CommitterDep, SettingsDep
from api.observe import note
from api.openapi import QUERY_BODY, QUERY_RESPONSES
from api.problems import refusal
from ledger.application import Receipt
from ledger.errors import LedgerError, QueryExpiredError, QueryRefusedError, ValidationError
from ledger.format.statements import parse_envelope

router = APIRouter(prefix="/v1/queries", tags=["queries"])


@router.post(
    "",
    summary="Query personal data with a declared purpose (no log, no data)",
    description=(
        "Takes an envelope of a signed `query.requested` statement. The query is appended to the ledger, and so "
        "to the transparency log, before anything is read: `200` with its `receipt` and the `data`. A query the "
        "policy refuses (purpose not allowed, missing authorisation reference or justification, stale `issued_at`, "
        "scope needing a role) is appended as refused with its reason and answered `403` with the receipt. "
        "Re-sending the same envelope returns the same receipt and is logged once."
    ),
    openapi_extra=QUERY_BODY,
    responses=QUERY_RESPONSES,
)
async def query(request: Request, committer: CommitterDep, settings: SettingsDep, answers: AnswersDep) -> Response:
    envelope = parse_envelope(await read_json(request, settings.max_body_bytes))
    if envelope.statement.type != "query.requested":
        raise ValidationError("POST /v1/queries takes query.requested statements; others go to /v1/statements")
    (outcome,) = await asyncio.wrap_future(committer.submit([envelope]))
    if isinstance(outcome, QueryExpiredError):
        expired = outcome.receipt.as_dict()
        note(request, statement_ids=[expired["statement_id"]], positions=[expired["position"]])
        return refusal(outcome, receipt=expired)
    if isinstance(outcome, LedgerError):
        raise outcome
    assert isinstance(outcome, Receipt) and outcome.outcome is not None
    note(request, statement_ids=[str(outcome.statement_id)], positions=[outcome.position])
    receipt = outcome.as_dict()
    if outcome.outcome["status"] != "accepted":
        return refusal(QueryRefusedError(outcome.outcome.get("reason") or ""), receipt=receipt)
    now = datetime.now(timezone.utc)
    # The entry is committed (or, sent again, passed every check anew and is still fresh): only now is anything read.
    data = await asyncio.to_thread(answers.answer, envelope.statement.values, now, outcome.position)
    return Response(orjson.dumps({"receipt": receipt, "data": data}, default=str), media_type="application/json")
