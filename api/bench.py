"""``credit-ledger bench``: figures measured in one run, each against a baseline from the same run.

Figures so far (the transparency log):
- ``proof``: inclusion and consistency proof server time at a log of N leaves (default 1,000,000),
  on SQLite and PostgreSQL; baseline: one primary-key lookup of a leaf row on the same store.
- ``audit``: ``audit verify`` of a real ledger of N signed statements, in a child process: entries/s and
  peak RSS at N/10 and N (flat memory means the two peaks are close); baseline: bare Ed25519
  verification of the same messages in one process.
"""

from __future__ import annotations

import hashlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from api.settings import Settings


def _pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


def _figure(name: str, value: float, unit: str, baseline: float | None, target: str, met: bool | None) -> dict[str, Any]:
    ratio = (value / baseline) if baseline else None
    return {"name": name, "value": round(value, 3), "unit": unit, "baseline": None if baseline is None else round(baseline, 3),
            "ratio": None if ratio is None else round(ratio, 3), "target": target, "met": met}


def _synthetic_log(settings: Settings, leaves: int) -> None:
    """Fill ``ledger_entries`` with ``leaves`` synthetic rows and build the tree (proof benchmark only)."""
    from api.runtime import open_ledger, open_store
    from projections.logtree import LogTree

    open_ledger(settings).close()  # migrations / SQLite tables
    store = open_store(settings)
    try:
        chunk = 50_000
        for start in range(0, leaves, chunk):
            rows = []
            for i in range(start, min(leaves, start + chunk)):
                h = hashlib.sha256(i.to_bytes(8, "big")).digest()
                sid = uuid.UUID(bytes=h[:16])
                rows.append((i, i + 1, sid if store.kind == "postgres" else str(sid), h, h, "2026-01-01T00:00:00.000000Z"))
            with store.transaction() as tx:
                tx.executemany("INSERT INTO ledger_entries (leaf_index, notification_id, statement_id, statement_digest,"
                               " leaf_hash, recorded_at) VALUES (%s, %s, %s, %s, %s, %s)", rows)
        tree = LogTree(store)
        while tree.catch_up(100_000):
            pass
    finally:
        store.close()


def bench_proofs(settings: Settings, leaves: int, samples: int, label: str) -> list[dict[str, Any]]:
    """Proof server time on a log of ``leaves`` leaves."""
    import random

    from api.runtime import open_store
    from projections.logtree import LogTree

    _synthetic_log(settings, leaves)
    store = open_store(settings)
    tree = LogTree(store)
    rng = random.Random(7)
    try:
        def timed(fn: Callable[[], object]) -> list[float]:
            out = []
            for _ in range(samples):
                t = time.perf_counter()
                fn()
                out.append((time.perf_counter() - t) * 1000)
            return out

        base = timed(lambda: store.query("SELECT leaf_hash FROM ledger_entries WHERE leaf_index = %s",
                                         (rng.randrange(leaves),)))
        inc = timed(lambda: tree.inclusion_proof(rng.randrange(leaves), leaves))
        con = timed(lambda: tree.consistency_proof(rng.randrange(1, leaves), leaves))
    finally:
        store.close()
    b50 = statistics.median(base)
    return [
        _figure(f"{label} inclusion proof p50 at {leaves} leaves", statistics.median(inc), "ms", b50, "p99 < 5 ms", None),
        _figure(f"{label} inclusion proof p99 at {leaves} leaves", _pct(inc, 0.99), "ms", b50, "< 5 ms", _pct(inc, 0.99) < 5),
        _figure(f"{label} consistency proof p50 at {leaves} leaves", statistics.median(con), "ms", b50, "p99 < 5 ms", None),
        _figure(f"{label} consistency proof p99 at {leaves} leaves", _pct(con, 0.99), "ms", b50, "< 5 ms", _pct(con, 0.99) < 5),
    ]


