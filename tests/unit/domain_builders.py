"""Builders for the domain's unit tests: statements parsed by ``ledger.format.statements``, their entry fields,
departments, a founded ``Authority`` and submitted ``CreditRecord`` objects. Nothing here opens a database or
a ``Ledger``: the aggregates are made and changed in memory, as the ledger does before it stores their events.
"""

from __future__ import annotations

import copy
import itertools
import uuid
from datetime import date, datetime, timedelta, timezone
from typing import Any

import pytest

from keys import Department, KeyPair
from ledger.domain.aggregates import AUTHORITY_ID, Authority, CreditRecord, entry_fields
from ledger.domain.catalogue import Catalogue, parse_catalogue, shipped_catalogue_document
from ledger.domain.genesis import AUTHORITY_CODE
from ledger.format.identifiers import resident_check_digit, uscc_check_char
from ledger.format.statements import Statement, format_datetime, parse_statement

ORIGIN = "credit-ledger.test/log"
AT = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)  # a Monday
TODAY = AT.date()
CATALOGUE: Catalogue = parse_catalogue(shipped_catalogue_document())
KEY = KeyPair.generate()  # signs every test statement (the aggregates check no signature: the ledger does)
FOOD_ITEMS = ("food_drug.serious", "food_drug.general", "food_drug.minor", "food_drug.simplified_penalty",
              "food_drug.licence", "food_drug.commendation", "volunteering.service_hours", "subject.statement")
_serial = itertools.count(1)


def uscc() -> str:
    """A new valid unified social credit code of an organisation in Qingdao."""
    first17 = f"11370200MA{next(_serial):07d}"
    return first17 + uscc_check_char(first17)


def resident_id(born: date = date(1980, 5, 17)) -> str:
    """A new valid resident ID with the given birth date."""
    first17 = "370202" + born.strftime("%Y%m%d") + f"{next(_serial) % 1000:03d}"
    return first17 + resident_check_digit(first17)


def statement(kind: str, issuer: str, *, at: datetime = AT, **fields: Any) -> Statement:
    """A statement of ``kind`` by ``issuer``, checked against its schema."""
    return parse_statement({"type": kind, "id": str(uuid.uuid4()), "issuer": issuer, "issued_at": format_datetime(at),
                            "ledger": ORIGIN, **fields})


def entry(stmt: Statement, recorded: datetime | None = None) -> dict[str, str]:
    """The entry fields the ledger gives the statement's event (recorded a second after it was issued)."""
    return entry_fields(stmt, KEY.key_id, KEY.sign(stmt.canonical), recorded or stmt.issued_at + timedelta(seconds=1))


def department(items: tuple[str, ...] = FOOD_ITEMS, roles: tuple[str, ...] = ()) -> Department:
    """A registered department's permissions, as the authority's registry holds them."""
    return Department(uscc(), "Test department", items=frozenset(items), purposes=frozenset({"audit"}),
                      roles=frozenset(roles))


def authority_statement(kind: str, **fields: Any) -> Statement:
    return statement(kind, AUTHORITY_CODE, **fields)


def founded(*, with_key: bool = True, with_catalogue: bool = True) -> Authority:
    """An authority founded by its registration, then (by default) its own key and catalogue v1."""
    first = authority_statement("department.registered", department=AUTHORITY_CODE, name="authority", items=[],
                                purposes=["audit"], roles=["authority"])
    authority = Authority._create(Authority.Founded, id=AUTHORITY_ID, **entry(first))
    if with_key:
        decide(authority, authority_statement("key.added", department=AUTHORITY_CODE, key_id=KEY.key_id,
                                              public_key=KEY.public_key_b64, valid_from=format_datetime(AT)))
    if with_catalogue:
        document = shipped_catalogue_document()
        decide(authority, authority_statement("catalogue.published", version=document["version"], catalogue=document))
    authority.collect_events()
    return authority


def decide(authority: Authority, stmt: Statement) -> None:
    authority.decide(stmt, entry(stmt))


def submission(dept: Department, *, item: str = "food_drug.serious", at: datetime = AT, **overrides: Any) -> Statement:
    """A ``record.submitted`` statement of ``dept`` (decided 100 days before ``at`` unless overridden)."""
    fields: dict[str, Any] = {
        "subject": resident_id(), "subject_name": "张三", "item": item, "summary": "Sold food past its use-by date",
        "decision_date": (at.date() - timedelta(days=100)).isoformat(), "document_number": "QSJ-1",
        "legal_basis": "Food Safety Law art. 124",
    }
    fields.update(overrides)
    return statement("record.submitted", dept.code, at=at, **{k: v for k, v in fields.items() if v is not None})


def submitted(dept: Department, catalogue: Catalogue = CATALOGUE, **kw: Any) -> CreditRecord:
    """A new record of ``dept`` (its Submitted event collected, as once stored)."""
    stmt = submission(dept, **kw)
    record = CreditRecord.submit(stmt, entry(stmt), dept, catalogue)
    record.collect_events()
    return record


def change(record: CreditRecord, kind: str, issuer: str, *, at: datetime = AT, **fields: Any) -> Statement:
    """A lifecycle statement about ``record``."""
    return statement(kind, issuer, at=at, record_id=str(record.id), **fields)


def apply(record: CreditRecord, stmt: Statement, catalogue: Catalogue = CATALOGUE) -> Any:
    """Decide ``stmt`` on ``record``; return the one event it triggered."""
    record.decide(stmt, entry(stmt), catalogue)
    (event,) = record.collect_events()
    return event


def refused(target: Authority | CreditRecord, stmt: Statement, error: type[Exception], message: str,
            catalogue: Catalogue = CATALOGUE) -> Exception:
    """Decide ``stmt``, which must be refused with ``error`` whose text holds ``message``, changing nothing
    (the events pending before are collected first)."""
    target.collect_events()
    version, state = target.version, copy.deepcopy(vars(target))
    with pytest.raises(error) as caught:
        if isinstance(target, Authority):
            decide(target, stmt)
        else:
            target.decide(stmt, entry(stmt), catalogue)
    assert type(caught.value) is error
    assert message in str(caught.value), str(caught.value)
    assert target.version == version and target.collect_events() == [] and vars(target) == state
    return caught.value
