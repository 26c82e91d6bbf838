-- Writers of one view queue on its lock table (LOCK TABLE ... IN EXCLUSIVE MODE, held until commit: a
-- lock in memory, nothing written). Unlike an advisory lock, which any login may take (and so stop every
-- catch-up and every query's answer), LOCK TABLE needs a privilege on the table: the service's role has
-- UPDATE on these, no other role anything. They have no columns, so there is nothing to update.
CREATE TABLE view_lock_log_tree ();
CREATE TABLE view_lock_archive ();
CREATE TABLE view_lock_access_log ();

-- A service role granted before 0006 (``migrate --grant-to`` then granted INSERT on the events table):
-- it appends through ledger_append() from now on, inserting into neither table itself, and may take the
-- lock tables.
DO $$
DECLARE
    appender regrole;
BEGIN
    FOR appender IN
        SELECT DISTINCT a.grantee::regrole FROM pg_class c, aclexplode(c.relacl) a
        WHERE c.oid = 'ledger_events'::regclass AND a.privilege_type = 'INSERT' AND a.grantee NOT IN (0, c.relowner)
    LOOP
        EXECUTE format('REVOKE INSERT ON ledger_events, ledger_entries FROM %s', appender);
        EXECUTE format('GRANT EXECUTE ON FUNCTION ledger_append(uuid[], bigint[], text[], bytea[], uuid[], bytea[],'
                       ' bytea[], text[], text[], text[]) TO %s', appender);
        EXECUTE format('GRANT UPDATE ON ledger_append_lock, view_lock_log_tree, view_lock_archive,'
                       ' view_lock_access_log TO %s', appender);
    END LOOP;
END
$$;
