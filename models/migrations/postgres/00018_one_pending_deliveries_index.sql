-- +goose Up
-- deliveries_pending (enqueued_at, pending rows) served no query: the relay looks for
-- overdue deliveries through deliveries_due (next_attempt_at, pending rows), and a count
-- of pending deliveries can use either. Every delivery version written while pending
-- (its insert and its claim) paid an entry in both.
DROP INDEX deliveries_pending;

-- +goose Down
CREATE INDEX deliveries_pending ON deliveries (enqueued_at) WHERE state = 'pending';
