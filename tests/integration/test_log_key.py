"""The log key and origin are the ones that signed the ledger's checkpoints, or nothing checkpoints: on
SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from api.runtime import LOG_KEY, open_views
from keys import KeyFileError, KeyPair
from ledger.log import merkle
from ledger.log.note import format_checkpoint, sign_note
from projections.checkpoints import Checkpointer, CheckpointKeyError
from projections.logtree import LogTree
from tests.support import World


def checkpointed(world: World) -> None:
    views = open_views(world.settings, world.ledger)
    try:
        views.tree.catch_up_all()
        assert views.checkpointer.make() is not None
    finally:
        views.close()


def test_a_checkpointer_with_another_log_key_or_origin_is_refused(world):
    checkpointed(world)
    views = open_views(world.settings, world.ledger)  # its own key and origin: accepted
    try:
        tree, store, key = views.tree, views.store, views.checkpointer.log_key
        latest = views.checkpointer.latest()
        with pytest.raises(CheckpointKeyError, match=r"keys/log\.pem is not the log key that signed") as refused:
            Checkpointer(store, tree, world.settings.log_origin, KeyPair.generate())
        assert isinstance(refused.value, KeyFileError) and "\n" not in str(refused.value)
        with pytest.raises(CheckpointKeyError, match="CREDIT_LEDGER_LOG_ORIGIN=credit-ledger.example/log"):
            Checkpointer(store, tree, "elsewhere.example/log", key)
        Checkpointer(store, tree, world.settings.log_origin, key).check_key()
        assert views.checkpointer.latest() == latest  # nothing was signed by the refused ones
    finally:
        views.close()


def test_open_views_refuses_a_replaced_log_key_file(world):
    checkpointed(world)
    path = world.settings.keys_dir / LOG_KEY
    path.unlink()
    KeyPair.generate().save(path)
    with pytest.raises(CheckpointKeyError, match="log.pem"):
        open_views(world.settings, world.ledger)


def test_any_log_key_may_start_a_log_without_checkpoints(world):
    views = open_views(world.settings, world.ledger)
    try:
        assert views.checkpointer.latest() is None
        other = Checkpointer(views.store, LogTree(views.store), "elsewhere.example/log", KeyPair.generate())
        other.check_key()
    finally:
        views.close()


def test_a_latest_checkpoint_that_does_not_verify_is_refused(world):
    """A stored note whose signature line names the log key but does not verify (tampered in the table)."""
    checkpointed(world)
    views = open_views(world.settings, world.ledger)
    try:
        size = views.tree.size() + 1
        text = format_checkpoint(world.settings.log_origin, size, merkle.leaf_hash(b"x"))
        note = sign_note(text, world.settings.log_origin, views.checkpointer.log_key.private_key)
        forged = note.replace(text, format_checkpoint(world.settings.log_origin, size, merkle.leaf_hash(b"y")))
        with views.store.transaction() as tx:
            tx.execute("INSERT INTO log_checkpoints (size, root, note, created_at) VALUES (%s, %s, %s, %s)",
                       (size, merkle.leaf_hash(b"y"), forged, "2026-01-01T00:00:00Z"))
        with pytest.raises(CheckpointKeyError, match=f"checkpoint \\(size {size}\\) does not verify"):
            views.checkpointer.check_key()
    finally:
        views.close()
