-- +goose Up
-- The facts that decided each audited status change (the decision's inputs), and the
-- moment an entity's status took effect for events of sessions known before the change:
-- the causing event's upstream time for automatic changes caused by a session event,
-- the time Standing applied it otherwise.
ALTER TABLE status_changes ADD COLUMN inputs text NOT NULL DEFAULT '{}';
ALTER TABLE entities ADD COLUMN status_effective_at datetime;
UPDATE entities SET status_effective_at = status_changed_at;

-- +goose Down
ALTER TABLE entities DROP COLUMN status_effective_at;
ALTER TABLE status_changes DROP COLUMN inputs;
