"""Where the auditor's entries come from: a live database, or an exported bundle.

A bundle is JSON lines: a header, then every entry in leaf order, each checkpoint placed right
after the entry that completes its size, and at the end the key registry history. It is
self-contained: an auditor needs only it, the authority public key and the log verifier key.
"""

from __future__ import annotations

import base64
import gzip
import os
from collections import deque
from collections.abc import Iterable, Iterator
from datetime import datetime
from pathlib import Path
from typing import IO, Any
from uuid import UUID

import orjson
from eventsourcing.persistence import DatetimeAsISO, JSONTranscoder
from eventsourcing.utils import TopicError, resolve_topic

from ledger.application import Ledger
from ledger.domain.audit import (
    AuditEntry,
    AuditFailure,
    Auditor,
    EntryChecker,
    changes_registry,
)
from ledger.adapters.stored import CUSTOM_KEY, state_object
from ledger.adapters.workers import watch_parent
from projections.checkpoints import Checkpointer
from projections.store import Store
from projections.tracking import EventPages

FORMAT = "credit-ledger-export/1"
PAGE = 2000


class _EntryDecoder:
    """Reads an entry's fields from a stored event.

    Plain JSON states (the library's ``JSONTranscoder``, no compression or encryption, an unversioned
    event class, no custom-typed value but the event's ``timestamp``) are read straight from their bytes;
    anything else goes through the application's mapper, so a state the mapper cannot decode still fails.
    """

    def __init__(self, mapper: Any, recorder: Any) -> None:
        self.mapper = mapper
        self.recorder = recorder
        transcoder = mapper.transcoder
        self.direct = (mapper.cipher is None and mapper.compressor is None and type(transcoder) is JSONTranscoder
                       and type(transcoder.names.get("datetime_iso")) is DatetimeAsISO)
        self._plain_topics: dict[str, bool] = {}

    def _plain_topic(self, topic: str) -> bool:
        found = self._plain_topics.get(topic)
        if found is None:
            try:
                found = getattr(resolve_topic(topic), "class_version", 1) == 1
            except (TopicError, ImportError, AttributeError, ValueError):  # the mapper names the failure
                found = False
            self._plain_topics[topic] = found
        return found

    def entry(self, event: Any, index: int, position: int, stored: bytes) -> AuditEntry:
        """The entry at ``index`` from ``event`` (a stored event with its position); raise AuditFailure
        if it cannot be decoded."""
        if self.direct and self._plain_topic(event.topic):
            fields = _plain_entry_fields(event.state)
            if fields is not None:
                return AuditEntry(index, position, *fields[:4], stored, fields[4])
        try:
            n = self.recorder.select_notifications(start=event.id, limit=1)[0]
            ev = self.mapper.to_domain_event(n)
            return AuditEntry(index, position, ev.statement, ev.key_id, ev.signature, ev.recorded_at, stored,
                              getattr(ev, "outcome", None))
        except Exception as exc:  # noqa: BLE001 - undecodable stored bytes, whatever the mapper raised
            raise AuditFailure(f"leaf {index} (position {position})",
                               f"the stored event cannot be decoded: {type(exc).__name__}") from None


def _plain_entry_fields(state: bytes) -> tuple[str, str, str, str, dict[str, Any] | None] | None:
    """(statement, key_id, signature, recorded_at, outcome) of a plain JSON state, or None for the mapper."""
    values = state_object(state)
    if values is None:
        return None
    typed = state.count(CUSTOM_KEY)
    if typed:
        stamp = values.get("timestamp")
        if (typed != 1 or type(stamp) is not dict or len(stamp) != 2 or stamp.get("_type_") != "datetime_iso"
                or type(stamp.get("_data_")) is not str):
            return None
        try:
            datetime.fromisoformat(stamp["_data_"])
        except ValueError:
            return None
    statement, key_id = values.get("statement"), values.get("key_id")
    signature, recorded_at = values.get("signature"), values.get("recorded_at")
    outcome = values.get("outcome")
    if (type(statement) is not str or type(key_id) is not str or type(signature) is not str
            or type(recorded_at) is not str or (outcome is not None and type(outcome) is not dict)):
        return None
    return statement, key_id, signature, recorded_at, outcome


def live_entries(ledger: Ledger, store: Store) -> Iterator[AuditEntry]:
    """Entries from the database: each event joined with its ``ledger_entries`` row, in order; then
    every row of either table that this walk did not pair fails (see ``check_pairs``)."""
    events_after = EventPages(ledger, store)
    yield from _walk(ledger, store, events_after)
    check_pairs(store, events_after.table, events_after.key)


