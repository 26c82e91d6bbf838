"""The public site's list pages against the JSON list endpoint, in the same run on the same server.

A ledger with a black list of ``entries`` disclosed records (four authorities, two fields) is served by
``credit-ledger serve``; ``wrk`` (32 connections) GETs the same mix of list pages from each: the first page,
the second (by its cursor), a field filter and the authority order, 20 entries a page. The two loads run
alternately (twice each with ``quick``, else three times); the figure is pages per second over JSON answers
per second (target >= 0.7x).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
import uuid
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from api.settings import Settings
from api.site.routes import PAGE_SIZE
from bench.load import run_wrk
from bench.processes import free_port, installed, start, stop
from bench.report import figure

TARGET = 0.7
PAGE = PAGE_SIZE  # the site's page size: the JSON list is asked for as many
def get_load(url: str, paths: list[str], seconds: float, connections: int = 32, threads: int = 2) -> dict[str, float]:
    """GET the paths in turn from ``url`` for ``seconds``: req/s, p50, p99 (ms), non-200 answers."""
    return run_wrk(url, [p.encode() for p in paths],
                   'wrk.format("GET", items[i], {["Accept-Language"] = "zh-CN,zh;q=0.9"})', "status ~= 200",
                   seconds, connections, threads)


def fill(settings: Settings, entries: int) -> None:
    """Found a ledger and put ``entries`` records on its black list (four authorities, two fields)."""
    from api.runtime import AUTHORITY_KEY, init, open_ledger
    from keys import KeyPair
    from ledger.domain.genesis import authority_statement
    from ledger.format.identifiers import resident_check_digit, uscc_check_char
    from ledger.format.statements import format_datetime, make_envelope, parse_envelope

    init(settings)
    authority = KeyPair.load(settings.keys_dir / AUTHORITY_KEY)
    ledger = open_ledger(settings)
    try:
        now = datetime.now(timezone.utc) - timedelta(seconds=1)
        stamp = format_datetime(now)
        today = now.date()

        def append(envelopes: list[dict[str, Any]]) -> None:
            for start_at in range(0, len(envelopes), 1000):
                for outcome in ledger.append([parse_envelope(e) for e in envelopes[start_at:start_at + 1000]]):
                    if isinstance(outcome, Exception):
                        raise RuntimeError(f"site bench setup refused: {outcome}")

        depts = []
        setup = []
        for n, name in enumerate(("青岛市市场监督管理局", "青岛市应急管理局", "国家税务总局青岛市税务局", "青岛市生态环境局")):
            first17 = f"11370200PAGE{n}" + "".join(c for c in uuid.uuid4().hex.upper() if c in "0123456789ABCDEF")[:4]
            code, key = first17 + uscc_check_char(first17), KeyPair.generate()
            depts.append((code, key))
            setup += [authority_statement("department.registered", {
                "department": code, "name": name, "items": ["food_drug.serious", "work_safety.serious"],
                "purposes": ["administrative_licensing"]}, now, ledger=settings.log_origin),
                authority_statement("key.added", {"department": code, "key_id": key.key_id,
                                                  "public_key": key.public_key_b64, "valid_from": stamp}, now,
                                    ledger=settings.log_origin)]
        append([make_envelope(s, authority.key_id, authority.sign) for s in setup])
        records, disclosures = [], []
        for k in range(entries):
            code, key = depts[k % len(depts)]
            born = date(1960, 1, 1) + timedelta(days=(k * 37) % 14000)
            rid17 = "370202" + born.strftime("%Y%m%d") + f"{k % 1000:03d}"

            def signed(fields: dict[str, Any], code: str = code, key: Any = key) -> dict[str, Any]:
                statement = {"id": str(uuid.uuid4()), "issuer": code, "issued_at": stamp,
                             "ledger": settings.log_origin, **fields}
                return make_envelope(statement, key.key_id, key.sign)

            record = signed({"type": "record.submitted", "subject": rid17 + resident_check_digit(rid17),
                             "subject_name": "张三", "item": ("food_drug", "work_safety")[k % 2] + ".serious",
                             "summary": f"bench record {k}", "document_number": f"青罚〔2026〕{k}号",
                             "decision_date": (today - timedelta(days=1 + k % 700)).isoformat(),
                             "legal_basis": "《中华人民共和国食品安全法》第一百二十四条"})
            records.append(record)
            disclosures.append(signed({"type": "record.disclosed", "record_id": record["statement"]["id"],
                                       "list": "black", "notice_served_at": today.isoformat(),
                                       "public_reason": "销售超过保质期的食品，情节严重"}))
        append(records)
        append(disclosures)
    finally:
        ledger.close()


def wait_for_list(url: str, entries: int) -> list[dict[str, str]]:
    """Wait until the served black list holds every entry; return the parameters of the list pages to load."""
    import httpx

    deadline = time.monotonic() + 300
    with httpx.Client(base_url=url, timeout=30) as client:
        while True:
            seen, cursor = 0, None
            while True:
                data = client.get("/v1/public/lists/black", params={"limit": 200, **({"cursor": cursor} if cursor else {})}).json()
                seen += len(data["entries"])
                cursor = data["next_cursor"]
                if cursor is None:
                    break
            if seen >= entries:
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"the black list holds {seen} of {entries} entries after 300 s")
            time.sleep(0.5)
        second = client.get("/v1/public/lists/black", params={"limit": PAGE}).json()["next_cursor"]
    return [{}, {"cursor": second}, {"field": "food_drug"}, {"sort": "authority"}]


def run_site(quick: bool, postgres_url: str | None = None, workers: int | None = None) -> dict[str, Any]:
    """Pages per second of ``/lists/black`` against answers per second of ``/v1/public/lists/black`` (the same
    mix of pages, 20 entries each), on one ``credit-ledger serve`` (PostgreSQL at ``postgres_url``, else
    SQLite). Returns both rates, their ratio, whether it meets the target, and the figures for the table."""
    import psycopg
    from psycopg import sql

    from bench.ledgers import server_env

    entries, seconds, rounds = (200, 3, 2) if quick else (2000, 10, 3)
    workers = workers or int(os.environ.get("CREDIT_LEDGER_BENCH_WORKERS", str(os.cpu_count() or 1)))
    tmp = Path(tempfile.mkdtemp(prefix="credit-ledger-bench-site-"))
    schema = f"bench_site_{uuid.uuid4().hex[:8]}"
    settings = (Settings(data_dir=tmp / "data", database_url=postgres_url, database_schema=schema)
                if postgres_url else Settings(data_dir=tmp / "data"))
    try:
        fill(settings, entries)
        port = free_port()
        server = start([installed("credit-ledger"), "serve", "--port", str(port), "--log-level", "warning",
                        "--workers", str(workers)], server_env(settings), port)
        url = f"http://127.0.0.1:{port}"
        try:
            pages = wait_for_list(url, entries)
            # the JSON list with the site's page size; the site's pages at their default size (the same 20)
            paths = {"json": [f"/v1/public/lists/black?{urlencode({'limit': PAGE, **p})}" for p in pages],
                     "site": [f"/lists/black?{urlencode(p)}" if p else "/lists/black" for p in pages]}
            runs: dict[str, list[dict[str, float]]] = {"json": [], "site": []}
            for _ in range(rounds):  # alternately, so that other load on the machine falls on both
                for name in ("json", "site"):
                    runs[name].append(get_load(url, paths[name], seconds))
        finally:
            stop(server)
    finally:
        if postgres_url:
            with psycopg.connect(postgres_url, autocommit=True) as conn:
                conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))
        shutil.rmtree(tmp, ignore_errors=True)
    for name, loads in runs.items():
        failed = sum(int(m["errors"]) for m in loads)
        if failed:
            raise RuntimeError(f"{name}: {failed} answers were not 200")
    site = sum(m["rps"] for m in runs["site"]) / len(runs["site"])
    json_rate = sum(m["rps"] for m in runs["json"]) / len(runs["json"])
    ratio = site / json_rate
    backend = "postgres" if postgres_url else "sqlite"
    return {
        "pages_per_second": site, "json_per_second": json_rate, "ratio": ratio, "target": TARGET,
        "met": ratio >= TARGET, "entries": entries, "backend": backend, "workers": workers, "runs": runs,
        "figures": [
            figure(f"9 site list pages, {entries} entries, 32 clients, serve --workers {workers} ({backend})", site,
                   "pages/s", json_rate, f">= {TARGET}x the JSON list endpoint", ratio >= TARGET),
            figure("9 site list page p99", sum(m["p99_ms"] for m in runs["site"]) / rounds, "ms",
                   sum(m["p99_ms"] for m in runs["json"]) / rounds, "information", None),
        ],
    }
