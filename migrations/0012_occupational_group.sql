-- The public lists read by occupational group (a record's details.occupational_group, one of the catalogue's
-- occupational_groups): an index on the group as the record's document gives it, so the documents written
-- before it (and every rebuild) are covered without a column to fill.
CREATE INDEX archive_records_occupational_group
    ON archive_records (((doc::jsonb) #>> '{fields,details,occupational_group}'), list, decision_date, record_id);
