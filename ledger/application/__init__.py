"""The ``Ledger`` application (``append``), its receipts and outcomes.

Built in layers, each a module: ``base`` (settings, shared state, the backend), ``signatures``
(signature checks, inline or ahead in worker processes), ``reads`` (the authority and records, each
event checked), ``compromise`` (a key's compromise window), ``decisions`` (the rules a statement must
pass) and ``append`` (the ``Ledger``: decide a batch, store it in one transaction, answer each envelope).
"""

from ledger.application.append import Ledger
from ledger.application.receipts import Outcome, Receipt

__all__ = ["Ledger", "Outcome", "Receipt"]
