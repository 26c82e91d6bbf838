"""Read replicas and failover on PostgreSQL streaming replication, with clusters of the tests' own.

A primary and a synchronous hot standby (initdb, then ``pg_basebackup -R`` on free ports in temporary
directories; never the configured server). The service connects with a multi-host URL
(``target_session_attrs=read-write``); a ``serve --read-only`` server reads the standby. Rounds come from
CREDIT_LEDGER_SOAK_ROUNDS (default 3); results go to CREDIT_LEDGER_RELIABILITY_REPORT when it is set.
"""

from __future__ import annotations

import base64
import os
import random
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from api.runtime import open_ledger, open_views
from api.settings import Settings
from ledger.log.merkle import verify_consistency, verify_inclusion
from ledger.log.note import open_checkpoint
from tests.reliability.harness import (
    CLI, ReadOnlyServer, ReplicaCluster, Server, Tally, free_port, report, run_clients, server_env,
)
from tests.reliability.test_faults import workload
from tests.support import World

pytestmark = [pytest.mark.reliability, pytest.mark.postgres]
ROUNDS = int(os.environ.get("CREDIT_LEDGER_SOAK_ROUNDS", "3"))


def multi_host(a: ReplicaCluster, b: ReplicaCluster) -> str:
    return (f"postgresql://postgres@127.0.0.1:{a.port},127.0.0.1:{b.port}/postgres"
            "?target_session_attrs=read-write&connect_timeout=3")


@pytest.fixture
def pair() -> Iterator[tuple[ReplicaCluster, ReplicaCluster]]:
    a, b = ReplicaCluster("node_a"), ReplicaCluster("node_b")
    try:
        a.start()
        yield a, b
    finally:
        a.remove()
        b.remove()


def read_only_data(tmp_path: Path, settings: Settings) -> Settings:
    """A data directory with the authority's public key only (no private key of any kind)."""
    data = tmp_path / "replica-data"
    (data / "keys").mkdir(parents=True)
    data.chmod(0o700)
    (data / "keys").chmod(0o700)
    shutil.copy(settings.keys_dir / "authority.pub", data / "keys" / "authority.pub")
    return Settings(data_dir=data, database_url=settings.database_url)


def verifier_key(settings: Settings) -> str:
    ledger = open_ledger(settings)
    views = open_views(settings, ledger)
    try:
        views.tree.catch_up_all()
        views.archive.catch_up_all()
        views.access_log.catch_up_all()
        views.checkpointer.make()
        return views.checkpointer.verifier_key
    finally:
        views.close()
        ledger.close()


def b64d(s: str) -> bytes:
    return base64.b64decode(s)


class Reader:
    """Reads the read-only server over and over (checkpoint, both lists, an inclusion proof), keeping what it
    was served, until stopped."""

    def __init__(self, url: str, key: str) -> None:
        self.url, self.key = url, key
        self.checkpoints: dict[int, bytes] = {}
        self.lists: list[dict[str, Any]] = []
        self.proofs: list[dict[str, Any]] = []
        self.errors: list[str] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run)

    def run(self) -> None:
        rng = random.Random(7)
        with httpx.Client(base_url=self.url, timeout=10) as http:
            while not self.stop.is_set():
                try:
                    r = http.get("/v1/log/checkpoint")
                    if r.status_code == 200:
                        cp, _ = open_checkpoint(r.text, [self.key])
                        self.checkpoints[cp.size] = cp.root
                        leaf = rng.randrange(cp.size)
                        p = http.get("/v1/log/proof/inclusion", params={"leaf_index": leaf, "tree_size": cp.size})
                        assert p.status_code == 200, p.text
                        self.proofs.append(p.json())
                    for listing in ("black", "red"):
                        page = http.get(f"/v1/public/lists/{listing}")
                        assert page.status_code == 200 and "Ledger-Position" in page.headers, page.text
                        self.lists.append(page.json())
                except (httpx.HTTPError, AssertionError) as exc:
                    self.errors.append(repr(exc)[:200])
                time.sleep(0.05)


