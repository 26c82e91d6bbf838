-- Read models of the transparency log: tracked positions, perfect-subtree hashes, checkpoints.

CREATE TABLE projection_positions (
    name text PRIMARY KEY,
    position bigint NOT NULL
);

-- Hash of the perfect subtree (level, idx) covering leaves [idx * 2^level, (idx + 1) * 2^level).
-- Level 0 (the leaf hashes) is read from ledger_entries and not repeated here.
CREATE TABLE log_nodes (
    level smallint NOT NULL,
    idx bigint NOT NULL,
    hash bytea NOT NULL,
    PRIMARY KEY (level, idx),
    CHECK (level > 0 AND idx >= 0 AND octet_length(hash) = 32)
);

-- Every signed checkpoint is kept.
CREATE TABLE log_checkpoints (
    size bigint PRIMARY KEY,
    root bytea NOT NULL,
    note text NOT NULL,
    created_at text NOT NULL
);
CREATE TRIGGER log_checkpoints_append_only BEFORE UPDATE OR DELETE ON log_checkpoints
    FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();
