import copy
import uuid

import pytest

from ledger.domain.catalogue import parse_catalogue, shipped_catalogue_document
from ledger.errors import MalformedError, ValidationError
from ledger.format.statements import SCHEMAS, Statement, parse_envelope, parse_statement

BASE = {
    "type": "record.submitted", "id": "3f0c5a52-8f7e-4d1b-9a51-2b8f0e3c9d11", "issuer": "91350100M000100Y43",
    "issued_at": "2026-03-02T08:30:00Z", "ledger": "credit-ledger.example/log", "subject": "11010519491231002X",
    "subject_name": "张三",
    "item": "food_drug.serious", "summary": "s", "decision_date": "2026-02-27", "document_number": "D1",
    "legal_basis": "L",
}


def test_valid_statement_parses_with_canonical_bytes():
    st = parse_statement(BASE)
    assert st.id == uuid.UUID(BASE["id"]) and st.issuer == BASE["issuer"]
    assert st.canonical.startswith(b'{"decision_date":"2026-02-27","document_number":"D1"')


@pytest.mark.parametrize("field", ["subject", "item", "decision_date", "id", "issuer", "issued_at", "ledger", "type"])
def test_missing_field(field):
    bad = {k: v for k, v in BASE.items() if k != field}
    with pytest.raises(ValidationError, match="missing field|unknown statement type"):
        parse_statement(bad)


@pytest.mark.parametrize("extra", ["religion", "blood_type", "address", "x"])
def test_extra_field(extra):
    with pytest.raises(ValidationError, match=f"not allowed here: {extra}"):
        parse_statement({**BASE, extra: "v"})


@pytest.mark.parametrize("field,value,reason", [
    ("subject", "110105194912310021", "wrong check digit"),
    ("subject", "110105194902300021", "birth date"),
    ("issued_at", "2026-03-02 08:30:00", "RFC 3339"),
    ("issued_at", "2026-03-02T08:30:00+08:00", "RFC 3339"),
    ("issued_at", "2026-02-30T08:30:00Z", "real date"),
    ("decision_date", "2026-2-27", "date like"),
    ("id", "3F0C5A52-8F7E-4D1B-9A51-2B8F0E3C9D11", "lowercase"),
    ("id", "nope", "not a UUID"),
    ("issuer", "91350100M000100Y4", "18 characters"),
    ("summary", "", "non-empty"),
    ("summary", "x" * 2001, "at most"),
    ("subject_name", 7, "non-empty string"),
])
def test_bad_values(field, value, reason):
    with pytest.raises(ValidationError, match=reason):
        parse_statement({**BASE, field: value})


def test_every_type_has_a_schema_and_unknown_types_are_refused():
    assert len(SCHEMAS) == 22
    with pytest.raises(ValidationError, match="unknown statement type"):
        parse_statement({**BASE, "type": "record.deleted"})


def test_envelope_shape():
    env = {"statement": BASE, "key_id": "ed25519:" + "0" * 32, "signature": "AAAA"}
    assert parse_envelope(env).key_id == env["key_id"]
    with pytest.raises(ValidationError, match="not allowed extra"):
        parse_envelope({**env, "extra": 1})
    with pytest.raises(ValidationError, match="missing signature"):
        parse_envelope({k: v for k, v in env.items() if k != "signature"})
    with pytest.raises(ValidationError, match="key id"):
        parse_envelope({**env, "key_id": "rsa:1"})
    with pytest.raises(MalformedError):
        parse_envelope([env])


def test_department_registration_override_admits_a_failing_code_only_when_asked():
    reg = {"type": "department.registered", "id": str(uuid.uuid4()), "issuer": "91350100M000100Y43",
           "issued_at": "2026-03-02T08:30:00Z", "ledger": "credit-ledger.example/log",
           "department": "91350100M000100Y44", "name": "n",
           "items": [], "purposes": []}
    with pytest.raises(ValidationError, match="wrong check character"):
        parse_statement(reg)
    assert parse_statement({**reg, "check_override": True}).values["department"] == "91350100M000100Y44"


