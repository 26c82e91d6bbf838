"""HTTP API (FastAPI) and the ``credit-ledger`` command line: the entry points of the ledger."""
