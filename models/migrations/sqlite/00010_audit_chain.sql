-- +goose Up
-- The audit trail becomes readable and tamper-evident (SPEC section 2); see the
-- PostgreSQL migration of the same number. SQLite cannot change a foreign key in place,
-- so the table is rebuilt.
CREATE TABLE status_changes_chained (
    id              text PRIMARY KEY,
    application_id  text NOT NULL REFERENCES applications (id) ON DELETE CASCADE,
    entity_id       text,
    vendor_data     text,
    kind            text,
    previous_status text,
    status          text,
    reason          text NOT NULL DEFAULT '',
    actor           text NOT NULL DEFAULT '',
    rule            text NOT NULL DEFAULT '',
    inputs          text NOT NULL DEFAULT '{}',
    created_at      datetime NOT NULL,
    seq             integer NOT NULL,
    prev_hash       text NOT NULL DEFAULT '',
    hash            text NOT NULL DEFAULT '',
    tombstone       boolean NOT NULL DEFAULT 0
);
INSERT INTO status_changes_chained (id, application_id, entity_id, vendor_data, kind, previous_status,
    status, reason, actor, rule, inputs, created_at, seq)
SELECT c.id, c.application_id, c.entity_id, e.vendor_data, e.kind, c.from_status, c.to_status,
       c.reason, c.actor, c.rule, c.inputs, c.created_at,
       row_number() OVER (PARTITION BY c.application_id ORDER BY c.created_at, c.id)
FROM status_changes c LEFT JOIN entities e ON e.id = c.entity_id;
DROP TABLE status_changes;
ALTER TABLE status_changes_chained RENAME TO status_changes;
CREATE UNIQUE INDEX status_changes_chain ON status_changes (application_id, seq);
CREATE INDEX status_changes_entity ON status_changes (entity_id, seq);
CREATE INDEX status_changes_time ON status_changes (application_id, created_at);

CREATE TABLE audit_chain_heads (
    application_id text PRIMARY KEY REFERENCES applications (id) ON DELETE CASCADE,
    seq            integer NOT NULL,
    hash           text NOT NULL
);
INSERT INTO audit_chain_heads (application_id, seq, hash)
SELECT application_id, max(seq), '' FROM status_changes GROUP BY application_id;

-- +goose Down
DROP TABLE audit_chain_heads;
CREATE TABLE status_changes_unchained (
    id             text PRIMARY KEY,
    application_id text NOT NULL REFERENCES applications (id) ON DELETE CASCADE,
    entity_id      text NOT NULL REFERENCES entities (id) ON DELETE CASCADE,
    from_status    text,
    to_status      text NOT NULL,
    reason         text NOT NULL DEFAULT '',
    actor          text NOT NULL DEFAULT '',
    rule           text NOT NULL DEFAULT '',
    created_at     datetime NOT NULL,
    inputs         text NOT NULL DEFAULT '{}'
);
INSERT INTO status_changes_unchained
SELECT id, application_id, entity_id, previous_status, status, reason, actor, rule, created_at, inputs
FROM status_changes
WHERE NOT tombstone AND entity_id IN (SELECT id FROM entities);
DROP TABLE status_changes;
ALTER TABLE status_changes_unchained RENAME TO status_changes;
CREATE INDEX status_changes_entity ON status_changes (entity_id, created_at);