def _walk(ledger: Ledger, store: Store, events_after: EventPages) -> Iterator[AuditEntry]:
    """Entries from leaf 0 and events from position 1 on, paired in order."""
    decoder = _EntryDecoder(ledger.mapper, ledger.recorder)
    leaf = 0
    after_position = 0  # positions start at 1
    while True:
        rows = store.query(
            "SELECT leaf_index, notification_id, leaf_hash, key_id FROM ledger_entries WHERE leaf_index >= %s "
            "ORDER BY leaf_index LIMIT %s", (leaf, PAGE))
        events = events_after(after_position, PAGE)
        if not rows and not events:
            return
        for i in range(max(len(rows), len(events))):
            row = rows[i] if i < len(rows) else None
            event = events[i] if i < len(events) else None
            if row is None:
                assert event is not None
                raise AuditFailure(f"position {event.id}", "an event has no entry row (its leaf was removed)")
            index, position, stored = int(row[0]), int(row[1]), bytes(row[2])
            if event is None or event.id != position:
                got = "no further event" if event is None else f"event at position {event.id}"
                raise AuditFailure(f"leaf {index} (position {position})",
                                   f"its event is missing or out of place ({got} instead)")
            entry = decoder.entry(event, index, position, stored)
            if row[3] != entry.key_id:  # what a compromise window is found by
                raise AuditFailure(f"leaf {index} (position {position})",
                                   f"the entry row names key {row[3]}, its statement is signed with {entry.key_id}")
            yield entry
            leaf = index + 1
            after_position = position
        if len(rows) < PAGE and len(events) < PAGE:
            return


# Rows the walk in leaf order cannot see or pair, over both whole tables, each with what is wrong.
_UNPAIRED = (
    ("SELECT e.originator_id, e.originator_version, e.{key} FROM {events} e WHERE NOT EXISTS "
     "(SELECT 1 FROM ledger_entries n WHERE n.notification_id = e.{key}) ORDER BY e.{key} LIMIT 1",
     "it has no entry row: no append wrote it"),
    ("SELECT originator_id, originator_version, {key} FROM {events} WHERE {key} < 1 ORDER BY {key} LIMIT 1",
     "its position lies outside the leaf sequence: no append wrote it"),
    ("SELECT n.leaf_index, n.notification_id FROM ledger_entries n WHERE NOT EXISTS "
     "(SELECT 1 FROM {events} e WHERE e.{key} = n.notification_id) ORDER BY n.leaf_index LIMIT 1",
     "its event is missing"),
    ("SELECT leaf_index, notification_id FROM ledger_entries WHERE leaf_index < 0 ORDER BY leaf_index LIMIT 1",
     "its leaf index lies outside the leaf sequence: no append wrote it"),
)


def check_pairs(store: Store, events: str, key: str) -> None:
    """Raise AuditFailure naming the first row of the events table (``events``, positions in column
    ``key``) or of ``ledger_entries`` that has no partner in the other (whatever its position), or that
    lies outside the leaf sequence (a position below 1, a leaf index below 0) even with a partner."""
    for query, what in _UNPAIRED:
        found = store.query(query.format(events=events, key=key))
        if found:
            row = found[0]
            where = _event_name(*row) if len(row) == 3 else f"leaf {row[0]} (position {row[1]})"
            raise AuditFailure(where, what)


def _event_name(originator_id: Any, version: Any, position: Any) -> str:
    try:
        originator = str(UUID(str(originator_id)))
    except ValueError:
        originator = repr(originator_id)
    return f"event {originator} version {version} (position {position})"


def live_checkpoints(checkpointer: Checkpointer) -> Iterator[str]:
    """Every stored checkpoint note, smallest size first, a page at a time."""
    after = -1
    while page := checkpointer.page(after, 1000):
        for cp in page:
            yield cp.note
        after = page[-1].size


def _open(path: Path, mode: str) -> IO[bytes]:
    if mode == "w":  # a bundle holds personal data: the owner's alone (0600), before a byte is written
        fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
        try:
            os.fchmod(fd, 0o600)
        finally:
            os.close(fd)
    if str(path).endswith(".gz"):
        return gzip.open(path, mode + "b")  # type: ignore[return-value]
    return open(path, mode + "b")


def export_bundle(ledger: Ledger, store: Store, checkpointer: Checkpointer, authority_public_key: bytes,
                  out: Path, progress: Any = None) -> int:
    """Write a bundle; return the number of entries written."""
    from keys import KeyRegistry  # local: only the export summarises the registry
    from ledger.domain.audit import Auditor

    tracker = Auditor(authority_public_key, checkpointer.verifier_key, checkpointer.origin)
    checkpoints = live_checkpoints(checkpointer)
    pending = next(checkpoints, None)
    count = 0
    with _open(out, "w") as fh:
        fh.write(orjson.dumps({
            "format": FORMAT, "origin": checkpointer.origin, "log_verifier_key": checkpointer.verifier_key,
            "authority_public_key": base64.b64encode(authority_public_key).decode("ascii"),
        }) + b"\n")
        for entry in live_entries(ledger, store):
            fh.write(orjson.dumps({
                "leaf_index": entry.leaf_index, "position": entry.position, "key_id": entry.key_id,
                "signature": entry.signature, "recorded_at": entry.recorded_at, "statement": entry.statement,
                "leaf_hash": base64.b64encode(entry.stored_leaf_hash or b"").decode("ascii"),
                **({"outcome": entry.outcome} if entry.outcome is not None else {}),
            }) + b"\n")
            tracker.add(AuditEntry(entry.leaf_index, entry.position, entry.statement, entry.key_id,
                                   entry.signature, entry.recorded_at, None, entry.outcome))
            count += 1
            while pending is not None and _size_of(pending) <= count:
                fh.write(orjson.dumps({"checkpoint": pending}) + b"\n")
                pending = next(checkpoints, None)
            if progress is not None and count % 50_000 == 0:
                progress(count)
        registry: KeyRegistry = tracker.registry
        for record in registry.keys.values():
            fh.write(orjson.dumps({"key": {
                "key_id": record.key_id, "department": record.department,
                "public_key": base64.b64encode(record.public_key).decode("ascii"),
                "valid_from": record.valid_from.isoformat(),
                "revoked_at": record.revoked_at.isoformat() if record.revoked_at else None,
            }}) + b"\n")
    return count


