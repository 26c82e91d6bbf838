-- The views' positions are kept by the eventsourcing library's tracking recorder (PostgresTrackingRecorder,
-- single-row tracking) in this table: one row per view, Tracking(view name, position). The table becomes
-- the one the library would create (columns, key, storage options) and keeps its name, its rows and its
-- grants: every view continues from its position, and the service's role may write it as before.
ALTER TABLE projection_positions RENAME COLUMN name TO application_name;
ALTER TABLE projection_positions RENAME COLUMN position TO notification_id;
ALTER TABLE projection_positions ALTER COLUMN notification_id DROP NOT NULL;
ALTER TABLE projection_positions SET (autovacuum_enabled = true, autovacuum_vacuum_threshold = 100000000,
    autovacuum_vacuum_scale_factor = 0.5, autovacuum_analyze_threshold = 1000,
    autovacuum_analyze_scale_factor = 0.01);
-- The row by which the library's recorder knows a single-row tracking table it made (its create_table
-- would otherwise take this one for an older kind and convert it).
INSERT INTO projection_positions (application_name, notification_id) VALUES ('__migration__', 1)
    ON CONFLICT (application_name) DO NOTHING;