def test_shipped_catalogue():
    cat = parse_catalogue(shipped_catalogue_document())
    assert cat.version == 1
    assert len(cat.fields) == 16
    assert len(cat.raw["occupational_groups"]) == 14
    assert cat.period_months("serious") == (12, 36)
    assert cat.period_months("general") == (3, 12)
    assert cat.period_months("minor") == (0, 3)
    assert cat.behaviour_cap_years == 5
    assert not cat.items["food_drug.simplified_penalty"].collectable
    assert all(i.severity == "serious" for i in cat.items.values() if i.listing == "black")
    assert len(cat.purposes) == 18


@pytest.mark.parametrize("mutate,reason", [
    (lambda c: c["items"].append(dict(c["items"][0])), "duplicate code"),
    (lambda c: c["items"][0].update(listing="black", severity="general"), "black-list"),
    (lambda c: c["items"][0]["details"].update(religion="string"), "never collected"),
    (lambda c: c["disclosure"]["serious"].update(min_months=40), "inconsistent"),
    (lambda c: c.pop("items"), "malformed"),
])
def test_catalogue_refusals(mutate, reason):
    doc = copy.deepcopy(shipped_catalogue_document())
    mutate(doc)
    with pytest.raises(ValidationError, match=reason):
        parse_catalogue(doc)


from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from ledger.errors import LedgerError  # noqa: E402

json_like = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=30)
    | st.sampled_from(["record.submitted", "11010519491231002X", "2026-01-01", "2026-01-01T00:00:00Z",
                       "3f0c5a52-8f7e-4d1b-9a51-2b8f0e3c9d11", "91350100M000100Y43"]),
    lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=12), c, max_size=4),
    max_leaves=12,
)


@settings(max_examples=400, deadline=None)
@given(st.dictionaries(st.sampled_from([*BASE, "details", "changes", "record_id", "x"]), json_like, max_size=14))
def test_parser_only_ever_refuses_with_a_ledger_error(obj):
    try:
        st_ = parse_statement(obj)
    except LedgerError:
        return
    assert st_.canonical and st_.type in SCHEMAS


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(sorted(set(BASE) - {"type"})), json_like)
def test_any_single_field_change_is_judged_not_crashed(field, value):
    obj = {**BASE, field: value}
    try:
        parsed = parse_statement(obj)
    except LedgerError:
        return
    assert parsed.values[field] is not None


def _outcome(parse, obj):  # type: ignore[no-untyped-def]
    try:
        parsed = parse(obj)
    except LedgerError as exc:
        return type(exc), str(exc)
    return parsed, list(parsed.values)


@settings(max_examples=400, deadline=None)
@given(st.sampled_from(sorted(SCHEMAS)), st.dictionaries(st.sampled_from([*BASE, "details", "changes", "record_id",
                                                                          "list", "reason", "x"]),
                                                         json_like, max_size=6))
def test_the_one_pass_check_gives_what_the_full_check_gives(kind, changes):
    """A valid statement takes the one-pass check; its result (values in the same order) and every
    refusal (the full check's message) are those of the full check."""
    from ledger.format.statements import _parse_statement_checked

    for obj in ({**BASE, "type": kind, **changes}, {**BASE, **changes}, {**BASE, "type": kind}):
        assert _outcome(parse_statement, obj) == _outcome(_parse_statement_checked, obj)
    assert _outcome(parse_statement, BASE) == _outcome(_parse_statement_checked, BASE)
    assert isinstance(_outcome(parse_statement, BASE)[0], Statement)


def test_the_one_pass_check_is_taken_by_a_valid_statement(monkeypatch):
    from ledger.format import statements

    def full_check(obj):  # type: ignore[no-untyped-def]
        raise AssertionError("the full check ran")
    monkeypatch.setattr(statements, "_parse_statement_checked", full_check)
    assert parse_statement(BASE).issuer == BASE["issuer"]
    with pytest.raises(AssertionError, match="the full check ran"):
        parse_statement({**BASE, "subject": "110105194912310021"})  # a wrong check digit: the full check names it
