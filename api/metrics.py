"""Prometheus metrics (``prometheus_client``) at ``GET /metrics``: counters and histograms kept as requests are
answered and statements written, gauges read from the app's state when scraped.

What is counted holds no personal data: routes are templates, problems are slugs, and nothing names a
subject, a department or a statement. Kept as things happen: HTTP requests by method, route and status, and
their latency; refusals by problem type (every problem answered, and each refused envelope of a batch);
statements the writer decided (appended, replayed, refused), batch sizes and write durations, failed
writes. Read at scrape time (``StateCollector``): the ledger's head, the log's size, each view's position
and lag in positions and seconds, the latest checkpoint's size and age and what it does not cover yet, and
the write queue's depth.

Under ``serve --workers N`` each process answers only some scrapes, so the counters must be the sum over
the processes: with ``PROMETHEUS_MULTIPROC_DIR`` set (``worker_metrics_dir`` makes one for a run), every
process keeps its counters in files there and any of them answers with the sum (prometheus_client's
multiprocess mode). The gauges read from the database are the same whichever process reads them; each
process's queue depth is sampled every second and summed over the live ones.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, GCCollector, Histogram, PlatformCollector,
    ProcessCollector, disable_created_metrics, generate_latest, multiprocess, values,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from ledger.adapters.committer import GroupCommitter, Write

MULTIPROCESS_ENV = "PROMETHEUS_MULTIPROC_DIR"
MEDIA_TYPE = CONTENT_TYPE_LATEST
HTTP_SECONDS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
COMMIT_SECONDS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
BATCH_SIZES = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 5000)
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def multiprocess_mode() -> bool:
    """Whether this process keeps its metrics in ``PROMETHEUS_MULTIPROC_DIR`` (decided when prometheus_client
    was first imported)."""
    return values.ValueClass is not values.MutexValue


class Metrics:
    """The metrics of one app; ``registry`` is what ``/metrics`` exposes."""

    def __init__(self, state: Callable[[], Any]) -> None:
        """``state()`` gives the app's state (``app.state``: its views and committer once started)."""
        self.state = state
        self.multiprocess = multiprocess_mode()
        disable_created_metrics()  # no ``_created`` series: Prometheus' text format does not need them
        self.registry = CollectorRegistry()
        if self.multiprocess:
            multiprocess.MultiProcessCollector(self.registry)
            own: CollectorRegistry | None = None  # the values live in files; the collector above reads them all
        else:
            own = self.registry
            ProcessCollector(registry=own)
            PlatformCollector(registry=own)
            GCCollector(registry=own)
        self.requests = Counter("credit_ledger_http_requests", "HTTP requests answered, by method, route "
                                "template and status", ["method", "route", "status"], registry=own)
        self.latency = Histogram("credit_ledger_http_request_duration_seconds", "Time from a request's arrival to "
                                 "the end of its answer", ["method", "route"], buckets=HTTP_SECONDS, registry=own)
        self.refusals = Counter("credit_ledger_refusals", "Refusals answered, by problem type slug (each problem "
                                "answer, and each refused envelope of a batch)", ["problem"], registry=own)
        self.statements = Counter("credit_ledger_statements", "Statements the writer decided: appended anew, "
                                  "replayed (sent again: the same receipt) or refused", ["result"], registry=own)
        self.failures = Counter("credit_ledger_commit_failures", "Writes that failed as a whole (the database "
                                "unreachable or failing): every statement in them was answered with an error",
                                registry=own)
        self.batch_size = Histogram("credit_ledger_commit_batch_size", "Statements per write (one transaction)",
                                    buckets=BATCH_SIZES, registry=own)
        self.commit_seconds = Histogram("credit_ledger_commit_duration_seconds", "Duration of a write: checks, "
                                        "rules and the transaction", buckets=COMMIT_SECONDS, registry=own)
        self.log_dropped = Counter("credit_ledger_access_log_dropped_lines", "Access log lines dropped because "
                                   "stderr did not take them in time", registry=own)
        self.queue_depth: Gauge | None = None
        self.queue_capacity: Gauge | None = None
        if self.multiprocess:
            self.queue_depth = Gauge("credit_ledger_write_queue_depth", "Requests waiting for the writer (summed "
                                     "over live processes)", multiprocess_mode="livesum", registry=None)
            self.queue_capacity = Gauge("credit_ledger_write_queue_capacity", "Most requests that may wait for the "
                                        "writer (summed over live processes)", multiprocess_mode="livesum",
                                        registry=None)
        self.registry.register(StateCollector(state, queue=not self.multiprocess))
        self._results = {r: self.statements.labels(r) for r in ("appended", "replayed", "refused")}
        self._request_children: dict[tuple[str, str, int], Any] = {}
        self._latency_children: dict[tuple[str, str], Any] = {}
        self._refusal_children: dict[str, Any] = {}

    def request(self, method: str, route: str, status: int, seconds: float, problem: str | None,
                problems: dict[str, int] | None) -> None:
        """Count one answered request (``method`` one of ``METHODS`` or ``other``; ``problems``: a batch's refused
        envelopes by problem slug)."""
        key = (method, route, status)
        child = self._request_children.get(key)
        if child is None:
            child = self._request_children[key] = self.requests.labels(method, route, str(status))
        child.inc()
        timer = self._latency_children.get((method, route))
        if timer is None:
            timer = self._latency_children[(method, route)] = self.latency.labels(method, route)
        timer.observe(seconds)
        if problem is not None:
            self.refused(problem)
        if problems:
            for slug, count in problems.items():
                self.refused(slug, count)

    def refused(self, slug: str, count: int = 1) -> None:
        child = self._refusal_children.get(slug)
        if child is None:
            child = self._refusal_children[slug] = self.refusals.labels(slug)
        child.inc(count)

    def committed(self, write: Write) -> None:
        """What the committer tells of each write (in its writer thread)."""
        if write.failed:
            self.failures.inc()
            return
        self.batch_size.observe(write.statements)
        self.commit_seconds.observe(write.seconds)
        for result, count in (("appended", write.appended), ("replayed", write.replayed),
                              ("refused", write.refused)):
            if count:
                self._results[result].inc(count)
        if self.queue_depth is not None:
            self.queue_depth.set(write.queued)

    def sample(self) -> Callable[[], None]:
        """In multiprocess mode, sample this process's write queue every second (until the function returned
        is called, which also retires this process's gauges); otherwise nothing: a scrape reads the queue."""
        state = self.state
        if self.queue_depth is None or self.queue_capacity is None:
            return lambda: None
        stop = threading.Event()
        depth, capacity = self.queue_depth, self.queue_capacity

        def sample() -> None:
            while True:
                committer = getattr(state(), "committer", None)
                if committer is not None:
                    depth.set(committer.queue_depth)
                    capacity.set(committer.queue_capacity)
                if stop.wait(1.0):
                    return

        threading.Thread(target=sample, name="metrics-sampler", daemon=True).start()

        def stopped() -> None:
            stop.set()
            multiprocess.mark_process_dead(os.getpid())

        return stopped

    def exposition(self) -> bytes:
        """The metrics in the Prometheus text format (reads the database: call it off the event loop)."""
        return generate_latest(self.registry)


