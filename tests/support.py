"""Test harness: a founded ledger with helpers to make departments, statements and envelopes."""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Any

from api.runtime import AUTHORITY_KEY, init, open_ledger
from api.settings import Settings
from keys import KeyPair
from ledger.application import Ledger
from ledger.genesis import AUTHORITY_CODE
from ledger.identifiers import USCC_ALPHABET, resident_check_digit, uscc_check_char
from ledger.statements import format_datetime, make_envelope, parse_envelope

ALL_FOOD_ITEMS = ["food_drug.serious", "food_drug.general", "food_drug.minor", "food_drug.simplified_penalty",
                  "food_drug.licence", "food_drug.commendation"]


def make_uscc(rng: random.Random | None = None) -> str:
    """A random valid unified social credit code of an organisation in Qingdao."""
    rng = rng or random.Random()
    first17 = "11370200" + "".join(rng.choice(USCC_ALPHABET) for _ in range(9))
    return first17 + uscc_check_char(first17)


def make_resident_id(born: date = date(1980, 5, 17), rng: random.Random | None = None) -> str:
    """A valid 18-character resident ID with the given birth date."""
    rng = rng or random.Random()
    first17 = "370202" + born.strftime("%Y%m%d") + f"{rng.randrange(1000):03d}"
    return first17 + resident_check_digit(first17)


def now() -> datetime:
    return datetime.now(timezone.utc) - timedelta(seconds=1)


@dataclass
class Department:
    code: str
    key: KeyPair
    name: str = "Test department"


class World:
    """A founded ledger on the given settings, with an authority and helpers."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        init(settings)
        self.authority = KeyPair.load(settings.keys_dir / AUTHORITY_KEY)
        self.authority_dept = Department(AUTHORITY_CODE, self.authority, "authority")
        self.ledger: Ledger = open_ledger(settings)

    def close(self) -> None:
        self.ledger.close()

    # Statements and envelopes.

    def statement(self, kind: str, issuer: str, *, issued_at: datetime | None = None, **fields: Any) -> dict[str, Any]:
        return {"type": kind, "id": str(uuid.uuid4()), "issuer": issuer,
                "issued_at": format_datetime(issued_at or now()), **fields}

    def envelope(self, statement: dict[str, Any], key: KeyPair) -> dict[str, Any]:
        return make_envelope(statement, key.key_id, key.sign)

    def signed(self, dept: Department, kind: str, **fields: Any) -> dict[str, Any]:
        return self.envelope(self.statement(kind, dept.code, **fields), dept.key)

    def append(self, *envelopes: dict[str, Any]) -> list[Any]:
        return self.ledger.append([parse_envelope(e) for e in envelopes])

    def append_ok(self, *envelopes: dict[str, Any]) -> list[Any]:
        outcomes = self.append(*envelopes)
        for o in outcomes:
            if isinstance(o, Exception):
                raise AssertionError(f"refused: {o!r}")
        return outcomes

    # Departments.

    def department(
        self, items: list[str] | None = None, purposes: list[str] | None = None, roles: list[str] | None = None,
        *, valid_from: datetime | None = None,
    ) -> Department:
        dept = Department(make_uscc(), KeyPair.generate())
        self.append_ok(
            self.signed(self.authority_dept, "department.registered", department=dept.code, name="Dept " + dept.code[-4:],
                        items=ALL_FOOD_ITEMS if items is None else items,
                        purposes=purposes or ["administrative_licensing"], roles=roles or []),
            self.signed(self.authority_dept, "key.added", department=dept.code, key_id=dept.key.key_id,
                        public_key=dept.key.public_key_b64,
                        valid_from=format_datetime(valid_from or (now() - timedelta(days=3650)))),
        )
        return dept

    def submission(self, dept: Department, item: str = "food_drug.serious", **overrides: Any) -> dict[str, Any]:
        fields: dict[str, Any] = {
            "subject": make_resident_id(), "subject_name": "张三", "item": item,
            "summary": "Sold food past its use-by date", "decision_date": (now().date() - timedelta(days=30)).isoformat(),
            "document_number": "QSJ-" + uuid.uuid4().hex[:8], "legal_basis": "Food Safety Law art. 124",
        }
        fields.update(overrides)
        return self.signed(dept, "record.submitted", **{k: v for k, v in fields.items() if v is not None})
