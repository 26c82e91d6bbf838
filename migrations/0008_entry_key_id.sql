-- Each entry names the key that signed it, so the entries of a key's compromise window (from its
-- revocation's effective_at until the revocation) are found without decoding the whole history.
ALTER TABLE ledger_entries ADD COLUMN key_id text;

-- Entries already in the ledger: the key id from their event's stored JSON (an encrypted or compressed
-- state is left without it). The append-only trigger is lifted for this one filling-in.
ALTER TABLE ledger_entries DISABLE TRIGGER ledger_entries_append_only;
UPDATE ledger_entries n
   SET key_id = convert_from(e.state, 'UTF8')::jsonb ->> 'key_id'
  FROM ledger_events e
 WHERE e.notification_id = n.notification_id AND get_byte(e.state, 0) = 123;
ALTER TABLE ledger_entries ENABLE TRIGGER ledger_entries_append_only;

-- A compromise window is looked up by when its entries were recorded: a BRIN index (entries are appended
-- in recorded_at order) costs appends next to nothing, where a B-tree on key_id cost 5-10% of them.
CREATE INDEX ledger_entries_recorded_at ON ledger_entries USING brin (recorded_at) WITH (autosummarize = on);

-- The one way the service's role writes history: events and their entry rows in one statement, the
-- events' positions from the sequence, each entry joined to its event on (aggregate, version), leaf
-- indexes continuing densely in position order. The caller holds the append lock (ledger_append_lock).
-- Runs with its owner's rights; the service's role may execute it but not insert into either table.
CREATE FUNCTION ledger_append(
    oids uuid[], vers bigint[], topics text[], states bytea[],
    sids uuid[], digs bytea[], lhs bytea[], rats text[], ocs text[], kids text[]
) RETURNS TABLE (notification_id bigint, leaf_index bigint, statement_id uuid)
LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $$
#variable_conflict use_column
BEGIN
    RETURN QUERY
    WITH ev AS (
        INSERT INTO ledger_events (originator_id, originator_version, topic, state)
        SELECT * FROM unnest(oids, vers, topics, states)
        RETURNING ledger_events.notification_id, originator_id, originator_version
    ), pending AS (
        SELECT ev.notification_id AS nid, u.sid, u.dig, u.lh, u.rat, u.oc, u.kid,
               row_number() OVER (ORDER BY ev.notification_id) AS ord
        FROM ev JOIN unnest(oids, vers, sids, digs, lhs, rats, ocs, kids) AS u(oid, ver, sid, dig, lh, rat, oc, kid)
          ON u.oid = ev.originator_id AND u.ver = ev.originator_version
    ), en AS (
        INSERT INTO ledger_entries (leaf_index, notification_id, statement_id, statement_digest, leaf_hash,
                                    recorded_at, outcome, key_id)
        SELECT (SELECT COALESCE(MAX(e.leaf_index), -1) FROM ledger_entries e) + ord, nid, sid, dig, lh, rat, oc, kid
        FROM pending
        RETURNING ledger_entries.leaf_index, ledger_entries.notification_id, ledger_entries.statement_id
    )
    SELECT en.notification_id, en.leaf_index, en.statement_id FROM en ORDER BY en.notification_id;
END
$$;
REVOKE ALL ON FUNCTION ledger_append(uuid[], bigint[], text[], bytea[], uuid[], bytea[], bytea[], text[], text[],
                                     text[]) FROM PUBLIC;
