"""Group commit: concurrent requests coalesced into one ``Ledger.append`` (one transaction).

Request handlers call ``submit`` and wait on the returned future. One writer thread takes
whatever has queued up while the previous transaction ran, up to ``max_batch`` statements, and
appends it as one batch. Under load (others already waiting behind the first), it first lingers
``linger`` seconds so that more join the batch: fewer, larger transactions, each holding the
ledger's append lock once. When idle, a lone statement is written at once (no timer delays it).

Each write is told, as plain numbers (``Write``), to an optional ``on_write`` callback in the writer thread:
how many statements, how many were appended anew, answered as replays or refused, how long the write took
and how many requests still wait. The HTTP edge turns them into metrics; nothing here knows of that.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from typing import Any, NamedTuple, Protocol

from ledger.errors import UnavailableError
from ledger.format.statements import Envelope

_STOP = object()


class Appender(Protocol):
    """What the committer writes through: ``Ledger.append``, one outcome per envelope, in one transaction."""

    def append(self, envelopes: Sequence[Envelope]) -> list[Any]: ...


class Write(NamedTuple):
    """One write of the committer, told to ``on_write``: ``statements`` in the batch (``appended`` anew,
    ``replayed``, ``refused``; all refused with the batch when ``failed``), its duration in seconds, and the
    requests still queued when it ended."""

    statements: int
    appended: int
    replayed: int
    refused: int
    seconds: float
    queued: int
    failed: bool = False


class GroupCommitter:
    """One writer thread appending queued envelopes in batches."""

    def __init__(
        self, ledger: Appender, *, max_batch: int = 2000, max_queue: int = 100_000,
        on_commit: Callable[[], None] | None = None, linger: float = 0.0,
        on_write: Callable[[Write], None] | None = None,
    ) -> None:
        self.ledger = ledger
        self.on_commit = on_commit
        self.on_write = on_write
        self.max_batch = max_batch
        self.linger = linger
        self._queue: queue.Queue[object] = queue.Queue(maxsize=max_queue)
        self._thread: threading.Thread | None = None
        self.batches = 0
        self.statements = 0

    @property
    def queue_depth(self) -> int:
        """Requests waiting for the writer (approximate, as ``Queue.qsize``)."""
        return self._queue.qsize()

    @property
    def queue_capacity(self) -> int:
        """Most requests that may wait; a request beyond it is refused as unavailable."""
        return self._queue.maxsize

    def start(self) -> None:
        """Start the writer thread."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="group-commit", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Write what is queued, then stop the writer thread."""
        if self._thread is not None:
            self._queue.put(_STOP)
            self._thread.join(timeout)
            self._thread = None

    def submit(self, envelopes: Sequence[Envelope]) -> Future[list[Any]]:
        """Queue envelopes for the next batch; the future gives one outcome per envelope."""
        future: Future[list[Any]] = Future()
        if self._thread is None:
            future.set_exception(UnavailableError("the ledger is not accepting statements (stopped)"))
            return future
        try:
            self._queue.put_nowait((list(envelopes), future))
        except queue.Full:
            future.set_exception(UnavailableError("the ledger's write queue is full; retry later"))
        return future

    def _run(self) -> None:
        while True:
            job = self._queue.get()
            if job is _STOP:
                return
            if self.linger and not self._queue.empty():
                time.sleep(self.linger)
            jobs = [job]
            size = len(job[0])  # type: ignore[index]
            stop = False
            while size < self.max_batch:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is _STOP:
                    stop = True
                    break
                jobs.append(more)
                size += len(more[0])  # type: ignore[index]
            self._write(jobs)  # type: ignore[arg-type]
            if stop:
                return

    def _write(self, jobs: list[tuple[list[Envelope], Future[list[Any]]]]) -> None:
        envelopes = [e for envs, _ in jobs for e in envs]
        started = time.perf_counter()
        try:
            outcomes = self.ledger.append(envelopes)
        except Exception as exc:  # the database is down or failing: every waiter learns it
            for _, fut in jobs:
                fut.set_exception(exc)
            self._told(Write(len(envelopes), 0, 0, len(envelopes), time.perf_counter() - started,
                             self._queue.qsize(), failed=True))
            return
        seconds = time.perf_counter() - started
        self.batches += 1
        self.statements += len(envelopes)
        if self.on_commit is not None:
            self.on_commit()
        start = 0
        for envs, fut in jobs:
            fut.set_result(outcomes[start:start + len(envs)])
            start += len(envs)
        if self.on_write is not None:
            refused = replayed = 0
            for outcome in outcomes:
                if isinstance(outcome, Exception):
                    refused += 1
                elif getattr(outcome, "replay", False):
                    replayed += 1
            self._told(Write(len(envelopes), len(envelopes) - refused - replayed, replayed, refused, seconds,
                             self._queue.qsize()))

    def _told(self, write: Write) -> None:
        """Tell ``on_write`` of a write; what it raises does not reach the waiters."""
        if self.on_write is not None:
            try:
                self.on_write(write)
            except Exception:  # noqa: BLE001 - an observer's failure must not fail an append
                pass
