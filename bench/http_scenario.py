"""Figures 1-3 over HTTP, with their baselines: single appends (32 clients, wrk) against one ``save()``
per request and against an echo endpoint on the same stack; batch ingest against the plain library
saving the same events unsigned; archive queries with their log append."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any

import orjson

from api.settings import Settings
from bench.ledgers import Scenario, create_schema, server_env
from bench.processes import CHECKOUT, free_port, installed, start, stop
from bench.report import at_least, at_most, figure


def bench_http(settings_for: Callable[[str, str], Settings], seconds: float, bodies_count: int,
               batches: int, workers: int = 1) -> list[dict[str, Any]]:
    """Figures 1-3: single appends, batch ingest, queries; with their baselines."""
    import httpx

    from bench.apps import unsigned_save_rate
    from bench.load import post_load

    settings = settings_for("http", "postgres")
    scenario = Scenario(settings)
    scenario.close()  # set up; from here it only signs: its connections are not held through the runs
    try:
        singles = [orjson.dumps(e) for e in scenario.submissions(bodies_count)]
        base_schema = f"bench_plain_{uuid.uuid4().hex[:8]}"
        create_schema(settings, base_schema)
        port = free_port()
        base_env = dict(server_env(settings), BENCH_POSTGRES_SCHEMA=base_schema)
        uv = [installed("uvicorn"), "--factory", "--app-dir", str(CHECKOUT), "--port", str(port),
              "--log-level", "warning", "--no-access-log"]
        baseline = start([*uv, "bench.apps:baseline_app"], base_env, port)
        try:
            base = post_load(f"http://127.0.0.1:{port}/v1/statements", singles, seconds)
            base_q = post_load(f"http://127.0.0.1:{port}/v1/queries", singles, seconds)
        finally:
            stop(baseline)
        base_w = None
        if workers > 1:  # the usual pattern given the same processes as the ledger (for information)
            baseline = start([*uv, "--workers", str(workers), "bench.apps:baseline_app"], base_env, port)
            try:
                base_w = post_load(f"http://127.0.0.1:{port}/v1/statements", singles, seconds)
            finally:
                stop(baseline)
        # The HTTP ceiling: the same stack as the ledger, with as many processes.
        echo = start([*uv, "--workers", str(workers), "bench.apps:echo_app"], base_env, port)
        try:
            ceiling = post_load(f"http://127.0.0.1:{port}/v1/statements", singles, seconds)
        finally:
            stop(echo)
        ours_proc = start([installed("credit-ledger"), "serve", "--port", str(port), "--log-level", "warning",
                           "--workers", str(workers)], server_env(settings), port)
        url = f"http://127.0.0.1:{port}"
        try:
            ours = post_load(url + "/v1/statements", singles, seconds)
            # 2. batch ingest
            batch_bodies = [scenario.submissions(1000) for _ in range(batches)]
            with httpx.Client(timeout=120) as client:
                started = time.perf_counter()
                accepted = 0
                for envs in batch_bodies:
                    r = client.post(url + "/v1/statements/batch", content=orjson.dumps({"envelopes": envs}),
                                    headers={"Content-Type": "application/json"})
                    accepted += r.json()["accepted"]
                batch_rate = accepted / (time.perf_counter() - started)
            unsigned = unsigned_save_rate([e["statement"] for envs in batch_bodies for e in envs], base_schema)
            # 3. queries over the subjects just written
            subjects = sorted({e["statement"]["subject"] for e in batch_bodies[0]})
            queries = [orjson.dumps(q) for q in scenario.queries(bodies_count, subjects)]
            ours_q = post_load(url + "/v1/queries", queries, seconds)
        finally:
            stop(ours_proc)
    finally:
        scenario.close()
    for name, m in (("append", ours), ("query", ours_q)):
        if m["errors"]:
            raise RuntimeError(f"{name}: {m['errors']} of {m['requests']} requests failed")
    if ours["requests"] > len(singles):
        raise RuntimeError("more requests than distinct bodies: raise the body count")
    return [
        figure(f"1 append over HTTP, 32 clients, serve --workers {workers}", ours["rps"], "req/s", base["rps"],
               ">= 4x one save per request", at_least(ours["rps"], 4 * base["rps"])),
        figure(f"1 append over HTTP vs echo ceiling ({workers} processes each)", ours["rps"], "req/s", ceiling["rps"],
               ">= 0.5x echo", at_least(ours["rps"], 0.5 * ceiling["rps"])),
        *([figure(f"1 append vs one save per request on {workers} processes too", ours["rps"], "req/s",
                  base_w["rps"], "information", None)] if base_w else []),
        figure("1 append p50", ours["p50_ms"], "ms", base["p50_ms"], "information", None),
        figure("1 append p99", ours["p99_ms"], "ms", base["p99_ms"], "<= 60 ms", at_most(ours["p99_ms"], 60)),
        figure("2 batch ingest, 1000 per request", batch_rate, "events/s", unsigned,
               ">= 1.0x unsigned plain library, 100 per save", at_least(batch_rate, unsigned)),
        figure("3 archive queries with log append, 32 clients", ours_q["rps"], "req/s", base_q["rps"],
               ">= 4x one save per request", at_least(ours_q["rps"], 4 * base_q["rps"])),
        figure("3 query p99", ours_q["p99_ms"], "ms", base_q["p99_ms"], "<= 60 ms", at_most(ours_q["p99_ms"], 60)),
    ]
