"""Query policy: who may read what, for which declared purpose. Pure.

A ``query.requested`` statement that is well-formed and correctly signed is always recorded; this
policy decides whether it is ``accepted`` (data may be returned) or ``refused`` (with the reason).
Malformed ones (bad filters, missing subject, times out of range) are refused before anything is stored.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from datetime import datetime, timedelta, timezone
from typing import Any

from keys import Department
from ledger.domain.inbox import KINDS as INBOX_KINDS
from ledger.errors import ValidationError
from ledger.format.statements import Statement, parse_date, parse_datetime

# scope -> (needs a subject, roles that may use it (None: any department), purposes allowed for it)
SCOPES: dict[str, tuple[bool, frozenset[str] | None, frozenset[str] | None]] = {
    "archive": (True, None, None),
    "subject_access_log": (True, frozenset({"service_window"}), frozenset({"subject_self_query"})),
    "access_log": (False, frozenset({"privacy_officer"}), frozenset({"privacy_review"})),
    "review_report": (False, frozenset({"privacy_officer"}), frozenset({"privacy_review"})),
    "ledger_entries": (False, frozenset({"auditor"}), frozenset({"audit"})),
    "as_of_archive": (True, frozenset({"auditor"}), frozenset({"audit"})),
    "as_of_lists": (False, frozenset({"auditor"}), frozenset({"audit"})),
    "key_compromise": (False, frozenset({"auditor"}), frozenset({"audit"})),
    "department_assessment": (False, frozenset({"authority"}), frozenset({"supervision"})),
    "credit_report": (True, None, frozenset({
        "employment", "enterprise_head_appointment", "title_evaluation", "commendation", "civil_service_hiring",
        "appointment_and_promotion", "administrative_licensing", "qualification_certification", "public_benefits",
        "public_funding", "procurement_and_bidding", "subject_self_query", "authorised_third_party"})),
    "department_inbox": (False, None, frozenset({"objection_handling", "repair_handling"})),
}
# purposes that need a role whatever the scope
PURPOSE_ROLES = {"subject_self_query": "service_window", "privacy_review": "privacy_officer", "audit": "auditor",
                 "supervision": "authority"}
FILTERS: dict[str, dict[str, str]] = {
    "archive": {},
    "subject_access_log": {"before": "int", "limit": "limit"},
    "access_log": {"subject": "resident", "department": "text", "operator": "text", "purpose": "text",
                   "from": "datetime", "to": "datetime", "before": "int", "limit": "limit"},
    "review_report": {"from": "datetime", "to": "datetime"},
    "ledger_entries": {"start": "int", "end": "int"},
    "as_of_archive": {"position": "int", "at": "datetime"},
    "as_of_lists": {"position": "int", "at": "datetime", "list": "text"},
    "key_compromise": {"key_id": "key_id", "from": "datetime", "after": "int"},
    "department_assessment": {"from": "month", "to": "month", "department": "text", "occupational_group": "group"},
    "credit_report": {},
    "department_inbox": {"kind": "inbox_kind", "limit": "limit"},
}
MAX_ENTRIES = 1000
KEY_ID = re.compile(r"ed25519:[0-9a-f]{32}")
MONTH = re.compile(r"(\d{4})-(0[1-9]|1[0-2])")
# An occupational group's code as catalogues write them (``civil_servant``); which codes there are is the
# catalogue's: ``check_shape`` checks against it when given its groups.
GROUP = re.compile(r"[a-z][a-z0-9_]{0,63}")
# Month filters (``department_assessment``): from 2000-01 to 8999-12, at most ``MAX_MONTHS`` of them.
MAX_MONTHS = 120
# Access-log pages (``subject_access_log``, ``access_log``): newest first, ``limit`` rows (at most
# ``MAX_PAGE``), then ``before`` the position an answer gives as ``next_before`` for the next page.
DEFAULT_PAGE = 200
MAX_PAGE = 1000
# Datetime filters must lie in this range (the review report reaches 31 days before ``from``).
EARLIEST = datetime(2000, 1, 1, tzinfo=timezone.utc)
LATEST = datetime(9000, 1, 1, tzinfo=timezone.utc)


def check_shape(st: Statement, groups: Collection[str] = ()) -> None:
    """Refuse (without storing) a query whose subject or filters do not fit its scope; ``groups``: the
    occupational groups of the catalogue in force (none given: a group's code is checked for its form only)."""
    v = st.values
    needs_subject = SCOPES[v["scope"]][0]
    if needs_subject and "subject" not in v:
        raise ValidationError(f"scope {v['scope']} needs a subject")
    if not needs_subject and "subject" in v:
        raise ValidationError(f"scope {v['scope']} takes no subject (use filters)")
    allowed = FILTERS[v["scope"]]
    for name, value in v.get("filters", {}).items():
        kind = allowed.get(name)
        if kind is None:
            raise ValidationError(f"filters: {name} is not a filter of scope {v['scope']}")
        try:
            if kind == "int":
                if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                    raise ValidationError("must be a non-negative integer")
            elif kind == "limit":
                if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= MAX_PAGE:
                    raise ValidationError(f"must be an integer from 1 to {MAX_PAGE}")
            elif kind == "datetime":
                if not EARLIEST <= parse_datetime(value) <= LATEST:
                    raise ValidationError("must lie between 2000-01-01T00:00:00Z and 9000-01-01T00:00:00Z")
            elif kind == "date":
                parse_date(value)
            elif kind == "month":
                if not isinstance(value, str) or not MONTH.fullmatch(value) or not "2000-01" <= value <= "8999-12":
                    raise ValidationError("must be a month YYYY-MM from 2000-01 to 8999-12")
            elif kind == "group":
                if not isinstance(value, str) or not GROUP.fullmatch(value) or (groups and value not in groups):
                    allowed_groups = ", ".join(sorted(groups)) if groups else "the catalogue's codes"
                    raise ValidationError(f"must be one of the occupational groups ({allowed_groups})")
            elif kind == "inbox_kind":
                if value not in INBOX_KINDS:
                    raise ValidationError("must be one of " + ", ".join(INBOX_KINDS))
            elif kind == "key_id":
                if not isinstance(value, str) or not KEY_ID.fullmatch(value):
                    raise ValidationError("must be a key id like ed25519:<32 hex digits>")
            elif not isinstance(value, str) or not value or len(value) > 64:
                raise ValidationError("must be a short string")
        except ValidationError as exc:
            raise ValidationError(f"filters.{name}: {exc}") from None
    f = v.get("filters", {})
    if v["scope"] == "department_assessment":
        if "from" in f and "to" in f and (f["from"] > f["to"] or months_between(f["from"], f["to"]) > MAX_MONTHS):
            raise ValidationError(f"filters: from must not be after to, and at most {MAX_MONTHS} months apart")
    elif "from" in f and "to" in f and parse_datetime(f["from"]) > parse_datetime(f["to"]):
        raise ValidationError("filters: from must not be after to")
    if v["scope"] == "ledger_entries":
        start, end = f.get("start"), f.get("end")
        if start is None or end is None or not start < end <= start + MAX_ENTRIES:
            raise ValidationError(f"filters: ledger_entries needs start < end <= start + {MAX_ENTRIES}")
    if v["scope"] in ("as_of_archive", "as_of_lists") and ("position" in f) == ("at" in f):
        raise ValidationError(f"filters: {v['scope']} needs exactly one of position and at")
    if v["scope"] == "as_of_lists" and f.get("list") not in ("black", "red"):
        raise ValidationError("filters: as_of_lists needs list: black or red")
    if v["scope"] == "key_compromise" and "key_id" not in f:
        raise ValidationError("filters: key_compromise needs key_id")


def decide(dept: Department, st: Statement, now: datetime, max_age: timedelta) -> dict[str, Any]:
    """``{"status": "accepted"}`` or ``{"status": "refused", "reason": ...}`` for a well-formed query."""
    v = st.values
    purpose, scope = v["purpose"], v["scope"]
    _, roles, purposes = SCOPES[scope]
    reason = None
    if now - st.issued_at > max_age:
        reason = f"stale: issued {int((now - st.issued_at).total_seconds())} s before it reached the ledger " \
                 f"(at most {int(max_age.total_seconds())} s)"
    elif purpose not in dept.purposes:
        reason = f"purpose {purpose} is not allowed for department {dept.code}"
    elif purposes is not None and purpose not in purposes:
        reason = f"scope {scope} is read only for the purpose(s) {', '.join(sorted(purposes))}"
    elif roles is not None and not roles & dept.roles:
        reason = f"scope {scope} needs the role {', '.join(sorted(roles))}"
    elif purpose in PURPOSE_ROLES and PURPOSE_ROLES[purpose] not in dept.roles:
        reason = f"purpose {purpose} needs the role {PURPOSE_ROLES[purpose]}"
    elif purpose == "subject_self_query" and not v.get("identity_check"):
        reason = "subject_self_query needs the identity check the service window made (identity_check: " \
                 "method and reference), to show the person asking is the subject"
    elif purpose == "authorised_third_party" and not v.get("authorisation_ref"):
        reason = "authorised_third_party needs the subject's written authorisation reference (authorisation_ref)"
    elif purpose == "other_management" and not v.get("justification"):
        reason = "other_management needs a written justification"
    if reason is not None:
        return {"status": "refused", "reason": reason}
    return {"status": "accepted"}


def months_between(first: str, last: str) -> int:
    """How many months ``first`` to ``last`` (``YYYY-MM``, both included) span."""
    return (int(last[:4]) - int(first[:4])) * 12 + int(last[5:7]) - int(first[5:7]) + 1


# The kinds of refusal ``decide`` records, by the words of its reason (the department assessment counts them).
REFUSAL_KINDS = (
    ("stale:", "", "stale"),
    ("purpose ", " is not allowed for department ", "purpose-not-registered"),
    ("scope ", " is read only for the purpose", "purpose-not-for-scope"),
    ("", " needs the role ", "role-missing"),
    ("subject_self_query needs", "", "identity-check-missing"),
    ("authorised_third_party needs", "", "authorisation-missing"),
    ("other_management needs", "", "justification-missing"),
)


def refusal_kind(reason: str | None) -> str:
    """The kind of a recorded refusal, from its reason (``other`` for a reason this policy does not give)."""
    text = reason or ""
    for start, words, kind in REFUSAL_KINDS:
        if text.startswith(start) and words in text:
            return kind
    return "other"
