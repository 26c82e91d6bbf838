"""Reads from the primary alone against the primary plus one read-only server, and the replay lag under appends.

Two PostgreSQL clusters of the run's own (the reliability harness's ``ReplicaCluster``: initdb, then
``pg_basebackup -R``; never the configured server), the standby synchronous. The primary runs
``credit-ledger serve``, the standby ``credit-ledger serve --read-only``. The same clients GET public list pages
and inclusion proofs, first all from the primary, then half from each, in the same run; on a machine of two
cores both servers and both clusters share those cores, so the second figure shows the cost of a replica, not
the scaling more machines would give. Then clients append through the primary while the read-only server's
``/healthz`` is sampled: the replay lag in seconds and in ledger positions.
"""

from __future__ import annotations

import importlib
import shutil
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from api.settings import Settings
from bench.report import figure, pct


def _reads(urls: list[str], seconds: float, clients: int, leaves: int) -> float:
    """Reads per second: ``clients`` threads, client i on ``urls[i % len(urls)]``, alternating a list page and an
    inclusion proof."""
    done = [0] * clients
    stop = time.monotonic() + seconds

    def client(i: int) -> None:
        with httpx.Client(base_url=urls[i % len(urls)], timeout=30) as http:
            n = 0
            while time.monotonic() < stop:
                r = (http.get("/v1/public/lists/black", params={"limit": 20}) if n % 2 == 0 else
                     http.get("/v1/log/proof/inclusion", params={"leaf_index": (n * 7919 + i) % leaves}))
                if r.status_code == 200:
                    done[i] += 1
                n += 1

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    started = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sum(done) / (time.monotonic() - started)


def run_replica(quick: bool) -> dict[str, Any]:
    """The read rates (primary alone; primary plus one read-only server) and the replay lag under appends."""
    # The clusters, servers and clients of the reliability tests (a checkout has them, as it has this package).
    harness = importlib.import_module("tests.reliability.harness")
    ReadOnlyServer, ReplicaCluster, Server = harness.ReadOnlyServer, harness.ReplicaCluster, harness.Server
    Tally, free_port, run_clients = harness.Tally, harness.free_port, harness.run_clients
    workload = importlib.import_module("tests.reliability.test_faults").workload
    World = importlib.import_module("tests.support").World

    records, seconds, appends = (100, 4.0, 300) if quick else (500, 10.0, 1500)
    tmp = Path(tempfile.mkdtemp(prefix="credit-ledger-bench-replica-"))
    a, b = ReplicaCluster("bench_a"), ReplicaCluster("bench_b")
    servers: list[Any] = []
    try:
        a.start()
        settings = Settings(data_dir=tmp / "data", database_url=a.url)
        world = World(settings)
        dept = world.department()
        today = time.strftime("%Y-%m-%d", time.gmtime())
        for start in range(0, records, 100):
            batch = [world.submission(dept) for _ in range(min(100, records - start))]
            world.append_ok(*batch)
            world.append_ok(*[world.signed(dept, "record.disclosed", record_id=e["statement"]["id"], list="black",
                                           notice_served_at=today) for e in batch])
        load = workload(world, appends)
        world.close()
        primary = Server(settings, free_port())
        primary.start()
        servers.append(primary)
        with httpx.Client(base_url=primary.url, timeout=60) as http:
            http.post("/v1/log/checkpoint")
            key = http.get("/v1/log/verifier-key").text.strip()
            leaves = int(http.get("/healthz").json()["statements"])
        b.standby_of(a)
        b.wait_replayed(a)
        replica_dir = tmp / "replica"
        (replica_dir / "keys").mkdir(parents=True)
        replica_dir.chmod(0o700)
        (replica_dir / "keys").chmod(0o700)
        shutil.copy(settings.keys_dir / "authority.pub", replica_dir / "keys" / "authority.pub")
        replica = ReadOnlyServer(Settings(data_dir=replica_dir, database_url=b.url), free_port(), primary.url, key)
        replica.start()
        servers.append(replica)
        alone = _reads([primary.url], seconds, 8, leaves)
        both = _reads([primary.url, replica.url], seconds, 8, leaves)
        lag_seconds: list[float] = []
        behind: list[int] = []
        tally = Tally()
        appending = threading.Thread(target=run_clients, args=(primary.url, load, tally, threading.Event()))
        started = time.monotonic()
        appending.start()
        with httpx.Client(base_url=replica.url, timeout=30) as http:
            while appending.is_alive():
                state = http.get("/healthz").json()["replica"]
                lag_seconds.append(float(state["replay_lag_seconds"]))
                if state.get("behind_positions") is not None:
                    behind.append(int(state["behind_positions"]))
                time.sleep(0.2)
        append_rate = len(tally.acknowledged) / (time.monotonic() - started)
    finally:
        for server in servers:
            server.stop()
        a.remove()
        b.remove()
        shutil.rmtree(tmp, ignore_errors=True)
    figures = [
        figure("reads/s, primary alone (lists and proofs, 8 clients)", alone, "reads/s", None, "information", None),
        figure("reads/s, primary + 1 read-only server, same machine", both, "reads/s", alone,
               "information (2 cores: the cost, not the scaling)", None),
        figure("appends/s through the primary, synchronous standby", append_rate, "statements/s", None,
               "information", None),
        figure("replay lag under appends, p50", pct(lag_seconds, 0.5) if lag_seconds else 0.0, "s", None,
               "information", None),
        figure("replay lag under appends, max", max(lag_seconds, default=0.0), "s", None, "information", None),
        figure("positions behind the primary under appends, max", float(max(behind, default=0)), "positions", None,
               "information", None),
    ]
    return {"reads_alone": alone, "reads_with_replica": both, "append_rate": append_rate,
            "lag_samples": len(lag_seconds), "figures": figures}
