"""Processes that end with the process that started them.

A ``ProcessPoolExecutor`` worker waits on its call queue for ever if its parent is killed outright
(it holds the queue's write end itself), a forkserver stays up while any of its children lives, and the
projection process ``serve`` starts would keep projecting for a server that is gone. ``watch_parent``,
called in such a process (a pool's initializer, or first thing in a child), checks every half second
that the starting process is still there and ends this one if not.

It watches a process id, not this process's parent: a forkserver's workers are children of the
forkserver, not of the process that made the pool, so the kernel's parent-death signal (Linux
``PR_SET_PDEATHSIG``, which also fires when the parent *thread* that started the child ends) would
watch the wrong process. A watched process counts as gone when it no longer exists, when it is a
zombie (killed, not yet reaped by its own parent), when its id now belongs to a process started at
another time, or, if it was this process's parent, when this process has been handed to another one.
"""

from __future__ import annotations

import os
import threading
import time


def watch_parent(pid: int, interval: float = 0.5) -> None:
    """In a worker process: exit (status 0, at once, without cleanup) as soon as process ``pid`` is gone."""
    started = _start_time(pid)
    was_parent = os.getppid() == pid

    def watch() -> None:
        while _alive(pid, started, was_parent):
            time.sleep(interval)
        os._exit(0)

    threading.Thread(target=watch, name="watch-parent", daemon=True).start()


def _alive(pid: int, started: str | None, was_parent: bool) -> bool:
    if was_parent and os.getppid() != pid:  # orphaned: handed to init or a subreaper
        return False
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, PermissionError):  # PermissionError: the id is another user's process now
        return False
    stat = _stat(pid)
    if stat is None:  # no /proc here (or the process just went): existence is all there is to go on
        return True
    state, start = stat
    return state not in ("Z", "X") and (started is None or start == started)


def _start_time(pid: int) -> str | None:
    stat = _stat(pid)
    return None if stat is None else stat[1]


def _stat(pid: int) -> tuple[str, str] | None:
    """(state, start time in clock ticks since boot) from ``/proc/PID/stat``, or None where unreadable."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return fields[0], fields[19]
    except (OSError, IndexError):
        return None
