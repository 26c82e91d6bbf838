"""Rebuilding the views: the fast paths (stored fields, batched writes, pipelined pages, all views at
once) give exactly what the mapper and page-by-page catching up give, on SQLite and PostgreSQL."""

from __future__ import annotations

from api.runtime import open_views
from ledger.aggregates import Query
from projections import access_log, archive
from projections.archive import ArchiveView
from projections.tracking import EventReader
from projections.worker import rebuild
from tests.support import World, make_resident_id, random_history


def _queries(world: World, count: int) -> None:
    dept = world.department(purposes=["administrative_licensing"])
    for k in range(count):
        world.append(world.signed(dept, "query.requested", operator=f"staff-{k}", purpose="administrative_licensing",
                                  legal_basis="Administrative Licensing Law art. 31", scope="archive",
                                  subject=make_resident_id()))


def test_stored_fields_agree_with_the_mapper_for_every_event(world: World):
    random_history(world, 600, seed=21)
    _queries(world, 4)
    mapper = world.ledger.mapper
    names = tuple(sorted({*archive.FIELDS, *access_log.FIELDS, "key_id", "signature", "catalogue_version"}))
    direct = EventReader(mapper, names)
    assert direct.direct
    through_mapper = EventReader(mapper, names)
    through_mapper.direct = False
    seen = set()
    for n in world.ledger.recorder.select_notifications(start=1, limit=100_000):
        seen.add(direct.qualname(n.topic))
        assert direct.fields(n) == through_mapper.fields(n), n.topic
        assert direct.qualname(n.topic) == type(mapper.to_domain_event(n)).__qualname__
    record_events = {f"CreditRecord.{name}" for name in ("Submitted", "Corrected", "Disclosed", "Repaired",
                                                           "ObjectionFiled")}
    assert record_events <= seen and Query.Requested.__qualname__ in seen


def test_pipelined_catch_up_equals_page_by_page(world: World):
    random_history(world, 1500, seed=8)
    views = open_views(world.settings, world.ledger)
    try:
        view: ArchiveView = views.archive
        while view.catch_up(batch=37):
            pass
        page_by_page = view.digest()
        view.reset()
        assert view.catch_up_all(batch=40) > 0  # many pages in flight, corrections crossing pages
        assert view.digest() == page_by_page
        replayed = archive.replay(world.ledger, None)
        assert {r for (r,) in views.store.query("SELECT record_id FROM archive_records")} == set(replayed.docs)
    finally:
        views.close()


def test_rebuild_of_all_views_at_once_equals_live(world: World):
    random_history(world, 800, seed=4)
    _queries(world, 5)
    views = open_views(world.settings, world.ledger)
    try:
        targets = [views.archive, views.access_log, views.tree]
        for view in targets:
            view.catch_up_all()
        live = [view.digest() for view in targets]
        assert rebuild(targets) > 0
        assert [view.digest() for view in targets] == live
        assert len(views.access_log.find({}, limit=100)) == 5
    finally:
        views.close()
