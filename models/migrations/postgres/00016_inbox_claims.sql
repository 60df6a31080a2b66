-- +goose Up
-- A work process applies several pending session events in one transaction: it claims
-- the oldest pending items of a task type that never failed (FOR UPDATE SKIP LOCKED).
CREATE INDEX inbox_claimable ON inbox (task_type, created_at) WHERE state = 'pending' AND attempts = 0;

-- +goose Down
DROP INDEX inbox_claimable;
