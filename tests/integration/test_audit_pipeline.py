"""The live audit's sources and its pipelined workers, on SQLite and PostgreSQL.

Slices are made small here so that several are in flight at once: whatever the order in which the
workers finish, the first bad entry in leaf order is the one named.
"""

from __future__ import annotations

import orjson
import pytest

from api.runtime import authority_public_key, open_views
from ledger.domain.audit import AuditFailure, Auditor
from projections.audit import (
    _plain_entry_fields,
    live_checkpoints,
    live_entries,
    verify_parallel,
)
from tests.integration.test_log import (
    _delete,
    _env,
    _rows,
    _set_state,
    audit,
    prepare,
    tamper,
)
from tests.support import World


def verify(world: World, jobs: int = 2, chunk: int = 3) -> Auditor:
    """Run the live audit with ``chunk``-entry slices; return the finished auditor."""
    views = open_views(world.settings, world.ledger)
    try:
        auditor = Auditor(authority_public_key(world.settings), views.checkpointer.verifier_key,
                          world.settings.log_origin)
        auditor.expect_checkpoints(live_checkpoints(views.checkpointer))
        verify_parallel(auditor, live_entries(world.ledger, views.store), jobs, chunk=chunk)
        auditor.finish()
        return auditor
    finally:
        views.close()


def failure(world: World, **kwargs: int) -> str:
    with pytest.raises(AuditFailure) as info:
        verify(world, **kwargs)
    return str(info.value)


def _edit_states(world: World, edits: dict, delete: int | None = None) -> None:  # type: ignore[type-arg]
    """Apply ``edits`` ({event index: state -> state}), then delete the event at index ``delete``."""
    def action(conn, table):  # type: ignore[no-untyped-def]
        rows = _rows(conn, table)
        for index, edit in edits.items():
            nid, state = rows[index]
            _set_state(conn, table, nid, edit(bytes(state)))
        if delete is not None:
            _delete(conn, table, rows[delete][0])
    tamper(world, action)


def _break_signature(state: bytes) -> bytes:
    i = state.index(b"Sold food")
    return state[:i] + b"T" + state[i + 1:]


def test_pipelined_audit_equals_the_sequential_one(world):
    prepare(world, 40)
    parallel = verify(world, jobs=2, chunk=3).report
    views = open_views(world.settings, world.ledger)
    try:
        sequential = Auditor(authority_public_key(world.settings), views.checkpointer.verifier_key,
                             world.settings.log_origin)
        sequential.expect_checkpoints(live_checkpoints(views.checkpointer))
        for entry in live_entries(world.ledger, views.store):
            sequential.add(entry)
    finally:
        views.close()
    report = sequential.finish()
    assert (parallel.entries, parallel.checkpoints, parallel.root) == (report.entries, report.checkpoints, report.root)
    assert parallel.entries == world.ledger.count()


def test_the_first_of_two_bad_entries_in_flight_is_named(world):
    prepare(world)
    _edit_states(world, {20: _break_signature, 12: _break_signature})
    for chunk in (1, 3, 500):
        message = failure(world, chunk=chunk)
        assert message.startswith("leaf 12 ") and "signature" in message


def test_a_bad_entry_read_before_a_missing_event_is_named_first(world):
    """The source fails at leaf 16; the unsent entries before it (with the bad leaf 11) are checked first."""
    prepare(world)
    _edit_states(world, {11: _break_signature}, delete=16)
    assert failure(world, chunk=500).startswith("leaf 11 ")
    assert failure(world, chunk=2).startswith("leaf 11 ")


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_undecodable_stored_event_is_named(world, capsys, monkeypatch, jobs):
    _env(monkeypatch, world)
    prepare(world)
    _edit_states(world, {13: lambda state: state[:-1]})  # no longer JSON
    assert audit(world, "--jobs", jobs) == 1
    err = capsys.readouterr().err
    assert "audit FAILED at leaf 13 " in err and "cannot be decoded" in err


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_a_state_the_mapper_cannot_decode_is_named(world, capsys, monkeypatch, jobs):
    """JSON, but its timestamp is not a date: read through the mapper, which refuses it."""
    _env(monkeypatch, world)
    prepare(world)

    def bad_timestamp(state: bytes) -> bytes:
        values = orjson.loads(state)
        values["timestamp"]["_data_"] = "not a date"
        return orjson.dumps(values)

    _edit_states(world, {9: bad_timestamp})
    assert audit(world, "--jobs", jobs) == 1
    err = capsys.readouterr().err
    assert "audit FAILED at leaf 9 " in err and "cannot be decoded" in err


STATE = {"timestamp": {"_type_": "datetime_iso", "_data_": "2026-01-01T00:00:00+00:00"},
         "originator_topic": "ledger.domain.aggregates:CreditRecord", "statement": "{}", "key_id": "k",
         "signature": "s", "recorded_at": "r"}


def test_plain_entry_fields_reads_plain_states_only():
    assert _plain_entry_fields(orjson.dumps(STATE)) == ("{}", "k", "s", "r", None)
    assert _plain_entry_fields(orjson.dumps({**STATE, "outcome": {"status": "accepted"}}))[4] == {"status": "accepted"}
    # anything the mapper would read differently, or might refuse, is left to the mapper
    for other in ({**STATE, "class_version": 2}, {**STATE, "statement": 1}, {**STATE, "outcome": "accepted"},
                  {**STATE, "extra": {"_type_": "decimal_str", "_data_": "1"}},
                  {**STATE, "timestamp": {"_type_": "datetime_iso", "_data_": "never"}},
                  {**STATE, "timestamp": {"_type_": "uuid_hex", "_data_": "00"}},
                  {k: v for k, v in STATE.items() if k != "key_id"}):
        assert _plain_entry_fields(orjson.dumps(other)) is None, other
    assert _plain_entry_fields(b"[1]") is None
    assert _plain_entry_fields(b"{") is None
    assert _plain_entry_fields(b'{"a": NaN}') is None
