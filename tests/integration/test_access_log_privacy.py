"""The access log as the subject and the privacy officer see it: every read of a person's data is in that
person's log (also reads returning many people's data), pages reach every row, self-queries need an
identity check and are reviewed. Both backends."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timezone

import pytest
from fastapi.testclient import TestClient

from ledger.errors import ValidationError
from ledger.domain.review import SELF_QUERY_OPERATOR_DAY
from ledger.format.statements import parse_envelope
from tests.support import Department, World, make_resident_id

P = "urn:credit-ledger:problem:"
ID_CHECK = {"method": "id_card_reader", "reference": "window 2, card read 4711"}



def ask(world: World, dept: Department, scope: str = "archive", purpose: str = "administrative_licensing",
        **fields) -> dict:
    return world.signed(dept, "query.requested", operator=fields.pop("operator", "staff-7"), purpose=purpose,
                        legal_basis="Personal Information Protection Law art. 13", scope=scope, **fields)


def post(client: TestClient, env: dict, status: int = 200) -> dict:
    r = client.post("/v1/queries", json=env)
    assert r.status_code == status, r.text
    return r.json()


class People:
    """The departments of a test: a licensing department, a service window, an auditor, a privacy officer."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.dept = world.department(purposes=["administrative_licensing"])
        self.window = world.department(items=[], purposes=["subject_self_query"], roles=["service_window"])
        self.auditor = world.department(items=[], purposes=["audit"], roles=["auditor"])
        self.officer = world.department(items=[], purposes=["privacy_review"], roles=["privacy_officer"])

    def own_log(self, client: TestClient, subject: str, **filters) -> dict:
        """The subject's access log as the service window hands it over (one page)."""
        q = ask(self.world, self.window, scope="subject_access_log", purpose="subject_self_query", subject=subject,
                identity_check=ID_CHECK, **({"filters": filters} if filters else {}))
        return post(client, q)["data"]

    def read_by(self, client: TestClient, subject: str, dept: Department) -> list[dict]:
        """The rows of the subject's log by ``dept``."""
        return [q for q in self.own_log(client, subject)["queries"] if q["department"] == dept.code]


def test_an_auditors_entry_read_is_in_the_log_of_every_subject_it_returned(client, world):
    """An auditor read raw entries holding several people's data; each of them must see that read."""
    who = People(world)
    a, b, c, d, e = (make_resident_id() for _ in range(5))
    rec_b, rec_c = world.submission(who.dept, subject=b), world.submission(who.dept, subject=c)
    world.append_ok(rec_b, rec_c)  # before the range the auditor reads
    (first,) = world.append_ok(world.submission(who.dept, subject=a))
    world.append_ok(world.signed(who.dept, "record.revoked", record_id=rec_c["statement"]["id"], reason="annulled",
                                 annulling_document="court ruling 12"))  # names only the record: its subject is c
    post(client, ask(world, who.dept, subject=d))  # a query's entry names its subject
    audit = ask(world, who.auditor, scope="ledger_entries", purpose="audit",
                filters={"start": first.leaf_index, "end": first.leaf_index + 1000})
    body = post(client, audit)
    mine = body["receipt"]
    for subject in (a, c, d):
        assert who.auditor.code in {q["department"] for q in who.own_log(client, subject)["queries"]}, subject
        (row,) = who.read_by(client, subject, who.auditor)
        assert row == {"date": audit["statement"]["issued_at"][:10], "department": who.auditor.code,
                       "purpose": "audit", "scope": "ledger_entries", "outcome": "accepted"}
    assert who.read_by(client, b, who.auditor) == []  # not in what the auditor was given

    # What the read returned is fixed by the ledger: the entries before the query, never later ones.
    entries = body["data"]["entries"]
    assert [x["leaf_index"] for x in entries] == list(range(first.leaf_index, mine["leaf_index"]))
    world.append_ok(world.submission(who.dept, subject=e))
    views = client.app.state.views
    again = views.answers.answer(parse_envelope(audit).statement.values, datetime.now(timezone.utc), mine["position"])
    assert again["entries"] == entries and e not in str(again)
    assert who.read_by(client, e, who.auditor) == []


