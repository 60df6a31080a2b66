-- +goose Up
-- Event bodies are written in canonical form (since they are, X-Signature-V2 equals the
-- raw-body signature): body_canonical says so, so that a delivery attempt signs the
-- stored bytes as they are instead of parsing and re-encoding them. Bodies stored
-- before this migration may not be canonical; they keep false and are canonicalised
-- per attempt as before. (A constant default is only catalog metadata: no rewrite.)
ALTER TABLE outbox_events ADD COLUMN body_canonical boolean NOT NULL DEFAULT false;

-- +goose Down
ALTER TABLE outbox_events DROP COLUMN body_canonical;
