"""The authority's commands: registering departments, adding and revoking keys, publishing catalogues.

Each takes the ``Authority``, the checked statement and its entry fields (``entry_fields``), refuses what
the authority's current state does not allow, and triggers one event. Who may issue these statements (the
authority only, its own key first) is checked by the ledger before a command runs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from keys import key_id_for, public_key_from_b64, public_key_problem
from ledger.domain.catalogue import parse_catalogue
from ledger.domain.catalogue_policy import check_items_known
from ledger.errors import ConflictError, RuleError, ValidationError
from ledger.format.statements import Statement

if TYPE_CHECKING:
    from ledger.domain.aggregates import Authority

AuthorityCommand = Callable[["Authority", Statement, dict[str, str]], None]


def register_department(authority: Authority, stmt: Statement, entry: dict[str, str]) -> None:
    """``department.registered``: a department, or new permissions for one, for items the catalogue has."""
    check_items_known(authority.catalogue, stmt.values["items"])
    authority._department_registered(**entry)


def add_key(authority: Authority, stmt: Statement, entry: dict[str, str]) -> None:
    """``key.added``: a registered department's new key, whose id is derived from it, of large order and
    never registered before (a revoked key is never added again)."""
    v = stmt.values
    if v["department"] not in authority.registry.departments:
        raise RuleError(f"department {v['department']} is not registered")
    try:
        raw = public_key_from_b64(v["public_key"])
    except ValueError as exc:
        raise ValidationError(f"public_key: {exc}") from None
    if key_id_for(raw) != v["key_id"]:
        raise ValidationError("key_id does not match public_key (it is derived from the key)")
    weak = public_key_problem(raw)
    if weak is not None:
        raise ValidationError(f"public_key: {weak}")
    if v["key_id"] in authority.registry.keys:
        raise ConflictError(f"key {v['key_id']} is already registered")
    authority._key_added(**entry)


def revoke_key(authority: Authority, stmt: Statement, entry: dict[str, str]) -> None:
    """``key.revoked``: a registered key not yet revoked."""
    key_id = stmt.values["key_id"]
    record = authority.registry.keys.get(key_id)
    if record is None:
        raise RuleError(f"key {key_id} is not registered")
    if record.revoked_at is not None:
        raise ConflictError(f"key {key_id} is already revoked")
    authority._key_revoked(**entry)


def publish_catalogue(authority: Authority, stmt: Statement, entry: dict[str, str]) -> None:
    """``catalogue.published``: a consistent catalogue document whose version is above the one in force and
    is the statement's version."""
    v = stmt.values
    current = authority.catalogue
    if current is not None and v["version"] <= current.version:
        raise ConflictError(f"catalogue version must be above {current.version}")
    if v["catalogue"].get("version") != v["version"]:
        raise ValidationError("catalogue.version must equal the statement's version")
    parse_catalogue(v["catalogue"])
    authority._catalogue_published(**entry)


AUTHORITY_COMMANDS: dict[str, AuthorityCommand] = {
    "department.registered": register_department,
    "key.added": add_key,
    "key.revoked": revoke_key,
    "catalogue.published": publish_catalogue,
}
"""The command for each authority statement type."""
