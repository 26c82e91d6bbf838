"""``credit-ledger bench``: figures measured in one run, each against a baseline from the same run.

1. single-statement append over HTTP, 32 clients (wrk): the ledger vs one ``save()`` per request and vs
   an echo endpoint on the same stack; 2. batch ingest, 1,000 statements per request, vs the plain library
   saving the same events unsigned, 100 per ``save()``; 3. archive queries with their log append, 32
   clients, vs one ``save()`` per request; 4. rebuild of all views vs decoding the same events; 5. audit
   verify vs bare Ed25519 verification of the same messages on all cores; 6. proof server time at
   1,000,000 leaves vs one primary-key read; 7. peak RSS of rebuild and audit verify at N/10 and N events.
Absolute figures drift on a shared machine; ratios against same-run baselines are what to compare.
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

import orjson

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
            end = min(leaves, start + chunk)
            with store.transaction() as tx:
                if store.kind == "postgres":  # each entry with its event, in one statement, as the database wants
                    tx.execute(_SYNTHETIC_PG, (start, end, start))
                    continue
                rows = []
                for i in range(start, end):
                    h = hashlib.sha256(i.to_bytes(8, "big")).digest()
                    rows.append((i, i + 1, str(uuid.UUID(bytes=h[:16])), h, h, "2026-01-01T00:00:00.000000Z"))
                tx.executemany("INSERT INTO ledger_entries (leaf_index, notification_id, statement_id, statement_digest,"
                               " leaf_hash, recorded_at) VALUES (%s, %s, %s, %s, %s, %s)", rows)
        tree = LogTree(store)
        while tree.catch_up(100_000):
            pass
    finally:
        store.close()


# Leaves start..end-1 as on SQLite (leaf hash sha256 of the big-endian index), each with a placeholder event.
_SYNTHETIC_PG = (
    "WITH ev AS (INSERT INTO ledger_events (originator_id, originator_version, topic, state)"
    " SELECT gen_random_uuid(), 1, 'bench:synthetic', ''::bytea FROM generate_series(%s, %s - 1)"
    " RETURNING notification_id),"
    " leaf AS (SELECT notification_id, %s - 1 + row_number() OVER (ORDER BY notification_id) AS i FROM ev),"
    " hashed AS (SELECT notification_id, i, sha256(int8send(i)) AS h FROM leaf)"
    " INSERT INTO ledger_entries (leaf_index, notification_id, statement_id, statement_digest, leaf_hash, recorded_at)"
    " SELECT i, notification_id, encode(substring(h FOR 16), 'hex')::uuid, h, h, '2026-01-01T00:00:00.000000Z'"
    " FROM hashed")


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


def fill_ledger(settings: Settings, count: int) -> tuple[float, list[tuple[bytes, bytes, str]]]:
    """A ledger of ``count`` signed submissions appended through ``Ledger.append`` in batches of 2,000;
    returns (seconds spent appending, up to 20,000 (public key, message, signature) samples)."""
    from ledger.format.statements import parse_envelope

    scenario = Scenario(settings)
    samples: list[tuple[bytes, bytes, str]] = []
    elapsed = 0.0
    try:
        done = 0
        while done < count:
            envs = [parse_envelope(e) for e in scenario.submissions(min(2000, count - done))]
            for env in envs[: max(0, 20_000 - len(samples))]:
                samples.append((scenario.key.public_key, env.statement.canonical, env.signature))
            start = time.perf_counter()
            outcomes = scenario.ledger.append(envs)
            elapsed += time.perf_counter() - start
            bad = [o for o in outcomes if isinstance(o, Exception)]
            if bad:
                raise RuntimeError(f"bench ledger refused a statement: {bad[0]}")
            done += len(envs)
    finally:
        scenario.close()
    return elapsed, samples


def _bare_verify_rate(samples: list[tuple[bytes, bytes, str]]) -> float:
    """Ed25519 verifications per second of the same messages on all cores (the figure 5 baseline)."""
    from concurrent.futures import ProcessPoolExecutor

    workers = os.cpu_count() or 1
    chunks = [samples[i::workers] for i in range(workers)]
    with ProcessPoolExecutor(workers) as pool:
        list(pool.map(_verify_chunk, [c[:10] for c in chunks]))  # start the workers first
        start = time.perf_counter()
        done = sum(pool.map(_verify_chunk, chunks))
    return done / (time.perf_counter() - start)


def _verify_chunk(chunk: list[tuple[bytes, bytes, str]]) -> int:
    from keys import verify_signature

    for pub, msg, sig in chunk:
        verify_signature(pub, msg, sig)
    return len(chunk)


def _child(settings: Settings, argv: list[str], helpers: bool = False) -> tuple[float, float, float]:
    """Run ``credit-ledger ARGV`` in a child process; return (seconds, its peak RSS MB, and with ``helpers``
    the largest peak RSS MB among the processes it starts, sampled every 50 ms from their VmHWM)."""
    env = _server_env(settings)
    code = ("import sys, time; from api.cli import main, peak_rss_mb; t = time.perf_counter(); "
            f"rc = main({argv!r}); "
            "print('BENCH', time.perf_counter() - t, peak_rss_mb()); "
            "sys.exit(rc)")
    helper_peaks: dict[int, float] = {}
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen([sys.executable, "-c", code], env=env, stdout=out, stderr=err, text=True)
        deadline = time.monotonic() + 7200
        while proc.poll() is None:
            if helpers:
                _record_descendant_peaks(proc.pid, helper_peaks)
            if time.monotonic() > deadline:
                proc.kill()
            time.sleep(0.05)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    if proc.returncode != 0:
        raise RuntimeError(f"credit-ledger {' '.join(argv)} failed in the benchmark: " + stderr.strip()[-500:])
    line = [ln for ln in stdout.splitlines() if ln.startswith("BENCH")][-1].split()
    return float(line[1]), float(line[2]), max(helper_peaks.values(), default=0.0)


def _record_descendant_peaks(root: int, peaks: dict[int, float]) -> None:
    """Record in ``peaks`` the VmHWM (peak resident memory so far, MB) of every process below ``root``."""
    parent_of: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
                parent_of[int(entry)] = int(stat.rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
    below: set[int] = set()
    frontier = {root}
    while frontier:
        frontier = {pid for pid, parent in parent_of.items() if parent in frontier} - below
        below |= frontier
    for pid in below:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    peaks[pid] = max(peaks.get(pid, 0.0), int(line.split()[1]) / 1024)
        except (OSError, ValueError):
            continue


def bench_audit(settings: Settings, count: int) -> list[dict[str, Any]]:
    """Figure 5: audit verify speed vs bare Ed25519 verification of the same messages on all cores."""
    from api.runtime import open_ledger, open_views

    _, samples = fill_ledger(settings, count)
    ledger = open_ledger(settings)
    views = open_views(settings, ledger)
    views.tree.catch_up_all()
    views.checkpointer.make()
    total = views.tree.size()
    views.close()
    ledger.close()
    seconds, peak, _ = _child(settings, ["audit", "verify"])
    bare = _bare_verify_rate(samples)
    rate = total / seconds
    return [
        _figure(f"5 audit verify, {total} entries ({settings.backend})", rate, "entries/s", bare,
                ">= 0.8x bare Ed25519 verify on all cores", rate >= 0.8 * bare),
        _figure(f"5 audit verify peak RSS, {total} entries", peak, "MB", None, "< 300 MB", peak < 300),
    ]


def bench_memory(settings_for: Callable[[str], Settings], count: int) -> list[dict[str, Any]]:
    """Figure 7: peak RSS of rebuild and audit verify at count/10 and count events (flat = close)."""
    from api.runtime import open_ledger, open_views

    peaks: dict[str, list[float]] = {"audit verify": [], "rebuild": [], "audit verify helper": [], "rebuild helper": []}
    sizes = []
    for n in (max(count // 10, 1000), count):
        settings = settings_for(f"memory{n}")
        fill_ledger(settings, n)
        ledger = open_ledger(settings)
        views = open_views(settings, ledger)
        views.tree.catch_up_all()
        views.checkpointer.make()
        sizes.append(views.tree.size())
        views.close()
        ledger.close()
        for name, argv in (("audit verify", ["audit", "verify"]), ("rebuild", ["rebuild", "all"])):
            _, peak, helper = _child(settings, argv, helpers=True)
            peaks[name].append(peak)
            peaks[f"{name} helper"].append(helper)
    figures = []
    for name, (small, large) in peaks.items():
        what = (f"7 {name.removesuffix(' helper')} peak RSS of its largest helper process"
                if name.endswith("helper") else f"7 {name} peak RSS")
        figures.append(_figure(f"{what}, {sizes[1]} events", large, "MB", small,
                               f"< 300 MB and flat (baseline: peak at {sizes[0]} events)",
                               large < 300 and large < 1.2 * small))
    return figures


def run(quick: bool, json_path: Path | None, postgres_url: str | None, only: set[str]) -> list[dict[str, Any]]:
    """Run the selected figures; print a table; write JSON."""
    import shutil

    import psycopg
    from psycopg import sql

    tmp = Path(tempfile.mkdtemp(prefix="credit-ledger-bench-"))

    def settings_for(name: str, backend: str = "postgres") -> Settings:
        if backend == "postgres" and postgres_url:
            schema = f"bench_{name}_{uuid.uuid4().hex[:8]}"
            _SCHEMAS.append(schema)
            return Settings(data_dir=tmp / name, database_url=postgres_url, database_schema=schema,
                            checkpoint_interval_seconds=1.0)
        return Settings(data_dir=tmp / name)

    def want(name: str) -> bool:
        return not only or name in only

    seconds = 3 if quick else 10
    figures: list[dict[str, Any]] = []
    try:
        if want("http") and postgres_url:
            figures += bench_http(settings_for, seconds, 20_000 if quick else 60_000, 2 if quick else 20,
                                  int(os.environ.get("CREDIT_LEDGER_BENCH_WORKERS", str(os.cpu_count() or 1))))
        if want("rebuild"):
            figures += bench_rebuild(settings_for("rebuild"), 3_000 if quick else 200_000)
        if want("audit"):
            figures += bench_audit(settings_for("audit"), 3_000 if quick else 200_000)
        if want("proof"):
            leaves = 100_000 if quick else 1_000_000
            samples = 200 if quick else 2000
            figures += bench_proofs(settings_for("proof_sqlite", "sqlite"), leaves, samples, "6 SQLite")
            if postgres_url:
                figures += bench_proofs(settings_for("proof_pg"), leaves, samples, "6 PostgreSQL")
        if want("memory"):
            figures += bench_memory(lambda n: settings_for(n, "sqlite"), 10_000 if quick else 1_000_000)
    finally:
        if _SCHEMAS and postgres_url:
            with psycopg.connect(postgres_url, autocommit=True) as conn:
                for schema in _SCHEMAS:
                    conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))
            _SCHEMAS.clear()
        shutil.rmtree(tmp, ignore_errors=True)
    print_table(figures)
    if json_path is not None:
        json_path.write_text(json.dumps(figures, indent=2) + "\n")
    return figures


def print_table(figures: list[dict[str, Any]]) -> None:
    """The figures as a table on stdout."""
    if not figures:
        print("no figures")
        return
    width = max(len(f["name"]) for f in figures)
    print(f"{'figure':<{width}}  {'value':>12} {'unit':<11} {'baseline':>12} {'ratio':>8}  target / met")
    for f in figures:
        base = "" if f["baseline"] is None else f"{f['baseline']:.3f}"
        ratio = "" if f["ratio"] is None else f"{f['ratio']:.2f}"
        met = "" if f["met"] is None else ("yes" if f["met"] else "NO")
        print(f"{f['name']:<{width}}  {f['value']:>12.3f} {f['unit']:<11} {base:>12} {ratio:>8}  {f['target']} {met}")


# HTTP figures (1-3) and rebuild (4).

def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _start(cmd: list[str], env: dict[str, str], port: int) -> subprocess.Popen:  # type: ignore[type-arg]
    import socket

    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{cmd[0]} exited: {proc.stderr.read().decode()[-800:] if proc.stderr else ''}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                # Listening; with several worker processes, give every one of them time to start too.
                time.sleep(3.0 if "--workers" in cmd and cmd[cmd.index("--workers") + 1] != "1" else 0.5)
                return proc
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError(f"{cmd[0]} did not listen on {port}")


def _stop(proc: subprocess.Popen) -> None:  # type: ignore[type-arg]
    proc.terminate()
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()


def _bin(name: str) -> str:
    return str(Path(sys.executable).parent / name)


class Scenario:
    """A founded PostgreSQL ledger with a department, and signed bodies for the HTTP figures."""

    def __init__(self, settings: Settings) -> None:
        from datetime import datetime, timezone

        from api.runtime import AUTHORITY_KEY, init, open_ledger
        from keys import KeyPair
        from ledger.domain.genesis import authority_statement
        from ledger.format.identifiers import uscc_check_char
        from ledger.format.statements import make_envelope, parse_envelope

        self.settings = settings
        self.origin = settings.log_origin
        init(settings)
        self.authority = KeyPair.load(settings.keys_dir / AUTHORITY_KEY)
        self.ledger = open_ledger(settings)
        now = datetime.now(timezone.utc)
        first17 = "11370200BENCH" + uuid.uuid4().hex[:4].upper().replace("I", "J").replace("O", "P")
        first17 = "".join(c if c in "0123456789ABCDEFGHJKLMNPQRTUWXY" else "A" for c in first17)
        self.code = first17 + uscc_check_char(first17)
        self.key = KeyPair.generate()
        from ledger.format.statements import format_datetime

        setup = [
            authority_statement("department.registered", {
                "department": self.code, "name": "bench", "items": ["food_drug.serious", "food_drug.general"],
                "purposes": ["administrative_licensing"]}, now, ledger=self.origin),
            authority_statement("key.added", {
                "department": self.code, "key_id": self.key.key_id, "public_key": self.key.public_key_b64,
                "valid_from": format_datetime(now)}, now, ledger=self.origin),
        ]
        for outcome in self.ledger.append([parse_envelope(make_envelope(x, self.authority.key_id, self.authority.sign))
                                           for x in setup]):
            if isinstance(outcome, Exception):
                raise RuntimeError(f"bench setup refused: {outcome}")
        self.subjects: list[str] = []
        self.closed = False

    def submissions(self, count: int) -> list[dict[str, Any]]:
        from datetime import datetime, timezone

        from ledger.format.identifiers import resident_check_digit
        from ledger.format.statements import format_datetime, make_envelope

        now = format_datetime(datetime.now(timezone.utc))
        out = []
        for k in range(count):
            rid17 = "370202" + "1980" + f"{(k % 12) + 1:02d}" + f"{(k % 28) + 1:02d}" + f"{k % 1000:03d}"
            statement = {"type": "record.submitted", "id": str(uuid.uuid4()), "issuer": self.code, "issued_at": now, "ledger": self.origin,
                         "subject": rid17 + resident_check_digit(rid17), "subject_name": "张三",
                         "item": "food_drug.general", "summary": f"bench record {k}", "decision_date": "2026-01-10",
                         "document_number": f"B-{k}", "legal_basis": "bench"}
            out.append(make_envelope(statement, self.key.key_id, self.key.sign))
        return out

    def queries(self, count: int, subjects: list[str]) -> list[dict[str, Any]]:
        from datetime import datetime, timezone

        from ledger.format.statements import format_datetime, make_envelope

        now = format_datetime(datetime.now(timezone.utc))
        return [make_envelope({
            "type": "query.requested", "id": str(uuid.uuid4()), "issuer": self.code, "issued_at": now, "ledger": self.origin,
            "operator": f"staff-{k % 50}", "subject": subjects[k % len(subjects)], "purpose": "administrative_licensing",
            "legal_basis": "Administrative Licensing Law art. 31", "scope": "archive"}, self.key.key_id, self.key.sign)
            for k in range(count)]

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.ledger.close()


def _server_env(settings: Settings) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CREDIT_LEDGER_")}
    env["CREDIT_LEDGER_DATA_DIR"] = str(settings.data_dir)
    if settings.database_url:
        env["CREDIT_LEDGER_DATABASE_URL"] = settings.database_url
        env["CREDIT_LEDGER_DATABASE_SCHEMA"] = settings.database_schema
    return env


def bench_http(settings_for: Callable[[str, str], Settings], seconds: float, bodies_count: int,
               batches: int, workers: int = 1) -> list[dict[str, Any]]:
    """Figures 1-3: single appends, batch ingest, queries; with their baselines."""
    import httpx

    from api.bench_apps import unsigned_save_rate
    from api.bench_load import post_load

    settings = settings_for("http", "postgres")
    scenario = Scenario(settings)
    scenario.close()  # set up; from here it only signs: its connections are not held through the runs
    figures: list[dict[str, Any]] = []
    try:
        singles = [orjson.dumps(e) for e in scenario.submissions(bodies_count)]
        base_schema = f"bench_plain_{uuid.uuid4().hex[:8]}"
        _create_schema(settings, base_schema)
        port = _free_port()
        base_env = dict(_server_env(settings), BENCH_POSTGRES_SCHEMA=base_schema)
        uv = [_bin("uvicorn"), "--factory", "--port", str(port), "--log-level", "warning", "--no-access-log"]
        baseline = _start([*uv, "api.bench_apps:baseline_app"], base_env, port)
        try:
            base = post_load(f"http://127.0.0.1:{port}/v1/statements", singles, seconds)
            base_q = post_load(f"http://127.0.0.1:{port}/v1/queries", singles, seconds)
        finally:
            _stop(baseline)
        base_w = None
        if workers > 1:  # the usual pattern given the same processes as the ledger (for information)
            baseline = _start([*uv, "--workers", str(workers), "api.bench_apps:baseline_app"], base_env, port)
            try:
                base_w = post_load(f"http://127.0.0.1:{port}/v1/statements", singles, seconds)
            finally:
                _stop(baseline)
        # The HTTP ceiling: the same stack as the ledger, with as many processes.
        echo = _start([*uv, "--workers", str(workers), "api.bench_apps:echo_app"], base_env, port)
        try:
            ceiling = post_load(f"http://127.0.0.1:{port}/v1/statements", singles, seconds)
        finally:
            _stop(echo)
        ours_proc = _start([_bin("credit-ledger"), "serve", "--port", str(port), "--log-level", "warning",
                            "--workers", str(workers)], _server_env(settings), port)
        url = f"http://127.0.0.1:{port}"
        try:
            ours = post_load(url + "/v1/statements", singles, seconds)
            # 2. batch ingest
            batch_bodies = [scenario.submissions(1000) for _ in range(batches)]
            with httpx.Client(timeout=120) as client:
                start = time.perf_counter()
                accepted = 0
                for envs in batch_bodies:
                    r = client.post(url + "/v1/statements/batch", content=orjson.dumps({"envelopes": envs}),
                                    headers={"Content-Type": "application/json"})
                    accepted += r.json()["accepted"]
                batch_rate = accepted / (time.perf_counter() - start)
            unsigned = unsigned_save_rate([e["statement"] for envs in batch_bodies for e in envs], base_schema)
            # 3. queries over the subjects just written
            subjects = sorted({e["statement"]["subject"] for e in batch_bodies[0]})
            queries = [orjson.dumps(q) for q in scenario.queries(bodies_count, subjects)]
            ours_q = post_load(url + "/v1/queries", queries, seconds)
        finally:
            _stop(ours_proc)
    finally:
        scenario.close()
    for name, m in (("append", ours), ("query", ours_q)):
        if m["errors"]:
            raise RuntimeError(f"{name}: {m['errors']} of {m['requests']} requests failed")
    if ours["requests"] > len(singles):
        raise RuntimeError("more requests than distinct bodies: raise the body count")
    figures += [
        _figure(f"1 append over HTTP, 32 clients, serve --workers {workers}", ours["rps"], "req/s", base["rps"], ">= 4x one save per request",
                ours["rps"] >= 4 * base["rps"]),
        _figure(f"1 append over HTTP vs echo ceiling ({workers} processes each)", ours["rps"], "req/s", ceiling["rps"],
                ">= 0.5x echo", ours["rps"] >= 0.5 * ceiling["rps"]),
        *([_figure(f"1 append vs one save per request on {workers} processes too", ours["rps"], "req/s",
                   base_w["rps"], "information", None)] if base_w else []),
        _figure("1 append p50", ours["p50_ms"], "ms", base["p50_ms"], "information", None),
        _figure("1 append p99", ours["p99_ms"], "ms", base["p99_ms"], "<= 60 ms", ours["p99_ms"] <= 60),
        _figure("2 batch ingest, 1000 per request", batch_rate, "events/s", unsigned,
                ">= 1.0x unsigned plain library, 100 per save", batch_rate >= unsigned),
        _figure("3 archive queries with log append, 32 clients", ours_q["rps"], "req/s", base_q["rps"],
                ">= 4x one save per request", ours_q["rps"] >= 4 * base_q["rps"]),
        _figure("3 query p99", ours_q["p99_ms"], "ms", base_q["p99_ms"], "<= 60 ms", ours_q["p99_ms"] <= 60),
    ]
    return figures


def _create_schema(settings: Settings, schema: str) -> None:
    import psycopg
    from psycopg import sql

    assert settings.database_url
    with psycopg.connect(settings.database_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)))
    _SCHEMAS.append(schema)


_SCHEMAS: list[str] = []


def bench_rebuild(settings: Settings, count: int) -> list[dict[str, Any]]:
    """Figure 4: rebuild every view from ``count`` events vs decoding the same events."""
    from api.cli import archive_elsewhere, rebuild_elsewhere
    from api.runtime import open_ledger, open_views
    from projections.worker import rebuild

    fill_ledger(settings, count)
    ledger = open_ledger(settings)
    views = open_views(settings, ledger)
    try:
        total = ledger.recorder.max_notification_id() or 0
        start = time.perf_counter()
        position = 0
        while notes := ledger.recorder.select_notifications(start=position, limit=2000, inclusive_of_start=False):
            for n in notes:
                ledger.mapper.to_domain_event(n)
            position = notes[-1].id
        decode_rate = total / (time.perf_counter() - start)
        start = time.perf_counter()
        views.archive.producer = archive_elsewhere(settings)  # as `rebuild all`
        rebuild([views.archive, views.access_log, views.tree], rebuild_elsewhere(settings))
        rebuild_rate = total / (time.perf_counter() - start)
    finally:
        views.close()
        ledger.close()
    return [_figure(f"4 rebuild of all views, {total} events ({settings.backend})", rebuild_rate, "events/s",
                    decode_rate, ">= 0.5x bare decode", rebuild_rate >= 0.5 * decode_rate)]
