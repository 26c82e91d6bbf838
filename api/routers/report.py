"""``/v1/report``: what anyone needs to check a credit report offline (the report itself comes from a
``credit_report`` query through ``POST /v1/queries``)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import PlainTextResponse, Response

from api.deps import ViewsDep

router = APIRouter(prefix="/v1/report", tags=["report"])


@router.get(
    "/verifier-key",
    summary="The report key's verifier key (C2SP signed-note key format)",
    description=(
        "`<origin>/report+<key id>+<base64(0x01 || public key)>`: the key credit reports are signed with. Pin it, "
        "with the log's verifier key (`GET /v1/log/verifier-key`), to check a report offline with "
        "`credit-ledger report verify`."
    ),
    response_class=PlainTextResponse,
)
async def verifier_key(views: ViewsDep) -> Response:
    reports = views.answers.reports
    if reports is None:  # pragma: no cover - open_views always sets it
        return PlainTextResponse("no report key\n", status_code=404)
    return PlainTextResponse(reports.verifier_key + "\n", headers={"Cache-Control": "public, max-age=300"})
