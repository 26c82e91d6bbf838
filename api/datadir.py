"""The data directory and the files in it that hold personal data: owner-only, or the service does not start.

The directory is created with mode 0700 and the SQLite file with mode 0600 before SQLite opens it
(SQLite gives the ``-wal`` and ``-shm`` files it creates later the database file's mode). A directory
that group or others may access is refused with one line naming it and the ``chmod`` to run, as key
files are; files of an existing ledger that are more open than 0600 are narrowed when it is opened.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

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