def test_a_privacy_officers_read_is_in_the_log_of_every_subject_it_showed(client, world):
    who = People(world)
    a, b, c = (make_resident_id() for _ in range(3))
    post(client, ask(world, who.dept, subject=a))
    post(client, ask(world, who.dept, subject=b))
    post(client, ask(world, who.window, scope="subject_access_log", purpose="subject_self_query", subject=c,
                     identity_check=ID_CHECK))  # another department's query: not in the officer's answer
    shown = post(client, ask(world, who.officer, scope="access_log", purpose="privacy_review",
                             filters={"department": who.dept.code}))["data"]["queries"]
    for subject in (a, b):
        assert [x["scope"] for x in who.read_by(client, subject, who.officer)] == ["access_log"]
    assert who.read_by(client, c, who.officer) == []
    assert [x["subject"] for x in shown] == [b, a]  # newest first
    # a page shows some rows only: exactly their subjects get the read
    post(client, ask(world, who.dept, subject=c))
    page = post(client, ask(world, who.officer, scope="access_log", purpose="privacy_review",
                            filters={"department": who.dept.code, "limit": 1}))["data"]
    assert [x["subject"] for x in page["queries"]] == [c] and page["next_before"] == page["queries"][0]["position"]
    assert len(who.read_by(client, c, who.officer)) == 1
    assert len(who.read_by(client, a, who.officer)) == 1  # still only the first read
    # asking about a subject is a read about that subject, rows or not
    nobody = make_resident_id()
    empty = post(client, ask(world, who.officer, scope="access_log", purpose="privacy_review",
                             filters={"subject": nobody, "department": who.dept.code}))["data"]
    assert empty == {"queries": []}
    assert len(who.read_by(client, nobody, who.officer)) == 1


def test_the_links_rebuild_to_the_same_digest_whatever_the_batches(client, world):
    who = People(world)
    subjects = [make_resident_id() for _ in range(4)]
    (first,) = world.append_ok(world.submission(who.dept, subject=subjects[0]))
    for s in subjects:
        post(client, ask(world, who.dept, subject=s))
    post(client, ask(world, who.auditor, scope="ledger_entries", purpose="audit",
                     filters={"start": first.leaf_index, "end": first.leaf_index + 3}))
    for limit in (1, 2, 5):  # pages that list the previous officer reads too
        post(client, ask(world, who.officer, scope="access_log", purpose="privacy_review", filters={"limit": limit}))
    view = client.app.state.views.access_log
    view.catch_up_all()
    live = view.digest()
    links = view.store.query("SELECT COUNT(*) FROM access_log_subjects")[0][0]
    # each archive query's subject; the auditor's two subjects (a record, a query); the officer's last page
    # (itself, the two earlier officer reads, the auditor's read, the query about subjects[3])
    assert links == len(subjects) + 2 + 1
    view.reset()
    while view.catch_up(batch=1):
        pass
    assert view.digest() == live
    view.reset()
    view.catch_up_all()
    assert view.digest() == live


def test_the_subjects_log_shows_a_real_read_after_more_than_10000_refused_noise_queries(client, world):
    """Flooding someone's log with refused queries must not push a real read out of sight."""
    who = People(world)
    me = make_resident_id()
    noisy = world.department(purposes=["administrative_licensing"])
    noise = [ask(world, noisy, subject=me, purpose="public_funding", operator="noise") for _ in range(10_001)]
    for k in range(0, len(noise), 2000):
        world.append(*noise[k:k + 2000])
    post(client, ask(world, who.dept, subject=me))
    first = who.own_log(client, me)
    assert [q["department"] for q in first["queries"][:2]] == [who.window.code, who.dept.code]
    assert len(first["queries"]) == 200 and "next_before" in first  # newest first, one page of the default size
    # paging reaches every row, each once
    seen: list[str] = []
    before = first["next_before"]
    while before is not None:
        page = who.own_log(client, me, before=before, limit=1000)
        seen += [q["department"] for q in page["queries"]]
        before = page.get("next_before")
    seen += [q["department"] for q in first["queries"]]
    assert Counter(seen) == {noisy.code: len(noise), who.dept.code: 1, who.window.code: 1}


def test_the_officers_access_log_pages_newest_first_through_every_row(client, world):
    who = People(world)
    me = make_resident_id()
    asked = [ask(world, who.dept, subject=me, operator=f"staff-{k}") for k in range(7)]
    for q in asked:
        post(client, q)
    pages, before = [], None
    while True:
        filters = {"subject": me, "limit": 3, **({"before": before} if before is not None else {})}
        data = post(client, ask(world, who.officer, scope="access_log", purpose="privacy_review",
                                filters=filters))["data"]
        pages.append([q["query_id"] for q in data["queries"]])
        before = data.get("next_before")
        if before is None:
            break
    # the first page starts with the officer's own read about the subject; later reads are newer than before
    assert [len(p) for p in pages] == [3, 3, 2]
    listed = [i for p in pages for i in p][1:]
    assert listed == [q["statement"]["id"] for q in reversed(asked)]


def test_a_self_query_without_an_identity_check_is_refused_and_recorded(client, world):
    """A service window may declare a self-query for anyone: it must say how it checked who is asking."""
    who = People(world)
    someone = make_resident_id()
    post(client, ask(world, who.dept, subject=someone))
    before = world.ledger.count()
    for scope in ("subject_access_log", "archive"):
        q = ask(world, who.window, scope=scope, purpose="subject_self_query", subject=someone)
        p = post(client, q, 403)
        assert p["type"] == P + "query-refused" and "identity_check" in p["detail"] and "data" not in p
        assert p["receipt"]["outcome"]["status"] == "refused"
    assert world.ledger.count() == before + 2
    view = client.app.state.views.access_log
    view.catch_up_all()
    rows = view.find({"department": who.window.code})
    assert [(r["scope"], r["status"]) for r in rows] == [("subject_access_log", "refused"), ("archive", "refused")]
    assert all("identity_check" in r["reason"] for r in rows)


