"""A store written before the domain moved into ``ledger.domain`` names its event classes
``ledger.aggregates:...``. Such a store still loads: records and the authority rebuild from it, and the
views, rebuilt from the old spelling, equal the views of the same history under today's topics."""

from __future__ import annotations

import sqlite3

import psycopg
from psycopg import sql

from api.runtime import open_ledger, open_views
from ledger.domain.topics import stored_topics
from projections.worker import rebuild
from tests.conftest import PG_URL
from tests.support import World, random_history


def _to_old_topics(world: World) -> int:
    """Give every event its old topic (``ledger.aggregates:<class>``), as the database's owner could."""
    settings = world.settings
    if settings.backend == "sqlite":
        with sqlite3.connect(settings.sqlite_path) as conn:  # the append-only triggers set aside, then put back
            triggers = conn.execute("SELECT name, sql FROM sqlite_master WHERE type = 'trigger' "
                                    "AND tbl_name = 'stored_events'").fetchall()
            for name, _ in triggers:
                conn.execute(f'DROP TRIGGER "{name}"')
            count = conn.execute("UPDATE stored_events SET topic = 'ledger.aggregates:' || "
                                 "substr(topic, instr(topic, ':') + 1)").rowcount
            for _, text in triggers:
                conn.execute(text)
            return count
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        table = sql.Identifier(settings.database_schema, "ledger_events")
        with conn.transaction():
            conn.execute(sql.SQL("ALTER TABLE {} DISABLE TRIGGER USER").format(table))
            count = conn.execute(sql.SQL("UPDATE {} SET topic = 'ledger.aggregates:' || split_part(topic, ':', 2)")
                                 .format(table)).rowcount
            conn.execute(sql.SQL("ALTER TABLE {} ENABLE TRIGGER USER").format(table))
        return count


def _digests(world: World) -> list[str]:
    views = open_views(world.settings, world.ledger)
    try:
        targets = [views.archive, views.access_log, views.tree]
        rebuild(targets)
        return [view.digest() for view in targets]
    finally:
        views.close()


def test_a_store_with_the_old_topics_loads_and_projects_the_same(world: World):
    random_history(world, 300, seed=12)
    record_ids = [row.originator_id for row in world.ledger.recorder.select_notifications(start=1, limit=10_000)
                  if row.topic.endswith(":CreditRecord.Submitted")][:5]
    assert record_ids
    today = _digests(world)
    before = [world.ledger.record(rid).doc for rid in record_ids]

    world.ledger.close()
    assert _to_old_topics(world) > 250
    world.ledger = open_ledger(world.settings)
    topics = {row.topic for row in world.ledger.recorder.select_notifications(start=1, limit=10_000)}
    assert topics and all(t.startswith("ledger.aggregates:") for t in topics)

    assert [world.ledger.record(rid).doc for rid in record_ids] == before
    assert world.ledger.authority is not None
    assert _digests(world) == today


def test_views_that_read_some_topics_read_both_spellings():
    from eventsourcing.utils import get_topic, resolve_topic

    from ledger.domain.aggregates import CreditRecord, Query

    assert stored_topics(Query.Requested) == [get_topic(Query.Requested), "ledger.aggregates:Query.Requested"]
    assert resolve_topic("ledger.aggregates:CreditRecord.Disclosed") is CreditRecord.Disclosed
