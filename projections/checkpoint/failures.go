package checkpoint

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5/pgxpool"
)

// Advance records, for a projection whose effects live outside Postgres (the push stream) or
// that moves past a record without applying it, that recs have been handled: the next offset of
// each partition moves past them. It never moves a checkpoint backwards.
func Advance(ctx context.Context, pool *pgxpool.Pool, projection string, recs []Record) error {
	next := map[Partition]int64{}
	for _, r := range recs {
		p := PartitionOf(r)
		if r.Offset+1 > next[p] {
			next[p] = r.Offset + 1
		}
	}
	return Raise(ctx, pool, projection, next)
}

// DeadLetters counts, in projection_dead_letters, the records the projectors dead-lettered
// (one row per projection and record, whatever the retries), and moves the projection's
// checkpoint past each. The row goes first: a crash in between replays the record, which is
// dead-lettered again without being counted twice.
type DeadLetters struct {
	Pool *pgxpool.Pool
}

// Skip counts rec as dead-lettered by projection because of cause and moves past it.
func (d DeadLetters) Skip(ctx context.Context, projection string, rec Record, cause error) error {
	_, err := d.Pool.Exec(ctx, `INSERT INTO projection_dead_letters
			(projection, source_topic, source_partition, source_offset, error)
		VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (projection, source_topic, source_partition, source_offset) DO NOTHING`,
		projection, rec.Topic, rec.Partition, rec.Offset, cause.Error())
	if err != nil {
		return fmt.Errorf("count dead letter of %s: %w", projection, err)
	}
	return Advance(ctx, d.Pool, projection, []Record{{Topic: rec.Topic, Partition: rec.Partition, Offset: rec.Offset}})
}

// FailureLog keeps, in projection_failures, one row per projection and process while that
// process's projector keeps failing (kafka.FailureLog): projections status shows it as failed.
type FailureLog struct {
	Pool *pgxpool.Pool
	// Instance names the process.
	Instance string
}

// Failing records a failed attempt of the projection in this process: the failures in a row
// so far and the last error.
func (f FailureLog) Failing(ctx context.Context, projection string, failures int64, cause error) error {
	_, err := f.Pool.Exec(ctx, `INSERT INTO projection_failures (projection, instance, error, failures, since, last_failed_at)
		VALUES ($1, $2, $3, $4, now(), now())
		ON CONFLICT (projection, instance) DO UPDATE
		SET error = EXCLUDED.error, failures = EXCLUDED.failures, last_failed_at = now()`,
		projection, f.Instance, cause.Error(), failures)
	return err
}

// Recovered drops the projection's row of this process.
func (f FailureLog) Recovered(ctx context.Context, projection string) error {
	_, err := f.Pool.Exec(ctx, `DELETE FROM projection_failures WHERE projection = $1 AND instance = $2`, projection, f.Instance)
	return err
}
