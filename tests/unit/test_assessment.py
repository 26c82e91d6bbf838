"""The department assessment's rules (``ledger/domain/assessment.py``) and its query shape. Pure."""

from __future__ import annotations

import uuid
from datetime import date, timedelta

import pytest

from keys import Department
from ledger.domain.assessment import Fact, Refusal, assess, default_months, percentile, working_days_after
from ledger.domain.catalogue import parse_catalogue, shipped_catalogue_document
from ledger.domain.queries import check_shape, decide, refusal_kind
from ledger.errors import ValidationError
from ledger.format.statements import parse_statement
from tests.support import make_uscc
from tests.unit.test_query_policy import NOW, query

A, B, WINDOW = "DEPT-A", "DEPT-B", "WINDOW"


def submitted(dept: str, decided: str, recorded: str, rid: str | None = None) -> Fact:
    return Fact("record.submitted", {"type": "record.submitted", "id": rid or str(uuid.uuid4()), "issuer": dept,
                                     "decision_date": decided}, recorded)


def fact(kind: str, issuer: str, recorded: str, deadline: str | None = None, **fields: object) -> Fact:
    return Fact(kind, {"type": kind, "id": str(uuid.uuid4()), "issuer": issuer, **fields}, recorded, deadline)


def run(facts: list[Fact], refusals: list[Refusal] = (), today: date = date(2026, 3, 31), **kw: object) -> dict:
    args = {"reporting_days": 7, "revocation_days": 3, "today": today, "first_month": "2026-01",
            "last_month": "2026-03", **kw}
    return assess(facts, refusals, **args)  # type: ignore[arg-type]


def test_working_days_count_weekdays_and_a_weekend_recording_counts_as_monday():
    # 2026-01-02 is a Friday.
    assert working_days_after(date(2026, 1, 2), date(2026, 1, 2)) == 0
    assert working_days_after(date(2026, 1, 2), date(2026, 1, 5)) == 1  # Monday
    assert working_days_after(date(2026, 1, 2), date(2026, 1, 3)) == 1  # Saturday: as Monday
    assert working_days_after(date(2026, 1, 2), date(2026, 1, 13)) == 7
    assert working_days_after(date(2026, 1, 2), date(2026, 1, 14)) == 8
    # Against a day-by-day count over several years.
    start = date(2023, 5, 6)
    for end in (start + timedelta(days=k) for k in range(0, 900, 5)):
        rolled = end
        while rolled.weekday() >= 5:
            rolled += timedelta(days=1)
        count = sum(1 for k in range(1, (rolled - start).days + 1) if (start + timedelta(days=k)).weekday() < 5)
        assert working_days_after(start, end) == count, end


def test_lag_median_p95_and_share_late_against_the_deadline():
    # Decided Friday 2026-01-02; 7 working days later is Tuesday 2026-01-13 (Beijing days).
    lags = {"2026-01-05": 1, "2026-01-13": 7, "2026-01-14": 8, "2026-01-20": 12}
    facts = [submitted(A, "2026-01-02", f"{day}T02:00:00Z") for day in lags]
    (row,) = run(facts)["rows"]
    assert row["month"] == "2026-01" and row["records"] == 4 and row["statements"] == 4
    assert row["lag_median"] == 7.5 and row["lag_p95"] == 12
    assert row["late"] == 2 and row["share_late"] == 0.5


def test_months_are_beijing_time():
    # 2026-01-31T17:00Z is 2026-02-01 01:00 in Beijing.
    (row,) = run([submitted(A, "2026-01-30", "2026-01-31T17:00:00Z")])["rows"]
    assert row["month"] == "2026-02"


def test_corrections_per_hundred_records_and_months_outside_the_range():
    facts = [submitted(A, "2026-02-02", "2026-02-03T02:00:00Z") for _ in range(4)]
    facts += [fact("record.corrected", A, "2026-02-10T02:00:00Z", record_id="r") for _ in range(3)]
    facts += [submitted(A, "2025-12-01", "2025-12-02T02:00:00Z")]
    result = run(facts)
    (row,) = result["rows"]
    assert row["month"] == "2026-02" and row["corrections"] == 3 and row["corrections_per_100_records"] == 75.0
    assert row["statements"] == 7
    assert result["totals"][0]["records"] == 4  # December is outside 2026-01..2026-03