def check_served(reader: Reader, primary_url: str, key: str) -> dict[str, int]:
    """Everything the read-only server served verifies against the primary's checkpoints."""
    with httpx.Client(base_url=primary_url, timeout=30) as http:
        def root_at(size: int) -> bytes:
            r = http.get("/v1/log/checkpoints", params={"size": size})
            assert r.status_code == 200, f"the primary has no checkpoint of size {size}"
            cp, _ = open_checkpoint(r.text, [key])
            return cp.root

        for size, root in reader.checkpoints.items():
            assert root_at(size) == root
        for proof in reader.proofs:
            verify_inclusion(b64d(proof["leaf_hash"]), proof["leaf_index"], proof["tree_size"],
                             [b64d(h) for h in proof["proof"]], root_at(proof["tree_size"]))
        for page in reader.lists:
            if page["checkpoint"] is not None:
                assert b64d(page["checkpoint"]["root"]) == root_at(page["checkpoint"]["size"])
    return {"checkpoints": len(reader.checkpoints), "proofs": len(reader.proofs), "lists": len(reader.lists),
            "read_errors": len(reader.errors)}


def test_read_only_server_serves_reads_and_refuses_writes(pair, tmp_path):
    a, b = pair
    settings = Settings(data_dir=tmp_path / "data", database_url=multi_host(a, b))
    world = World(settings)
    dept = world.department()
    records = [world.submission(dept) for _ in range(5)]
    world.append_ok(*records)
    today = time.strftime("%Y-%m-%d", time.gmtime())
    world.append_ok(*[world.signed(dept, "record.disclosed", record_id=r["statement"]["id"], list="black",
                                   notice_served_at=today) for r in records])
    key = verifier_key(settings)
    b.standby_of(a)
    primary = Server(settings, free_port())
    primary.start()
    replica = ReadOnlyServer(read_only_data(tmp_path, Settings(data_dir=settings.data_dir, database_url=b.url)),
                             free_port(), primary.url, key)
    try:
        b.wait_replayed(a)
        replica.start()
        with httpx.Client(base_url=replica.url, timeout=10) as http:
            health = http.get("/healthz").json()
            assert health["read_only"] is True and health["replica"]["in_recovery"] is True
            assert health["replica"]["primary"] == primary.url
            assert health["position"] == health["replica"]["primary_position"]
            assert health["replica"]["behind_positions"] == 0
            cp = http.get("/v1/log/checkpoint")
            checkpoint, _ = open_checkpoint(cp.text, [key])
            assert int(cp.headers["Ledger-Position"]) == health["position"]
            assert http.get("/v1/log/verifier-key").text.strip() == key
            proof = http.get("/v1/log/proof/inclusion", params={"leaf_index": 3}).json()
            verify_inclusion(b64d(proof["leaf_hash"]), 3, checkpoint.size, [b64d(h) for h in proof["proof"]],
                             checkpoint.root)
            hashes = http.get("/v1/log/leaf-hashes", params={"start": 0, "end": checkpoint.size}).json()
            assert b64d(hashes["leaf_hashes"][3]) == b64d(proof["leaf_hash"])
            page = http.get("/v1/public/lists/black").json()
            assert len(page["entries"]) == 5 and page["position"] == health["position"]
            assert http.get("/").status_code == 200
            metrics = http.get("/metrics").text
            assert "credit_ledger_replica_replay_lag_seconds" in metrics
            assert "credit_ledger_replica_behind_positions 0.0" in metrics
            before = world.ledger.count()
            envelope = world.submission(dept)
            query = world.signed(dept, "query.requested", operator="staff-1", subject=envelope["statement"]["subject"],
                                 purpose="administrative_licensing", legal_basis="law", scope="archive")
            for path, body in (("/v1/statements", envelope), ("/v1/statements/batch", {"envelopes": [envelope]}),
                               ("/v1/queries", query), ("/v1/log/checkpoint", None)):
                r = http.post(path, content=orjson.dumps(body) if body else b"",
                              headers={"Content-Type": "application/json"})
                assert r.status_code == 405, (path, r.text)
                problem = r.json()
                assert problem["type"] == "urn:credit-ledger:problem:read-only", problem
                assert problem["primary"] == primary.url and primary.url in problem["detail"]
            assert world.ledger.count() == before
            with httpx.Client(base_url=primary.url, timeout=10) as p:
                r = p.get("/v1/log/proof/inclusion", params={"statement_id": envelope["statement"]["id"]})
                assert r.status_code == 404  # not in the ledger
                assert p.get("/v1/log/checkpoints").json()["checkpoints"][-1]["size"] == checkpoint.size
    finally:
        replica.stop()
        primary.stop()
        world.close()


