"""Worker processes that end with the process that started them.

A ``ProcessPoolExecutor`` worker waits on its call queue for ever if its parent is killed outright
(it holds the queue's write end itself), and a forkserver stays up while any of its children lives.
``watch_parent`` (the pool's initializer) checks every half second that the starting process is still
there and ends the worker if not.
"""

from __future__ import annotations

import os
import threading
import time


def watch_parent(pid: int, interval: float = 0.5) -> None:
    """In a worker process: exit as soon as process ``pid`` no longer exists."""

    def watch() -> None:
        while True:
            time.sleep(interval)
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                os._exit(0)
            except PermissionError:  # the pid was taken by another user's process: ours is gone
                os._exit(0)

    threading.Thread(target=watch, name="watch-parent", daemon=True).start()
