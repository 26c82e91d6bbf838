"""Credit reports: reports per second against archive queries per second in the same run, and report checks per
second. In-process: the real app (``api.app.create_app``) through Starlette's test client, so each query is
signed, appended to the ledger and answered as over HTTP, without a network; archive and report queries are
sent alternately in blocks over the same subjects, so the growing ledger and other load fall on both."""

from __future__ import annotations

import shutil
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from api.settings import Settings
from bench.report import figure

TARGET = 0.5


def _queries(scenario: Any, count: int, subjects: list[str], scope: str) -> list[dict[str, Any]]:
    """Signed queries of ``scope`` about ``subjects`` in turn (the bench department's purpose)."""
    from datetime import datetime, timezone

    from ledger.format.statements import format_datetime, make_envelope

    now = format_datetime(datetime.now(timezone.utc))
    return [make_envelope({
        "type": "query.requested", "id": str(uuid.uuid4()), "issuer": scenario.code, "issued_at": now,
        "ledger": scenario.origin, "operator": f"staff-{k % 50}", "subject": subjects[k % len(subjects)],
        "purpose": "administrative_licensing", "legal_basis": "Administrative Licensing Law art. 31",
        "scope": scope}, scenario.key.key_id, scenario.key.sign) for k in range(count)]


def _timed(client: Any, bodies: list[dict[str, Any]], keep: list[dict[str, Any]] | None = None) -> float:
    start = time.perf_counter()
    for body in bodies:
        r = client.post("/v1/queries", json=body)
        if r.status_code != 200:
            raise RuntimeError(f"bench query refused: {r.status_code} {r.text[:200]}")
        if keep is not None:
            keep.append(r.json()["data"])
    return time.perf_counter() - start


def run_report(quick: bool, postgres_url: str | None) -> dict[str, Any]:
    """Run the figures on a fresh ledger of 3 records for each of 20 subjects (200 with ``quick`` off) (PostgreSQL at ``postgres_url`` in a throwaway schema, else SQLite in a
    temporary directory, both removed afterwards). Returns the rates, their ratio and ``figures``."""
    from fastapi.testclient import TestClient

    from api.app import create_app
    from bench.ledgers import Scenario, create_schema, drop_schemas
    from ledger.format.statements import parse_envelope
    from ledger.log.report import verify_report

    subjects_n, per_subject, per_block, blocks, checks = (20, 3, 10, 3, 100) if quick else (200, 3, 25, 8, 500)
    tmp = Path(tempfile.mkdtemp(prefix="credit-ledger-bench-report-"))
    schema = f"bench_report_{uuid.uuid4().hex[:8]}"
    settings = (Settings(data_dir=tmp / "data", database_url=postgres_url, database_schema=schema, access_log=False)
                if postgres_url else Settings(data_dir=tmp / "data", access_log=False))
    try:
        if postgres_url:
            create_schema(settings, schema)
        scenario = Scenario(settings)
        try:
            envelopes = [e for _ in range(per_subject) for e in scenario.submissions(subjects_n)]
            outcomes = scenario.ledger.append([parse_envelope(e) for e in envelopes])
            if any(isinstance(o, Exception) for o in outcomes):
                raise RuntimeError("bench ledger refused a record")
            subjects = sorted({e["statement"]["subject"] for e in envelopes})
            bodies = {scope: _queries(scenario, per_block * blocks, subjects, scope)
                      for scope in ("archive", "credit_report")}
        finally:
            scenario.close()
        seconds = {"archive": 0.0, "credit_report": 0.0}
        reports: list[dict[str, Any]] = []
        with TestClient(create_app(settings)) as client:
            for b in range(blocks):
                for scope in ("archive", "credit_report"):
                    block = bodies[scope][b * per_block:(b + 1) * per_block]
                    seconds[scope] += _timed(client, block, reports if scope == "credit_report" else None)
            report_key = client.get("/v1/report/verifier-key").text.strip()
            log_key = client.get("/v1/log/verifier-key").text.strip()
        sample = [reports[i % len(reports)] for i in range(checks)]
        start = time.perf_counter()
        for report in sample:
            verify_report(report, report_key, log_key)
        verify_seconds = time.perf_counter() - start
    finally:
        if postgres_url:
            drop_schemas(postgres_url)
        shutil.rmtree(tmp, ignore_errors=True)
    count = per_block * blocks
    archive_rate, report_rate = count / seconds["archive"], count / seconds["credit_report"]
    ratio = report_rate / archive_rate
    entries = sum(1 + sum(len(r["entries"]) for r in rep["records"]) for rep in reports) / len(reports)
    backend = "PostgreSQL" if postgres_url else "SQLite"
    return {
        "backend": backend, "queries": count, "archive_per_second": round(archive_rate, 1),
        "reports_per_second": round(report_rate, 1), "ratio": round(ratio, 3),
        "verifications_per_second": round(checks / verify_seconds, 1), "entries_per_report": round(entries, 2),
        "figures": [
            figure(f"9 archive queries ({backend}, in-process)", archive_rate, "queries/s", None, "information", None),
            figure(f"9 credit reports ({backend}, in-process)", report_rate, "reports/s", archive_rate,
                   f">= {TARGET}x archive", ratio >= TARGET),
            figure(f"9 report verification ({entries:.1f} proven entries)", checks / verify_seconds, "reports/s", None,
                   "information", None),
        ],
    }