def _size_of(note: str) -> int:
    return int(note.split("\n", 2)[1])


def read_bundle(path: Path) -> Iterator[tuple[str, Any]]:
    """Yield ``("header", dict)``, then ``("entry", AuditEntry)`` and ``("checkpoint", note)`` in file order."""
    with _open(path, "r") as fh:
        for lineno, line in enumerate(fh, 1):
            try:
                obj = orjson.loads(line)
            except orjson.JSONDecodeError:
                raise AuditFailure(f"bundle line {lineno}", "not JSON") from None
            if lineno == 1:
                if not isinstance(obj, dict) or obj.get("format") != FORMAT:
                    raise AuditFailure("bundle", f"not a {FORMAT} bundle")
                yield "header", obj
            elif "checkpoint" in obj:
                yield "checkpoint", obj["checkpoint"]
            elif "key" in obj:
                yield "key", obj["key"]
            else:
                try:
                    yield "entry", AuditEntry(
                        int(obj["leaf_index"]), int(obj["position"]), obj["statement"], obj["key_id"],
                        obj["signature"], obj["recorded_at"],
                        base64.b64decode(obj["leaf_hash"]) if obj.get("leaf_hash") else None, obj.get("outcome"))
                except (KeyError, TypeError, ValueError):
                    raise AuditFailure(f"bundle line {lineno}", "malformed entry") from None


def _check_slice(checker: EntryChecker, entries: list[tuple[Any, ...]]) -> tuple[list[bytes], tuple[int, str, str] | None]:
    """In a worker process: check entries (as plain tuples) with a registry snapshot; stop at the first failure."""
    check = checker.check
    make = AuditEntry._make
    hashes: list[bytes] = []
    for fields in entries:
        try:
            hashes.append(check(make(fields))[0])
        except AuditFailure as exc:
            return hashes, (len(hashes), exc.where, exc.what)
    return hashes, None


def verify_parallel(auditor: Auditor, entries: Iterable[AuditEntry], jobs: int, chunk: int = 500,
                    progress: Any = None) -> None:
    """Feed ``auditor`` every entry, checking runs of ordinary entries in ``jobs`` processes.

    Runs are cut into slices of ``chunk`` entries; up to two slices per process are in flight while the
    next entries are read, and results are taken back strictly in leaf order, so the first bad entry is
    still the one named (a failure of the source itself is raised after every entry before it is in).
    Authority statements (they change the key registry) and the founding entries go through the auditor
    one by one, in order, once every slice before them is in; the slices after them carry a new snapshot.
    """
    from concurrent.futures import Future, ProcessPoolExecutor

    in_flight: deque[tuple[list[AuditEntry], Future[tuple[list[bytes], tuple[int, str, str] | None]]]] = deque()

    def settle(keep: int) -> None:
        """Take back the oldest slices until at most ``keep`` are in flight."""
        while len(in_flight) > keep:
            piece, future = in_flight.popleft()
            hashes, failure = future.result()
            for entry, computed in zip(piece, hashes):
                auditor.add_checked(entry, computed)
            if failure is not None:  # the entries before it are in: name the bad one
                _, where, what = failure
                raise AuditFailure(where, what)
            if progress is not None:
                progress(auditor.report.entries)

    with ProcessPoolExecutor(jobs, initializer=watch_parent, initargs=(os.getpid(),)) as pool:
        checker = auditor.checker()  # the registry snapshot for ordinary entries
        founding = auditor.founding
        buf: list[AuditEntry] = []

        def send() -> None:
            nonlocal buf
            if buf:
                in_flight.append((buf, pool.submit(_check_slice, checker, [tuple(e) for e in buf])))
                buf = []

        source = iter(entries)
        try:
            while True:
                try:
                    entry = next(source)
                except StopIteration:
                    break
                except AuditFailure:  # the source itself failed: every entry read before comes first
                    send()
                    settle(0)
                    raise
                if founding or changes_registry(entry):
                    send()
                    settle(0)  # every earlier entry is in (and its snapshot sent) before the registry changes
                    auditor.add(entry)
                    founding = auditor.founding
                    checker = auditor.checker()
                    if progress is not None:
                        progress(auditor.report.entries)
                    continue
                buf.append(entry)
                if len(buf) >= chunk:
                    send()
                    settle(2 * jobs)
            send()
            settle(0)
        finally:
            for _, future in in_flight:
                future.cancel()
