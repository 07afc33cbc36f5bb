-- Projectors that keep failing (adapters/kafka/projector.go): while a projector process retries a
-- batch that fails, it keeps one row here with the last error; the first success deletes it.
-- `chorusctl projections status` (and GET /api/v1/admin/projections) show a projection with a
-- recent row as failed, with the error. Failures the database itself causes (it is down) cannot
-- be written here; the status cannot be read then either. Not a projection of the log: rebuilds
-- leave it alone.

-- +goose Up
CREATE TABLE projection_failures (
    projection     text NOT NULL,
    instance       text NOT NULL,
    error          text NOT NULL,
    failures       bigint NOT NULL,
    since          timestamptz NOT NULL,
    last_failed_at timestamptz NOT NULL,
    PRIMARY KEY (projection, instance)
);

-- +goose Down
DROP TABLE projection_failures;