def _age(recorded_at: str, now: datetime) -> float:
    return max(0.0, (now - datetime.fromisoformat(recorded_at)).total_seconds())


class StateCollector(Collector):
    """Gauges computed when scraped, from the ledger's tables and the views' positions (a handful of
    index look-ups) and the committer's queue."""

    VIEWS = ("log_tree", "archive", "access_log")

    def __init__(self, state: Callable[[], Any], *, queue: bool) -> None:
        self.state = state
        self.queue = queue

    def describe(self) -> Iterable[Any]:
        return []  # read at scrape time only: registering must not touch the database

    def collect(self) -> Iterator[Any]:
        state = self.state()
        views = getattr(state, "views", None)
        committer: GroupCommitter | None = getattr(state, "committer", None)
        if self.queue and committer is not None:
            yield GaugeMetricFamily("credit_ledger_write_queue_depth", "Requests waiting for the writer",
                                    value=committer.queue_depth)
            yield GaugeMetricFamily("credit_ledger_write_queue_capacity", "Most requests that may wait for the "
                                    "writer; beyond it requests are refused 503 unavailable",
                                    value=committer.queue_capacity)
        if views is None:
            return
        up = GaugeMetricFamily("credit_ledger_database_up", "Whether the database answered this scrape's reads")
        try:
            found = list(self._read(views.store))
        except Exception:  # noqa: BLE001 - a scrape says the database is down rather than failing
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield from found
        settings = getattr(state, "settings", None)
        if settings is not None and settings.read_only:
            try:
                replica = replica_gauges(views.store, settings.primary_url)
            except Exception:  # noqa: BLE001 - the gauges above already say whether the database answered
                return
            yield from replica

    def _read(self, store: Any) -> Iterator[Any]:
        now = datetime.now(timezone.utc)

        def one(sql: str, params: tuple[Any, ...] = ()) -> Any:
            rows = store.query(sql, params)
            return rows[0][0] if rows else None

        def first_after(position: int) -> str | None:
            return one("SELECT recorded_at FROM ledger_entries WHERE notification_id > %s "
                       "ORDER BY notification_id LIMIT 1", (position,))

        head = int(one("SELECT MAX(notification_id) FROM ledger_entries") or 0)
        last_leaf = one("SELECT MAX(leaf_index) FROM ledger_entries")
        size = 0 if last_leaf is None else int(last_leaf) + 1
        yield GaugeMetricFamily("credit_ledger_head_position", "Position of the ledger's latest entry", value=head)
        yield GaugeMetricFamily("credit_ledger_log_entries", "Entries in the transparency log", value=size)
        position = GaugeMetricFamily("credit_ledger_projection_position", "Ledger position each view has reached",
                                     labels=["view"])
        lag = GaugeMetricFamily("credit_ledger_projection_lag_positions", "Ledger positions a view has not "
                                "looked at yet (head minus its position)", labels=["view"])
        lag_seconds = GaugeMetricFamily("credit_ledger_projection_lag_seconds", "Age of the oldest entry a view "
                                        "has not looked at yet (0 when it is at the head)", labels=["view"])
        for view in self.VIEWS:
            at = store.position(view)
            if view == "log_tree":  # its position counts leaves: the position of its last leaf
                at = int(one("SELECT notification_id FROM ledger_entries WHERE leaf_index = %s", (at - 1,)) or 0)
            oldest = first_after(at) if at < head else None
            position.add_metric([view], at)
            lag.add_metric([view], max(0, head - at))
            lag_seconds.add_metric([view], _age(oldest, now) if oldest else 0.0)
        yield position
        yield lag
        yield lag_seconds
        latest = store.query("SELECT size, created_at FROM log_checkpoints ORDER BY size DESC LIMIT 1")
        covered = int(latest[0][0]) if latest else 0
        yield GaugeMetricFamily("credit_ledger_checkpoint_size", "Tree size of the latest signed checkpoint",
                                value=covered)
        if latest:
            yield GaugeMetricFamily("credit_ledger_checkpoint_age_seconds", "Time since the latest checkpoint was "
                                    "signed (grows on an idle ledger too)", value=_age(latest[0][1], now))
        uncovered = one("SELECT recorded_at FROM ledger_entries WHERE leaf_index = %s", (covered,)) \
            if covered < size else None
        yield GaugeMetricFamily("credit_ledger_checkpoint_behind_entries", "Entries no signed checkpoint covers "
                                "yet", value=size - covered)
        yield GaugeMetricFamily("credit_ledger_checkpoint_behind_seconds", "Age of the oldest entry no signed "
                                "checkpoint covers yet (0 when all are covered)",
                                value=_age(uncovered, now) if uncovered else 0.0)


