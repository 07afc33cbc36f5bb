-- Presence reconciliation (adapters/postgres/lastseen.go, adapters/gateway/presence_reconcile.go):
-- when each user was last seen active on a socket of any gateway, written by the gateways in bulk
-- every CHORUS_PRESENCE_FLUSH_INTERVAL. It outlives Redis: when a gateway dies and Redis loses its
-- presence entries, a gateway's reconciler ends the sessions left open at this time. Not part of
-- any projection (a rebuild leaves it alone); a row per user who was ever online.

-- +goose Up
CREATE TABLE presence_last_seen (
    user_id uuid PRIMARY KEY,
    seen_at timestamptz NOT NULL
);

-- The open sessions, which the reconcilers scan (a rebuild's generation copies the index).
CREATE INDEX online_sessions_open_started_idx ON online_sessions (started_at, user_id) WHERE ended_at IS NULL;

-- +goose Down
DROP INDEX online_sessions_open_started_idx;
DROP TABLE presence_last_seen;
