-- The joint incentive and punishment measures departments reported applying (measure.applied), by subject, each at
-- its exact ledger position, so an archive answer reads a subject's own rows instead of every such event. Kept by
-- the archive projection; view_measures_filled marks that the events before the table existed were read into it
-- (done once by the projection at its next catch-up: the statements are in the events only).
CREATE TABLE view_measures_applied (
    statement_id TEXT PRIMARY KEY,
    subject TEXT NOT NULL,
    position BIGINT NOT NULL,
    doc TEXT NOT NULL
);
CREATE INDEX view_measures_applied_subject ON view_measures_applied (subject, position);
CREATE TABLE view_measures_filled (filled INTEGER NOT NULL);
