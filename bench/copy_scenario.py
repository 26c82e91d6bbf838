"""Moving a ledger to PostgreSQL: ``credit-ledger copy`` of a SQLite ledger of ``n`` events, its time and peak
memory (VmHWM of the copying process), and the checkpoint roots of the source and the copy compared."""

from __future__ import annotations

import os
import shutil
import sqlite3
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from api.settings import Settings
from bench.processes import child
from bench.report import figure

CHECKPOINTS = 5  # made at as many sizes along the way


def _build(settings: Settings, count: int) -> int:
    """A SQLite ledger of about ``count`` events (signed submissions after the genesis), with checkpoints at
    ``CHECKPOINTS`` sizes; returns how many events it holds."""
    from api.runtime import open_views
    from bench.ledgers import Scenario
    from ledger.format.statements import parse_envelope

    scenario = Scenario(settings)
    try:
        target = max(0, count - scenario.ledger.count())
        every = max(1, target // CHECKPOINTS)
        done, next_checkpoint = 0, every
        while done < target:
            envs = [parse_envelope(e) for e in scenario.submissions(min(2000, target - done, next_checkpoint - done))]
            bad = [o for o in scenario.ledger.append(envs) if isinstance(o, Exception)]
            if bad:
                raise RuntimeError(f"bench ledger refused a statement: {bad[0]}")
            done += len(envs)
            if done >= next_checkpoint or done == target:
                views = open_views(settings, scenario.ledger)
                try:
                    views.tree.catch_up_all()
                    views.checkpointer.make()
                finally:
                    views.close()
                next_checkpoint += every
        return scenario.ledger.count()
    finally:
        scenario.close()


def _roots_sqlite(path: Path) -> list[tuple[int, bytes, str]]:
    with sqlite3.connect(path) as conn:
        return [(r[0], bytes(r[1]), r[2]) for r in conn.execute("SELECT size, root, note FROM log_checkpoints ORDER BY size")]


def _roots_pg(url: str, schema: str) -> list[tuple[int, bytes, str]]:
    import psycopg
    from psycopg import sql

    with psycopg.connect(url) as conn:
        return [(r[0], bytes(r[1]), r[2]) for r in conn.execute(sql.SQL(
            "SELECT size, root, note FROM {} ORDER BY size").format(sql.Identifier(schema, "log_checkpoints")))]


def run_copy(n: int, quick: bool) -> dict[str, Any]:
    """Copy a SQLite ledger of ``n`` events (3,000 with ``quick``) into a fresh PostgreSQL schema with the real
    command in a child process; the schema and the data directory are removed afterwards.

    Returns ``events``, ``checkpoints``, ``seconds``, ``events_per_second``, ``peak_rss_mb``, ``roots_equal``,
    ``build_seconds`` and ``figures`` (rows for the benchmark's table)."""
    import psycopg
    from psycopg import sql

    url = os.environ.get("CREDIT_LEDGER_BENCH_POSTGRES_URL") or "postgresql://postgres@127.0.0.1:5432/test"
    count = min(n, 3_000) if quick else n
    tmp = Path(tempfile.mkdtemp(prefix="credit-ledger-bench-copy-"))
    schema = f"bench_copy_{uuid.uuid4().hex[:8]}"
    settings = Settings(data_dir=tmp / "data")
    try:
        start = time.perf_counter()
        events = _build(settings, count)
        build_seconds = time.perf_counter() - start
        seconds, peak, _ = child(settings, ["copy", "--to", url, "--schema", schema])
        source, copy = _roots_sqlite(settings.sqlite_path), _roots_pg(url, schema)
    finally:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))
        shutil.rmtree(tmp, ignore_errors=True)
    equal = bool(source) and source == copy
    rate = events / seconds
    return {
        "events": events, "checkpoints": len(source), "seconds": round(seconds, 3),
        "events_per_second": round(rate, 1), "peak_rss_mb": round(peak, 2), "roots_equal": equal,
        "build_seconds": round(build_seconds, 1),
        "figures": [
            figure(f"8 copy SQLite -> PostgreSQL, {events} events", rate, "events/s", None, "information", None),
            figure(f"8 copy peak RSS, {events} events", peak, "MB", None, "< 300 MB", peak < 300),
            figure(f"8 copy checkpoint roots equal ({len(source)} checkpoints)", 1.0 if equal else 0.0, "bool", None,
                   "all equal", equal),
        ],
    }
