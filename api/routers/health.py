"""``/healthz``: is the service up and its database reachable."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter

from api.deps import LedgerDep, SettingsDep
from api.openapi import READ_PROBLEMS

router = APIRouter(tags=["health"], responses={503: READ_PROBLEMS[503]})


@router.get("/healthz", summary="Liveness and database reachability")
async def healthz(ledger: LedgerDep, settings: SettingsDep) -> dict[str, object]:
    """200 with the statement count when the database answers; a 503 problem otherwise."""
    count = await asyncio.to_thread(ledger.count)
    version = await asyncio.to_thread(ledger.catalogue_version)
    return {"status": "ok", "backend": settings.backend, "statements": count, "catalogue_version": version}
