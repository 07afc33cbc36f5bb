-- Dead letters: the records a projector gave up on (adapters/kafka/projector.go). Each was
-- appended to the chorus-dead-letters topic, with its error, and the projection's checkpoint
-- moved past it; this table keeps one row per projection and record, so the count per
-- projection (what `chorusctl projections status` shows) stays exact when a crash between the
-- two makes a projector dead-letter a record twice. It is not a projection of the log: a rebuild
-- keeps it (a record that still fails then finds its row again).

-- +goose Up
CREATE TABLE projection_dead_letters (
    projection       text NOT NULL,
    source_topic     text NOT NULL,
    source_partition integer NOT NULL,
    source_offset    bigint NOT NULL,
    error            text NOT NULL,
    dead_lettered_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (projection, source_topic, source_partition, source_offset)
);

-- +goose Down
DROP TABLE projection_dead_letters;
