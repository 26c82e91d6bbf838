"""Baseline servers for the benchmark, on the same stack as the ledger (FastAPI under uvicorn).

- ``baseline_app``: the usual pattern, one eventsourcing ``save()`` per request, no signatures;
- ``echo_app``: returns the request body: the HTTP ceiling of this stack on this machine.
Run from the checkout with ``uvicorn --factory bench.apps:baseline_app`` (settings from the environment).
"""

from __future__ import annotations

import os
from typing import Any

from eventsourcing.application import Application
from eventsourcing.domain import Aggregate, event
from fastapi import FastAPI, Request
from fastapi.responses import Response


class PlainRecord(Aggregate):
    """A record with no signature, no rules: what the plain library stores."""

    class Submitted(Aggregate.Created):
        body: dict[str, Any]

    @event(Submitted)
    def __init__(self, body: dict[str, Any]) -> None:
        self.body = body


class PlainLedger(Application[Any]):
    """The plain-library application the baselines use."""

    name = "PlainLedger"


def plain_env(schema: str | None = None) -> dict[str, str]:
    """Environment for the plain application: PostgreSQL from BENCH_POSTGRES_* variables."""
    return {
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
        "POSTGRES_DBNAME": os.environ.get("BENCH_POSTGRES_DBNAME", "test"),
        "POSTGRES_HOST": os.environ.get("BENCH_POSTGRES_HOST", "127.0.0.1"),
        "POSTGRES_PORT": os.environ.get("BENCH_POSTGRES_PORT", "5432"),
        "POSTGRES_USER": os.environ.get("BENCH_POSTGRES_USER", "postgres"),
        "POSTGRES_PASSWORD": os.environ.get("BENCH_POSTGRES_PASSWORD", ""),
        "POSTGRES_SCHEMA": schema or os.environ.get("BENCH_POSTGRES_SCHEMA", "public"),
        "POSTGRES_POOL_SIZE": "20",
        "CREATE_TABLE": "y",
    }


def baseline_app() -> FastAPI:
    """One ``save()`` per request."""
    app = FastAPI()
    ledger = PlainLedger(plain_env())

    @app.post("/v1/statements")
    def append(body: dict[str, Any]) -> dict[str, Any]:
        record = PlainRecord(body=body.get("statement", body))
        recordings = ledger.save(record)
        return {"id": str(record.id), "position": recordings[-1].notification.id}

    @app.post("/v1/queries")
    def query(body: dict[str, Any]) -> dict[str, Any]:
        return append(body)

    return app


def echo_app() -> FastAPI:
    """Echo the body back."""
    app = FastAPI()

    @app.post("/v1/statements")
    async def echo(request: Request) -> Response:
        return Response(await request.body(), media_type="application/json")

    return app


def unsigned_save_rate(bodies: list[dict[str, Any]], schema: str, per_save: int = 100) -> float:
    """Events/s of the plain library saving ``bodies`` unsigned, ``per_save`` aggregates per ``save()``."""
    import time

    ledger = PlainLedger(plain_env(schema))
    try:
        start = time.perf_counter()
        for i in range(0, len(bodies), per_save):
            ledger.save(*[PlainRecord(body=b) for b in bodies[i:i + per_save]])
        return len(bodies) / (time.perf_counter() - start)
    finally:
        ledger.close()

