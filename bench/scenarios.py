"""The benchmark run (the selected figures, their table and JSON file) and figures 4-7: rebuild, audit
verify, proofs, peak memory."""

from __future__ import annotations

import json
import os
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from api.settings import Settings
from bench.ledgers import SCHEMAS, drop_schemas, fill_ledger, synthetic_log
from bench.processes import child
from bench.report import Progress, at_least, below, figure, pct, print_table


def run(quick: bool, json_path: Path | None, postgres_url: str | None, only: set[str]) -> list[dict[str, Any]]:
    """Run the selected figures (all if ``only`` is empty), saying on stderr which one runs and for how long;
    print a table; write JSON."""
    import shutil

    tmp = Path(tempfile.mkdtemp(prefix="credit-ledger-bench-"))

    def settings_for(name: str, backend: str = "postgres") -> Settings:
        if backend == "postgres" and postgres_url:
            schema = f"bench_{name}_{uuid.uuid4().hex[:8]}"
            SCHEMAS.append(schema)
            return Settings(data_dir=tmp / name, database_url=postgres_url, database_schema=schema,
                            checkpoint_interval_seconds=1.0)
        return Settings(data_dir=tmp / name)

    def want(name: str) -> bool:
        return not only or name in only

    seconds = 3 if quick else 10
    events = 3_000 if quick else 200_000
    leaves = 100_000 if quick else 1_000_000
    samples = 200 if quick else 2000
    memory = 10_000 if quick else 1_000_000
    workers = int(os.environ.get("CREDIT_LEDGER_BENCH_WORKERS", str(os.cpu_count() or 1)))
    stages: list[tuple[str, Callable[[], list[dict[str, Any]]]]] = []
    if want("http") and postgres_url:
        from bench.http_scenario import bench_http

        stages.append((f"figures 1-3 over HTTP, serve --workers {workers}, {seconds} s a load",
                       lambda: bench_http(settings_for, seconds, 20_000 if quick else 60_000, 2 if quick else 20,
                                          workers)))
    if want("rebuild"):
        stages.append((f"figure 4 rebuild, {events:,} events",
                       lambda: bench_rebuild(settings_for("rebuild"), events)))
    if want("audit"):
        stages.append((f"figure 5 audit verify, {events:,} entries",
                       lambda: bench_audit(settings_for("audit"), events)))
    if want("proof"):
        stages.append((f"figure 6 proofs on SQLite, {leaves:,} leaves",
                       lambda: bench_proofs(settings_for("proof_sqlite", "sqlite"), leaves, samples, "6 SQLite")))
        if postgres_url:
            stages.append((f"figure 6 proofs on PostgreSQL, {leaves:,} leaves",
                           lambda: bench_proofs(settings_for("proof_pg"), leaves, samples, "6 PostgreSQL")))
    if want("memory"):
        stages.append((f"figure 7 peak memory, {max(memory // 10, 1000):,} and {memory:,} events",
                       lambda: bench_memory(lambda n: settings_for(n, "sqlite"), memory)))
    if want("copy") and postgres_url:
        from bench.copy_scenario import run_copy

        copied = 3_000 if quick else 100_000
        stages.append((f"figure 8 copy of a SQLite ledger to PostgreSQL, {copied:,} events",
                       lambda: run_copy(copied, quick)["figures"]))
    if want("site"):
        from bench.site_scenario import run_site

        stages.append(("figure 9 public site list pages against the JSON list",
                       lambda: run_site(quick, postgres_url=postgres_url)["figures"]))
    if want("report"):
        from bench.report_scenario import run_report

        stages.append(("figure 10 credit reports against archive queries; report verification",
                       lambda: run_report(quick, postgres_url)["figures"]))
    if want("replica"):
        from bench.replica_scenario import run_replica

        stages.append(("figure 11 reads from a primary alone and with a read-only standby; replay lag",
                       lambda: run_replica(quick)["figures"]))
    progress = Progress(len(stages))
    if want("http") and not postgres_url:
        progress.say("figures 1-3 skipped: they run on PostgreSQL only")
    figures: list[dict[str, Any]] = []
    try:
        for label, measure in stages:
            with progress.stage(label):
                figures += measure()
    finally:
        if SCHEMAS and postgres_url:
            drop_schemas(postgres_url)
        shutil.rmtree(tmp, ignore_errors=True)
    print_table(figures)
    if json_path is not None:
        json_path.write_text(json.dumps(figures, indent=2) + "\n")
    return figures


def bench_rebuild(settings: Settings, count: int) -> list[dict[str, Any]]:
    """Figure 4: rebuild every view from ``count`` events vs decoding the same events."""
    from api.cli.views import archive_elsewhere, rebuild_elsewhere
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
    return [figure(f"4 rebuild of all views, {total} events ({settings.backend})", rebuild_rate, "events/s",
                   decode_rate, ">= 0.5x bare decode", at_least(rebuild_rate, 0.5 * decode_rate))]


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
    seconds, peak, _ = child(settings, ["audit", "verify"])
    bare = bare_verify_rate(samples)
    rate = total / seconds
    return [
        figure(f"5 audit verify, {total} entries ({settings.backend})", rate, "entries/s", bare,
               ">= 0.8x bare Ed25519 verify on all cores", at_least(rate, 0.8 * bare)),
        figure(f"5 audit verify peak RSS, {total} entries", peak, "MB", None, "< 300 MB", below(peak, 300)),
    ]


def bare_verify_rate(samples: list[tuple[bytes, bytes, str]]) -> float:
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


def bench_proofs(settings: Settings, leaves: int, samples: int, label: str) -> list[dict[str, Any]]:
    """Figure 6: proof server time on a log of ``leaves`` leaves vs one primary-key read."""
    import random

    from api.runtime import open_store
    from projections.logtree import LogTree

    synthetic_log(settings, leaves)
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
        figure(f"{label} inclusion proof p50 at {leaves} leaves", statistics.median(inc), "ms", b50, "p99 < 5 ms", None),
        figure(f"{label} inclusion proof p99 at {leaves} leaves", pct(inc, 0.99), "ms", b50, "< 5 ms", below(pct(inc, 0.99), 5)),
        figure(f"{label} consistency proof p50 at {leaves} leaves", statistics.median(con), "ms", b50, "p99 < 5 ms", None),
        figure(f"{label} consistency proof p99 at {leaves} leaves", pct(con, 0.99), "ms", b50, "< 5 ms", below(pct(con, 0.99), 5)),
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
            _, peak, helper = child(settings, argv, helpers=True)
            peaks[name].append(peak)
            peaks[f"{name} helper"].append(helper)
    figures = []
    for name, (small, large) in peaks.items():
        what = (f"7 {name.removesuffix(' helper')} peak RSS of its largest helper process"
                if name.endswith("helper") else f"7 {name} peak RSS")
        figures.append(figure(f"{what}, {sizes[1]} events", large, "MB", small,
                              f"< 300 MB and flat (baseline: peak at {sizes[0]} events)",
                              below(large, 300) and below(large, 1.2 * small)))
    return figures
