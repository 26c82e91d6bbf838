from datetime import datetime, timedelta, timezone

from ledger.review import review

END = datetime(2026, 11, 27, 12, 0, tzinfo=timezone.utc)  # a Friday, 20:00 in Beijing


def row(n: int, when: datetime, dept: str = "D1", op: str = "op1", subject: str | None = "S1",
        purpose: str = "administrative_licensing", scope: str = "archive", **kw) -> dict:
    return {"query_id": f"q{n}", "position": n, "issued_at": when.strftime("%Y-%m-%dT%H:%M:%SZ"), "department": dept,
            "operator": op, "subject": subject, "purpose": purpose, "scope": scope, **kw}


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
            row(5, office(4), dept="D4", subject="S3", purpose="subject_self_query")]
    found = review(rows, {("D1", "S1")}, END - timedelta(days=7), END)
    rules = {(f["rule"], tuple(f["query_ids"])) for f in found}
    assert ("many-departments", ("q1", "q2", "q3")) in rules
    assert ("other-management", ("q3",)) in rules
    links = sorted(f["query_ids"][0] for f in found if f["rule"] == "no-record-link")
    assert links == ["q2", "q3", "q4"]  # q1 has a record link; q5 is a self-query
