"""Chosen fields of a stored event, read straight from its JSON state.

The library's mapper turns every stored event into a domain event object: it decodes the whole
state with the standard JSON decoder and rebuilds every custom-typed value (the timestamp, ids).
Views need only a few plain fields (the statement, ``recorded_at``, the values decided at
acceptance), so they can read those with orjson and skip the rest. ``plain_fields`` says when
that is not possible (the state is not a JSON object, carries a class version, or a wanted field
holds a custom-typed value), and the caller then decodes through the mapper.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

import orjson

CUSTOM_KEY = b'"_type_"'  # a custom-typed value's key (never text inside a JSON string, where the quote is escaped)


def state_object(state: bytes) -> dict[str, Any] | None:
    """A stored state as a JSON object, or None if it is not one or carries a class version (both are
    for the mapper to decode)."""
    try:
        values = orjson.loads(state)
    except orjson.JSONDecodeError:
        return None
    if type(values) is not dict or "class_version" in values:
        return None
    return values


def plain_fields(state: bytes, names: Collection[str]) -> dict[str, Any] | None:
    """The wanted fields present in a stored event state, or None if the mapper must decode it.

    ``state`` is the stored JSON of the library's ``JSONTranscoder`` (no compression, no
    encryption). Fields absent from the state are absent from the result, as they are absent
    from the domain event.
    """
    values = state_object(state)
    if values is None:
        return None
    # Every custom-typed value shows its key in the bytes. Count those that are whole top-level values
    # of fields not wanted (typically the timestamp alone): if they are all, the wanted fields hold none.
    outside = 0
    for name, value in values.items():
        if type(value) is dict and len(value) == 2 and "_type_" in value and "_data_" in value:
            if name in names:
                return None
            outside += 1
    out = {name: values[name] for name in names if name in values}
    if state.count(CUSTOM_KEY) != outside and any(_has_custom_type(v) for v in out.values()):
        return None
    return out


def _has_custom_type(value: Any) -> bool:
    """True if ``value`` holds a ``{"_type_": ..., "_data_": ...}`` object anywhere."""
    if isinstance(value, dict):
        if len(value) == 2 and "_type_" in value and "_data_" in value:
            return True
        return any(_has_custom_type(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_custom_type(v) for v in value)
    return False