def _make_world(settings: Settings):  # type: ignore[no-untyped-def]
    from api.runtime import AUTHORITY_KEY, init, open_ledger
    from keys import KeyPair
    from ledger.genesis import AUTHORITY_CODE

    init(settings)
    return open_ledger(settings), KeyPair.load(settings.keys_dir / AUTHORITY_KEY), AUTHORITY_CODE


def fill_ledger(settings: Settings, count: int) -> tuple[float, list[tuple[bytes, bytes, str]]]:
    """A ledger of ``count`` statements (one department, signed submissions); returns (seconds, samples)."""
    from datetime import datetime, timedelta, timezone

    from keys import KeyPair
    from ledger.genesis import authority_statement
    from ledger.identifiers import resident_check_digit, uscc_check_char
    from ledger.statements import format_datetime, make_envelope, parse_envelope

    ledger, authority, code = _make_world(settings)
    now = datetime.now(timezone.utc)
    first17 = "11370200BENCH0001"
    dept_code = first17 + uscc_check_char(first17)
    dept = KeyPair.generate()
    setup = [
        authority_statement("department.registered", {"department": dept_code, "name": "bench", "purposes": [],
                                                      "items": ["food_drug.serious", "food_drug.general"]}, now),
        authority_statement("key.added", {"department": dept_code, "key_id": dept.key_id,
                                          "public_key": dept.public_key_b64, "valid_from": format_datetime(now)}, now),
    ]
    for outcome in ledger.append([parse_envelope(make_envelope(s, authority.key_id, authority.sign)) for s in setup]):
        if isinstance(outcome, Exception):
            raise RuntimeError(f"bench setup refused: {outcome}")
    samples: list[tuple[bytes, bytes, str]] = []
    start = time.perf_counter()
    done = 0
    while done < count:
        n = min(2000, count - done)
        envs = []
        for i in range(n):
            k = done + i
            rid17 = "370202" + "1980" + f"{(k % 12) + 1:02d}" + f"{(k % 28) + 1:02d}" + f"{k % 1000:03d}"
            statement = {"type": "record.submitted", "id": str(uuid.uuid4()), "issuer": dept_code,
                         "issued_at": format_datetime(now), "subject": rid17 + resident_check_digit(rid17),
                         "subject_name": "张三", "item": "food_drug.general", "summary": f"bench record {k}",
                         "decision_date": "2026-01-10", "document_number": f"B-{k}", "legal_basis": "bench"}
            env = parse_envelope(make_envelope(statement, dept.key_id, dept.sign))
            envs.append(env)
            if len(samples) < 20_000:
                samples.append((dept.public_key, env.statement.canonical, env.signature))
        outcomes = ledger.append(envs)
        bad = [o for o in outcomes if isinstance(o, Exception)]
        if bad:
            raise RuntimeError(f"bench ledger refused a statement: {bad[0]}")
        done += n
    elapsed = time.perf_counter() - start
    ledger.close()
    return elapsed, samples


def _audit_child(settings: Settings) -> tuple[float, float, str]:
    """Run ``credit-ledger audit verify`` in a child process; return (seconds, peak RSS MB, output)."""
    env = dict(os.environ)
    env["CREDIT_LEDGER_DATA_DIR"] = str(settings.data_dir)
    if settings.database_url:
        env["CREDIT_LEDGER_DATABASE_URL"] = settings.database_url
        env["CREDIT_LEDGER_DATABASE_SCHEMA"] = settings.database_schema
    code = ("import resource, sys, time; from api.cli import main; t = time.perf_counter(); "
            "rc = main(['audit', 'verify']); "
            "print('BENCH', time.perf_counter() - t, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024); "
            "sys.exit(rc)")
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=7200)
    if proc.returncode != 0:
        raise RuntimeError("audit verify failed in the benchmark: " + proc.stderr.strip()[-500:])
    line = [ln for ln in proc.stdout.splitlines() if ln.startswith("BENCH")][-1].split()
    return float(line[1]), float(line[2]), proc.stdout


