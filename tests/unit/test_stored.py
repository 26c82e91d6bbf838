"""Reading chosen fields straight from stored JSON: what it reads, and when it leaves it to the mapper."""

from __future__ import annotations

import orjson

from ledger.adapters.stored import plain_fields

STATE = {
    "timestamp": {"_type_": "datetime_iso", "_data_": "2026-11-28T05:00:00+00:00"},
    "originator_topic": "ledger.domain.aggregates:CreditRecord",
    "statement": '{"id":"a","note":"\\"_type_\\""}',
    "recorded_at": "2026-11-28T05:00:00.000000Z",
    "item": {"kind": "negative", "field": "food_drug"},
    "expires_on": None,
}


def test_reads_only_the_wanted_fields_that_are_present():
    got = plain_fields(orjson.dumps(STATE), ("statement", "recorded_at", "item", "expires_on", "deadline"))
    assert got == {k: STATE[k] for k in ("statement", "recorded_at", "item", "expires_on")}


def test_custom_typed_values_outside_the_wanted_fields_do_not_matter():
    assert plain_fields(orjson.dumps(STATE), ("statement",)) == {"statement": STATE["statement"]}


def test_a_custom_typed_wanted_value_is_left_to_the_mapper():
    nested = {**STATE, "item": {"kind": "negative", "at": {"_type_": "decimal_str", "_data_": "1.5"}}}
    assert plain_fields(orjson.dumps(nested), ("statement", "item")) is None
    assert plain_fields(orjson.dumps({**STATE, "recorded_at": [{"_type_": "uuid_hex", "_data_": "00"}]}),
                        ("recorded_at",)) is None
    # a value that only looks like the marker is plain
    lookalike = {**STATE, "item": {"_type_": "x", "_data_": "y", "more": 1}}
    assert plain_fields(orjson.dumps(lookalike), ("item",)) == {"item": lookalike["item"]}


def test_versioned_or_undecodable_states_are_left_to_the_mapper():
    assert plain_fields(orjson.dumps({**STATE, "class_version": 2}), ("statement",)) is None
    assert plain_fields(b"\x78\x9c compressed", ("statement",)) is None
    assert plain_fields(b"[1, 2]", ("statement",)) is None