@pytest.mark.parametrize("filters", [
    {"from": "0001-01-01T00:00:00Z"},
    {"to": "9999-12-31T23:59:59Z"},
    {"from": "2026-03-02T00:00:00Z", "to": "2026-03-01T00:00:00Z"},
])
def test_a_review_report_with_dates_out_of_range_is_refused_before_it_is_stored(client, world, filters):
    """``from: 0001-01-01`` was logged, then failed while answering (the 30-day history reaches before year 1)."""
    who = People(world)
    q = ask(world, who.officer, scope="review_report", purpose="privacy_review", filters=filters)
    before = world.ledger.count()
    (outcome,) = world.append(q)
    assert isinstance(outcome, ValidationError) and str(outcome).startswith("filters")
    assert world.ledger.count() == before
    r = client.post("/v1/queries", json=q)
    assert r.status_code == 422 and r.json()["type"] == P + "invalid-statement"
    assert world.ledger.count() == before


def test_the_review_report_flags_self_query_sweeps_and_made_up_operators(client, world):
    who = People(world)
    sweep = [ask(world, who.window, scope="subject_access_log", purpose="subject_self_query",
                 subject=make_resident_id(), identity_check=ID_CHECK, operator="clerk-3")
             for _ in range(SELF_QUERY_OPERATOR_DAY)]
    rotating = [ask(world, who.dept, subject=make_resident_id(), operator=f"made-up-{k}") for k in range(12)]
    world.append_ok(*sweep, *rotating)
    report = post(client, ask(world, who.officer, scope="review_report", purpose="privacy_review"))
    findings = report["data"]["findings"]

    def ids(rule: str, dept: Department) -> list[list[str]]:
        return [sorted(f["query_ids"]) for f in findings if f["rule"] == rule and dept.code in f["summary"]]

    assert ids("operator-self-queries", who.window) == [sorted(q["statement"]["id"] for q in sweep)]
    assert ids("department-volume", who.dept) == [sorted(q["statement"]["id"] for q in rotating)]
    assert ids("operator-volume", who.dept) == []  # no one operator made more than one query
    # accepted self-queries carry their identity check: not flagged for lacking a record link
    assert not [f for f in findings if f["rule"] == "no-record-link" and who.window.code in f["summary"]]


def test_an_entry_read_of_tenures_and_applications_is_in_the_log_of_each_person_they_concern(client, world):
    """A tenure names a person and an organisation; a decision on an application names only the record: each
    of them must see an auditor's read of those entries."""
    from datetime import timedelta

    from ledger.domain.catalogue import shipped_catalogue_document
    from tests.support import make_uscc, now

    world.append_ok(world.signed(world.authority_dept, "catalogue.published", version=3,
                                 catalogue=shipped_catalogue_document(3)))
    who = People(world)
    window = world.department(items=[], roles=["service_window"])
    person, ended_person, org, resident = make_resident_id(), make_resident_id(), make_uscc(), make_resident_id()
    start = (now().date() - timedelta(days=100)).isoformat()
    tenure = world.signed(world.authority_dept, "responsibility.recorded", organisation=org, organisation_name="某公司",
                          person=ended_person, person_name="王五", role="principal", **{"from": start})
    record = world.submission(who.dept, item="food_drug.general", subject=resident,
                              decision_date=(now().date() - timedelta(days=200)).isoformat())
    world.append_ok(tenure, record)
    applied = world.signed(window, "repair.applied", record_id=record["statement"]["id"], subject=resident,
                           method="fulfilment", reason="paid the fine")
    world.append_ok(applied)  # before the range read: only the decision, naming the record, is in it
    (first,) = world.append_ok(
        world.signed(world.authority_dept, "responsibility.recorded", organisation=org, organisation_name="某公司",
                     person=person, person_name="李四", role="legal_representative", **{"from": start}),
        world.signed(world.authority_dept, "responsibility.ended", responsibility_id=tenure["statement"]["id"],
                     until=now().date().isoformat(), reason="left the company"))[:1]
    world.append_ok(world.signed(who.dept, "repair.decided", record_id=record["statement"]["id"],
                                 application_id=applied["statement"]["id"], outcome="refused", reason="not paid"))
    head = world.ledger.count()
    post(client, ask(world, who.auditor, scope="ledger_entries", purpose="audit",
                     filters={"start": first.leaf_index, "end": head + 10}))
    for subject in (person, ended_person, org, resident):
        assert [q["scope"] for q in who.read_by(client, subject, who.auditor)] == ["ledger_entries"], subject
