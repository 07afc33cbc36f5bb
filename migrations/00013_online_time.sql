-- Online time (projections/onlinetime): the users' sessions online, from user-events
-- (UserCameOnline, UserWentOffline), written only by that projection under the checkpoint name
-- "onlinetime". ended_at is NULL while the session is open. The report reads them with the
-- directory's tables (members, departments, the organization's time zone).

-- +goose Up
CREATE TABLE online_sessions (
    user_id    uuid NOT NULL,
    started_at timestamptz NOT NULL,
    ended_at   timestamptz,
    cause      text,
    PRIMARY KEY (user_id, started_at)
);

-- +goose Down
DROP TABLE online_sessions;