def test_read_only_needs_postgres_one_line(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("CREDIT_LEDGER_")}
    env["CREDIT_LEDGER_DATA_DIR"] = str(tmp_path / "data")
    done = subprocess.run([CLI, "serve", "--read-only"], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert done.stderr.strip() == ("credit-ledger: serve --read-only reads a PostgreSQL hot standby: set "
                                   "CREDIT_LEDGER_DATABASE_URL to it")
    assert not (tmp_path / "data").exists()  # nothing created


def test_failover_to_the_promoted_standby_loses_no_acknowledged_statement(pair, tmp_path):
    """Rounds of: a synchronous standby, load on the service and reads on a read-only server over it, SIGKILL of
    the primary's postmaster, promotion of the standby; the service goes on against it without a restart."""
    a, b = pair
    settings = Settings(data_dir=tmp_path / "data", database_url=multi_host(a, b))
    world = World(settings)
    envelopes = workload(world, 300 * ROUNDS)
    world.close()
    key = verifier_key(settings)
    service = Server(settings, free_port())
    service.start()
    tally = Tally()
    primary, standby = a, b
    served = {"checkpoints": 0, "proofs": 0, "lists": 0, "read_errors": 0}
    first = None
    try:
        with httpx.Client(base_url=service.url, timeout=10) as http:
            first = http.get("/v1/log/checkpoint").text
        per_round = len(envelopes) // ROUNDS
        for n in range(ROUNDS):
            standby.standby_of(primary)
            replica = ReadOnlyServer(read_only_data(tmp_path / f"r{n}", Settings(data_dir=settings.data_dir,
                                                                              database_url=standby.url)),
                                     free_port(), service.url, key)
            replica.start()
            reader = Reader(replica.url, key)
            reader.thread.start()
            done = threading.Event()
            chunk = envelopes[n * per_round:(n + 1) * per_round]
            clients = threading.Thread(target=run_clients, args=(service.url, chunk, tally, done))
            clients.start()
            while len(tally.acknowledged) < n * per_round + per_round // 3:
                assert clients.is_alive(), "the load ended before the kill: raise the workload"
                time.sleep(0.02)
            primary.kill9()
            standby.promote()
            clients.join(240)
            assert not clients.is_alive()
            assert service.proc is not None and service.proc.poll() is None, "the service died with its primary"
            time.sleep(1.5)  # a checkpoint after the failover, for the read-only server to serve
            reader.stop.set()
            reader.thread.join(30)
            replica.stop()
            for k, v in check_served(reader, service.url, key).items():
                served[k] += v
            primary, standby = standby, primary
        run_clients(service.url, envelopes, tally, threading.Event())  # everything once more: replays answered
        with httpx.Client(base_url=service.url, timeout=30) as http:
            http.post("/v1/log/checkpoint")
            last = http.get("/v1/log/checkpoint").text
            cp1, _ = open_checkpoint(first, [key])
            cp2, _ = open_checkpoint(last, [key])
            proof = http.get("/v1/log/proof/consistency", params={"first": cp1.size, "second": cp2.size}).json()
            verify_consistency(cp1.size, cp2.size, [b64d(h) for h in proof["proof"]], cp1.root, cp2.root)
    finally:
        service.stop()
    assert len(tally.acknowledged) == len(envelopes)
    result = check_ledger(settings, tally.acknowledged)
    result.update(served, failures_seen=tally.failures)
    report("failover: primary SIGKILLed, synchronous standby promoted", ROUNDS, result)
    assert result["missing"] == 0 and result["duplicates"] == 0 and result["leaf_gaps"] == 0
    assert result["verify"] == "passed"
    assert served["proofs"] > 0 and served["lists"] > 0
    assert tally.failures > 0, "the failover should have been felt by some request"


def check_ledger(settings: Settings, acknowledged: set[str]) -> dict[str, Any]:
    ledger = open_ledger(settings)
    views = open_views(settings, ledger)
    try:
        rows = views.store.query("SELECT statement_id, leaf_index FROM ledger_entries ORDER BY leaf_index")
    finally:
        views.close()
        ledger.close()
    ids = [str(r[0]) for r in rows]
    leaves = [int(r[1]) for r in rows]
    verify = subprocess.run([CLI, "audit", "verify", "--data", str(settings.data_dir)], env=server_env(settings),
                            capture_output=True, text=True, timeout=300)
    return {"acknowledged": len(acknowledged), "found": len(acknowledged & set(ids)),
            "missing": len(acknowledged - set(ids)), "duplicates": len(ids) - len(set(ids)), "entries": len(ids),
            "leaf_gaps": int(leaves != list(range(len(leaves)))),
            "verify": "passed" if verify.returncode == 0 else "FAILED: " + verify.stdout[-300:] + verify.stderr[-300:]}
