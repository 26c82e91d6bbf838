"""The versioned catalogue: fields, items, severities, disclosure periods, purposes.

Rules that change over time live here as data, published into the ledger by the authority as a
``catalogue.published`` statement, so that which rules applied when is itself recorded. The
package ships version 1 (``ledger/catalogue/v1.json``), which ``credit-ledger init`` publishes, version 2
(``v2.json``: joint incentive and punishment measures, ``catalogue_measures``; key supervision for the plan's
categories; telecom fraud items; employment, enterprise-head appointment and title evaluation purposes) and
version 3 (``v3.json``: items about organisations (``subjects``) and their responsible persons' roles
(``responsible_roles``), measures that reach those persons; credit agencies and their staff; adult students'
items (``adults_only``); external sources whose records are for reference only (``external_sources``); the
deadline for deciding repair and deferral applications and the longest deferral), which the authority
publishes with a signed ``catalogue.published``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources
from typing import Any

from ledger.domain.catalogue_measures import Measure, parse_measures
from ledger.errors import ValidationError

DETAIL_TYPES = {"string", "integer", "date", "boolean"}
# Working days from a decision within which its record is to be in the ledger, for catalogues that do not say
# (``reporting_deadline_working_days``): the "double publicity" rule (双公示) has administrative licensing and
# penalty decisions published within 7 working days of the decision (发改办财金〔2015〕2700号).
DEFAULT_REPORTING_DEADLINE_WORKING_DAYS = 7
# Working days within which a department reports that a decision was annulled (``revocation_report_working_days``).
DEFAULT_REVOCATION_REPORT_WORKING_DAYS = 3
LISTINGS = {None, "black", "red"}
LATEST_SHIPPED = 3
SUBJECT_TYPES = ("resident", "organisation")
# Working days within which a department decides a repair or deferral application, for catalogues that do not say
# (``application_decision_working_days``).
DEFAULT_APPLICATION_DECISION_WORKING_DAYS = 10


@dataclass(frozen=True)
class Item:
    """One catalogue item: what a department may submit, and how it is disclosed."""

    code: str
    field: str | None
    kind: str
    severity: str | None
    title: str
    collectable: bool
    publishable: bool
    listing: str | None
    details: dict[str, str]
    validity_months: int | None = None
    subjects: tuple[str, ...] = ("resident",)
    adults_only: bool = False


@dataclass(frozen=True)
class Catalogue:
    """A parsed, checked catalogue version."""

    version: int
    items: dict[str, Item]
    fields: dict[str, dict[str, Any]]
    disclosure: dict[str, Any]
    purposes: dict[str, dict[str, Any]]
    repair_methods: tuple[str, ...]
    objection_days: dict[str, int]
    never_collected: frozenset[str]
    points: dict[str, Any]
    raw: dict[str, Any]
    reporting_days: int = DEFAULT_REPORTING_DEADLINE_WORKING_DAYS
    revocation_days: int = DEFAULT_REVOCATION_REPORT_WORKING_DAYS
    measures: dict[str, Measure] | None = None
    responsible_roles: tuple[str, ...] = ()
    external_sources: tuple[str, ...] = ()
    occupational_groups: frozenset[str] = frozenset()
    application_days: int = DEFAULT_APPLICATION_DECISION_WORKING_DAYS
    deferral_max_months: int = 0

    def measure(self, measure_id: str) -> Measure:
        """Return a measure or raise ValidationError naming the unknown id."""
        found = (self.measures or {}).get(measure_id)
        if found is None:
            raise ValidationError(f"catalogue v{self.version} has no measure {measure_id!r}")
        return found

    def key_supervised_fields(self) -> frozenset[str]:
        """The fields this catalogue puts under key supervision."""
        return frozenset(code for code, f in self.fields.items() if f.get("key_supervision"))

    def item(self, code: str) -> Item:
        """Return an item or raise ValidationError naming the unknown code."""
        try:
            return self.items[code]
        except KeyError:
            raise ValidationError(f"catalogue v{self.version} has no item {code!r}") from None

    def period_months(self, severity: str) -> tuple[int, int]:
        """(minimum, maximum) disclosure months for a severity."""
        rule = self.disclosure[severity]
        return int(rule["min_months"]), int(rule["max_months"])

    @property
    def behaviour_cap_years(self) -> int:
        """Years after the behaviour ended beyond which nothing is disclosed."""
        return int(self.disclosure["behaviour_cap_years"])


def parse_catalogue(data: dict[str, Any]) -> Catalogue:
    """Check a catalogue document and return it parsed; raise ValidationError if it is inconsistent."""
    try:
        version = data["version"]
        if not isinstance(version, int) or isinstance(version, bool) or version < 1:
            raise ValidationError("catalogue version must be a positive integer")
        fields = {f["code"]: f for f in data["fields"]}
        severities = set(data["severities"])
        kinds = set(data["kinds"])
        items: dict[str, Item] = {}
        for raw in data["items"]:
            item = _item(raw)
            problems = _item_problems(item, items, fields, kinds, severities)
            if problems:
                raise ValidationError(f"catalogue item {item.code}: " + "; ".join(problems))
            items[item.code] = item
        never = frozenset(data["never_collected"])
        for item in items.values():
            clash = never & set(item.details)
            if clash:
                raise ValidationError(f"catalogue item {item.code} collects {sorted(clash)}, which is never collected")
        disclosure = dict(data["disclosure"])
        for sev in severities:
            lo, hi = int(disclosure[sev]["min_months"]), int(disclosure[sev]["max_months"])
            if not 0 <= lo <= hi:
                raise ValidationError(f"catalogue disclosure period for {sev} is inconsistent")
        purposes = dict(data["purposes"])
        measures = parse_measures(data.get("measures"), items, fields, purposes, severities, kinds)
        return Catalogue(
            version=version,
            items=items,
            fields=fields,
            disclosure=disclosure,
            purposes=purposes,
            repair_methods=tuple(data["repair_methods"]),
            objection_days=dict(data["objection_deadline_working_days"]),
            never_collected=never,
            points=dict(data["points"]),
            raw=data,
            reporting_days=_working_days(data, "reporting_deadline_working_days",
                                         DEFAULT_REPORTING_DEADLINE_WORKING_DAYS),
            revocation_days=_working_days(data, "revocation_report_working_days",
                                          DEFAULT_REVOCATION_REPORT_WORKING_DAYS),
            measures=measures,
            responsible_roles=_codes(data, "responsible_roles"),
            external_sources=_codes(data, "external_sources"),
            occupational_groups=frozenset(_codes(data, "occupational_groups")),
            application_days=_working_days(data, "application_decision_working_days",
                                           DEFAULT_APPLICATION_DECISION_WORKING_DAYS),
            deferral_max_months=_months(data, "deferral_max_months"),
        )
    except (KeyError, TypeError, AttributeError) as exc:
        raise ValidationError(f"catalogue document is malformed: {exc!r}") from None


def _working_days(data: dict[str, Any], key: str, default: int) -> int:
    """A deadline in working days (1 to 365) the catalogue gives, or ``default`` if it gives none."""
    value = data.get(key, default)
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= 365:
        raise ValidationError(f"catalogue {key} must be a whole number of working days from 1 to 365")
    return value


def _codes(data: dict[str, Any], key: str) -> tuple[str, ...]:
    """The codes of a list of ``{"code": ...}`` entries (none when the catalogue has no such list)."""
    entries = data.get(key, [])
    codes = tuple(e["code"] for e in entries)
    if not all(isinstance(c, str) and c for c in codes) or len(set(codes)) != len(codes):
        raise ValidationError(f"catalogue {key} must list distinct non-empty codes")
    return codes


def _months(data: dict[str, Any], key: str) -> int:
    value = data.get(key, 0)
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 120:
        raise ValidationError(f"catalogue {key} must be a whole number of months from 0 to 120")
    return value


def _item(raw: dict[str, Any]) -> Item:
    return Item(
        code=raw["code"],
        field=raw["field"],
        kind=raw["kind"],
        severity=raw["severity"],
        title=raw["title"],
        collectable=bool(raw["collectable"]),
        publishable=bool(raw["publishable"]),
        listing=raw["listing"],
        details=dict(raw["details"]),
        validity_months=raw.get("validity_months"),
        subjects=tuple(raw.get("subjects", ("resident",))),
        adults_only=raw.get("adults_only", False),
    )


def _item_problems(item: Item, earlier: dict[str, Item], fields: dict[str, Any], kinds: set[str],
                   severities: set[str]) -> list[str]:
    """What is inconsistent about an item, given the items before it and the catalogue's fields, kinds and
    severities (nothing, for a consistent one)."""
    checks = (
        (item.code in earlier, "duplicate code"),
        (item.field is not None and item.field not in fields, f"unknown field {item.field}"),
        (item.kind not in kinds, f"unknown kind {item.kind}"),
        ((item.kind == "negative") != (item.severity is not None)
         or (item.severity is not None and item.severity not in severities),
         "a negative item needs a severity, others none"),
        (item.listing not in LISTINGS, f"unknown listing {item.listing}"),
        (item.listing == "black" and item.severity != "serious", "only serious items may be black-list items"),
        (item.listing == "red" and (item.kind != "positive" or not item.validity_months),
         "a red-list item is positive and has validity_months"),
        (not item.subjects or len(set(item.subjects)) != len(item.subjects)
         or any(t not in SUBJECT_TYPES for t in item.subjects), "subjects must list resident and/or organisation"),
        (not isinstance(item.adults_only, bool) or (item.adults_only and "organisation" in item.subjects),
         "adults_only is true or false, and only for items about residents"),
        (any(t not in DETAIL_TYPES for t in item.details.values()),
         "detail types must be one of " + ", ".join(sorted(DETAIL_TYPES))),
    )
    return [message for failed, message in checks if failed]


def shipped_catalogue_document(version: int = 1) -> dict[str, Any]:
    """The catalogue document shipped with the package (read from package data)."""
    text = resources.files("ledger").joinpath(f"catalogue/v{version}.json").read_text(encoding="utf-8")
    return json.loads(text)
