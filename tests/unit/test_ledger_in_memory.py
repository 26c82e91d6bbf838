"""The real ``Ledger`` on the library's in-memory backend: founding, departments and keys, records, queries,
replays, revocations and compromise windows, with entries kept as the SQL recorders keep them. No database."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from eventsourcing.persistence import IntegrityError, ProgrammingError, StoredEvent

from keys import KeyPair
from ledger.adapters.entries import EntryRow, Placement
from ledger.adapters.memory import MemoryLedgerFactory, MemoryLedgerRecorder
from ledger.application import Ledger, Receipt
from ledger.domain.catalogue import shipped_catalogue_document
from ledger.domain.genesis import AUTHORITY_CODE, DEFAULT_ORIGIN, genesis_envelopes
from ledger.errors import (
    AuthenticationError, ConflictError, ForbiddenError, NotFoundError, QueryExpiredError,
)
from ledger.format.statements import format_datetime, make_envelope, parse_envelope
from tests.support import ALL_FOOD_ITEMS, make_resident_id, make_uscc, now


class Book:
    """A ledger in memory, founded by its authority key, with helpers to sign and append."""

    def __init__(self, env: dict[str, str] | None = None) -> None:
        self.authority = KeyPair.generate()
        self.ledger = Ledger({"PERSISTENCE_MODULE": "eventsourcing.popo"} if env is None else env,
                             authority_public_key=self.authority.public_key)
        self.founding = self.ledger.append([parse_envelope(e) for e in genesis_envelopes(
            self.authority, shipped_catalogue_document(), now())])

    def envelope(self, key: KeyPair, kind: str, issuer: str, issued_at: datetime | None = None,
                 **fields: Any) -> dict[str, Any]:
        statement = {"type": kind, "id": str(uuid.uuid4()), "issuer": issuer,
                     "issued_at": format_datetime(issued_at or now()), "ledger": DEFAULT_ORIGIN, **fields}
        return make_envelope(statement, key.key_id, key.sign)

    def by_authority(self, kind: str, **fields: Any) -> dict[str, Any]:
        return self.envelope(self.authority, kind, AUTHORITY_CODE, **fields)

    def append(self, *envelopes: dict[str, Any]) -> list[Any]:
        return self.ledger.append([parse_envelope(e) for e in envelopes])

    def ok(self, *envelopes: dict[str, Any]) -> list[Receipt]:
        outcomes = self.append(*envelopes)
        assert all(isinstance(o, Receipt) for o in outcomes), outcomes
        return outcomes

    def department(self, roles: list[str] | None = None, purposes: list[str] | None = None,
                   items: list[str] | None = None) -> tuple[str, KeyPair]:
        code, key = make_uscc(), KeyPair.generate()
        self.ok(self.by_authority("department.registered", department=code, name="Dept " + code[-4:],
                                  items=ALL_FOOD_ITEMS if items is None else items,
                                  purposes=purposes or ["administrative_licensing"], roles=roles or []),
                self.by_authority("key.added", department=code, key_id=key.key_id, public_key=key.public_key_b64,
                                  valid_from=format_datetime(now() - timedelta(days=3650))))
        return code, key

    def submission(self, code: str, key: KeyPair, **overrides: Any) -> dict[str, Any]:
        fields = {"subject": make_resident_id(), "subject_name": "张三", "item": "food_drug.serious",
                  "summary": "Sold food past its use-by date",
                  "decision_date": (now().date() - timedelta(days=30)).isoformat(),
                  "document_number": "QSJ-" + uuid.uuid4().hex[:8], "legal_basis": "Food Safety Law art. 124"}
        return self.envelope(key, "record.submitted", code, **{**fields, **overrides})

    def query(self, code: str, key: KeyPair, purpose: str = "administrative_licensing", **fields: Any
              ) -> dict[str, Any]:
        return self.envelope(key, "query.requested", code, operator="staff-7", purpose=purpose,
                             legal_basis="Administrative Licensing Law art. 31", **fields)


@pytest.fixture
def book() -> Iterator[Book]:
    b = Book()
    yield b
    b.ledger.close()


def test_the_library_default_backend_runs_the_ledger_with_its_entries(book: Book):
    assert isinstance(book.ledger.factory, MemoryLedgerFactory)
    assert isinstance(book.ledger.recorder, MemoryLedgerRecorder)
    assert [(r.type, r.position, r.leaf_index) for r in book.founding] == [
        ("department.registered", 1, 0), ("key.added", 2, 1), ("catalogue.published", 3, 2)]
    assert book.ledger.count() == 3 and book.ledger.catalogue_version() == 1
    authority = book.ledger.authority()
    assert authority is not None and authority.authority_code == AUTHORITY_CODE
    assert book.authority.key_id in authority.registry.keys


@pytest.mark.parametrize("env", [{}, {"PERSISTENCE_MODULE": "ledger.adapters.memory"},
                                 {"PERSISTENCE_MODULE": "ledger.adapters.memory:MemoryLedgerFactory"}])
def test_the_in_memory_backend_is_chosen_by_default_or_by_name(env: dict[str, str], monkeypatch):
    monkeypatch.delenv("PERSISTENCE_MODULE", raising=False)
    b = Book(env)
    try:
        assert isinstance(b.ledger.recorder, MemoryLedgerRecorder) and b.ledger.count() == 3
    finally:
        b.ledger.close()


def test_records_are_submitted_corrected_and_disclosed_with_dense_leaves(book: Book):
    code, key = book.department()
    submitted = book.submission(code, key)
    record_id = submitted["statement"]["id"]
    first = book.ok(submitted)[0]
    corrected, disclosed = book.ok(
        book.envelope(key, "record.corrected", code, record_id=record_id, record_version=1,
                      changes={"summary": "Sold spoiled food"}, reason="review"),
        book.envelope(key, "record.disclosed", code, record_id=record_id, list="black",
                      notice_served_at=now().date().isoformat()))
    assert [(r.position, r.leaf_index) for r in (first, corrected, disclosed)] == [(6, 5), (7, 6), (8, 7)]
    record = book.ledger.record(record_id)
    assert record.version == 3 and record.fields["summary"] == "Sold spoiled food"
    assert record.disclosure is not None and record.disclosure["list"] == "black"
    assert book.ledger.count() == 8
    rows = book.ledger.entries.find_entries([first.statement_id, corrected.statement_id])
    assert {r.leaf_index for r in rows.values()} == {5, 6}
    assert rows[first.statement_id].recorded_at == first.recorded_at
    with pytest.raises(NotFoundError):
        book.ledger.record(uuid.uuid4())


def test_refusals_store_nothing_and_the_rest_of_the_batch_is_kept(book: Book):
    code, key = book.department()
    stranger = KeyPair.generate()
    forged = book.submission(code, key)
    forged["signature"] = book.submission(code, key)["signature"]
    outcomes = book.append(book.submission(code, stranger), forged, book.submission(code, key),
                           book.envelope(key, "record.corrected", code, record_id=str(uuid.uuid4()), record_version=1,
                                         changes={"summary": "x"}, reason="r"))
    assert isinstance(outcomes[0], AuthenticationError) and isinstance(outcomes[1], AuthenticationError)
    assert isinstance(outcomes[2], Receipt) and outcomes[2].leaf_index == 5
    assert isinstance(outcomes[3], NotFoundError)
    assert book.ledger.count() == 6


def test_a_statement_sent_again_gets_its_receipt_and_other_content_is_refused(book: Book):
    code, key = book.department()
    envelope = book.submission(code, key)
    first = book.ok(envelope)[0]
    again, twice = book.ok(envelope, envelope)
    assert again.replay and twice.replay and again.as_dict() == first.as_dict() == twice.as_dict()
    new = book.submission(code, key)
    both = book.ok(new, new)
    assert not both[0].replay and both[1].replay and both[0].leaf_index == both[1].leaf_index == 6
    other = book.submission(code, key, id=envelope["statement"]["id"])
    assert other["statement"]["id"] == envelope["statement"]["id"] and other["statement"] != envelope["statement"]
    assert isinstance(book.append(other)[0], ConflictError)
    assert book.ledger.count() == 7


def test_queries_are_recorded_accepted_or_refused_and_answered_again_while_fresh(book: Book):
    code, key = book.department(purposes=["administrative_licensing"])
    accepted = book.query(code, key, scope="archive", subject=make_resident_id())
    refused = book.query(code, key, scope="access_log")  # a privacy officer's scope
    ok, no = book.ok(accepted, refused)
    assert ok.outcome == {"status": "accepted"} and no.outcome is not None and no.outcome["status"] == "refused"
    assert book.ledger.entries.find_entries([ok.statement_id])[ok.statement_id].outcome == ok.outcome
    assert book.ok(accepted)[0].as_dict() == ok.as_dict()
    later = now() + book.ledger.max_clock_skew + timedelta(seconds=5)
    book.ledger.clock = lambda: later
    expired = book.append(accepted)[0]
    assert isinstance(expired, QueryExpiredError)
    assert book.ledger.count() == 7


def test_a_revoked_key_is_refused_and_its_compromise_window_listed(book: Book):
    code, key = book.department()
    auditor, auditor_key = book.department(roles=["auditor"], purposes=["audit"], items=[])
    effective = now() - timedelta(minutes=30)
    earlier = effective - timedelta(minutes=30)
    book.ledger.clock = lambda: earlier  # recorded, and dated, before the key is no longer trusted
    before = book.ok(book.submission(code, key, issued_at=earlier))[0]
    book.ledger.clock = now
    inside = book.ok(book.submission(code, key), book.submission(code, key))
    revocation = book.ok(book.by_authority("key.revoked", key_id=key.key_id, effective_at=format_datetime(effective),
                                           reason="stolen"))[0]
    window = revocation.compromise_window
    assert window is not None and [e["leaf_index"] for e in window] == [r.leaf_index for r in inside]
    assert before.leaf_index not in {e["leaf_index"] for e in window}
    refused = book.append(book.submission(code, key))[0]
    assert isinstance(refused, (ForbiddenError, AuthenticationError)), refused
    page = book.ledger.key_compromise(key.key_id, None, 0, None)
    assert page["revoked"] and page["revocation_position"] == revocation.position
    assert [e["statement_id"] for e in page["entries"]] == [str(r.statement_id) for r in inside]
    assert book.ledger.key_compromise("ed25519:" + "0" * 32, None, 0, None) == {
        "key_id": "ed25519:" + "0" * 32, "registered": False, "entries": []}
    audit = book.ok(book.query(auditor, auditor_key, purpose="audit", scope="key_compromise",
                               filters={"key_id": key.key_id}))[0]
    assert audit.outcome == {"status": "accepted"}


def test_appends_through_save_give_the_same_receipts(monkeypatch):
    """With a repository cache the ledger stores through ``save()``; placements come back in its recordings."""
    monkeypatch.delenv("PERSISTENCE_MODULE", raising=False)
    b = Book({"AGGREGATE_CACHE_MAXSIZE": "100"})
    try:
        assert b.ledger.repository.cache is not None
        code, key = b.department()
        receipts = b.ok(b.submission(code, key), b.submission(code, key))
        assert [(r.position, r.leaf_index) for r in receipts] == [(6, 5), (7, 6)]
    finally:
        b.ledger.close()


def _events(n: int) -> tuple[list[StoredEvent], dict[tuple[uuid.UUID, int], EntryRow]]:
    events, entries = [], {}
    for i in range(n):
        oid = uuid.uuid4()
        events.append(StoredEvent(oid, 1, "t", b"{}"))
        entries[(oid, 1)] = EntryRow(uuid.uuid4(), b"d", b"h", f"2026-01-01T00:00:0{i}.000000Z", key_id="k")
    return events, entries


def test_the_recorder_places_each_event_and_refuses_a_statement_id_twice():
    recorder = MemoryLedgerRecorder()
    events, entries = _events(3)
    placed = recorder.insert_events(events, entries=entries)
    assert placed == [1, 2, 3] and all(isinstance(p, Placement) for p in placed)
    assert [(p.position, p.leaf_index, p.statement_id) for p in placed] == [
        (i + 1, i, entries[(e.originator_id, 1)].statement_id) for i, e in enumerate(events)]
    again, more = _events(2)
    taken = next(iter(entries.values())).statement_id
    more[(again[1].originator_id, 1)] = EntryRow(taken, b"d", b"h", "2026-01-01T00:00:09.000000Z")
    with pytest.raises(IntegrityError):
        recorder.insert_events(again, entries=more)
    with pytest.raises(ProgrammingError):
        recorder.insert_events(_events(1)[0], entries={})
    assert recorder.count_entries() == 3 and recorder.max_notification_id() == 3
    signed = recorder.entries_signed_with("k", 1, 4, "2026-01-01T00:00:01.000000Z")
    assert [(s.leaf_index, s.position) for s in signed] == [(1, 2), (2, 3)]
    assert signed[0].stored == events[1]
    assert [s.position for s in recorder.entries_signed_with("k", 0, 4, "", limit=2)] == [1, 2]
    assert recorder.entries_signed_with("other", 0, 4, "") == []


def test_a_recorder_that_keeps_no_entries_is_named(monkeypatch):
    monkeypatch.delenv("PERSISTENCE_MODULE", raising=False)
    ledger = Ledger({"APPLICATION_RECORDER_TOPIC": "eventsourcing.popo:POPOApplicationRecorder"})
    try:
        with pytest.raises(ProgrammingError, match="keeps no ledger entries"):
            ledger.count()
    finally:
        ledger.close()
