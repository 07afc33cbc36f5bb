package readmodel

import (
	"context"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/chorus-chat/chorus/projections/checkpoint"
)

// Record is one event as read from the log, with where it sits there.
type Record = checkpoint.Record

// Store is the read model in Postgres: ApplyBatch writes it, the query methods read it, and
// WaitFor lets a reader wait until it includes a given log position.
type Store struct {
	pool               *pgxpool.Pool
	*checkpoint.Waiter // the read model's progress, for ?position= (WaitFor)
}

// NewStore returns a Store over pool, whose database must be migrated (postgres.Open does so).
func NewStore(pool *pgxpool.Pool) *Store {
	s := &Store{pool: pool}
	s.Waiter = checkpoint.NewWaiter(func(ctx context.Context) (map[string]map[int32]int64, error) {
		return s.Checkpoints(ctx, Projection)
	}, ErrNotCaughtUp)
	return s
}
