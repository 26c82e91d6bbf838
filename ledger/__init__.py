"""The ledger: statements and their canonical bytes, the catalogue, aggregates, the ``Ledger``
application, and the transparency log's pure hashing and proof code.

Depends on ``keys``, eventsourcing, orjson and rfc8785; never on projections or the API.
"""