def test_objections_counted_for_the_records_department_by_month_filed_with_outcomes_and_overdue():
    rid1, rid2, rid3 = (str(uuid.uuid4()) for _ in range(3))
    facts = [submitted(A, "2026-01-02", "2026-01-05T02:00:00Z", rid) for rid in (rid1, rid2, rid3)]
    o1 = fact("objection.filed", WINDOW, "2026-01-06T02:00:00Z", "2026-01-09", record_id=rid1)
    o2 = fact("objection.filed", WINDOW, "2026-01-06T02:00:00Z", "2026-01-09", record_id=rid2)
    o3 = fact("objection.filed", WINDOW, "2026-02-02T02:00:00Z", "2026-02-05", record_id=rid3)
    facts += [o1, o2, o3,
              fact("objection.resolved", A, "2026-01-08T02:00:00Z", record_id=rid1,
                   objection_id=o1.statement["id"], outcome="upheld"),
              fact("objection.resolved", A, "2026-01-12T02:00:00Z", record_id=rid2,
                   objection_id=o2.statement["id"], outcome="revoked")]
    rows = {(r["department"], r["month"]): r for r in run(facts, today=date(2026, 2, 10))["rows"]}
    jan, feb = rows[(A, "2026-01")], rows[(A, "2026-02")]
    assert (jan["objections_filed"], jan["objections_upheld"], jan["objections_revoked"]) == (2, 1, 1)
    assert jan["objections_overdue"] == 1  # the second was resolved after its deadline
    assert (feb["objections_filed"], feb["objections_open"], feb["objections_overdue"]) == (1, 1, 1)
    assert rows[(WINDOW, "2026-01")]["statements"] == 2 and rows[(WINDOW, "2026-01")]["objections_filed"] == 0
    # The same open objection on its deadline day is not overdue yet.
    early = {(r["department"], r["month"]): r for r in run(facts, today=date(2026, 2, 5))["rows"]}
    assert early[(A, "2026-02")]["objections_overdue"] == 0


def test_revocations_late_only_when_the_annulment_date_is_known():
    facts = [fact("record.revoked", A, "2026-03-10T02:00:00Z", record_id="r", annulled_on="2026-03-02"),
             fact("record.revoked", A, "2026-03-05T02:00:00Z", record_id="r", annulled_on="2026-03-02"),
             fact("record.revoked", A, "2026-03-05T02:00:00Z", record_id="r")]
    (row,) = run(facts)["rows"]
    assert (row["revocations"], row["revocations_late"], row["revocations_undated"]) == (3, 1, 1)


def test_refused_queries_by_kind_and_department_filter():
    refusals = [Refusal(A, "2026-01-05T02:00:00Z", "purpose audit is not allowed for department X"),
                Refusal(A, "2026-01-05T03:00:00Z", "scope access_log needs the role privacy_officer"),
                Refusal(A, "2026-01-06T03:00:00Z", "purpose audit needs the role auditor"),
                Refusal(B, "2026-01-06T03:00:00Z", "other_management needs a written justification")]
    result = run([submitted(B, "2026-01-02", "2026-01-05T02:00:00Z")], refusals, department=A)
    (row,) = result["rows"]
    assert row["department"] == A and row["refused_queries"] == 3
    assert row["refusals"] == {"purpose-not-registered": 1, "role-missing": 2}
    assert list(result["departments"]) == [A]
    assert "not in the ledger" in result["refused_statements"]


def test_percentile_nearest_rank_and_default_months():
    assert percentile([], 95) is None
    assert percentile(list(range(1, 101)), 95) == 95 and percentile([3, 1, 2], 95) == 3
    assert default_months(date(2026, 3, 15), None, None) == ("2025-04", "2026-03")
    assert default_months(date(2026, 3, 15), None, "2025-01") == ("2024-02", "2025-01")
    assert default_months(date(2026, 3, 15), "2026-02", None) == ("2026-02", "2026-03")


LEAD = Department(make_uscc(), "lead", purposes=frozenset({"supervision"}), roles=frozenset({"authority"}))
PLAIN = Department(make_uscc(), "plain", purposes=frozenset({"supervision", "administrative_licensing"}))


def test_the_scope_is_for_the_authority_role_and_the_supervision_purpose():
    ok = query(LEAD, "department_assessment", "supervision", filters={"from": "2026-01", "to": "2026-03"})
    check_shape(ok)
    assert decide(LEAD, ok, NOW, timedelta(minutes=5)) == {"status": "accepted"}
    refused = decide(PLAIN, query(PLAIN, "department_assessment", "supervision"), NOW, timedelta(minutes=5))
    assert refused["status"] == "refused" and refusal_kind(refused["reason"]) == "role-missing"
    wrong = decide(LEAD, query(LEAD, "department_assessment", "administrative_licensing"), NOW, timedelta(minutes=5))
    assert wrong["status"] == "refused"


@pytest.mark.parametrize("filters,message", [
    ({"from": "2026-13"}, "YYYY-MM"), ({"to": "1999-12"}, "YYYY-MM"), ({"from": "2026-1"}, "YYYY-MM"),
    ({"from": "2026-04", "to": "2026-03"}, "from must not be after to"),
    ({"from": "2000-01", "to": "2026-03"}, "at most 120 months"),
    ({"department": ""}, "short string"), ({"subject": "x"}, "not a filter"),
])
def test_malformed_assessment_filters_are_refused_before_storing(filters, message):
    with pytest.raises(ValidationError, match=message):
        check_shape(query(LEAD, "department_assessment", "supervision", filters=filters))


