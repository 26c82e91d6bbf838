"""Building the archive's pages in a process of its own during a long catch-up (a rebuild).

Building a page (decoding events, applying them, encoding documents) is CPU work; writing it is mostly
waiting on the database. In one process a busy thread holds the interpreter lock while the writing
thread waits for it after every 32 KiB sent to the server, so the builder runs in another process and
the view's own process writes (``ArchiveView._catch_up_produced``).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ledger.adapters.workers import watch_parent
from projections.archive_model import DbModel
from projections.archive_sql import Page

if TYPE_CHECKING:
    from projections.archive import ArchiveView


class PositionMovedError(Exception):
    """Another writer advanced the view."""


def produce_pages(open_view: Callable[[], tuple[ArchiveView, Callable[[], None]]], conn: Any, start: int,
                  batch: int, parent: int) -> None:
    """In the builder process: send ``(page, events read)`` for each page after ``start``, then None.

    The writer answers each page, once written, with its last position. Until then the page's documents
    stay here (a later page that changes one of its records starts from them, not from the database's
    older row); at most two pages go unanswered. A failure is sent as one line of text.
    """
    watch_parent(parent)
    try:
        view, close = open_view()
    except Exception as exc:  # noqa: BLE001 - reported to the writer, which raises it
        conn.send(f"{type(exc).__name__}: {exc}")
        return
    unwritten: deque[tuple[int, dict[str, dict[str, Any]]]] = deque()  # (last position, documents) per page

    def answered() -> None:
        written = conn.recv()
        while unwritten and unwritten[0][0] <= written:
            unwritten.popleft()

    try:
        position = start
        while notifications := view.pages(position, batch, view.topics):
            previous: dict[str, dict[str, Any]] = {}
            for _, docs in unwritten:
                previous.update(docs)
            model = DbModel(view.store.query, view.store.kind, previous)
            model.apply_page(view.decode(notifications))
            last = notifications[-1].id
            conn.send((Page.of(model, position, last), len(notifications)))
            unwritten.append((last, {r: model.docs[r] for r in model.changed}))
            position = last
            if len(unwritten) == 2:
                answered()
        conn.send(None)
        while unwritten:
            answered()
    except (BrokenPipeError, EOFError, ConnectionResetError):  # the writer stopped (another writer moved on)
        pass
    except Exception as exc:  # noqa: BLE001 - reported to the writer, which raises it
        try:
            conn.send(f"{type(exc).__name__}: {exc}")
        except OSError:
            pass
    finally:
        conn.close()
        close()
