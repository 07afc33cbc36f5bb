package readmodel

import (
	"context"

	"github.com/chorus-chat/chorus/projections/checkpoint"
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
	return checkpoint.Raise(ctx, s.pool, projection, next)
}
