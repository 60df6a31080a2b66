-- +goose Up
-- Event bodies are written in canonical form (since they are, X-Signature-V2 equals the
-- raw-body signature): body_canonical says so, so that a delivery attempt signs the
-- stored bytes as they are instead of parsing and re-encoding them. Bodies stored
-- before this migration may not be canonical; they keep false and are canonicalised
-- per attempt as before. (A constant default is only catalog metadata: no rewrite. The
-- ALTER still needs the table's exclusive lock for a moment, and every event write
-- queues behind it while it waits for a long transaction to let go of the table: it
-- waits at most 5 s, then fails, and `standing migrate` can be run again.)
SET LOCAL lock_timeout = '5s';
ALTER TABLE outbox_events ADD COLUMN body_canonical boolean NOT NULL DEFAULT false;

-- +goose Down
ALTER TABLE outbox_events DROP COLUMN body_canonical;
