"""The ledger, in layers: ``format`` (canonical bytes, statements, identifiers) <- ``log`` (leaf bytes,
Merkle proofs, signed notes) <- ``domain`` (aggregates, rules, policies, the auditor's replay) <-
``adapters`` (recorders, the group committer, worker processes) <- ``application`` (``Ledger``).

The first three are pure. Depends on ``keys``, eventsourcing, orjson and rfc8785; never on projections or the API.
"""
