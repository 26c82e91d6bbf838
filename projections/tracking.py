"""Tracked positions of the views: each view writes its rows and its position in one transaction.

A view's position is the eventsourcing library's ``Tracking(view name, position)``, recorded by the
library's tracking recorder of the store (``Tx.track``, ``Store.position``; see ``projections.store``).
What the library does not do here, and why:

- a view does not follow the ledger through the library's subscription (``Application.subscribe``,
  ``ProjectionRunner``): the subscription does not exist on SQLite (the recorder's ``subscribe`` raises
  NotImplementedError), one code path serves both backends, and it reads every event as a
  ``Notification`` and decodes it through the mapper, one at a time. The archive built
  over the same 20,095 events on PostgreSQL (16,089 of its topics), three interleaved runs: from the
  plain rows below with their stored fields, pages of 2,000 per transaction, 0.91, 1.26, 1.11 s; from
  the library's ``ApplicationSubscription`` (subscription and mapper) in the same pages, 1.49, 1.43,
  1.37 s; in ``ProjectionRunner``'s shape, one transaction per event with its tracking, 23.6, 25.1,
  25.7 s.
- a view that reads only some topics records the ledger's head once it has seen everything up to it
  (``read_through``), not the last event it applied: the next catch-up then skips the events of other
  topics instead of scanning them again.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any, NamedTuple

from eventsourcing.persistence import JSONTranscoder, Mapper, StoredEvent
from eventsourcing.utils import resolve_topic
from psycopg.rows import tuple_row

from ledger.adapters.stored import plain_fields
from projections.store import Store, Tx


def behind(ledger: Any, store: Store, name: str) -> int:
    """The ledger's head if it holds events past the view's position, else 0 (two plain reads, no
    transaction or lock: an idle catch-up ends here)."""
    head = ledger.recorder.max_notification_id() or 0
    return head if head > store.position(name) else 0


class Notice(NamedTuple):
    """A stored event at its position, read as a plain row (position, topic and state first, as the
    auditor reads them): the attributes of the library's ``Notification``, without building one."""

    id: int
    topic: str
    state: bytes
    originator_id: Any
    originator_version: int


# The events table each backend's recorder writes, and the column holding an event's position.
_EVENTS = {"postgres": ("ledger_events", "notification_id"), "sqlite": ("stored_events", "rowid")}


def topic_pages(ledger: Any, topics: Sequence[str], upto: int | None, batch: int = 2000,
                after: int = 0) -> Iterator[list[Any]]:
    """The ledger's events of ``topics`` after position ``after`` up to ``upto`` (None: all), in pages of at most
    ``batch``, in position order (read through the recorder)."""
    while True:
        notifications = list(ledger.recorder.select_notifications(
            start=after, limit=batch, stop=upto, topics=list(topics), inclusive_of_start=False))
        if notifications:
            yield notifications
        if len(notifications) < batch:
            return
        after = notifications[-1].id


class EventPages:
    """Pages of the ledger's events after a position (of some topics, up to a stop), in position order.

    When the ledger's events table lies in the views' database they are read as plain rows through the
    views' store, on PostgreSQL in binary: a state arrives as bytes, not as hex text the server encodes
    and the client decodes, and no row becomes a dict. That is about four times cheaper than the
    recorder's ``select_notifications``, which is used otherwise. The rows are ``Notice`` tuples.
    """

    def __init__(self, ledger: Any, store: Store) -> None:
        self.recorder = ledger.recorder
        self.store = store
        table, key = _EVENTS.get(getattr(store, "kind", ""), ("", ""))
        self.direct = bool(table) and getattr(self.recorder, "events_table_name", None) == table
        self.table, self.key = table, key
        self._queries: dict[tuple[int, bool], str] = {}

    def __call__(self, after: int, limit: int, topics: Sequence[str] = (), stop: int | None = None) -> list[Any]:
        """At most ``limit`` events after position ``after``, of ``topics`` (all if empty), up to ``stop``."""
        if not self.direct:
            return list(self.recorder.select_notifications(
                start=after, limit=limit, stop=stop, topics=list(topics), inclusive_of_start=False))
        params: list[Any] = [after]
        if stop is not None:
            params.append(stop)
        if topics:
            params.extend([list(topics)] if self.store.kind == "postgres" else topics)
        params.append(limit)
        query = self._query(len(topics), stop is not None)
        connection = getattr(self.store, "connection", None)
        if connection is None:
            return [Notice._make(row) for row in self.store.query(query, params)]
        with connection() as conn, conn.cursor(binary=True, row_factory=tuple_row) as cur:
            return [Notice._make(row) for row in cur.execute(query, params, prepare=True).fetchall()]

    def _query(self, topics: int, stop: bool) -> str:
        shape = (topics if self.store.kind == "sqlite" else min(topics, 1), stop)
        query = self._queries.get(shape)
        if query is None:
            where = [f"{self.key} > %s"] + ([f"{self.key} <= %s"] if stop else [])
            if topics:
                where.append("topic = ANY(%s)" if self.store.kind == "postgres"
                             else "topic IN (" + ", ".join(["%s"] * topics) + ")")
            query = self._queries[shape] = (
                f"SELECT {self.key}, topic, state, originator_id, originator_version FROM {self.table} "
                f"WHERE {' AND '.join(where)} ORDER BY {self.key} LIMIT %s")
        return query


