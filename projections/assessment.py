"""The department assessment's answer: the ledger's statements up to the query, read by topic, and the refused
queries of the access log, given to the pure rules of ``ledger.domain.assessment``.

Nothing is kept between queries: every answer reads the events of the archive's topics (department
registrations, catalogues, record events, measures applied; never queries) from the first up to the query's own position, so
what it shows is fixed by the ledger at that point, like an as-of replay.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

import orjson

from ledger.application import Ledger
from ledger.domain.assessment import BEIJING, Fact, Refusal, assess, default_months
from ledger.domain.catalogue import (
    DEFAULT_REPORTING_DEADLINE_WORKING_DAYS,
    DEFAULT_REVOCATION_REPORT_WORKING_DAYS,
    parse_catalogue,
)
from projections.archive_model import archive_topics
from projections.store import Store
from projections.tracking import EventReader, topic_pages

FIELDS = ("statement", "recorded_at", "deadline")


def facts(ledger: Ledger, upto: int | None, catalogues: list[dict[str, Any]], batch: int = 2000) -> Iterator[Fact]:
    """The non-query statements up to position ``upto`` (None: all), in ledger order; each published
    catalogue is appended to ``catalogues`` as it goes by."""
    reader = EventReader(ledger.mapper, FIELDS)
    for notifications in topic_pages(ledger, archive_topics(), upto, batch):
        for n in notifications:
            values = reader.fields(n)
            s = orjson.loads(values["statement"])
            if s["type"] == "catalogue.published":
                catalogues.append(s["catalogue"])
            yield Fact(s["type"], s, values["recorded_at"], values.get("deadline"))


def refusals(store: Store, upto: int | None, department: str | None) -> list[Refusal]:
    """The refused queries of the access log up to position ``upto`` (of one department, if given)."""
    sql = "SELECT department, recorded_at, reason FROM access_log WHERE status = 'refused' AND position <= %s"
    params: list[Any] = [2**62 if upto is None else upto]
    if department is not None:
        sql += " AND department = %s"
        params.append(department)
    return [Refusal(*row) for row in store.query(sql + " ORDER BY position", params)]


def department_assessment(ledger: Ledger, store: Store, filters: dict[str, Any], now: datetime,
                          upto: int | None) -> dict[str, Any]:
    """The ``department_assessment`` answer for ``filters`` (``from``, ``to`` months, ``department``,
    ``occupational_group``) as of position ``upto`` (the query's own); the access log must hold every query up
    to it. A group the catalogue in force does not list counts nothing, and the answer says so."""
    today = now.astimezone(BEIJING).date()
    first, last = default_months(today, filters.get("from"), filters.get("to"))
    department = filters.get("department")
    group = filters.get("occupational_group")
    catalogues: list[dict[str, Any]] = []
    seen = list(facts(ledger, upto, catalogues))
    catalogue = parse_catalogue(catalogues[-1]) if catalogues else None
    answer = assess(
        seen, refusals(store, upto, department),
        reporting_days=catalogue.reporting_days if catalogue else DEFAULT_REPORTING_DEADLINE_WORKING_DAYS,
        revocation_days=catalogue.revocation_days if catalogue else DEFAULT_REVOCATION_REPORT_WORKING_DAYS,
        today=today, first_month=first, last_month=last, department=department, occupational_group=group,
    )
    if group is not None and (catalogue is None or group not in catalogue.occupational_groups):
        version = catalogue.version if catalogue else None
        answer["occupational_group_unknown"] = f"{group} is not an occupational group of catalogue v{version}"
    return answer
