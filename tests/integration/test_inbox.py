"""A department's inbox (``department_inbox``): the open objections to its records and the open repair and deferral
applications about them, the answer due soonest first, through the API on both backends. It names no subject and
holds nothing the subject wrote; it shows only the querying department's own records; an item leaves once answered;
a rebuilt view and a file or schema written before the inbox existed hold the same items."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import migrations

from ledger.domain import rules
from ledger.domain.catalogue import shipped_catalogue_document
from projections.archive_sql import SQLITE_DDL
from tests.support import World, make_resident_id, now

P = "urn:credit-ledger:problem:"


def inbox(client, world: World, dept, purpose: str = "objection_handling", status: int = 200, **filters) -> dict:
    q = world.signed(dept, "query.requested", operator="clerk-3", purpose=purpose,
                     legal_basis="Shandong Social Credit Regulation art. 35", scope="department_inbox",
                     **({"filters": filters} if filters else {}))
    r = client.post("/v1/queries", json=q)
    assert r.status_code == status, r.text
    return r.json()


def setup(world: World):
    world.append_ok(world.signed(world.authority_dept, "catalogue.published", version=3,
                                 catalogue=shipped_catalogue_document(3)))
    market = world.department(purposes=["objection_handling", "repair_handling"])
    other = world.department(purposes=["objection_handling"])
    window = world.department(items=[], roles=["service_window"])
    subject = make_resident_id()
    old = (now().date() - timedelta(days=200)).isoformat()
    objected = world.submission(market, item="food_drug.general", subject=subject, subject_name="赵六", decision_date=old)
    repaired = world.submission(market, item="food_drug.general", subject=subject, subject_name="赵六", decision_date=old)
    theirs = world.submission(other, subject=subject)
    world.append_ok(objected, repaired, theirs)
    objection = world.signed(window, "objection.filed", record_id=objected["statement"]["id"], subject=subject,
                             grounds="赵六 paid on the day, receipt 0451")
    application = world.signed(window, "repair.applied", record_id=repaired["statement"]["id"], subject=subject,
                               method="fulfilment", reason="赵六 paid the fine in full")
    foreign = world.signed(window, "objection.filed", record_id=theirs["statement"]["id"], subject=subject,
                           grounds="not me", needs_verification=True)
    world.append_ok(objection, application, foreign)
    return market, other, subject, objected, repaired, objection, application


def test_the_inbox_lists_the_departments_open_items_without_naming_anyone(client, world):
    market, other, subject, objected, repaired, objection, application = setup(world)
    data = inbox(client, world, market)["data"]
    today = now().date()
    assert (data["department"], data["total"], data["overdue"]) == (market.code, 2, 0)
    items = {i["kind"]: i for i in data["open"]}
    assert set(items) == {"objection", "repair"}
    assert items["objection"]["id"] == objection["statement"]["id"]
    assert items["objection"]["deadline"] == rules.add_working_days(today, 3).isoformat()
    assert items["repair"]["deadline"] == rules.add_working_days(today, 10).isoformat()
    assert items["repair"]["method"] == "fulfilment" and items["repair"]["record_id"] == repaired["statement"]["id"]
    assert [i["deadline"] for i in data["open"]] == sorted(i["deadline"] for i in data["open"])
    answer = str(data)
    for personal in (subject, "赵六", "receipt 0451", "paid the fine"):
        assert personal not in answer
    (theirs,) = inbox(client, world, other)["data"]["open"]  # another department sees only its own record's item
    assert theirs["needs_verification"] is True and theirs["record_id"] not in answer
    assert [i["kind"] for i in inbox(client, world, market, kind="repair")["data"]["open"]] == ["repair"]
    assert len(inbox(client, world, market, limit=1)["data"]["open"]) == 1
    # answered, each leaves; the objection upheld, the repair refused
    world.append_ok(world.signed(market, "objection.resolved", record_id=objected["statement"]["id"],
                                 objection_id=objection["statement"]["id"], outcome="upheld", reason="checked"),
                    world.signed(market, "repair.decided", record_id=repaired["statement"]["id"],
                                 application_id=application["statement"]["id"], outcome="refused",
                                 reason="no receipt"))
    assert inbox(client, world, market)["data"] == {"department": market.code, "as_of_day": today.isoformat(),
                                                    "total": 0, "overdue": 0, "open": []}


def test_inbox_queries_out_of_purpose_or_shape_are_refused_and_recorded_or_refused_unstored(client, world):
    market, *_ = setup(world)
    licensing = world.department(purposes=["administrative_licensing"])
    before = world.ledger.count()
    refused = inbox(client, world, licensing, purpose="administrative_licensing", status=403)
    assert refused["type"] == P + "query-refused" and "department_inbox is read only for the purpose" in refused["detail"]
    assert world.ledger.count() == before + 1  # a refused query is in the ledger, with no data
    for filters, words in (({"kind": "complaint"}, "must be one of objection, repair, deferral"),
                           ({"limit": 0}, "must be an integer from 1"), ({"subject": make_resident_id()}, "not a filter")):
        before = world.ledger.count()
        r = inbox(client, world, market, status=422, **filters)
        assert r["type"] == P + "invalid-statement" and words in r["detail"], r
        assert world.ledger.count() == before


def test_a_rebuilt_view_and_an_older_file_hold_the_same_items(client, world):
    market, *_ = setup(world)
    views = client.app.state.views
    store = views.archive.store
    views.archive.catch_up_all()
    rows = sorted(store.query("SELECT record_id, item_id, kind, deadline, doc FROM view_open_items"))
    assert len(rows) == 3
    views.archive.reset()
    views.archive.catch_up_all()
    assert sorted(store.query("SELECT record_id, item_id, kind, deadline, doc FROM view_open_items")) == rows
    # A file or schema written before the table existed: its open objections are filled in once, from the
    # documents (SQLite: at opening; PostgreSQL: by the migration that makes the table).
    with store.transaction() as tx:
        if store.kind == "sqlite":
            tx.execute("DROP TABLE view_open_items")
            tx.execute("DROP TABLE view_open_items_filled")
            for statement in SQLITE_DDL:
                tx.execute(statement)
        else:
            tx.execute("DELETE FROM view_open_items")
            migration = (Path(migrations.__file__).parent / "0013_open_items.sql").read_text()
            tx.execute(migration[migration.index("INSERT INTO"):].replace("%", "%%"))
    filled = sorted(store.query("SELECT record_id, item_id, kind, deadline FROM view_open_items"))
    assert filled == [r[:4] for r in rows if r[2] == "objection"]
    assert len(filled) == 2