def bench_audit(settings_for: Callable[[str], Settings], count: int) -> list[dict[str, Any]]:
    """Audit verify speed and peak RSS at count/10 and count entries, against bare Ed25519 verification."""
    from api.runtime import open_ledger, open_views
    from keys import verify_signature

    figures = []
    peaks = []
    for n in (max(count // 10, 1000), count):
        settings = settings_for(f"audit{n}")
        fill_seconds, samples = fill_ledger(settings, n)
        ledger = open_ledger(settings)
        views = open_views(settings, ledger)
        views.tree.catch_up_all()
        views.checkpointer.make()
        views.close()
        ledger.close()
        seconds, peak, _ = _audit_child(settings)
        total = n + 5
        t = time.perf_counter()
        for pub, msg, sig in samples:
            verify_signature(pub, msg, sig)
        bare = len(samples) / (time.perf_counter() - t)
        rate = total / seconds
        peaks.append(peak)
        figures.append(_figure(f"audit verify entries/s at {total} entries", rate, "entries/s", bare,
                               ">= 0.8x bare Ed25519 verify", rate >= 0.8 * bare))
        figures.append(_figure(f"audit verify peak RSS at {total} entries", peak, "MB", None, "< 300 MB", peak < 300))
        figures.append(_figure(f"ledger fill (append, signed) at {total} entries", n / fill_seconds, "statements/s",
                               None, "information", None))
    figures.append(_figure("audit verify peak RSS growth, 10x entries", peaks[1] / peaks[0], "x", None,
                           "flat (< 1.2x)", peaks[1] / peaks[0] < 1.2))
    return figures


def run(quick: bool, json_path: Path | None, postgres_url: str | None, only: set[str]) -> list[dict[str, Any]]:
    """Run the selected figures; print a table; write JSON."""
    import psycopg
    from psycopg import sql

    tmp = Path(tempfile.mkdtemp(prefix="credit-ledger-bench-"))
    schemas: list[str] = []

    def settings_for(name: str, backend: str = "sqlite") -> Settings:
        if backend == "postgres" and postgres_url:
            schema = f"bench_{name}_{uuid.uuid4().hex[:8]}"
            schemas.append(schema)
            return Settings(data_dir=tmp / name, database_url=postgres_url, database_schema=schema)
        return Settings(data_dir=tmp / name)

    figures: list[dict[str, Any]] = []
    try:
        if not only or "proof" in only:
            leaves = 100_000 if quick else 1_000_000
            samples = 200 if quick else 2000
            figures += bench_proofs(settings_for("proof_sqlite"), leaves, samples, "SQLite")
            if postgres_url:
                figures += bench_proofs(settings_for("proof_pg", "postgres"), leaves, samples, "PostgreSQL")
        if not only or "audit" in only:
            figures += bench_audit(lambda n: settings_for(n), 20_000 if quick else 1_000_000)
    finally:
        if schemas and postgres_url:
            with psycopg.connect(postgres_url, autocommit=True) as conn:
                for schema in schemas:
                    conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)
    width = max(len(f["name"]) for f in figures)
    print(f"{'figure':<{width}}  {'value':>12} {'unit':<11} {'baseline':>10} {'ratio':>8}  target / met")
    for f in figures:
        base = "" if f["baseline"] is None else f"{f['baseline']:.3f}"
        ratio = "" if f["ratio"] is None else f"{f['ratio']:.2f}"
        met = "" if f["met"] is None else ("yes" if f["met"] else "NO")
        print(f"{f['name']:<{width}}  {f['value']:>12.3f} {f['unit']:<11} {base:>10} {ratio:>8}  {f['target']} {met}")
    if json_path is not None:
        json_path.write_text(json.dumps(figures, indent=2) + "\n")
    return figures
