import json

import pytest
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.format.canonical import canonical_bytes, parse_json
from ledger.log.leaves import entry_bytes
from ledger.errors import MalformedError


def test_rfc8785_known_answer():
    # RFC 8785 §3.2.2 sorting example (property names sorted by UTF-16 code units).
    value = {"\u20ac": "Euro Sign", "\r": "Carriage Return", "\ufb33": "Hebrew Letter Dalet With Dagesh",
             "1": "One", "\U0001f600": "Emoji: Grinning Face", "\u0080": "Control", "\u00f6": "Latin Small Letter O With Diaeresis"}
    expected = ('{"\\r":"Carriage Return","1":"One","\u0080":"Control","\u00f6":"Latin Small Letter O With Diaeresis",'
                '"\u20ac":"Euro Sign","\U0001f600":"Emoji: Grinning Face","\ufb33":"Hebrew Letter Dalet With Dagesh"}')
    assert canonical_bytes(value) == expected.encode("utf-8")


def test_number_forms():
    assert canonical_bytes(parse_json(b"[1.0, 1e2, -0, 0.000001, 1E-7]")) == b"[1,100,0,0.000001,1e-7]"


@pytest.mark.parametrize("body,reason", [
    (b'{"a":1,"a":2}', "duplicate"),
    (b'{"a":{"b":1,"b":1}}', "duplicate"),
    (b"[NaN]", "not a JSON number"),
    (b"[Infinity]", "not a JSON number"),
    (b"\xff\xfe{}", "UTF-8"),
    (b'{"a":"\xed\xa0\x80"}', "UTF-8"),
    (b"\xef\xbb\xbf{}", "byte order mark"),
    (b"{", "not JSON"),
    (b"", "not JSON"),
    (b"[" * 40 + b"]" * 40, "nesting"),
    (b"[" * 100000, "nesting"),
    (b'{"a":1} x', "not JSON"),
])
def test_ambiguous_or_broken_json_is_refused(body, reason):
    with pytest.raises(MalformedError, match=reason):
        parse_json(body)


def test_depth_limit_counts_only_structure_not_strings():
    assert parse_json(b'{"a": "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["}') == {"a": "[" * 46}


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53) + 1, 2**53 - 1) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(json_values)
def test_canonical_round_trip_and_key_order_independence(value):
    data = canonical_bytes(value)
    assert parse_json(data) == value
    assert canonical_bytes(parse_json(data)) == data
    if isinstance(value, dict):
        reordered = dict(reversed(list(value.items())))
        assert canonical_bytes(reordered) == data
    # Any other serialisation of the same value canonicalises to the same bytes.
    assert canonical_bytes(json.loads(json.dumps(value, indent=3, ensure_ascii=True))) == data


@given(st.dictionaries(st.text(max_size=10), st.text(max_size=10), max_size=5))
def test_entry_bytes_equal_rfc8785_of_the_entry_object(statement):
    canonical = rfc8785.dumps(statement)
    expected = rfc8785.dumps({"statement": statement, "key_id": "ed25519:" + "a" * 32, "signature": "c2ln+/=",
                              "recorded_at": "2026-01-01T00:00:00.000000Z"})
    assert entry_bytes(canonical, "ed25519:" + "a" * 32, "c2ln+/=", "2026-01-01T00:00:00.000000Z") == expected


def test_entry_bytes_refuse_characters_that_would_need_escaping():
    with pytest.raises(ValueError):
        entry_bytes(b"{}", 'ed25519:"', "sig", "2026-01-01T00:00:00Z")


plain_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53) + 1, 2**53 - 1) | st.text(),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(st.characters(max_codepoint=127), max_size=8), children, max_size=4),
    max_leaves=25,
)


@settings(max_examples=500, deadline=None)
@given(plain_values)
def test_fast_path_equals_the_general_rfc8785_canonicaliser(value):
    try:
        expected = rfc8785.dumps(value)
    except Exception:
        with pytest.raises(MalformedError):
            canonical_bytes(value)
        return
    assert canonical_bytes(value) == expected


@given(st.dictionaries(st.text(min_size=1, max_size=4), st.integers(0, 9), min_size=2, max_size=6))
def test_non_ascii_keys_take_the_general_path(value):
    assert canonical_bytes(value) == rfc8785.dumps(value)


def test_large_integers_and_floats_take_the_general_path():
    with pytest.raises(MalformedError):  # beyond IEEE-754's exact integers: no canonical form
        canonical_bytes({"a": 2**60})
    assert canonical_bytes([1.5, 1e21, 0.1]) == rfc8785.dumps([1.5, 1e21, 0.1]) == b"[1.5,1e+21,0.1]"
    assert canonical_bytes({"\U0001f600": 1, "\ufb33": 2}) == rfc8785.dumps({"\U0001f600": 1, "\ufb33": 2})


_scalar_texts = (
    st.sampled_from(["null", "true", "false", "1", "-0", "1.5", "1e400", "18446744073709551616", "NaN", "Infinity",
                     '"\\u0041"', '"\\ud800"', '"a\\\\"', '"\\/:"', '"[{"', '"\\"[["', "01", '"\x01"', "[", "}"])
    | st.integers().map(str)
    | st.text(alphabet='ab[]{}\\"é\n', max_size=6).map(lambda s: json.dumps(s, ensure_ascii=False))
)
_keys = st.sampled_from(['"a"', '"b"', '"[["', '"\\u0061"', '"\\/"', '"/"', '"\\\\"'])
json_texts = st.recursive(
    _scalar_texts,
    lambda children: (st.lists(children, max_size=3).map(lambda xs: "[" + ",".join(xs) + "]")
                      | st.lists(st.tuples(_keys, children), max_size=3).map(
                          lambda kv: "{" + ", ".join(f"{k}: {v}" for k, v in kv) + "}")),
    max_leaves=40,
)


def _scanned_first(body: bytes, max_depth: int) -> object:
    """The reading every body had before bodies were measured at C speed: the scan, then the parse."""
    from ledger.format.canonical import _depth_ok, _no_duplicates, _reject_constant

    text = body.decode("utf-8")
    if text.count("[") + text.count("{") > max_depth:
        _depth_ok(text, max_depth)
    try:
        return json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise MalformedError(f"body is not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    except RecursionError:
        raise MalformedError("JSON nesting too deep") from None


def _reading(parse, body):  # type: ignore[no-untyped-def]
    try:
        return "value", parse(body)
    except MalformedError as exc:
        return "refused", str(exc)


@settings(max_examples=1500, deadline=None)
@given(json_texts, st.integers(1, 6))
def test_nesting_measured_in_bytes_gives_what_the_character_scan_gives(text, depth):
    """Well-formed or not, escaped or not, every body is taken or refused (with the same reason) as the
    character-by-character scan before the parse took or refused it, at small depth limits too."""
    for wrapped in (text, "[" * depth + text + "]" * depth, '{"x": ' + text + "}"):
        body = wrapped.encode("utf-8")
        assert _reading(lambda b: parse_json(b, max_depth=depth), body) == _reading(
            lambda b: _scanned_first(b, depth), body)


def test_nesting_counts_brackets_outside_strings_only():
    from ledger.format.canonical import _nesting

    assert _nesting(b'{"a": "[[[[", "b\\\\": ["\\"]]"], "c": {}}') == 2
    assert _nesting(b"[" * 40 + b"]" * 40) == 40
