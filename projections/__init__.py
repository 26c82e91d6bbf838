"""Read models rebuilt from the ledger's events: archives, public lists, access log, log tree."""
