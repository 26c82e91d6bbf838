-- The ledger's event store, as the eventsourcing library's PostgreSQL recorder expects it
-- (application name "Ledger"; its own table creation is turned off), plus the entries table.

CREATE TABLE ledger_events (
    originator_id uuid NOT NULL,
    originator_version bigint NOT NULL,
    topic text,
    state bytea,
    notification_id bigserial,
    PRIMARY KEY (originator_id, originator_version)
) WITH (
    autovacuum_enabled = true,
    autovacuum_vacuum_threshold = 100000000,
    autovacuum_vacuum_scale_factor = 0.5,
    autovacuum_analyze_threshold = 1000,
    autovacuum_analyze_scale_factor = 0.01
);

CREATE UNIQUE INDEX ledger_events_notification_id_idx ON ledger_events (notification_id ASC);

CREATE TYPE stored_event_uuid AS (
    originator_id uuid,
    originator_version bigint,
    topic text,
    state bytea
);

-- One row per statement: dense leaf index in notification order, global uniqueness of statement
-- ids, and what a receipt or a proof needs without decoding the event.
CREATE TABLE ledger_entries (
    leaf_index bigint PRIMARY KEY,
    notification_id bigint NOT NULL UNIQUE,
    statement_id uuid NOT NULL UNIQUE,
    statement_digest bytea NOT NULL,
    leaf_hash bytea NOT NULL,
    recorded_at text NOT NULL,
    CHECK (leaf_index >= 0),
    CHECK (octet_length(statement_digest) = 32),
    CHECK (octet_length(leaf_hash) = 32)
);

-- Append-only in the database itself.
CREATE FUNCTION ledger_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'ledger tables are append-only: % on % refused', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END
$$;

CREATE TRIGGER ledger_events_append_only BEFORE UPDATE OR DELETE ON ledger_events
    FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();
CREATE TRIGGER ledger_events_no_truncate BEFORE TRUNCATE ON ledger_events
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change();
CREATE TRIGGER ledger_entries_append_only BEFORE UPDATE OR DELETE ON ledger_entries
    FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();
CREATE TRIGGER ledger_entries_no_truncate BEFORE TRUNCATE ON ledger_entries
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change();
