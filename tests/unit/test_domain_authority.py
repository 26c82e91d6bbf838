"""The authority's commands, one per statement type, on an ``Authority`` in memory: each accepted statement
triggers its event; each refusal raises its problem and triggers nothing."""

from __future__ import annotations

import base64
from datetime import timedelta
from typing import Any

from keys import KeyPair, key_id_for
from ledger.domain.aggregates import Authority
from ledger.domain.catalogue import shipped_catalogue_document
from ledger.domain.commands.authority import AUTHORITY_COMMANDS
from ledger.errors import ConflictError, RuleError, ValidationError
from ledger.format.statements import AUTHORITY_TYPES, format_datetime
from tests.unit.domain_builders import AT, authority_statement, decide, entry, founded, refused, statement, uscc

SMALL_ORDER_KEY = bytes.fromhex("0100000000000000000000000000000000000000000000000000000000000000")


def registration(code: str, items: list[str] | None = None, **fields: Any):
    return authority_statement("department.registered", department=code, name="Dept " + code[-4:],
                               items=["food_drug.serious"] if items is None else items,
                               purposes=["administrative_licensing"], **fields)


def key_added(code: str, key: KeyPair | None = None, **overrides: Any):
    key = key or KeyPair.generate()
    fields = {"department": code, "key_id": key.key_id, "public_key": key.public_key_b64,
              "valid_from": format_datetime(AT - timedelta(days=1)), **overrides}
    return authority_statement("key.added", **fields)


def registered(authority: Authority) -> str:
    code = uscc()
    decide(authority, registration(code))
    return code


def test_every_authority_statement_type_has_one_command():
    assert set(AUTHORITY_COMMANDS) == set(AUTHORITY_TYPES)


def test_a_statement_of_another_kind_is_no_authority_statement():
    authority = founded()
    stmt = statement("record.revoked", authority.authority_code, record_id="3f0c5a52-8f7e-4d1b-9a51-2b8f0e3c9d11",
                     reason="r", annulling_document="d")
    refused(authority, stmt, ValidationError, "record.revoked is not an authority statement")


def test_the_founding_statement_names_the_authority():
    authority = founded(with_key=False, with_catalogue=False)
    assert authority.authority_code == "11370200MB0000001F"
    assert not authority.authority_has_key() and authority.catalogue is None
    assert founded().authority_has_key()


# department.registered

def test_a_department_is_registered_and_registered_again_with_new_permissions():
    authority = founded()
    code = uscc()
    stmt = registration(code, ["food_drug.serious", "food_drug.general"], roles=["service_window"])
    decide(authority, stmt)
    (event,) = authority.collect_events()
    assert isinstance(event, Authority.DepartmentRegistered) and event.statement == stmt.canonical.decode()
    dept = authority.registry.departments[code]
    assert dept.items == {"food_drug.serious", "food_drug.general"} and dept.roles == {"service_window"}
    decide(authority, registration(code, ["food_drug.minor"]))
    assert authority.registry.departments[code].items == {"food_drug.minor"}
    assert authority.authority_code == "11370200MB0000001F"  # a later registration never becomes the authority


def test_a_department_is_registered_only_for_items_of_the_catalogue_in_force():
    authority = founded()
    refused(authority, registration(uscc(), ["food_drug.serious", "food_drug.unheard_of"]), ValidationError,
            "items: catalogue v1 has no item 'food_drug.unheard_of'")
    before_any_catalogue = founded(with_catalogue=False)
    decide(before_any_catalogue, registration(uscc(), ["food_drug.unheard_of"]))
    assert before_any_catalogue.version == 3


# key.added

def test_a_key_is_added_for_a_registered_department():
    authority = founded()
    code = registered(authority)
    key = KeyPair.generate()
    decide(authority, key_added(code, key))
    record = authority.registry.keys[key.key_id]
    assert record.department == code and record.public_key == key.public_key
    assert record.valid_from == AT - timedelta(days=1) and record.revoked_at is None
    assert isinstance(authority.collect_events()[-1], Authority.KeyAdded)


def test_a_key_of_an_unknown_department_is_refused():
    authority = founded()
    code = uscc()
    refused(authority, key_added(code), RuleError, f"department {code} is not registered")


