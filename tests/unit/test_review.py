from datetime import datetime, timedelta, timezone

from ledger.domain.review import SELF_QUERY_DEPARTMENT_DAY, SELF_QUERY_OPERATOR_DAY, VOLUME_MIN, review

END = datetime(2026, 11, 27, 12, 0, tzinfo=timezone.utc)  # a Friday, 20:00 in Beijing


def row(n: int, when: datetime, dept: str = "D1", op: str = "op1", subject: str | None = "S1",
        purpose: str = "administrative_licensing", scope: str = "archive", status: str = "accepted", **kw) -> dict:
    return {"query_id": f"q{n}", "position": n, "issued_at": when.strftime("%Y-%m-%dT%H:%M:%SZ"), "department": dept,
            "operator": op, "subject": subject, "purpose": purpose, "scope": scope, "status": status, **kw}


def office(day_offset: int, hour_utc: int = 2) -> datetime:
    # 02:00 UTC = 10:00 Beijing, on a weekday
    return datetime(2026, 11, 23, hour_utc, tzinfo=timezone.utc) + timedelta(days=day_offset)


def test_outside_office_hours_in_beijing_time():
    rows = [row(1, office(0)), row(2, office(0, 12)), row(3, datetime(2026, 11, 22, 3, tzinfo=timezone.utc))]
    found = review(rows, {("D1", "S1")}, END - timedelta(days=7), END)
    hits = [f["query_ids"] for f in found if f["rule"] == "outside-office-hours"]
    assert hits == [["q2"], ["q3"]]  # 20:00 on Monday; Sunday 11:00


def test_operator_volume_against_its_own_history():
    history = [row(i, END - timedelta(days=2 + i % 25, hours=20)) for i in range(30)]  # ~1 a day
    burst = [row(100 + i, END - timedelta(hours=1, minutes=i)) for i in range(12)]
    found = review(history + burst, {("D1", "S1")}, END - timedelta(days=7), END)
    (vol,) = [f for f in found if f["rule"] == "operator-volume"]
    assert sorted(vol["query_ids"]) == sorted(r["query_id"] for r in burst)
    quiet = review(history + burst[:9], {("D1", "S1")}, END - timedelta(days=7), END)
    assert not [f for f in quiet if f["rule"] == "operator-volume"]


def test_many_departments_other_management_and_links():
    rows = [row(1, office(1), dept="D1"), row(2, office(1) + timedelta(hours=3), dept="D2"),
            row(3, office(2), dept="D3", purpose="other_management", justification="tip"),
            row(4, office(4), dept="D4", subject="S2"),
            row(5, office(4), dept="D4", subject="S3", purpose="subject_self_query"),
            row(6, office(4), dept="D4", subject="S4", purpose="subject_self_query", status="refused")]
    found = review(rows, {("D1", "S1")}, END - timedelta(days=7), END)
    rules = {(f["rule"], tuple(f["query_ids"])) for f in found}
    assert ("many-departments", ("q1", "q2", "q3")) in rules
    assert ("other-management", ("q3",)) in rules
    links = sorted(f["query_ids"][0] for f in found if f["rule"] == "no-record-link")
    # q1 has a record link; q5 is an accepted self-query (it carried an identity check); q6 was refused
    assert links == ["q2", "q3", "q4", "q6"]


def _rules(found: list[dict], rule: str) -> list[dict]:
    return [f for f in found if f["rule"] == rule]


def test_department_volume_catches_operators_made_up_per_query():
    history = [row(i, END - timedelta(days=2 + i % 25, hours=20), op=f"op{i % 3}") for i in range(30)]
    rotating = [row(100 + i, END - timedelta(hours=1, minutes=i), op=f"made-up-{i}") for i in range(12)]
    found = review(history + rotating, {("D1", "S1")}, END - timedelta(days=7), END)
    assert not _rules(found, "operator-volume")  # no single operator stands out ...
    (dept,) = _rules(found, "department-volume")  # ... but the department does
    assert sorted(dept["query_ids"]) == sorted(r["query_id"] for r in rotating)
    # a department whose days are that busy anyway is not flagged
    busy = [row(200 + i, END - timedelta(days=1 + i % 30, hours=2), op=f"op{i % 5}") for i in range(30 * 12)]
    assert not _rules(review(busy + rotating, set(), END - timedelta(days=7), END), "department-volume")
    assert not _rules(review(history + rotating[:VOLUME_MIN - 1], set(), END - timedelta(days=7), END),
                      "department-volume")


def _self_queries(first: int, count: int, when: datetime, ops: int = 1, dept: str = "W1") -> list[dict]:
    return [row(first + i, when + timedelta(minutes=i % 60), dept=dept, op=f"clerk-{i % ops}", subject=f"S{first + i}",
                purpose="subject_self_query", scope="subject_access_log") for i in range(count)]


def test_self_queries_about_many_subjects_by_one_operator_in_one_day():
    many = _self_queries(1, SELF_QUERY_OPERATOR_DAY, office(1))
    (hit,) = _rules(review(many, set(), END - timedelta(days=7), END), "operator-self-queries")
    assert sorted(hit["query_ids"]) == sorted(r["query_id"] for r in many) and "clerk-0 of W1" in hit["summary"]
    assert not _rules(review(many[:-1], set(), END - timedelta(days=7), END), "operator-self-queries")
    # the same person asking again is one subject
    again = many[:-1] + [row(999, office(1), dept="W1", op="clerk-0", subject="S1", purpose="subject_self_query",
                             scope="subject_access_log")]
    assert not _rules(review(again, set(), END - timedelta(days=7), END), "operator-self-queries")


def test_self_query_days_are_beijing_days():
    # 23:00 and 01:00 Beijing time are two days, though 15:00 and 17:00 UTC are one
    late = datetime(2026, 11, 24, 15, tzinfo=timezone.utc)
    half = SELF_QUERY_OPERATOR_DAY // 2
    rows = _self_queries(1, half, late) + _self_queries(100, SELF_QUERY_OPERATOR_DAY - half, late + timedelta(hours=2))
    assert not _rules(review(rows, set(), END - timedelta(days=7), END), "operator-self-queries")
    same_day = _self_queries(1, SELF_QUERY_OPERATOR_DAY, late - timedelta(hours=6))  # 17:00 Beijing
    assert _rules(review(same_day, set(), END - timedelta(days=7), END), "operator-self-queries")


def test_self_queries_about_many_subjects_by_one_department_across_operators():
    ops = SELF_QUERY_DEPARTMENT_DAY // (SELF_QUERY_OPERATOR_DAY - 1) + 1  # each below the operator threshold
    rows = _self_queries(1, SELF_QUERY_DEPARTMENT_DAY, office(2), ops=ops)
    found = review(rows, set(), END - timedelta(days=7), END)
    assert not _rules(found, "operator-self-queries")
    (hit,) = _rules(found, "department-self-queries")
    assert len(hit["query_ids"]) == SELF_QUERY_DEPARTMENT_DAY
    assert not _rules(review(rows[:-1], set(), END - timedelta(days=7), END), "department-self-queries")
