-- +goose Up
-- When the manual status change that set the current status was requested: an older
-- request applied later (a retry, a slower worker) does not undo a newer one.
ALTER TABLE entities ADD COLUMN status_requested_at datetime;

-- +goose Down
ALTER TABLE entities DROP COLUMN status_requested_at;
