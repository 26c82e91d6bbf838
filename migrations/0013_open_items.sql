-- What each department has to answer: the open objections to its records and the open repair and deferral
-- applications about them (ledger/domain/inbox.py), kept by the archive projection with the record's document.
CREATE TABLE view_open_items (
    record_id TEXT NOT NULL,
    item_id TEXT NOT NULL,
    issuer TEXT NOT NULL,
    kind TEXT NOT NULL,
    deadline TEXT NOT NULL,
    doc TEXT NOT NULL,
    position BIGINT NOT NULL,
    PRIMARY KEY (record_id, item_id)
);
CREATE INDEX view_open_items_issuer ON view_open_items (issuer, deadline, item_id);

-- The open objections the documents already hold (there were no applications before this table).
INSERT INTO view_open_items (record_id, item_id, issuer, kind, deadline, doc, position)
SELECT a.record_id, o.key, a.issuer, 'objection', o.value->>'deadline',
       jsonb_build_object('deadline', o.value->'deadline', 'document_number', a.doc::jsonb->'fields'->'document_number',
                          'filed_at', o.value->'filed_at', 'id', o.key, 'issuer', a.issuer,
                          'item', a.doc::jsonb->'item', 'kind', 'objection',
                          'needs_verification', COALESCE(o.value->'needs_verification', 'false'::jsonb),
                          'record_id', a.record_id)::text,
       a.position
FROM archive_records AS a, jsonb_each(a.doc::jsonb->'objections') AS o
WHERE jsonb_typeof(a.doc::jsonb->'revoked') = 'null' AND jsonb_typeof(o.value->'resolved') = 'null';
