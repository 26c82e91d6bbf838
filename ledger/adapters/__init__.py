"""Adapters: what touches a database, a thread or a process (recorders, stored-state decoding, the group
committer, signature-verification workers)."""