def replica_gauges(store: Any, primary_url: str | None) -> list[Any]:
    """A read-only server's standby: replay lag in bytes and seconds, and with a primary URL, in positions."""
    from api.routers.health import replica_state

    state = replica_state(store, primary_url)
    out = [
        GaugeMetricFamily("credit_ledger_replica_in_recovery", "1 while the database is a standby replaying WAL, "
                          "0 once promoted", value=int(state["in_recovery"])),
        GaugeMetricFamily("credit_ledger_replica_replay_lag_bytes", "WAL received but not replayed yet",
                          value=state["replay_lag_bytes"]),
        GaugeMetricFamily("credit_ledger_replica_replay_lag_seconds", "Age of the last replayed transaction while "
                          "received WAL waits to be replayed (0 when all is replayed)",
                          value=state["replay_lag_seconds"]),
    ]
    if state.get("behind_positions") is not None:
        out.append(GaugeMetricFamily("credit_ledger_replica_behind_positions", "Ledger positions the primary has "
                                     "and this standby has not replayed yet", value=state["behind_positions"]))
    return out


@contextmanager
def worker_metrics_dir() -> Iterator[Path]:
    """A directory for the metrics of several server processes (``serve --workers N``), given to them as
    ``PROMETHEUS_MULTIPROC_DIR`` (set in this process's environment before they start): a new private one
    removed afterwards, or the operator's own, emptied first (files of an earlier run would be summed in)."""
    given = os.environ.get(MULTIPROCESS_ENV)
    if given:
        path = Path(given)
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        for stale in path.glob("*.db"):
            stale.unlink()
        yield path
        return
    path = Path(tempfile.mkdtemp(prefix="credit-ledger-metrics-"))
    os.environ[MULTIPROCESS_ENV] = str(path)
    try:
        yield path
    finally:
        os.environ.pop(MULTIPROCESS_ENV, None)
        shutil.rmtree(path, ignore_errors=True)
