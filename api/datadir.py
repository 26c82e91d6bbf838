"""The data directory and the files in it that hold personal data: owner-only, or the service does not start.

The directory is created with mode 0700 and the SQLite file with mode 0600 before SQLite opens it
(SQLite gives the ``-wal`` and ``-shm`` files it creates later the database file's mode). A directory
that group or others may access is refused with one line naming it and the ``chmod`` to run, as key
files are; files of an existing ledger that are more open than 0600 are narrowed when it is opened.

``keys/ledger.json`` (0600) records which ledger the keys sign, so that they never found a second one.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

OWNER_ONLY = 0o077  # the group and other permission bits
SQLITE_COMPANIONS = ("-wal", "-shm", "-journal")


class DataDirectoryError(Exception):
    """The data directory may be read by others than its owner (or is not a directory)."""


def check_data_dir(path: Path) -> None:
    """Refuse a data directory group or others may access; a missing one passes (it will be made 0700)."""
    path = Path(path)
    try:
        st = path.stat()
    except FileNotFoundError:
        return
    except OSError as exc:
        raise DataDirectoryError(f"cannot use data directory {path}: {exc.strerror}") from None
    if not stat.S_ISDIR(st.st_mode):
        raise DataDirectoryError(f"data directory {path} is not a directory")
    if st.st_mode & OWNER_ONLY:
        raise DataDirectoryError(
            f"data directory {path} is accessible by group or others (mode {oct(st.st_mode & 0o777)}); "
            f"run: chmod 700 {path}")


def make_data_dir(path: Path) -> None:
    """Create the data directory with mode 0700 (its parents as usual), or refuse an existing one that
    group or others may access."""
    path = Path(path)
    check_data_dir(path)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            path.mkdir(mode=0o700)
        except FileExistsError:  # made meanwhile by another process: check what it made
            check_data_dir(path)
            return
        os.chmod(path, 0o700)  # whatever the umask left


def private_file(path: Path) -> None:
    """Create ``path`` with mode 0600 if missing; narrow it to 0600 if group or others may access it.

    An existing file is never opened here: closing a descriptor of a database file would drop the
    locks SQLite connections of this process hold on it."""
    path = Path(path)
    try:
        os.close(os.open(path, os.O_RDONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        if path.stat().st_mode & OWNER_ONLY:
            os.chmod(path, 0o600)


def prepare_sqlite(data_dir: Path, sqlite_path: Path) -> None:
    """Before SQLite opens the ledger's file: the directory 0700 (or refused), the file and any
    companions SQLite left (``-wal``, ``-shm``) 0600."""
    make_data_dir(data_dir)
    private_file(sqlite_path)
    for suffix in SQLITE_COMPANIONS:
        companion = sqlite_path.with_name(sqlite_path.name + suffix)
        try:
            if companion.stat().st_mode & OWNER_ONLY:
                os.chmod(companion, 0o600)
        except FileNotFoundError:
            pass


# Which ledger the keys of this data directory sign: written by ``init`` when it founds a ledger and by
# ``copy`` when it moves one, read before anything founds a ledger (``api.runtime.check_founding``).
FOUNDING_RECORD = "ledger.json"


class FoundingError(DataDirectoryError):
    """The keys of this data directory already sign another ledger (or this one was moved): founding or
    serving here would give two histories under one log key."""


def read_founding(keys_dir: Path) -> dict[str, Any] | None:
    """The founding record in ``keys_dir`` (``ledger.json``), or None if there is none."""
    path = Path(keys_dir) / FOUNDING_RECORD
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    try:
        record = json.loads(text)
    except ValueError:
        raise FoundingError(f"{path} is not valid JSON: restore it from a backup of this data directory") from None
    if not isinstance(record, dict) or not isinstance(record.get("first_leaf_hash"), str):
        raise FoundingError(f"{path} is not a founding record: restore it from a backup of this data directory")
    return record


def write_founding(keys_dir: Path, record: dict[str, Any]) -> Path:
    """Write the founding record (mode 0600) in place of any earlier one, atomically."""
    path = Path(keys_dir) / FOUNDING_RECORD
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(json.dumps(record, indent=2, sort_keys=True) + "\n")
        f.flush()
        os.fsync(f.fileno())
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)
    return path
