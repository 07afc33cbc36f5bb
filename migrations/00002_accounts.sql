-- Accounts: secrets that never enter the event log. These tables are not part of the
-- rebuildable projection; a read-model rebuild must leave them alone.

-- +goose Up
-- The password hash of a registration, saved by the gateway before it sends the RegisterUser
-- command. The projector copies it into credentials when (and only if) that very command's
-- UserRegistered arrives, so a losing racer for a username never gets their password installed.
CREATE TABLE registration_attempts (
    command_id    uuid PRIMARY KEY,
    user_id       uuid NOT NULL,
    password_hash text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX registration_attempts_user_id_idx ON registration_attempts (user_id);

CREATE TABLE credentials (
    user_id       uuid PRIMARY KEY,
    password_hash text NOT NULL
);

-- Only the SHA-256 of a session token is stored: a leaked table does not yield usable tokens.
CREATE TABLE sessions (
    token_hash bytea PRIMARY KEY,
    user_id    uuid NOT NULL,
    expires_at timestamptz NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX sessions_expires_at_idx ON sessions (expires_at);

-- +goose Down
DROP TABLE sessions;
DROP TABLE credentials;
DROP TABLE registration_attempts;
