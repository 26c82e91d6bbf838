"""Opening a ledger makes its data directory 0700 and its SQLite files 0600, whatever the umask; a data
directory group or others can read is refused; export bundles are 0600. Both backends where it applies."""

from __future__ import annotations

import base64
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from api.datadir import DataDirectoryError
from api.runtime import check_key_files, init, open_ledger, open_views
from api.settings import Settings
from projections.audit import export_bundle
from tests.support import World


@contextmanager
def permissive_umask() -> Iterator[None]:
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def mode(path: Path) -> int:
    return path.stat().st_mode & 0o777


def sqlite_files(settings: Settings) -> list[Path]:
    return [settings.sqlite_path.with_name(settings.sqlite_path.name + s) for s in ("", "-wal", "-shm")]


def test_a_new_ledger_is_the_owners_alone_under_a_permissive_umask(settings):
    with permissive_umask():
        world = World(settings)
        try:
            world.append_ok(world.submission(world.department(), subject_name="李四"))
            views = open_views(settings, world.ledger)
            try:
                views.archive.catch_up_all()
                views.tree.catch_up_all()
                views.checkpointer.make()
                assert mode(settings.data_dir) == 0o700 and mode(settings.keys_dir) == 0o700
                if not settings.database_url:
                    files = sqlite_files(settings)
                    assert all(f.exists() for f in files)  # WAL mode, connections open: all three are there
                    assert [mode(f) for f in files] == [0o600, 0o600, 0o600]
            finally:
                views.close()
        finally:
            world.close()


def test_opening_refuses_a_data_dir_others_can_read(settings):
    World(settings).close()
    os.chmod(settings.data_dir, 0o755)
    before = sorted((p.name, p.stat().st_mtime_ns, p.stat().st_mode) for p in settings.data_dir.iterdir())
    message = f"data directory {settings.data_dir} is accessible by group or others (mode 0o755); " \
              f"run: chmod 700 {settings.data_dir}"
    openers = [lambda: check_key_files(settings), lambda: init(settings)]
    if not settings.database_url:  # the SQLite file lives there
        openers += [lambda: open_ledger(settings)]
    for opener in openers:
        with pytest.raises(DataDirectoryError) as err:
            opener()
        assert str(err.value) == message
    assert sorted((p.name, p.stat().st_mtime_ns, p.stat().st_mode) for p in settings.data_dir.iterdir()) == before


def test_sqlite_files_an_older_version_left_open_are_narrowed_when_opened(tmp_path):
    settings = Settings(data_dir=tmp_path / "data")
    world = World(settings)
    try:
        world.append_ok(world.submission(world.department()))
        files = sqlite_files(settings)
        for f in files:
            os.chmod(f, 0o644)
        views = open_views(settings, world.ledger)  # opens the same file again
        try:
            assert [mode(f) for f in files] == [0o600, 0o600, 0o600]
            assert views.archive.catch_up_all() > 0  # and the ledger still works
        finally:
            views.close()
    finally:
        world.close()


def test_an_export_bundle_is_0600_under_a_permissive_umask(world, tmp_path):
    world.append_ok(world.submission(world.department(), subject_name="李四"))
    views = open_views(world.settings, world.ledger)
    try:
        views.tree.catch_up_all()
        views.checkpointer.make()
        pinned = (world.settings.keys_dir / "authority.pub").read_text().strip()
        for name in ("bundle.jsonl", "bundle.jsonl.gz"):
            out = tmp_path / name
            with permissive_umask():
                count = export_bundle(world.ledger, views.store, views.checkpointer, base64.b64decode(pinned), out)
            assert count == world.ledger.count() and mode(out) == 0o600
    finally:
        views.close()
