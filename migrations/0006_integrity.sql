-- The service's role writes the ledger's history only through ledger_append() (0008), which draws
-- positions from the sequence and writes each event with its entry, continuing the leaf sequence: it
-- holds no INSERT on the events or entries tables, so it cannot write a row an append would not write.
-- Appends queue on a lock only a granted role can take.

-- Entries so far must be dense from leaf 0, in increasing position order (what appends continue).
DO $$
BEGIN
    IF EXISTS (
        SELECT FROM (
            SELECT leaf_index, notification_id,
                   row_number() OVER w - 1 AS expected, lag(notification_id) OVER w AS previous
            FROM ledger_entries WINDOW w AS (ORDER BY leaf_index)
        ) s
        WHERE leaf_index <> expected OR notification_id <= previous
    ) THEN
        RAISE EXCEPTION 'ledger_entries are not dense in position order: run credit-ledger audit verify';
    END IF;
END
$$;

-- Every append locks this table (EXCLUSIVE: one append at a time, readers unhindered) until it commits.
-- Unlike an advisory lock, which any login may take, LOCK TABLE needs a privilege on the table: the
-- service's role gets UPDATE, the least that allows it, and the table never holds a row to change.
CREATE TABLE ledger_append_lock ();

CREATE FUNCTION ledger_refuse_lock_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% only orders appends: % refused', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$$;

CREATE TRIGGER ledger_append_lock_unchanged BEFORE INSERT OR UPDATE OR DELETE ON ledger_append_lock
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_lock_change();
CREATE TRIGGER ledger_append_lock_no_truncate BEFORE TRUNCATE ON ledger_append_lock
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_lock_change();
