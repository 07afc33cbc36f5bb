package checkpoint

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/chorus-chat/chorus/projections/projtx"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Partition names one topic partition of the log.
type Partition struct {
	Topic string
	Part  int32
}

// Querier is what Load needs of a pool or a transaction.
type Querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// Load reads a projection's checkpoints from projection_checkpoints: topic → partition → the
// offset of the first record not yet applied.
func Load(ctx context.Context, q Querier, projection string) (map[string]map[int32]int64, error) {
	rows, err := q.Query(ctx, `SELECT topic, partition, next_offset FROM projection_checkpoints WHERE projection = $1`, projection)
	if err != nil {
		return nil, fmt.Errorf("checkpoints of %s: %w", projection, err)
	}
	out := make(map[string]map[int32]int64)
	var (
		topic string
		part  int32
		off   int64
	)
	_, err = pgx.ForEachRow(rows, []any{&topic, &part, &off}, func() error {
		if out[topic] == nil {
			out[topic] = make(map[int32]int64)
		}
		out[topic][part] = off
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("checkpoints of %s: %w", projection, err)
	}
	return out, nil
}

// Lock returns the next offsets stored for the partitions of recs, creating rows for new
// partitions, and locks those rows until tx ends: a second projector instance working the same
// partitions (say, during a consumer-group rebalance) waits and then skips what this one
// applied. Rows are locked in a fixed order so two such instances cannot deadlock.
func Lock[R any](ctx context.Context, tx pgx.Tx, projection string, recs []R, partOf func(R) Partition) (map[Partition]int64, error) {
	var parts []Partition
	seen := make(map[Partition]bool)
	for _, r := range recs {
		p := partOf(r)
		if !seen[p] {
			seen[p] = true
			parts = append(parts, p)
		}
	}
	slices.SortFunc(parts, func(a, b Partition) int {
		return cmp.Or(strings.Compare(a.Topic, b.Topic), cmp.Compare(a.Part, b.Part))
	})
	var b pgx.Batch
	for _, p := range parts {
		// DO UPDATE (to the same value) rather than DO NOTHING: it locks an existing row and
		// makes RETURNING give its offset.
		b.Queue(`INSERT INTO projection_checkpoints (projection, topic, partition, next_offset)
			VALUES ($1, $2, $3, 0)
			ON CONFLICT (projection, topic, partition) DO UPDATE SET next_offset = projection_checkpoints.next_offset
			RETURNING next_offset`, projection, p.Topic, p.Part)
	}
	br := tx.SendBatch(ctx, &b)
	defer br.Close()
	next := make(map[Partition]int64, len(parts))
	for _, p := range parts {
		var off int64
		if err := br.QueryRow().Scan(&off); err != nil {
			return nil, fmt.Errorf("lock checkpoint of %s at %s/%d: %w", projection, p.Topic, p.Part, err)
		}
		next[p] = off
	}
	if err := br.Close(); err != nil {
		return nil, fmt.Errorf("lock checkpoints of %s: %w", projection, err)
	}
	return next, nil
}

// Raise moves projection's checkpoints up to next (partition → offset of the first record not
// to apply again), creating the rows that do not exist and never lowering one, in a projector
// transaction of its own: for what a projector passes without applying it in a batch of its
// own (records dead-lettered, or handled outside Postgres; a rebuild's end of range).
func Raise(ctx context.Context, pool *pgxpool.Pool, projection string, next map[Partition]int64) error {
	var b pgx.Batch
	for p, off := range next {
		b.Queue(`INSERT INTO projection_checkpoints (projection, topic, partition, next_offset, updated_at)
			VALUES ($1, $2, $3, $4, now())
			ON CONFLICT (projection, topic, partition) DO UPDATE
			SET next_offset = GREATEST(projection_checkpoints.next_offset, EXCLUDED.next_offset), updated_at = now()`,
			projection, p.Topic, p.Part, off)
	}
	tx, err := projtx.Begin(ctx, pool)
	if err != nil {
		return fmt.Errorf("raise checkpoints of %s: %w", projection, err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck // a no-op after Commit
	if err := tx.SendBatch(ctx, &b).Close(); err != nil {
		return fmt.Errorf("raise checkpoints of %s: %w", projection, err)
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("raise checkpoints of %s: %w", projection, err)
	}
	return nil
}
