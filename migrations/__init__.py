"""Forward-only numbered SQL migrations: the only DDL for PostgreSQL.

Files are named ``NNNN_name.sql`` and applied in order by ``credit-ledger migrate`` (and at
``serve`` start), each recorded in ``schema_migrations``. Statements are unqualified: the runner
sets ``search_path`` to the configured schema.
"""