def test_the_shipped_catalogue_has_a_reporting_deadline_and_older_ones_fall_back():
    doc = shipped_catalogue_document()
    assert parse_catalogue(doc).reporting_days == 7
    del doc["reporting_deadline_working_days"]
    assert parse_catalogue(doc).reporting_days == 7
    for bad in (0, "7", True, 400):
        with pytest.raises(ValidationError, match="reporting_deadline_working_days"):
            parse_catalogue({**doc, "reporting_deadline_working_days": bad})
    # The purpose is part of the signed format.
    parse_statement({"type": "department.registered", "id": str(uuid.uuid4()), "issuer": LEAD.code,
                     "issued_at": "2026-01-01T00:00:00Z", "ledger": "x", "department": LEAD.code, "name": "lead",
                     "items": [], "purposes": ["supervision"], "roles": ["authority"]})


def in_group(dept: str, recorded: str, group: str | None, rid: str | None = None) -> Fact:
    fact_ = submitted(dept, "2026-02-02", recorded, rid)
    if group is not None:
        fact_.statement["details"] = {"occupational_group": group}
    return fact_


def test_a_group_counts_only_statements_about_its_records_and_lifecycle_follows_the_record():
    teacher, lawyer, none = (str(uuid.uuid4()) for _ in range(3))
    facts = [
        fact("department.registered", A, "2026-02-01T02:00:00Z", department=A, name="A"),
        in_group(A, "2026-02-03T02:00:00Z", "teacher", teacher),
        in_group(A, "2026-02-03T02:00:00Z", "lawyer", lawyer),
        in_group(B, "2026-02-03T02:00:00Z", None, none),
        fact("record.corrected", A, "2026-02-04T02:00:00Z", record_id=teacher, changes={"summary": "x"}),
        fact("record.revoked", A, "2026-02-05T02:00:00Z", record_id=lawyer),
        fact("objection.filed", WINDOW, "2026-02-05T02:00:00Z", "2026-03-31", record_id=teacher),
        fact("measure.applied", A, "2026-02-06T02:00:00Z", records=[lawyer]),
        fact("measure.applied", B, "2026-02-06T02:00:00Z"),
    ]
    refusals = [Refusal(A, "2026-02-07T02:00:00Z", "stale: issued 900 s before")]
    everything = run(facts, refusals)
    only = run(facts, refusals, occupational_group="teacher")
    assert only["occupational_group"] == "teacher" and "occupational_group" not in everything
    rows = {(r["department"], r["month"]): r for r in only["rows"]}
    assert set(rows) == {(A, "2026-02"), (WINDOW, "2026-02")}  # B's records have no group
    a = rows[(A, "2026-02")]
    assert (a["statements"], a["records"], a["corrections"], a["revocations"], a["measures_applied"]) == (2, 1, 1, 0, 0)
    assert (a["objections_filed"], a["objections_open"], a["refused_queries"]) == (1, 1, 0)
    assert rows[(WINDOW, "2026-02")]["statements"] == 1
    assert only["departments"] == {A: "A", WINDOW: ""}  # a name registered outside the group is still known
    lawyers = {r["department"]: r for r in run(facts, refusals, occupational_group="lawyer")["rows"]}
    assert (lawyers[A]["records"], lawyers[A]["revocations"], lawyers[A]["measures_applied"]) == (1, 1, 1)
    everyone = {r["department"]: r for r in everything["rows"]}
    assert (everyone[A]["records"], everyone[A]["refused_queries"], everyone[B]["statements"]) == (2, 1, 2)
    assert run(facts, refusals, occupational_group="tour_guide")["rows"] == []


def test_a_correction_replacing_the_details_moves_the_record_to_its_new_group_from_then_on():
    rid = str(uuid.uuid4())
    facts = [in_group(A, "2026-01-05T02:00:00Z", "teacher", rid),
             fact("record.corrected", A, "2026-02-04T02:00:00Z", record_id=rid,
                  changes={"details": {"occupational_group": "physician"}}),
             fact("record.revoked", A, "2026-03-04T02:00:00Z", record_id=rid)]
    teachers = [(r["month"], r["statements"]) for r in run(facts, occupational_group="teacher")["rows"]]
    physicians = [(r["month"], r["corrections"], r["revocations"])
                  for r in run(facts, occupational_group="physician")["rows"]]
    assert teachers == [("2026-01", 1)]
    assert physicians == [("2026-02", 1, 0), ("2026-03", 0, 1)]


def test_the_group_filter_is_a_catalogue_code():
    groups = parse_catalogue(shipped_catalogue_document(3)).occupational_groups
    assert len(groups) == 14
    ok = query(LEAD, "department_assessment", "supervision", filters={"occupational_group": "teacher"})
    check_shape(ok)
    check_shape(ok, groups)
    unknown = query(LEAD, "department_assessment", "supervision", filters={"occupational_group": "astronaut"})
    check_shape(unknown)  # without the catalogue: its form only
    with pytest.raises(ValidationError, match=r"filters\.occupational_group: .*teacher.*tour_guide"):
        check_shape(unknown, groups)
    for bad in ("Teacher", "", "teacher!", 3, "x" * 65):
        with pytest.raises(ValidationError, match="occupational groups"):
            check_shape(query(LEAD, "department_assessment", "supervision", filters={"occupational_group": bad}))
    with pytest.raises(ValidationError, match="not a filter"):
        check_shape(query(LEAD, "access_log", "privacy_review", filters={"occupational_group": "teacher"}))