def read_through(pages: EventPages, position: int, batch: int, topics: Sequence[str],
                 head: int) -> tuple[list[Any], int]:
    """The next events of ``topics`` after ``position`` (at most ``batch``), and the position a view may
    record once it has applied them.

    That is the last event read if the page is full; otherwise ``head``, the ledger's head as the caller
    read it before this call: appends commit in position order, so every event up to the head was
    visible to the read, and none of those not returned concern the view. Recording it keeps the next
    read from scanning again past events of other topics (queries, for the archive; records, for the
    access log).
    """
    if head <= position:
        return [], position
    notifications = pages(position, batch, topics, head)
    return notifications, notifications[-1].id if len(notifications) == batch else head


class TrackedView:
    """What every view shares: its name, its store, its position and catching up all the way."""

    name: str
    store: Store
    pages: EventPages | None = None  # how the view reads the ledger's events (made at first need if unset)
    topics: Sequence[str] = ()  # the event topics a view reads, if it reads only some

    def position(self) -> int:
        """The view's tracked position (0: none)."""
        return self.store.position(self.name)

    def wait(self, position: int, timeout: float = 1.0) -> None:
        """Return once the view holds every event up to ``position`` as another thread or process catches
        it up (the library's ``TrackingRecorder.wait``: it polls, from 100 ms on; TimeoutError after
        ``timeout`` seconds). A query's answer does not wait: it catches up itself (``answers.Fresh``)."""
        self.store.tracking.wait(self.name, position, timeout)

    def holds(self, head: int) -> bool:
        """Whether the view already holds every event up to position ``head``: its own position is there,
        or no event of its topics lies between (two plain reads, no transaction or lock). A query asks
        this before catching a view up: most events are other queries, which the archive never reads."""
        position = self.position()
        if position >= head:
            return True
        if self.pages is None or not self.topics:
            return False
        return not self.pages(position, 1, self.topics, head)

    def catch_up(self, batch: int = 1000) -> int:
        """Apply one batch; return how much was applied (0: caught up)."""
        raise NotImplementedError

    def catch_up_topics(self, ledger: Any, topics: Sequence[str], batch: int,
                        apply: Callable[[Tx, list[Any]], None]) -> int:
        """One catch-up of a view that reads only ``topics``: ``apply(tx, notifications)`` writes the
        page's rows, then the position (how far the view has looked) is recorded in the same
        transaction; return how many events were read."""
        head = behind(ledger, self.store, self.name)
        if not head:
            return 0
        if self.pages is None:
            self.pages = EventPages(ledger, self.store)
        with self.store.transaction() as tx:
            tx.lock(self.name)
            position = tx.position(self.name)
            notifications, through = read_through(self.pages, position, batch, topics, head)
            if through == position:
                return 0
            if notifications:
                apply(tx, notifications)
            tx.track(self.name, through)
            return len(notifications)

    def reset(self) -> None:
        """Drop the view's rows and its position."""
        raise NotImplementedError

    def digest(self) -> str:
        """SHA-256 over the view's whole content and its position."""
        raise NotImplementedError

    page = 1000  # ``catch_up``'s default batch: a smaller result means the view reached what it saw

    def catch_up_all(self) -> int:
        """Catch up until there is nothing new (a page less than full ends it: no empty transaction after)."""
        total = 0
        while True:
            n = self.catch_up()
            total += n
            if n < self.page:
                return total


class EventReader:
    """Reads the fields a view uses from stored events, with each event's class name.

    Plain JSON states (the library's ``JSONTranscoder``, no compression or encryption, an
    unversioned event class) are read straight from their bytes (``ledger.adapters.stored``); anything
    else goes through the application's mapper, so the result is the same either way.
    """

    def __init__(self, mapper: Mapper[Any], names: Sequence[str], recorder: Any = None) -> None:
        self.mapper = mapper
        self.recorder = recorder  # gives the library's own stored event for a ``Notice`` the mapper decodes
        self.names = tuple(names)
        self.direct = (mapper.cipher is None and mapper.compressor is None
                       and type(mapper.transcoder) is JSONTranscoder)
        self._classes: dict[str, tuple[str, bool]] = {}

    def qualname(self, topic: str) -> str:
        """The event class's qualified name (``CreditRecord.Submitted``) of a stored topic."""
        return self._class(topic)[0]

    def _class(self, topic: str) -> tuple[str, bool]:
        found = self._classes.get(topic)
        if found is None:
            cls = resolve_topic(topic)
            found = self._classes[topic] = (cls.__qualname__, getattr(cls, "class_version", 1) == 1)
        return found

    def fields(self, stored: StoredEvent | Notice) -> dict[str, Any]:
        """The wanted fields the event has."""
        if self.direct and self._class(stored.topic)[1]:
            values = plain_fields(stored.state, self.names)
            if values is not None:
                return values
        library: StoredEvent = (self.recorder.select_notifications(start=stored.id, limit=1)[0]
                                if isinstance(stored, Notice) else stored)
        event = self.mapper.to_domain_event(library)
        return {name: getattr(event, name) for name in self.names if hasattr(event, name)}
