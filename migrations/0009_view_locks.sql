-- Writers of one view queue on its lock table (LOCK TABLE ... IN EXCLUSIVE MODE, held until commit: a
-- lock in memory, nothing written). Unlike an advisory lock, which any login may take (and so stop every
-- catch-up and every query's answer), LOCK TABLE needs a privilege on the table: the service's role has
-- UPDATE on these, no other role anything. They have no columns, so there is nothing to update.
CREATE TABLE view_lock_log_tree ();
CREATE TABLE view_lock_archive ();
CREATE TABLE view_lock_access_log ();

-- A service role granted before these tables existed (``migrate --grant-to`` grants UPDATE on the views)
-- may lock them too.
DO $$
DECLARE
    writer regrole;
BEGIN
    FOR writer IN
        SELECT DISTINCT a.grantee::regrole FROM pg_class c, aclexplode(c.relacl) a
        WHERE c.oid = 'archive_records'::regclass AND a.privilege_type = 'UPDATE' AND a.grantee NOT IN (0, c.relowner)
    LOOP
        EXECUTE format('GRANT UPDATE ON view_lock_log_tree, view_lock_archive, view_lock_access_log TO %s', writer);
    END LOOP;
END
$$;
