"""Crashes, restarts and concurrency with a real server process: nothing acknowledged is lost.

Rounds come from CREDIT_LEDGER_SOAK_ROUNDS (default 3: CI's budget); the README's soak runs more.
Results are appended as JSON lines to CREDIT_LEDGER_RELIABILITY_REPORT when it is set.
"""

from __future__ import annotations

import os
import random
import threading
import time
from collections.abc import Iterator

import pytest

from api.settings import Settings
from tests.reliability.harness import (
    Server, Tally, ThrowawayCluster, check_nothing_lost, free_port, report, run_clients,
)
from tests.support import World, make_resident_id

pytestmark = pytest.mark.reliability
ROUNDS = int(os.environ.get("CREDIT_LEDGER_SOAK_ROUNDS", "3"))


def workload(world: World, count: int) -> list[dict]:
    dept = world.department(purposes=["administrative_licensing"])
    subjects = [make_resident_id() for _ in range(20)]
    out = []
    for i in range(count):
        if i % 5 == 4:
            out.append(world.signed(dept, "query.requested", operator="staff-1", subject=subjects[i % 20],
                                    purpose="administrative_licensing", legal_basis="law", scope="archive"))
        else:
            out.append(world.submission(dept, subject=subjects[i % 20]))
    return out


def test_server_killed_at_random_moments_loses_nothing(world: World):
    envelopes = workload(world, 600 * max(1, ROUNDS // 3))
    world.close()
    rng = random.Random(ROUNDS)
    server = Server(world.settings, free_port())
    tally = Tally()
    kills = 0
    for _ in range(ROUNDS):
        server.start()
        stop = threading.Event()
        clients = threading.Thread(target=run_clients, args=(server.url, envelopes, tally, stop))
        clients.start()
        time.sleep(rng.uniform(0.3, 1.5))
        server.kill9()
        kills += 1
        stop.set()
        clients.join(60)
    server.start()
    try:
        run_clients(server.url, envelopes, tally, threading.Event())  # resend everything: replays are answered
    finally:
        server.stop()
    assert len(tally.acknowledged) == len(envelopes)
    result = check_nothing_lost(world.settings, tally.acknowledged)
    report(f"kill -9 of the server under load ({world.settings.backend})", kills, result)
    assert result["missing"] == 0 and result["duplicates"] == 0
    assert result["entries"] == result["events"] == result["tree_size"]
    assert result["verify"] == "passed"


@pytest.fixture
def cluster() -> Iterator[ThrowawayCluster]:
    """A PostgreSQL cluster of this test's own, which it may restart; removed afterwards."""
    own = ThrowawayCluster()
    try:
        own.start()
        yield own
    finally:
        own.remove()


@pytest.mark.postgres
def test_postgres_restart_under_load_the_service_recovers_by_itself(cluster, tmp_path):
    """Restarts a throwaway cluster under load (never the configured server)."""
    settings = Settings(data_dir=tmp_path / "data", database_url=cluster.url)
    world = World(settings)
    envelopes = workload(world, 1500)  # enough that the load is still running when the restarts come
    world.close()
    server = Server(settings, free_port())
    server.start()
    tally = Tally()
    try:
        done = threading.Event()
        clients = threading.Thread(target=run_clients, args=(server.url, envelopes, tally, done))
        clients.start()
        restarts = 0
        for _ in range(max(1, ROUNDS // 2)):
            time.sleep(0.5)
            assert clients.is_alive(), "the load ended before the restart: raise the workload"
            cluster.restart()
            restarts += 1
        clients.join(240)
        assert not clients.is_alive()
        assert server.proc is not None and server.proc.poll() is None, "the service died with the database"
    finally:
        server.stop()
    assert len(tally.acknowledged) == len(envelopes)
    result = check_nothing_lost(settings, tally.acknowledged)
    report("PostgreSQL restarted under load", restarts, result)
    assert result["missing"] == 0 and result["duplicates"] == 0 and result["verify"] == "passed"
    assert tally.failures > 0, "the restart should have been felt by some request"


def test_many_writers_on_one_record_lose_no_update(world: World):
    """Writers in separate ledger instances correct one record; each retries on 409 with the fresh version."""
    from api.runtime import open_ledger
    from ledger.application import Receipt
    from ledger.errors import ConflictError
    from ledger.format.statements import parse_envelope

    dept = world.department()
    rec = world.submission(dept)
    world.append_ok(rec)
    rid = rec["statement"]["id"]
    writers, per_writer = 4, 6
    conflicts = [0]
    lock = threading.Lock()

    def writer(n: int) -> None:
        ledger = open_ledger(world.settings)
        try:
            for k in range(per_writer):
                while True:
                    version = ledger.record(rid).version
                    env = world.signed(dept, "record.corrected", record_id=rid, record_version=version,
                                       changes={"summary": f"writer {n} change {k}"}, reason="r")
                    (outcome,) = ledger.append([parse_envelope(env)])
                    if isinstance(outcome, Receipt):
                        break
                    assert isinstance(outcome, ConflictError), outcome
                    with lock:
                        conflicts[0] += 1
        finally:
            ledger.close()

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    record = world.ledger.record(rid)
    assert record.version == 1 + writers * per_writer
    summaries = [v["summary"] for v in record.history[1:]] + [record.fields["summary"]]
    assert sorted(summaries) == sorted(f"writer {n} change {k}" for n in range(writers) for k in range(per_writer))
    report(f"concurrent corrections of one record ({world.settings.backend})", writers * per_writer,
           {"acknowledged": writers * per_writer, "found": len(summaries), "duplicates": 0, "missing": 0,
            "conflicts_retried": conflicts[0], "verify": "n/a"})


def test_many_writers_on_different_records_no_deadlock_no_gap(world: World):
    from api.runtime import open_ledger
    from ledger.format.statements import parse_envelope

    depts = [world.department() for _ in range(4)]
    before = world.ledger.count()
    done: list[int] = []

    def writer(dept) -> None:  # type: ignore[no-untyped-def]
        ledger = open_ledger(world.settings)
        try:
            for _ in range(10):
                outcomes = ledger.append([parse_envelope(world.submission(dept)) for _ in range(5)])
                assert all(not isinstance(o, Exception) for o in outcomes), outcomes
                done.append(len(outcomes))
        finally:
            ledger.close()

    threads = [threading.Thread(target=writer, args=(d,)) for d in depts]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not any(t.is_alive() for t in threads), "a writer is stuck"
    from api.runtime import open_views

    views = open_views(world.settings, world.ledger)
    try:
        leaves = [int(r[0]) for r in views.store.query("SELECT leaf_index FROM ledger_entries ORDER BY leaf_index")]
    finally:
        views.close()
    assert leaves == list(range(len(leaves))) and len(leaves) == before + sum(done) == before + 200
    report(f"concurrent writers on different records ({world.settings.backend})", len(depts),
           {"acknowledged": sum(done), "found": len(leaves) - before, "duplicates": 0, "missing": 0,
            "leaf_gaps": 0, "verify": "n/a"})
