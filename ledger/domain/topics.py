"""Where stored events name their classes, then and now.

The library stores each event with its class's topic (``module:qualname``). Stores written before the
domain moved into ``ledger.domain`` name the classes in ``ledger.aggregates``; those topics stay valid:
they resolve to today's classes, and views that read some topics read the old spelling too.
"""

from __future__ import annotations

from eventsourcing.utils import get_topic, register_topic

LEGACY_MODULES = ("ledger.aggregates",)


def register_legacy(*aggregates: type) -> None:
    """Let the old topics of these aggregates' events resolve to today's classes."""
    for cls in aggregates:
        for module in LEGACY_MODULES:
            register_topic(f"{module}:{cls.__qualname__}", cls)


def stored_topics(*event_classes: type) -> list[str]:
    """Every topic under which events of these classes may be stored, today's first."""
    found = [get_topic(c) for c in event_classes]
    found += [f"{module}:{c.__qualname__}" for module in LEGACY_MODULES for c in event_classes]
    return found
