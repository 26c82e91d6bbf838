"""Keeps read models caught up with the ledger: runs inside ``serve`` or as its own process; rebuilds them.

Woken by the group committer after each append (at most every ``min_gap_seconds``, so that under load
it catches up in batches), and in any case every ``poll_seconds`` (so a missed wake-up, or appends by
another process, cannot stall it). Failures are logged and retried.
"""

from __future__ import annotations

import gc
import logging
import multiprocessing
import os
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor

from ledger.adapters.workers import watch_parent
from projections.tracking import TrackedView

log = logging.getLogger("credit_ledger.projections")


class ProjectionWorker:
    """A thread calling ``steps`` until none has work, then waiting for a wake-up or the poll interval."""

    def __init__(self, steps: Sequence[Callable[[], int]], *, poll_seconds: float = 1.0,
                 periodic: Sequence[tuple[float, Callable[[], object]]] = (), min_gap_seconds: float = 0.1) -> None:
        self.steps = list(steps)
        self.periodic = list(periodic)
        self._last_run = [0.0] * len(self.periodic)  # when each periodic task last ran (monotonic)
        self.poll_seconds = poll_seconds
        self.min_gap_seconds = min_gap_seconds  # under load, catch up in batches rather than per commit
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.errors = 0

    def notify(self) -> None:
        """New events were appended."""
        self._wake.set()

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="projections", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def run_once(self) -> int:
        """Catch every step up; run periodic tasks that are due; return the work done."""
        done = 0
        while True:
            n = sum(step() for step in self.steps)
            done += n
            if n == 0:
                break
        now = time.monotonic()
        for i, (interval, fn) in enumerate(self.periodic):
            if now - self._last_run[i] >= interval:
                fn()
                self._last_run[i] = now
        return done

    def _run(self) -> None:
        backoff = self.poll_seconds
        while not self._stop.is_set():
            self._wake.clear()
            try:
                self.run_once()
                backoff = self.poll_seconds
            except Exception:  # storage down or failing: log and retry
                self.errors += 1
                log.exception("projection step failed; retrying in %.1fs", backoff)
                backoff = min(backoff * 2, 30.0)
                self._stop.wait(backoff)
                continue
            self._stop.wait(self.min_gap_seconds)
            self._wake.wait(self.poll_seconds)


def rebuild(views: Sequence[TrackedView], elsewhere: Callable[[list[str]], int] | None = None) -> int:
    """Drop the views' rows and positions, then catch them all up from the first event at once; return
    the events and leaves applied.

    The first view is caught up here. The others are caught up in threads (their reads and writes
    mostly wait on the database), or, given ``elsewhere``, in one fresh process: ``elsewhere`` must be
    picklable and call ``catch_up_all`` on the named views there, so that their work gets a core of its own.
    """
    for view in views:
        view.reset()
    first, rest = views[0], list(views[1:])
    if not rest:
        return catch_up_all([first])
    if elsewhere is None:
        with ThreadPoolExecutor(len(rest), thread_name_prefix="rebuild") as threads:
            others = threads.map(lambda view: view.catch_up_all(), rest)
            return catch_up_all([first]) + sum(others)
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"), initializer=watch_parent,
                             initargs=(os.getpid(),)) as process:
        other = process.submit(elsewhere, [view.name for view in rest])
        return catch_up_all([first]) + other.result()


def catch_up_all(views: Sequence[TrackedView]) -> int:
    """Catch each view up all the way, as a batch job: cycle collection runs less often meanwhile.

    Catching up makes many short-lived documents; they hold no reference cycles (reference counting
    frees them), and collecting the youngest generation every 700 allocations costs about a sixth of
    the time.
    """
    threshold = gc.get_threshold()
    gc.set_threshold(50_000, *threshold[1:])
    try:
        return sum(view.catch_up_all() for view in views)
    finally:
        gc.set_threshold(*threshold)
