-- Online time's daily totals (projections/onlinetime), written only by that projection under the
-- checkpoint name "onlinetime", which now also reads org-events for the organizations' time zones.
-- online_zones is every time zone an organization has used (and Postgres knows);
-- online_daily the microseconds of closed sessions per zone, user and local day (from midnight
-- to midnight there), for every zone of online_zones: a row exists when its sum is not 0. The
-- report reads a month of a department from online_daily and adds the open sessions up to now;
-- for a zone not (yet) in online_zones it computes from the sessions as before.

-- +goose Up
CREATE TABLE online_zones (
    zone text PRIMARY KEY
);

CREATE TABLE online_daily (
    time_zone text NOT NULL,
    user_id   uuid NOT NULL,
    day       date NOT NULL,
    micros    bigint NOT NULL,
    PRIMARY KEY (time_zone, user_id, day)
);

-- The report's open sessions, without reading a user's closed history.
CREATE INDEX online_sessions_open_idx ON online_sessions (user_id) WHERE ended_at IS NULL;

-- +goose Down
DROP INDEX online_sessions_open_idx;
DROP TABLE online_daily;
DROP TABLE online_zones;
