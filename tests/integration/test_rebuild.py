"""Rebuilding the views: the fast paths (stored fields, batched writes, pipelined pages, all views at
once) give exactly what the mapper and page-by-page catching up give, on SQLite and PostgreSQL."""

from __future__ import annotations

import functools
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from api.cli.views import archive_elsewhere
from api.runtime import open_views
from ledger.domain.aggregates import Query
from projections import access_log, archive
from projections.archive import ArchiveView
from projections.tracking import EventPages, EventReader, Notice
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
    through_mapper = EventReader(mapper, names, world.ledger.recorder)
    through_mapper.direct = False
    seen = set()
    for n in world.ledger.recorder.select_notifications(start=1, limit=100_000):
        seen.add(direct.qualname(n.topic))
        assert direct.fields(n) == through_mapper.fields(n), n.topic
        assert direct.qualname(n.topic) == type(mapper.to_domain_event(n)).__qualname__
    # the plain rows the views read give the same fields, straight or through the mapper
    views = open_views(world.settings, world.ledger)
    try:
        pages = EventPages(world.ledger, views.store)
        assert pages.direct
        rows = pages(0, 100_000)
        library = world.ledger.recorder.select_notifications(start=1, limit=100_000)
        assert [(n.id, n.topic, n.state) for n in rows] == [(n.id, n.topic, n.state) for n in library]
        for n in rows[:300]:
            assert type(n) is Notice
            assert direct.fields(n) == through_mapper.fields(n), n.topic
        some = sorted({n.topic for n in rows})[:2]
        assert pages(3, 50, some, 200) == [n for n in rows if 3 < n.id <= 200 and n.topic in some][:50]
    finally:
        views.close()
    record_events = {f"CreditRecord.{name}" for name in ("Submitted", "Corrected", "Disclosed", "Repaired",
                                                           "ObjectionFiled")}
    assert record_events <= seen and Query.Requested.__qualname__ in seen


@pytest.mark.parametrize("elsewhere", [False, True], ids=["threads", "builder process"])
def test_a_long_catch_up_equals_page_by_page(world: World, elsewhere: bool):
    random_history(world, 1500, seed=8)
    views = open_views(world.settings, world.ledger)
    try:
        view: ArchiveView = views.archive
        while view.catch_up(batch=37):
            pass
        page_by_page = view.digest()
        view.reset()
        view.producer = archive_elsewhere(world.settings) if elsewhere else None
        # many pages in flight, corrections crossing pages; every event of the archive's topics read once
        assert view.catch_up_all(batch=40) == len(view.pages(0, 100_000, view.topics))
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


def _failing_builder(settings_json: str) -> None:
    raise RuntimeError("no database here")


@contextmanager
def _emptied_archive(world: World, count: int, seed: int) -> Iterator[tuple[Any, ArchiveView, str]]:
    """A random history, the live archive's digest over it, and the archive emptied again."""
    random_history(world, count, seed=seed)
    views = open_views(world.settings, world.ledger)
    try:
        view: ArchiveView = views.archive
        view.catch_up_all()
        live = view.digest()
        view.reset()
        yield views, view, live
    finally:
        views.close()


def test_a_page_builder_that_fails_is_reported_and_leaves_the_view_consistent(world: World):
    with _emptied_archive(world, 600, seed=10) as (views, view, live):
        view.producer = functools.partial(_failing_builder, "")
        with pytest.raises(RuntimeError, match="page builder failed: RuntimeError: no database here"):
            view.catch_up_all(batch=40)
        first_page = view.position()
        assert 0 < first_page < world.ledger.recorder.max_notification_id()  # the first page, written here
        replayed = archive.replay(world.ledger, first_page)
        assert {r for (r,) in views.store.query("SELECT record_id FROM archive_records")} == set(replayed.docs)
        view.producer = None
        view.catch_up_all()
        assert view.digest() == live


def _builder_racing_another_writer(settings_json: str):  # type: ignore[no-untyped-def]
    """Opens the archive in the builder process, after another writer has moved the view on a page."""
    from api.cli.views import _open_archive

    view, close = _open_archive(settings_json)
    view.catch_up(batch=25)
    return view, close


def test_a_produced_catch_up_stops_when_another_writer_moves_the_view_and_ends_page_by_page(world: World):
    with _emptied_archive(world, 800, seed=12) as (_, view, live):
        view.producer = functools.partial(_builder_racing_another_writer, world.settings.model_dump_json())
        moved = []
        commit = view._commit

        def spy(page):  # type: ignore[no-untyped-def]
            try:
                commit(page)
            except archive._PositionMovedError:
                moved.append(page.start)
                raise
        view._commit = spy  # type: ignore[method-assign]
        assert view.catch_up_all(batch=40) > 0
        assert len(moved) == 1 and moved[0] > 0  # the builder's first page, from where this process left the view
        assert view.digest() == live
