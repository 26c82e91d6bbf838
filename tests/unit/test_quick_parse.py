"""The quick reading of request bodies: whatever it returns is exactly what the full parser returns, and
whatever the full parser refuses it leaves to the full parser, refusal and message alike."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from ledger.errors import MalformedError
from ledger.format import canonical
from ledger.format.canonical import QUICK_PARSE_BYTES, parse_json


def reference(body: bytes) -> Any:
    """The full parser alone: ``parse_json`` as it reads a body the quick reading is unsure of."""
    original = canonical._quick_parse
    canonical._quick_parse = lambda _body: canonical._UNSURE
    try:
        return parse_json(body)
    finally:
        canonical._quick_parse = original


def outcome(body: bytes) -> str:
    try:
        return "value " + repr(parse_json(body))
    except MalformedError as exc:
        return "refused " + str(exc)


def reference_outcome(body: bytes) -> str:
    try:
        return "value " + repr(reference(body))
    except MalformedError as exc:
        return "refused " + str(exc)


scalars = (st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats(allow_nan=False)
           | st.text(alphabet=st.sampled_from('ab:"\\{}[],. e\u00e9\u2028\x00\x1f'), max_size=6))
keys = st.text(alphabet=st.sampled_from('ab:"\\ e{}'), max_size=3)


def render(value: Any) -> str:
    """JSON text of a value where an object is a list of (key, value) pairs: repeated keys are kept."""
    if isinstance(value, tuple) and value and value[0] == "object":
        return "{" + ",".join(json.dumps(k) + " : " + render(v) for k, v in value[1]) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(render(v) for v in value) + "]"
    return json.dumps(value)


values = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=4)
    | st.lists(st.tuples(keys, children), max_size=4).map(lambda pairs: ("object", pairs)),
    max_leaves=12,
)

TRICKY = [
    b'{"a":1,"a":2}', b'{"a":{"b":1,"b":1}}', b'{"a\\\\":1,"a\\\\":2}', b'{"a\\"":1,"a\\"":2}', b'{"k:":1,"k:":2}',
    b'[1.5]', b"[1e5]", b"[1E5]", b"[-0]", b"[-0.0]", b"18446744073709551615", b"18446744073709551616",
    b"-9223372036854775808", b"-9223372036854775809", b"1234567890123456789", b"[1e400]", b'"\\ud800"',
    b'"\\udc00\\ud83d"', b'"\\ud83d\\ude00"', b"[NaN]", b"[Infinity]", b'"\x01"', b'"\x7f"', b"[true,false,null]",
    b'{"e":"true","E":"false"}', b' \t\r\n{"a" : [ 1 , 2 ] } \n', b"[1,]", b"{", b"", b"\xef\xbb\xbf{}",
    b'{"a":"b"}x', b"[01]", b'{"\\u0061":1,"a":2}', b'{"a":{},"b":[]}',
]


@pytest.mark.parametrize("body", TRICKY)
def test_tricky_bodies_read_as_the_full_parser_reads_them(body):
    assert outcome(body) == reference_outcome(body)


def test_repeated_keys_and_big_or_fractional_numbers_are_left_to_the_full_parser():
    for body in (b'{"a":1,"a":2}', b"[1.5]", b"[2e3]", b"12345678901234567890", b'{"a":{"b":1,"b":2}}'):
        assert canonical._quick_parse(body) is canonical._UNSURE, body
    assert canonical._quick_parse(b'{"a":"x:y","b":{"c":[true,false,null,-7]}}') == {
        "a": "x:y", "b": {"c": [True, False, None, -7]}}


@settings(max_examples=600, deadline=None)
@given(values, st.integers(0, 40), st.binary(max_size=2))
@example(("object", [("a", 1), ("a", 2)]), 0, b"")
def test_every_body_reads_as_the_full_parser_reads_it(value, cut, noise):
    text = render(value).encode("utf-8", "surrogatepass")
    assert outcome(text) == reference_outcome(text)
    broken = text[:cut] + noise + text[cut:]  # and the same with a few bytes put in
    assert outcome(broken) == reference_outcome(broken)


def test_large_bodies_are_read_by_the_full_parser_only(monkeypatch):
    calls = []
    monkeypatch.setattr(canonical, "_quick_parse", lambda body: calls.append(len(body)) or canonical._UNSURE)
    small = b'{"a":1}'
    large = b'{"a":"' + b"x" * QUICK_PARSE_BYTES + b'"}'
    assert parse_json(small) == {"a": 1} and parse_json(large)["a"] == "x" * QUICK_PARSE_BYTES
    assert calls == [len(small)]
