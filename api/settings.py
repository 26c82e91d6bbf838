"""All configuration, read from ``CREDIT_LEDGER_*`` environment variables (pydantic-settings)."""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Settings of the service and the CLI. One setting, ``database_url``, chooses the backend."""

    model_config = SettingsConfigDict(env_prefix="CREDIT_LEDGER_", extra="ignore")

    data_dir: Path = Field(Path("ledger-data"), description="Keys and, on the embedded default, the SQLite file.")
    database_url: str | None = Field(
        None, description="postgresql://user:pass@host:port/db selects PostgreSQL; unset means SQLite in data_dir."
    )
    database_schema: str = Field("public", description="PostgreSQL schema holding the ledger's tables.")
    migration_database_url: str | None = Field(
        None, description="Owner connection for migrations; the service then connects with database_url, "
                          "a role that may only insert and select the ledger's tables.",
    )
    pool_size: int = Field(10, ge=1, le=200, description="PostgreSQL connection pool size.")
    migrate_on_start: bool = Field(True, description="Apply pending migrations when the service starts.")
    max_body_bytes: int = Field(256 * 1024, ge=1024, description="Largest body for one statement.")
    max_batch_body_bytes: int = Field(32 * 1024 * 1024, ge=1024, description="Largest body for a batch.")
    max_batch_items: int = Field(5000, ge=1, description="Most envelopes in one batch request.")
    max_clock_skew_seconds: int = Field(300, ge=0, description="How far issued_at may lie in the future.")
    max_statement_age_seconds: int = Field(
        86400, ge=60, description="How far issued_at may lie behind the ledger's clock when a statement arrives "
                                  "(bounds backdating before a key's revocation is known).",
    )
    group_commit_max_batch: int = Field(2000, ge=1, description="Most statements appended in one transaction.")
    group_commit_linger_seconds: float = Field(
        0.001, ge=0, le=0.1,
        description="Under load, how long the writer waits for more statements to join a batch (0: never).",
    )
    verify_processes: int = Field(
        default_factory=lambda: os.cpu_count() or 1, ge=0, le=64,
        description="Processes checking the signatures of a batch of 8 or more while the writer decides the "
                    "rules (0: check in the writer thread).",
    )
    log_origin: str = Field(
        "credit-ledger.example/log", pattern=r"^[^\s+]+$",
        description="Origin line of checkpoints and name of the log's signing key.",
    )
    checkpoint_interval_seconds: float = Field(1.0, gt=0, description="Most seconds between new entries and a checkpoint.")
    projection_poll_seconds: float = Field(1.0, gt=0, description="Catch-up interval of the projections.")
    run_projections: bool = Field(True, description="Run the projections inside serve (off: a separate worker).")
    access_log: bool = Field(True, description="One JSON line per request on stderr (no personal data).")
    metrics: bool = Field(True, description="Collect metrics and serve them at /metrics (Prometheus text format).")
    read_only: bool = Field(
        False, description="Serve reads only, from a hot standby: no migrations, projections, appends, queries or "
                           "checkpoint signing (serve --read-only).",
    )
    primary_url: str | None = Field(
        None, description="The primary service's base URL: named in a read-only server's refusals, and asked for "
                          "its position to tell how far the standby is behind.",
    )
    log_verifier_key: str | None = Field(
        None, description="The log's verifier key (origin+keyid+base64): a read-only server checks checkpoints "
                          "with it and needs no private log key; default: the public half of keys/log.pem.",
    )

    @property
    def backend(self) -> str:
        """``postgres`` or ``sqlite``."""
        return "postgres" if self.database_url else "sqlite"

    @property
    def keys_dir(self) -> Path:
        """Where key files live."""
        return self.data_dir / "keys"

    @property
    def sqlite_path(self) -> Path:
        """The embedded database file."""
        return self.data_dir / "ledger.sqlite3"
