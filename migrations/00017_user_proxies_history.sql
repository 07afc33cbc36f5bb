-- User proxies keep their revoked grants (revoked_at, revoked_by) instead of deleting them, so
-- that an organization's list of the grants its admins made (GET /orgs/{id}/proxies) tells a
-- grant revoked since from one not made yet. Every read of the grants in force skips them.
-- Grants revoked before this migration were deleted and stay so until the read model is rebuilt.

-- +goose Up
ALTER TABLE user_proxies ADD COLUMN revoked_at timestamptz, ADD COLUMN revoked_by uuid;

-- +goose Down
DELETE FROM user_proxies WHERE revoked_at IS NOT NULL;
ALTER TABLE user_proxies DROP COLUMN revoked_by, DROP COLUMN revoked_at;
