-- The database refuses what no append writes, whichever role connects: an event whose position did
-- not come from the sequence, an event without its entry row or an entry without its event, and an
-- entry that does not continue the leaf sequence. Appends queue on a lock only a granted role can take.
--
-- The checks run once per statement, over the rows it inserted (transition tables), with index look-ups
-- only: an append writes an event and its entry in one statement, so each must find the other when that
-- statement ends. (Foreign keys both ways would check at commit, but row by row: several times the cost.)

-- Entries so far must already be dense from leaf 0, in increasing position order: the checks below
-- look only at the entries an insert adds and at the one before them.
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

-- New events: the highest new position is the value the sequence last gave this session (currval
-- itself refuses a session that never drew from it), and each new position is an entry's.
CREATE FUNCTION ledger_events_check_insert() RETURNS trigger LANGUAGE plpgsql
SET search_path FROM CURRENT AS $$
BEGIN
    IF NOT COALESCE((
        SELECT CASE WHEN added = 0 THEN true
                    ELSE highest = currval('ledger_events_notification_id_seq') AND added = (
                        SELECT count(*) FROM ledger_entries
                        WHERE notification_id = ANY (ARRAY(SELECT notification_id FROM new_events))) END
        FROM (SELECT count(*) AS added, max(notification_id) AS highest FROM new_events) s
    ), false) THEN
        RAISE EXCEPTION 'ledger_events: an event takes its position from the sequence and comes with its entry row'
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER ledger_events_insert AFTER INSERT ON ledger_events REFERENCING NEW TABLE AS new_events
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_events_check_insert();

-- New entries: their leaves are consecutive, follow the last earlier leaf and end the table; their
-- positions increase with the leaf index, from above the position of the entry before them (the
-- highest earlier one, the earlier entries being ordered already); and each position is an event's.
CREATE FUNCTION ledger_entries_check_insert() RETURNS trigger LANGUAGE plpgsql
SET search_path FROM CURRENT AS $$
BEGIN
    IF NOT COALESCE((
        SELECT added = 0 OR (increasing AND last_leaf - first_leaf + 1 = added
               AND last_leaf = (SELECT max(leaf_index) FROM ledger_entries)
               AND (first_leaf = 0 OR first_position > (SELECT notification_id FROM ledger_entries
                                                         WHERE leaf_index = first_leaf - 1))
               AND added = (SELECT count(*) FROM ledger_events
                            WHERE notification_id = ANY (ARRAY(SELECT notification_id FROM new_entries))))
        FROM (
            SELECT count(*) AS added, min(leaf_index) AS first_leaf, max(leaf_index) AS last_leaf,
                   min(notification_id) AS first_position,
                   bool_and(previous IS NULL OR notification_id > previous) AS increasing
            FROM (SELECT leaf_index, notification_id, lag(notification_id) OVER (ORDER BY leaf_index) AS previous
                  FROM new_entries) n
        ) s
    ), false) THEN
        RAISE EXCEPTION 'ledger_entries: entries continue the leaf sequence densely, in increasing position order, '
            'each with its event' USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER ledger_entries_insert AFTER INSERT ON ledger_entries REFERENCING NEW TABLE AS new_entries
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_entries_check_insert();

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

-- A service role granted before this table existed (``migrate --grant-to`` grants INSERT on the events
-- table) may take the lock too.
DO $$
DECLARE
    appender regrole;
BEGIN
    FOR appender IN
        SELECT DISTINCT a.grantee::regrole FROM pg_class c, aclexplode(c.relacl) a
        WHERE c.oid = 'ledger_events'::regclass AND a.privilege_type = 'INSERT' AND a.grantee NOT IN (0, c.relowner)
    LOOP
        EXECUTE format('GRANT UPDATE ON ledger_append_lock TO %s', appender);
    END LOOP;
END
$$;
