-- +goose Up
-- See the PostgreSQL migration of the same number. SQLite keeps the keys: its one
-- writer shares no locks (and SQLite cannot drop a constraint without rebuilding the
-- table). DeleteDestination deletes a destination's deliveries itself on both engines.
SELECT 1;

-- +goose Down
SELECT 1;
