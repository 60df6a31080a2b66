-- +goose Up
-- See the PostgreSQL migration of the same number.
CREATE INDEX inbox_claimable ON inbox (task_type, created_at) WHERE state = 'pending' AND attempts = 0;

-- +goose Down
DROP INDEX inbox_claimable;
