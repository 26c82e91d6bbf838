"""Operations against a real ``credit-ledger serve``: one JSON line per request on stderr (request id, route,
status, problem, latency, statement ids; no personal data anywhere in the server's output), and ``/metrics``
whose counters move by exactly what was done and whose gauges follow the views and checkpoints."""

from __future__ import annotations

import base64
import json
import re
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from api.settings import Settings
from tests.conftest import PG_URL
from tests.reliability.harness import CLI, free_port, server_env
from tests.support import Department, World, make_resident_id, wait_until_serving

pytestmark = pytest.mark.server
P = "urn:credit-ledger:problem:"
NAME = "欧阳娜娜"
SUMMARY = "Sold mouldy dumplings at stall 17 of Taidong night market"
HEX32 = re.compile(r"[0-9a-f]{32}")


class Served:
    """A ledger with one department, served by ``credit-ledger serve`` (its stdout and stderr kept apart)."""

    def __init__(self, settings: Settings, tmp: Path, extra: dict[str, str], args: tuple[str, ...] = ()) -> None:
        world = World(settings)
        self.world = world
        self.dept: Department = world.department(purposes=["administrative_licensing"])
        world.close()
        self.env = {**server_env(settings), **extra}
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.out, self.err = tmp / "server.out", tmp / "server.err"
        self._out, self._err = open(self.out, "w+"), open(self.err, "w+")
        self.proc = subprocess.Popen([CLI, "serve", "--port", str(self.port), "--log-level", "warning", *args],
                                     env=self.env, stdout=self._out, stderr=self._err)
        wait_until_serving(self.proc, self.url, self._err)
        self.http = httpx.Client(base_url=self.url, timeout=60)

    def stop(self) -> None:
        self.http.close()
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(30)
        self._out.close()
        self._err.close()

    def post(self, path: str, body: dict[str, Any], request_id: str | None = None) -> httpx.Response:
        return self.http.post(path, json=body, headers={"X-Request-Id": request_id} if request_id else {})

    def metrics(self) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
        r = self.http.get("/metrics")
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain"), r.text
        return {(s.name, frozenset(s.labels.items())): s.value
                for family in text_string_to_metric_families(r.text) for s in family.samples}

    def lines(self, until: Callable[[list[dict[str, Any]]], bool]) -> list[dict[str, Any]]:
        """The JSON lines of stderr once ``until`` holds for them (they are written by a thread of their own)."""
        deadline = time.monotonic() + 30
        while True:
            found = [json.loads(line) for line in self.err.read_text(encoding="utf-8").splitlines()
                     if line.startswith("{")]
            if until(found) or time.monotonic() > deadline:
                return found
            time.sleep(0.05)


