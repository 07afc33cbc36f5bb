package readmodel

import (
	"sync"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/chorus-chat/chorus/domain"
)

// Record is one event as read from the log, with where it sits there.
type Record struct {
	Topic     string
	Partition int32
	Offset    int64
	Event     domain.Event
}

// partition names one topic partition of the log.
type partition struct {
	topic string
	part  int32
}

// Store is the read model in Postgres: ApplyBatch writes it, the query methods read it, and
// WaitFor lets a reader wait until it includes a given log position.
type Store struct {
	pool *pgxpool.Pool

	// Waiting state, see wait.go.
	mu sync.Mutex
	// known holds the next offsets of Projection last seen. They only grow, so a Store must
	// not outlive a rebuild that resets the checkpoints (restart the process after one).
	known   map[partition]int64
	waiters map[*waiter]struct{}
	polling bool
}

// NewStore returns a Store over pool, whose database must be migrated (postgres.Open does so).
func NewStore(pool *pgxpool.Pool) *Store {
	return &Store{pool: pool, known: make(map[partition]int64), waiters: make(map[*waiter]struct{})}
}
