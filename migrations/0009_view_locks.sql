-- Writers of one view queue on its row here (SELECT ... FOR UPDATE, held until commit). Unlike an
-- advisory lock, which any login may take (and so stop every catch-up and every query's answer),
-- locking a row needs the UPDATE privilege on this table: the service's role has it, no other.
CREATE TABLE view_locks (
    name text PRIMARY KEY
);
INSERT INTO view_locks (name) VALUES ('log_tree'), ('archive'), ('access_log');

-- A service role granted before this table existed (``migrate --grant-to`` grants UPDATE on the views)
-- may lock it too.
DO $$
DECLARE
    writer regrole;
BEGIN
    FOR writer IN
        SELECT DISTINCT a.grantee::regrole FROM pg_class c, aclexplode(c.relacl) a
        WHERE c.oid = 'archive_records'::regclass AND a.privilege_type = 'UPDATE' AND a.grantee NOT IN (0, c.relowner)
    LOOP
        EXECUTE format('GRANT SELECT, INSERT, UPDATE ON view_locks TO %s', writer);
    END LOOP;
END
$$;
