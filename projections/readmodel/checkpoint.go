package readmodel

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/chorus-chat/chorus/projections/projtx"
)

// SaveCheckpoints records, for a projection whose effects live outside Postgres (the push
// stream), that recs have been handled: the next offset of each partition moves past them. It
// never moves a checkpoint backwards.
func (s *Store) SaveCheckpoints(ctx context.Context, projection string, recs []Record) error {
	next := map[partition]int64{}
	for _, r := range recs {
		p := partition{Topic: r.Topic, Part: r.Partition}
		if r.Offset+1 > next[p] {
			next[p] = r.Offset + 1
		}
	}
	var b pgx.Batch
	for p, off := range next {
		b.Queue(`INSERT INTO projection_checkpoints (projection, topic, partition, next_offset, updated_at)
			VALUES ($1, $2, $3, $4, now())
			ON CONFLICT (projection, topic, partition) DO UPDATE
			SET next_offset = GREATEST(projection_checkpoints.next_offset, EXCLUDED.next_offset), updated_at = now()`,
			projection, p.Topic, p.Part, off)
	}
	tx, err := projtx.Begin(ctx, s.pool)
	if err != nil {
		return fmt.Errorf("save checkpoints of %s: %w", projection, err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck // a no-op after Commit
	if err := tx.SendBatch(ctx, &b).Close(); err != nil {
		return fmt.Errorf("save checkpoints of %s: %w", projection, err)
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("save checkpoints of %s: %w", projection, err)
	}
	return nil
}
