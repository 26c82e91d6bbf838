"""The ledger application's settings and state, and the backend it runs on.

``LedgerBase`` holds what every part of the ``Ledger`` shares: its settings (the pinned authority key,
the clock and its allowed skew, the origin), the authority's state as last read, the append lock and
the signature-checking processes. It also picks the recorder: on the library's default in-memory
backend, the ledger's own (``ledger.adapters.memory``), which keeps entry rows as the SQL ones do.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from datetime import datetime, timedelta, timezone
from typing import Any
from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.persistence import InfrastructureFactory, ProgrammingError
from eventsourcing.popo import POPOFactory
from eventsourcing.utils import Environment

from ledger.adapters.entries import EntryStore
from ledger.adapters.memory import MemoryLedgerFactory
from ledger.domain.aggregates import Authority
from ledger.domain.genesis import DEFAULT_ORIGIN


class LedgerBase(Application[UUID]):
    """Settings, shared state and backend of the ``Ledger``."""

    def __init__(
        self,
        env: dict[str, str] | None = None,
        *,
        authority_public_key: bytes | None = None,
        max_clock_skew: timedelta = timedelta(minutes=5),
        clock: Callable[[], datetime] | None = None,
        verify_processes: int = 0,
        origin: str = DEFAULT_ORIGIN,
        max_statement_age: timedelta = timedelta(days=1),
    ) -> None:
        super().__init__(env)
        self.authority_public_key = authority_public_key
        self.max_clock_skew = max_clock_skew
        self.origin = origin
        self.max_statement_age = max_statement_age
        self.clock: Callable[[], datetime] = clock or (lambda: datetime.now(timezone.utc))
        self._authority: Authority | None = None
        self._tenure_names: dict[str, set[str]] = {}  # organisation -> names of its responsible persons (reads.py)
        self._tenure_names_after = 0  # the position up to which they are read
        self._lock = threading.RLock()
        self.verify_processes = verify_processes
        self._pool: ProcessPoolExecutor | None = None
        # id(envelope) -> (public key, chunk future, offset): signature checks running ahead (one append).
        self._ahead: dict[int, tuple[bytes, Future[list[bool]], int]] = {}
        self._starting: threading.Thread | None = None
        self._closed = False

    def construct_factory(self, env: Environment) -> InfrastructureFactory[Any]:
        """The configured backend's factory; on the library's in-memory one, the ledger's variant of it."""
        factory = super().construct_factory(env)
        if type(factory) is POPOFactory:
            return MemoryLedgerFactory(env)
        return factory

    @property
    def entries(self) -> EntryStore:
        """The recorder, as the store of the ledger's entry rows."""
        recorder = self.recorder
        if not isinstance(recorder, EntryStore):
            raise ProgrammingError(f"{type(recorder).__name__} keeps no ledger entries: use a ledger recorder")
        return recorder
