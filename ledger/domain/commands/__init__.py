"""The aggregates' commands: one per statement type, found by the statement's ``type``.

A command checks a statement against the aggregate's state and the catalogue's policy, then triggers the
aggregate's event with the values it decided; the event bodies only apply them. ``authority`` holds the
commands of the authority's statements, ``records`` those of a credit record's lifecycle.
"""
