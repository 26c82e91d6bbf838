"""Load against a real server process, and the checks that nothing acknowledged was lost."""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson

from api.runtime import open_ledger, open_views
from api.settings import Settings

CLI = str(Path(sys.executable).parent / "credit-ledger")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def server_env(settings: Settings) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CREDIT_LEDGER_")}
    env["CREDIT_LEDGER_DATA_DIR"] = str(settings.data_dir)
    env["CREDIT_LEDGER_PROJECTION_POLL_SECONDS"] = "0.2"
    if settings.database_url:
        env["CREDIT_LEDGER_DATABASE_URL"] = settings.database_url
        env["CREDIT_LEDGER_DATABASE_SCHEMA"] = settings.database_schema
    return env


class Server:
    """``credit-ledger serve`` as a child process."""

    def __init__(self, settings: Settings, port: int) -> None:
        self.settings = settings
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen([CLI, "serve", "--port", str(self.port), "--log-level", "warning"],
                                     env=server_env(self.settings), stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(self.url + "/healthz", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise AssertionError("server did not come up")

    def kill9(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(30)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(30)


@dataclass
class Tally:
    """What the clients saw."""

    acknowledged: set[str] = field(default_factory=set)
    sent: int = 0
    failures: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


def run_clients(url: str, envelopes: list[dict[str, Any]], tally: Tally, stop: threading.Event, clients: int = 8) -> None:
    """Post envelopes (each until acknowledged) from several threads until ``stop`` or all are acknowledged."""
    queue = list(envelopes)
    qlock = threading.Lock()

    def worker() -> None:
        with httpx.Client(timeout=10) as http:
            while not stop.is_set():
                with qlock:
                    if not queue:
                        return
                    env = queue.pop()
                path = "/v1/queries" if env["statement"]["type"] == "query.requested" else "/v1/statements"
                try:
                    r = http.post(url + path, content=orjson.dumps(env), headers={"Content-Type": "application/json"})
                    ok = r.status_code in (200, 201)
                except httpx.HTTPError:
                    ok = False
                with tally.lock:
                    tally.sent += 1
                    if ok:
                        tally.acknowledged.add(env["statement"]["id"])
                    else:
                        tally.failures += 1
                if not ok:
                    with qlock:
                        queue.insert(0, env)  # resend later: the same envelope, so at most once in the ledger
                    time.sleep(0.05)

    threads = [threading.Thread(target=worker) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def check_nothing_lost(settings: Settings, acknowledged: set[str]) -> dict[str, Any]:
    """Every acknowledged statement exactly once, no half-applied one, views caught up, audit passes."""
    from api.cli import main as cli

    ledger = open_ledger(settings)
    views = open_views(settings, ledger)
    try:
        ids = [str(r[0]) for r in views.store.query("SELECT statement_id FROM ledger_entries")]
        events = views.store.query("SELECT COUNT(*) FROM " + ("ledger_events" if settings.database_url
                                                             else "stored_events"))[0][0]
        found = set(ids)
        duplicates = len(ids) - len(found)
        missing = acknowledged - found
        views.tree.catch_up_all()
        views.archive.catch_up_all()
        views.access_log.catch_up_all()
        views.checkpointer.make()
        tree_size = views.tree.size()
    finally:
        views.close()
        ledger.close()
    verify = cli(["audit", "verify", "--data", str(settings.data_dir)])
    return {"acknowledged": len(acknowledged), "found": len(acknowledged & found), "missing": len(missing),
            "duplicates": duplicates, "entries": len(ids), "events": int(events), "tree_size": tree_size,
            "verify": "passed" if verify == 0 else "FAILED"}


def random_delay(rng: random.Random, lo: float, hi: float) -> float:
    return rng.uniform(lo, hi)


def new_id() -> str:
    return str(uuid.uuid4())


def report(scenario: str, rounds: int, result: dict[str, Any]) -> None:
    """Print one result line, and append it to CREDIT_LEDGER_RELIABILITY_REPORT when that is set."""
    import json

    line = {"scenario": scenario, "rounds": rounds, **result}
    print(json.dumps(line))
    path = os.environ.get("CREDIT_LEDGER_RELIABILITY_REPORT")
    if path:
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(line) + "\n")


class ThrowawayCluster:
    """A PostgreSQL cluster of a test's own: initdb into a temporary directory, a free port on 127.0.0.1,
    removed afterwards. Scenarios that stop or restart PostgreSQL use one, never the configured server."""

    def __init__(self) -> None:
        import glob
        import shutil
        import tempfile

        found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb")) or [shutil.which("initdb") or ""]
        if not found[-1]:
            raise RuntimeError("initdb is not installed (Debian: postgresql)")
        self.bin = Path(found[-1]).parent
        # Its own directory straight under the temporary root: the postgres user must reach it.
        self.dir = Path(tempfile.mkdtemp(prefix="credit-ledger-pg-"))
        self.port = free_port()
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *args: str) -> None:
        prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []  # initdb refuses root
        done = subprocess.run([*prefix, *args], capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            raise RuntimeError(f"{Path(args[0]).name} failed: {done.stderr.strip()}")

    def _pg_ctl(self, *args: str) -> None:
        # The server's output goes to a log file: inherited pipes would keep the call waiting.
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.dir / "data"), "-l", str(self.dir / "log"), "-w", *args)

    def start(self) -> None:
        if os.geteuid() == 0:
            import pwd

            user = pwd.getpwnam("postgres")
            os.chown(self.dir, user.pw_uid, user.pw_gid)
        self._run(str(self.bin / "initdb"), "-D", str(self.dir / "data"), "-U", "postgres", "-A", "trust")
        self._pg_ctl("-o", f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1", "start")

    def restart(self) -> None:
        self._pg_ctl("-m", "fast", "restart")

    def remove(self) -> None:
        import shutil

        try:
            self._pg_ctl("-m", "immediate", "stop")
        except RuntimeError:
            pass  # not running
        shutil.rmtree(self.dir, ignore_errors=True)


def start_options(port: int, directory: Path, name: str) -> str:
    """Server options of a throwaway cluster: its port, its socket directory, localhost only, and a name that a
    standby's WAL receiver reports to its primary (``synchronous_standby_names`` names it)."""
    return f"-p {port} -k {directory} -c listen_addresses=127.0.0.1 -c cluster_name={name} -c wal_level=replica"


class ReplicaCluster(ThrowawayCluster):
    """A throwaway cluster that can be a primary or a hot standby of another, be promoted, and die by SIGKILL of
    its postmaster: streaming replication between two clusters of a test's own."""

    def __init__(self, name: str) -> None:
        super().__init__()
        self.name = name
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _own(self) -> None:
        if os.geteuid() == 0:
            import pwd

            user = pwd.getpwnam("postgres")
            os.chown(self.dir, user.pw_uid, user.pw_gid)

    def start(self) -> None:
        self._own()
        self._run(str(self.bin / "initdb"), "-D", str(self.dir / "data"), "-U", "postgres", "-A", "trust")
        self._pg_ctl("-o", start_options(self.port, self.dir, self.name), "start")

    def sql(self, statement: str) -> list[tuple[Any, ...]]:
        import psycopg

        with psycopg.connect(self.url, autocommit=True, connect_timeout=10) as conn:
            cur = conn.execute(statement)
            return cur.fetchall() if cur.description else []

    def standby_of(self, primary: ReplicaCluster, synchronous: bool = True) -> None:
        """Make this cluster, anew, a hot standby of ``primary``: ``pg_basebackup -R`` (WAL streamed, a
        replication slot of its own) into an empty data directory, started; with ``synchronous``, the primary
        then waits for this standby's flush before it acknowledges a commit (``synchronous_standby_names``,
        set after the backup, so the standby itself never waits for one)."""
        import shutil

        self._own()
        shutil.rmtree(self.dir / "data", ignore_errors=True)
        slot = f"standby_{self.name}"
        if not primary.sql(f"SELECT 1 FROM pg_replication_slots WHERE slot_name = '{slot}'"):
            primary.sql(f"SELECT pg_create_physical_replication_slot('{slot}')")
        self._run(str(self.bin / "pg_basebackup"), "-h", "127.0.0.1", "-p", str(primary.port), "-U", "postgres",
                  "-D", str(self.dir / "data"), "-R", "-X", "stream", "-S", slot, "-c", "fast")
        self._pg_ctl("-o", start_options(self.port, self.dir, self.name), "start")
        if synchronous:
            primary.sql(f"ALTER SYSTEM SET synchronous_standby_names = '{self.name}'")
            primary.sql("SELECT pg_reload_conf()")
            deadline = time.monotonic() + 60
            while not primary.sql(f"SELECT 1 FROM pg_stat_replication WHERE application_name = '{self.name}' "
                                  "AND sync_state = 'sync' AND state = 'streaming'"):
                if time.monotonic() > deadline:
                    raise AssertionError(f"{self.name} did not become a synchronous standby")
                time.sleep(0.1)

    def promote(self) -> None:
        """End recovery: this standby becomes a primary (``pg_ctl promote``, waiting until it takes writes)."""
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.dir / "data"), "-w", "promote")

    def kill9(self) -> None:
        """SIGKILL the postmaster (its pid is the first line of ``postmaster.pid``), as a power cut would; waits
        until its port refuses connections. Its backends end by themselves when they see it gone."""
        pid = int((self.dir / "data" / "postmaster.pid").read_text().split()[0])
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    pass
            except OSError:
                return
            time.sleep(0.05)
        raise AssertionError("the killed postmaster still accepts connections")

    def wait_replayed(self, primary: ReplicaCluster) -> None:
        """Until this standby has replayed everything the primary has written so far."""
        (target,) = primary.sql("SELECT pg_current_wal_lsn()::text")[0]
        deadline = time.monotonic() + 60
        while not self.sql(f"SELECT pg_last_wal_replay_lsn() >= '{target}'::pg_lsn")[0][0]:
            if time.monotonic() > deadline:
                raise AssertionError("the standby did not catch up")
            time.sleep(0.05)


class ReadOnlyServer(Server):
    """``credit-ledger serve --read-only`` on a standby, from a data directory holding only the authority's
    public key: the log's verifier key comes from the environment, no private key is there."""

    def __init__(self, settings: Settings, port: int, primary_url: str, verifier_key: str) -> None:
        super().__init__(settings, port)
        self.primary_url = primary_url
        self.verifier_key = verifier_key

    def start(self) -> None:
        env = server_env(self.settings)
        env["CREDIT_LEDGER_LOG_VERIFIER_KEY"] = self.verifier_key
        env["CREDIT_LEDGER_ACCESS_LOG"] = "false"
        log = self.settings.data_dir.parent / f"read-only-{self.port}.log"
        with open(log, "wb") as err:
            self.proc = subprocess.Popen([CLI, "serve", "--read-only", "--primary", self.primary_url, "--port",
                                          str(self.port), "--log-level", "warning"], env=env,
                                         stdout=subprocess.DEVNULL, stderr=err)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError("read-only server exited: " + log.read_text())
            try:
                if httpx.get(self.url + "/healthz", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise AssertionError("read-only server did not come up")