def value(found: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str) -> float:
    return found.get((name, frozenset(labels.items())), 0.0)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def settings_of(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    if request.param == "postgres":
        return Settings(data_dir=tmp_path / "data", database_url=PG_URL,
                        database_schema=request.getfixturevalue("pg_schema"))
    return Settings(data_dir=tmp_path / "data")


@pytest.fixture
def served(settings_of: Settings, tmp_path: Path) -> Iterator[Served]:
    srv = Served(settings_of, tmp_path, {})
    try:
        yield srv
    finally:
        srv.stop()


def _bad_signature(envelope: dict[str, Any]) -> dict[str, Any]:
    raw = bytearray(base64.b64decode(envelope["signature"]))
    raw[0] ^= 1
    return {**envelope, "signature": base64.b64encode(bytes(raw)).decode()}


def test_one_line_per_request_no_personal_data_and_metrics_moved_by_exactly_what_was_done(served):
    srv, world, dept = served, served.world, served.dept
    subject = make_resident_id()
    ids = {k: str(uuid.uuid4()) for k in ("append", "refused", "batch", "query", "unmatched", "listed")}
    before = srv.metrics()

    ok = world.submission(dept, subject=subject, subject_name=NAME, summary=SUMMARY)
    appended = srv.post("/v1/statements", ok, ids["append"])
    assert appended.status_code == 201 and appended.headers["x-request-id"] == ids["append"]
    refused = srv.post("/v1/statements", _bad_signature(world.submission(dept, subject=subject, subject_name=NAME,
                                                                          summary=SUMMARY)), ids["refused"])
    assert refused.status_code == 401 and refused.json()["type"] == P + "bad-signature"
    batch = srv.post("/v1/statements/batch", {"envelopes": [
        world.submission(dept, subject=subject, subject_name=NAME, summary=SUMMARY),
        _bad_signature(world.submission(dept, subject=subject, subject_name=NAME, summary=SUMMARY))]}, ids["batch"])
    assert batch.status_code == 200 and batch.json()["accepted"] == 1, batch.text
    query = world.signed(dept, "query.requested", operator="staff-7", purpose="administrative_licensing",
                         legal_basis="Administrative Licensing Law art. 31", scope="archive", subject=subject)
    answered = srv.post("/v1/queries", query, ids["query"])
    assert answered.status_code == 200 and answered.json()["data"]["records"][0]["fields"]["subject_name"] == NAME
    missing = srv.http.get(f"/v1/records/{subject}", params={"name": NAME}, headers={"X-Request-Id": ids["unmatched"]})
    assert missing.status_code == 404
    listed = srv.http.get("/v1/public/lists/black", params={"authority": subject, "q": NAME},
                          headers={"X-Request-Id": ids["listed"]})
    assert listed.status_code in (200, 422)
    # An incoming request id that is not 32 hex digits (here: the subject's ID) is replaced, not echoed.
    renamed = srv.http.get("/healthz", headers={"X-Request-Id": subject})
    assert HEX32.fullmatch(renamed.headers["x-request-id"]) and subject not in str(renamed.headers)

    after = srv.metrics()

    def moved(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert moved("credit_ledger_statements_total", result="appended") == 3  # the append, the batch's good one, the query
    assert moved("credit_ledger_statements_total", result="refused") == 2
    assert moved("credit_ledger_statements_total", result="replayed") == 0
    assert moved("credit_ledger_refusals_total", problem="bad-signature") == 2  # the single one and the batch's
    assert moved("credit_ledger_refusals_total", problem="not-found") == 1
    assert moved("credit_ledger_commit_batch_size_count") == 4 and moved("credit_ledger_commit_batch_size_sum") == 5
    assert moved("credit_ledger_commit_duration_seconds_count") == 4
    for method, route, status in (("POST", "/v1/statements", "201"), ("POST", "/v1/statements", "401"),
                                  ("POST", "/v1/statements/batch", "200"), ("POST", "/v1/queries", "200"),
                                  ("GET", "unmatched", "404")):
        assert moved("credit_ledger_http_requests_total", method=method, route=route, status=status) == 1
    assert moved("credit_ledger_http_request_duration_seconds_count", method="POST", route="/v1/queries") == 1
    position, leaf = answered.json()["receipt"]["position"], answered.json()["receipt"]["leaf_index"]
    assert value(after, "credit_ledger_head_position") == position
    assert value(after, "credit_ledger_log_entries") == leaf + 1
    assert value(after, "credit_ledger_database_up") == 1
    assert value(after, "credit_ledger_write_queue_depth") == 0
    assert value(after, "credit_ledger_write_queue_capacity") == 100_000
    for view in ("log_tree", "archive", "access_log"):
        assert ("credit_ledger_projection_lag_seconds", frozenset({("view", view)})) in after
    assert ("credit_ledger_checkpoint_age_seconds", frozenset()) in after
    # The views and the checkpoints catch up: every lag gauge comes down to 0.
    deadline = time.monotonic() + 60
    while True:
        now = srv.metrics()
        lags = [value(now, "credit_ledger_projection_lag_positions", view=v) for v in ("log_tree", "archive",
                                                                                       "access_log")]
        lags.append(value(now, "credit_ledger_checkpoint_behind_entries"))
        if lags == [0, 0, 0, 0] or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert lags == [0, 0, 0, 0] and value(now, "credit_ledger_checkpoint_size") == leaf + 1
    assert value(now, "credit_ledger_projection_position", view="archive") == position

    last = str(uuid.uuid4())
    final = srv.http.get("/metrics", headers={"X-Request-Id": last}).text
    lines = srv.lines(lambda found: any(line["request_id"] == last for line in found))
    by_id = {line["request_id"]: line for line in lines}
    # One line per request: every request counted before the last scrape has its line, and no other line exists.
    counted = sum(s.value for f in text_string_to_metric_families(final) for s in f.samples
                  if s.name == "credit_ledger_http_requests_total")
    assert len(lines) == counted + 1 and len(by_id) == len(lines)
    line = by_id[ids["append"]]
    receipt = appended.json()
    assert {k: line[k] for k in ("method", "path", "status", "statement_ids", "positions")} == {
        "method": "POST", "path": "/v1/statements", "status": 201, "statement_ids": [receipt["statement_id"]],
        "positions": [receipt["position"]]}
    assert "problem" not in line and line["ms"] >= 0 and re.fullmatch(r"\d{4}-\d\d-\d\dT[\d:.]+Z", line["time"])
    assert by_id[ids["refused"]]["status"] == 401 and by_id[ids["refused"]]["problem"] == "bad-signature"
    assert "statement_ids" not in by_id[ids["refused"]]
    good = batch.json()["results"][0]["receipt"]["position"]
    assert {k: by_id[ids["batch"]][k] for k in ("path", "status", "accepted", "refused", "positions", "problems")} == {
        "path": "/v1/statements/batch", "status": 200, "accepted": 1, "refused": 1, "positions": [good, good],
        "problems": {"bad-signature": 1}}
    assert by_id[ids["query"]]["statement_ids"] == [query["statement"]["id"]]
    assert by_id[ids["query"]]["positions"] == [position] and by_id[ids["query"]]["status"] == 200
    assert by_id[ids["unmatched"]]["path"] == "/v1/*/*" and by_id[ids["unmatched"]]["problem"] == "not-found"
    assert by_id[ids["listed"]]["path"] == "/v1/public/lists/{listing}"
    assert by_id[renamed.headers["x-request-id"]]["path"] == "/healthz"
    srv.stop()
    output = srv.out.read_text(encoding="utf-8") + srv.err.read_text(encoding="utf-8")
    for secret in (subject, NAME, SUMMARY):
        assert secret not in output and secret not in final


def test_lag_gauges_follow_views_that_are_behind(tmp_path):
    """Without the projections running (a separate ``project`` would run them), the log tree and the
    checkpoints stay behind: the gauges say by how much, until a checkpoint is asked for. With the access log
    off, nothing is written per request; the request id is still given."""
    srv = Served(Settings(data_dir=tmp_path / "data"), tmp_path,
                 {"CREDIT_LEDGER_RUN_PROJECTIONS": "false", "CREDIT_LEDGER_ACCESS_LOG": "false"})
    try:
        r = srv.post("/v1/statements", srv.world.submission(srv.dept))
        assert r.status_code == 201 and HEX32.fullmatch(r.headers["x-request-id"])
        found = srv.metrics()
        entries = r.json()["leaf_index"] + 1
        assert value(found, "credit_ledger_log_entries") == entries
        assert value(found, "credit_ledger_projection_lag_positions", view="log_tree") == r.json()["position"]
        assert value(found, "credit_ledger_projection_lag_seconds", view="log_tree") > 0
        assert value(found, "credit_ledger_checkpoint_behind_entries") == entries
        assert value(found, "credit_ledger_checkpoint_behind_seconds") > 0
        assert srv.http.post("/v1/log/checkpoint").status_code in (200, 201)
        found = srv.metrics()
        assert value(found, "credit_ledger_projection_lag_positions", view="log_tree") == 0
        assert value(found, "credit_ledger_projection_lag_seconds", view="log_tree") == 0
        assert value(found, "credit_ledger_checkpoint_behind_entries") == 0
        assert value(found, "credit_ledger_checkpoint_size") == entries
    finally:
        srv.stop()
    assert not [line for line in srv.err.read_text(encoding="utf-8").splitlines() if line.startswith("{")]


def test_with_metrics_and_the_access_log_off_there_is_no_metrics_endpoint(tmp_path):
    srv = Served(Settings(data_dir=tmp_path / "data"), tmp_path,
                 {"CREDIT_LEDGER_METRICS": "false", "CREDIT_LEDGER_ACCESS_LOG": "false"})
    try:
        r = srv.http.get("/metrics")
        assert r.status_code == 404 and r.json()["type"] == P + "not-found"
        assert "x-request-id" not in r.headers
    finally:
        srv.stop()


def test_several_worker_processes_answer_every_scrape_with_the_sum_of_all(tmp_path):
    """``serve --workers 2`` with a directory for the processes' metrics: whichever process answers a scrape,
    it counts the appends of both."""
    shared = tmp_path / "metrics"
    shared.mkdir()
    srv = Served(Settings(data_dir=tmp_path / "data"), tmp_path, {"PROMETHEUS_MULTIPROC_DIR": str(shared)},
                 ("--workers", "2"))
    try:
        for _ in range(6):  # new connections: the kernel hands them to either process
            assert httpx.post(srv.url + "/v1/statements", json=srv.world.submission(srv.dept)).status_code == 201
        for _ in range(6):
            found = {(s.name, frozenset(s.labels.items())): s.value for f in
                     text_string_to_metric_families(httpx.get(srv.url + "/metrics").text) for s in f.samples}
            assert value(found, "credit_ledger_statements_total", result="appended") == 6
            assert value(found, "credit_ledger_http_requests_total", method="POST", route="/v1/statements",
                         status="201") == 6
            assert value(found, "credit_ledger_database_up") == 1
    finally:
        srv.stop()


def test_a_stderr_nobody_reads_never_holds_up_requests(tmp_path):
    """The access log is written by a thread of its own: with stderr a pipe nobody reads (its 64 KiB buffer
    fills after a few hundred lines), the server goes on answering."""
    World(Settings(data_dir=tmp_path / "data")).close()
    port = free_port()
    proc = subprocess.Popen([CLI, "serve", "--port", str(port), "--log-level", "warning"],
                            env=server_env(Settings(data_dir=tmp_path / "data")), stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(url + "/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert proc.poll() is None and time.monotonic() < deadline, "server did not start"
            time.sleep(0.2)
        with httpx.Client(base_url=url, timeout=30) as http:
            statuses = {http.get(f"/not/here/{n}/" + "x" * 200).status_code for n in range(800)}
            assert statuses == {404}
            assert http.get("/healthz").status_code == 200
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)
            assert proc.stderr is not None
            proc.stderr.close()


def test_the_directory_for_worker_metrics_is_private_to_a_run_or_emptied_first(tmp_path, monkeypatch):
    from api.metrics import MULTIPROCESS_ENV, worker_metrics_dir

    monkeypatch.delenv(MULTIPROCESS_ENV, raising=False)
    with worker_metrics_dir() as made:
        import os

        assert os.environ[MULTIPROCESS_ENV] == str(made) and made.is_dir() and made.stat().st_mode & 0o077 == 0
    assert not made.exists() and MULTIPROCESS_ENV not in os.environ
    given = tmp_path / "given"
    given.mkdir()
    (given / "counter_1234.db").write_bytes(b"old")
    (given / "keep.txt").write_text("not ours")
    monkeypatch.setenv(MULTIPROCESS_ENV, str(given))
    with worker_metrics_dir() as used:
        assert used == given and sorted(p.name for p in given.iterdir()) == ["keep.txt"]
    assert given.exists()
