"""``/healthz``: is the service up and its database reachable; on a read-only server, how far its standby is
behind (replay lag in bytes of WAL and seconds, and in ledger positions when the primary is known)."""

from __future__ import annotations

import asyncio
import json
import urllib.request
from typing import Any

from fastapi import APIRouter

from api.deps import LedgerDep, SettingsDep, ViewsDep
from api.openapi import READ_PROBLEMS

router = APIRouter(tags=["health"], responses={503: READ_PROBLEMS[503]})

REPLAY_SQL = (
    "SELECT pg_is_in_recovery(), pg_last_wal_receive_lsn()::text, pg_last_wal_replay_lsn()::text,"
    " COALESCE(pg_wal_lsn_diff(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn()), 0)::bigint,"
    " CASE WHEN NOT pg_is_in_recovery() OR pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0"
    " ELSE COALESCE(EXTRACT(EPOCH FROM clock_timestamp() - pg_last_xact_replay_timestamp()), 0) END::float8"
)
"""The standby's replay state: in recovery, WAL received and replayed, their distance, and the replay delay in
seconds (the age of the last replayed transaction while WAL waits to be replayed; 0 when everything received is
replayed: an idle primary sends nothing, and that is no lag)."""


def replayed_head(store: Any) -> int:
    """The position of the latest ledger entry this database holds (on a standby: has replayed)."""
    rows = store.query("SELECT MAX(notification_id) FROM ledger_entries")
    return int(rows[0][0] or 0) if rows else 0


def primary_position(primary_url: str, timeout: float = 2.0) -> int | None:
    """The primary service's ledger position (its ``/healthz``), or None if it does not answer."""
    try:
        with urllib.request.urlopen(primary_url.rstrip("/") + "/healthz", timeout=timeout) as response:
            return int(json.loads(response.read())["position"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def replica_state(store: Any, primary_url: str | None) -> dict[str, Any]:
    """What a read-only server tells of its standby: replayed head, replay lag (bytes, seconds), and with a
    primary URL, the primary's position and how many positions the standby is behind it."""
    head = replayed_head(store)
    in_recovery, received, replayed, lag_bytes, lag_seconds = store.query(REPLAY_SQL)[0]
    state: dict[str, Any] = {
        "in_recovery": bool(in_recovery), "receive_lsn": received, "replay_lsn": replayed,
        "replay_lag_bytes": int(lag_bytes), "replay_lag_seconds": round(float(lag_seconds), 3), "position": head,
        "primary": primary_url,
    }
    if primary_url:
        theirs = primary_position(primary_url)
        state["primary_position"] = theirs
        state["behind_positions"] = None if theirs is None else max(0, theirs - head)
    return state


@router.get("/healthz", summary="Liveness and database reachability")
async def healthz(ledger: LedgerDep, settings: SettingsDep, views: ViewsDep) -> dict[str, object]:
    """200 with the statement count and the ledger position when the database answers; a 503 problem
    otherwise. A read-only server adds ``replica``: its standby's replay lag."""
    count = await asyncio.to_thread(ledger.count)
    version = await asyncio.to_thread(ledger.catalogue_version)
    position = await asyncio.to_thread(replayed_head, views.store)
    answer: dict[str, object] = {"status": "ok", "backend": settings.backend, "statements": count,
                                 "catalogue_version": version, "position": position,
                                 "read_only": settings.read_only}
    if settings.read_only:
        answer["replica"] = await asyncio.to_thread(replica_state, views.store, settings.primary_url)
    return answer