def test_a_public_key_that_is_not_32_bytes_is_refused():
    authority = founded()
    short = base64.b64encode(b"\x01" * 31).decode()
    refused(authority, key_added(registered(authority), public_key=short), ValidationError,
            "public_key: public_key must decode to 32 bytes")


def test_a_key_id_not_derived_from_the_key_is_refused():
    authority = founded()
    other = KeyPair.generate()
    refused(authority, key_added(registered(authority), key_id=other.key_id), ValidationError,
            "key_id does not match public_key (it is derived from the key)")


def test_a_weak_key_is_refused():
    authority = founded()
    stmt = key_added(registered(authority), key_id=key_id_for(SMALL_ORDER_KEY),
                     public_key=base64.b64encode(SMALL_ORDER_KEY).decode())
    refused(authority, stmt, ValidationError, "public_key: the public key is a point of small order")


def test_a_key_is_added_once_and_never_again_after_its_revocation():
    authority = founded()
    code = registered(authority)
    key = KeyPair.generate()
    decide(authority, key_added(code, key))
    refused(authority, key_added(code, key), ConflictError, f"key {key.key_id} is already registered")
    decide(authority, authority_statement("key.revoked", key_id=key.key_id, effective_at=format_datetime(AT),
                                          reason="lost"))
    refused(authority, key_added(code, key), ConflictError, f"key {key.key_id} is already registered")
    refused(authority, key_added(registered(authority), key), ConflictError, "already registered")


# key.revoked

def revocation(key_id: str):
    return authority_statement("key.revoked", key_id=key_id, effective_at=format_datetime(AT - timedelta(hours=2)),
                               reason="the key file was lost")


def test_a_key_is_revoked_from_its_effective_time():
    authority = founded()
    key = KeyPair.generate()
    decide(authority, key_added(registered(authority), key))
    decide(authority, revocation(key.key_id))
    assert authority.registry.keys[key.key_id].revoked_at == AT - timedelta(hours=2)
    assert isinstance(authority.collect_events()[-1], Authority.KeyRevoked)


def test_an_unknown_key_is_not_revoked():
    authority = founded()
    key_id = KeyPair.generate().key_id
    refused(authority, revocation(key_id), RuleError, f"key {key_id} is not registered")


def test_a_key_is_revoked_once():
    authority = founded()
    key = KeyPair.generate()
    decide(authority, key_added(registered(authority), key))
    decide(authority, revocation(key.key_id))
    refused(authority, revocation(key.key_id), ConflictError, f"key {key.key_id} is already revoked")


# catalogue.published

def publication(version: int, document: dict | None = None):
    document = document if document is not None else dict(shipped_catalogue_document(), version=version)
    return authority_statement("catalogue.published", version=version, catalogue=document)


def test_a_new_catalogue_version_comes_into_force():
    authority = founded()
    stmt = publication(2)
    authority.decide(stmt, entry(stmt))
    (event,) = authority.collect_events()
    assert isinstance(event, Authority.CataloguePublished)
    assert authority.catalogue is not None and authority.catalogue.version == 2 and set(authority.catalogues) == {1, 2}


def test_the_first_catalogue_may_have_any_version():
    authority = founded(with_catalogue=False)
    decide(authority, publication(7))
    assert authority.catalogue is not None and authority.catalogue.version == 7


def test_catalogue_versions_only_go_up():
    authority = founded()
    refused(authority, publication(1), ConflictError, "catalogue version must be above 1")
    decide(authority, publication(3))
    for version in (2, 3):
        refused(authority, publication(version), ConflictError, "catalogue version must be above 3")


def test_the_document_carries_the_statements_version():
    authority = founded()
    refused(authority, publication(2, shipped_catalogue_document()), ValidationError,
            "catalogue.version must equal the statement's version")


def test_an_inconsistent_catalogue_is_not_published():
    authority = founded()
    document = dict(shipped_catalogue_document(), version=2)
    document["items"] = [dict(item, listing="black") if item["code"] == "food_drug.general" else item
                         for item in document["items"]]
    refused(authority, publication(2, document), ValidationError,
            "catalogue item food_drug.general: only serious items may be black-list items")
    refused(authority, publication(2, {"version": 2}), ValidationError, "catalogue document is malformed")
