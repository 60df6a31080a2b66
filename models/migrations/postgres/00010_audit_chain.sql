-- +goose Up
-- The audit trail becomes readable and tamper-evident (SPEC section 2): every status
-- record keeps its fields in columns of the names the API shows (inputs came with
-- 00006) and is a link of its application's hash chain (seq, prev_hash,
-- hash). A purged record stays as a content-free tombstone, so entity_id is no longer a
-- foreign key: deleting an entity must not delete (or alter) a link of the chain; the
-- purge tombstones the records, then deletes the entity.
ALTER TABLE status_changes RENAME COLUMN from_status TO previous_status;
ALTER TABLE status_changes RENAME COLUMN to_status TO status;
ALTER TABLE status_changes ALTER COLUMN status DROP NOT NULL;
ALTER TABLE status_changes ALTER COLUMN entity_id DROP NOT NULL;
ALTER TABLE status_changes DROP CONSTRAINT status_changes_entity_id_fkey;
ALTER TABLE status_changes ADD COLUMN vendor_data text;
ALTER TABLE status_changes ADD COLUMN kind text;
ALTER TABLE status_changes ADD COLUMN seq bigint;
ALTER TABLE status_changes ADD COLUMN prev_hash text NOT NULL DEFAULT '';
ALTER TABLE status_changes ADD COLUMN hash text NOT NULL DEFAULT '';
ALTER TABLE status_changes ADD COLUMN tombstone boolean NOT NULL DEFAULT false;

-- Records written before the chain existed: identity from their entity, chain positions
-- in time order; Store.Migrate computes their hashes (SQL cannot write canonical JSON).
UPDATE status_changes c SET vendor_data = e.vendor_data, kind = e.kind
FROM entities e WHERE e.id = c.entity_id;
UPDATE status_changes c SET seq = o.n
FROM (SELECT id, row_number() OVER (PARTITION BY application_id ORDER BY created_at, id) AS n
      FROM status_changes) o
WHERE o.id = c.id;
ALTER TABLE status_changes ALTER COLUMN seq SET NOT NULL;

DROP INDEX status_changes_entity;
CREATE UNIQUE INDEX status_changes_chain ON status_changes (application_id, seq);
CREATE INDEX status_changes_entity ON status_changes (entity_id, seq);
CREATE INDEX status_changes_time ON status_changes (application_id, created_at);

-- The head of each application's chain: the last link's position and hash. Appending
-- locks it last in the transaction, which serialises appends per application.
CREATE TABLE audit_chain_heads (
    application_id uuid PRIMARY KEY REFERENCES applications (id) ON DELETE CASCADE,
    seq            bigint NOT NULL,
    hash           text NOT NULL
);
INSERT INTO audit_chain_heads (application_id, seq, hash)
SELECT application_id, max(seq), '' FROM status_changes GROUP BY application_id;

-- +goose Down
DROP TABLE audit_chain_heads;
DROP INDEX status_changes_time;
DROP INDEX status_changes_entity;
DROP INDEX status_changes_chain;
DELETE FROM status_changes
WHERE tombstone OR entity_id IS NULL OR entity_id NOT IN (SELECT id FROM entities);
ALTER TABLE status_changes DROP COLUMN tombstone;
ALTER TABLE status_changes DROP COLUMN hash;
ALTER TABLE status_changes DROP COLUMN prev_hash;
ALTER TABLE status_changes DROP COLUMN seq;
ALTER TABLE status_changes DROP COLUMN kind;
ALTER TABLE status_changes DROP COLUMN vendor_data;
ALTER TABLE status_changes ADD CONSTRAINT status_changes_entity_id_fkey
    FOREIGN KEY (entity_id) REFERENCES entities (id) ON DELETE CASCADE;
ALTER TABLE status_changes ALTER COLUMN entity_id SET NOT NULL;
ALTER TABLE status_changes ALTER COLUMN status SET NOT NULL;
ALTER TABLE status_changes RENAME COLUMN status TO to_status;
ALTER TABLE status_changes RENAME COLUMN previous_status TO from_status;
CREATE INDEX status_changes_entity ON status_changes (entity_id, created_at);
