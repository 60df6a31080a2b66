-- +goose Up
-- A list entry carries who added it and why (SPEC section 6); both go into the audit
-- record of any status change the entry causes. (The date of birth of name entries comes
-- with 00012.)
ALTER TABLE list_entries RENAME COLUMN note TO comment;
ALTER TABLE list_entries ADD COLUMN actor text NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE list_entries DROP COLUMN actor;
ALTER TABLE list_entries RENAME COLUMN comment TO note;
