"""Projection runtime: rebuild equals live after a long random history; a killed worker resumes exactly."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

from fastapi.testclient import TestClient

from api.app import create_app
from api.runtime import open_views
from tests.reliability.harness import report
from tests.support import World, random_history

CLI = str(Path(sys.executable).parent / "credit-ledger")


def test_rebuild_equals_live_after_10000_random_statements(world: World):
    views = open_views(world.settings, world.ledger)
    try:
        round_ = 0
        while world.ledger.count() < 10_000:  # the live view follows along, in between appends
            round_ += 1
            random_history(world, 2000, seed=round_)
            views.archive.catch_up(batch=random.Random(round_).randrange(50, 900))
            views.tree.catch_up(batch=777)
        assert world.ledger.count() >= 10_000
        views.archive.catch_up_all()
        views.tree.catch_up_all()
        live = (views.archive.digest(), views.tree.digest())
        counts = views.store.query("SELECT COUNT(*) FROM archive_records")[0][0]
        assert counts > 2000
        views.archive.reset()
        views.tree.reset()
        assert views.archive.digest() != live[0]
        views.archive.catch_up_all()
        views.tree.catch_up_all()
        assert (views.archive.digest(), views.tree.digest()) == live
        assert views.tree.size() == world.ledger.count()
    finally:
        views.close()


def _env(world: World) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CREDIT_LEDGER_")}
    env["CREDIT_LEDGER_DATA_DIR"] = str(world.settings.data_dir)
    env["CREDIT_LEDGER_PROJECTION_POLL_SECONDS"] = "0.05"
    if world.settings.database_url:
        env["CREDIT_LEDGER_DATABASE_URL"] = world.settings.database_url
        env["CREDIT_LEDGER_DATABASE_SCHEMA"] = world.settings.database_schema
    return env


def test_worker_killed_mid_batch_resumes_to_the_same_state(world: World):
    random_history(world, 3000, seed=11)
    env = _env(world)
    views = open_views(world.settings, world.ledger)
    rng = random.Random(5)
    kills = 0
    try:
        for _ in range(6):
            proc = subprocess.Popen([CLI, "project"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            time.sleep(rng.uniform(0.3, 1.5))
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
                kills += 1
            proc.wait(30)
            if views.archive.position() == world.ledger.recorder.max_notification_id():
                break
        assert kills >= 1
        killed_at = views.archive.position()
        done = subprocess.run([CLI, "project", "--once"], env=env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr
        assert views.archive.position() == world.ledger.recorder.max_notification_id()
        killed = (views.archive.digest(), views.tree.digest())
        views.archive.reset()
        views.tree.reset()
        views.archive.catch_up_all()
        views.tree.catch_up_all()
        assert (views.archive.digest(), views.tree.digest()) == killed, f"diverged after kills at {killed_at}"
        report(f"projection worker killed mid-batch ({world.settings.backend})", kills,
               {"events": world.ledger.recorder.max_notification_id(), "digest_after_kills_equals_rebuild": True,
                "verify": "n/a"})
    finally:
        views.close()


def test_rebuild_command(world: World, capsys):
    from api.cli import main

    random_history(world, 300, seed=3)
    if world.settings.database_url:
        os.environ["CREDIT_LEDGER_DATABASE_URL"] = world.settings.database_url
        os.environ["CREDIT_LEDGER_DATABASE_SCHEMA"] = world.settings.database_schema
    try:
        assert main(["rebuild", "--data", str(world.settings.data_dir)]) == 0
    finally:
        os.environ.pop("CREDIT_LEDGER_DATABASE_URL", None)
        os.environ.pop("CREDIT_LEDGER_DATABASE_SCHEMA", None)
    out = capsys.readouterr().out
    assert out.count(" equal") == 3 and "DIFFERENT" not in out


def test_public_lists_over_http(world: World):
    dept = world.department()
    recs = []
    for _ in range(3):
        env = world.submission(dept, subject_name="李雷")
        world.append_ok(env)
        world.append_ok(world.signed(dept, "record.disclosed", record_id=env["statement"]["id"], list="black",
                                     notice_served_at=env["statement"]["decision_date"]))
        recs.append(env["statement"])
    with TestClient(create_app(world.settings)) as client:
        views = client.app.state.views  # type: ignore[attr-defined]
        views.archive.catch_up_all()
        r = client.get("/v1/public/lists/black", params={"limit": 2})
        assert r.status_code == 200 and r.headers["cache-control"].startswith("public")
        body = r.json()
        assert len(body["entries"]) == 2 and body["next_cursor"]
        assert "李雷" not in r.text and recs[0]["subject"] not in r.text
        r2 = client.get("/v1/public/lists/black", params={"limit": 2, "cursor": body["next_cursor"]})
        assert len(r2.json()["entries"]) == 1 and r2.json()["next_cursor"] is None
        again = client.get("/v1/public/lists/black", params={"limit": 2}, headers={"If-None-Match": r.headers["etag"]})
        assert again.status_code == 304
        assert client.get("/v1/public/lists/red").json()["entries"] == []
        bad = client.get("/v1/public/lists/black", params={"cursor": "!!"})
        assert bad.status_code == 400 and bad.json()["type"] == "urn:credit-ledger:problem:invalid-range"
        bad = client.get("/v1/public/lists/grey")
        assert bad.status_code == 422 and bad.headers["content-type"] == "application/problem+json"
        bad = client.get("/v1/public/lists/black", params={"from": "2026-02-30"})
        assert bad.status_code == 400
