package checkpoint

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// OutboxLoop is the loop of a relay that empties an outbox its projection fills in the same
// transaction as its checkpoint (the notifications' announcements, the department rooms'
// commands): it flushes after every batch the store commits, and every Poll for what is left
// (a failed attempt, another process's leftovers), until ctx ends.
type OutboxLoop struct {
	// Committed is signalled after every batch the projection's store commits with new rows.
	Committed <-chan struct{}
	Poll      time.Duration
	// FlushOnce handles a part of the outbox: how many rows, and whether more are waiting.
	FlushOnce func(ctx context.Context) (n int, more bool, err error)
	// Failed is told of a flush that failed (it is tried again at the next signal or tick).
	Failed func(err error)
}

// Run flushes until ctx ends.
func (o OutboxLoop) Run(ctx context.Context) error {
	ticker := time.NewTicker(o.Poll)
	defer ticker.Stop()
	for {
		if _, err := o.Flush(ctx); err != nil && ctx.Err() == nil {
			o.Failed(err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-o.Committed:
		case <-ticker.C:
		}
	}
}

// Flush empties the outbox (or stops at the first error) and returns how many rows it handled.
func (o OutboxLoop) Flush(ctx context.Context) (int, error) {
	total := 0
	for {
		n, more, err := o.FlushOnce(ctx)
		total += n
		if err != nil || !more {
			return total, err
		}
	}
}

// Ordered is one part of an outbox that commands must leave in order (a process manager's): in
// one transaction holding the advisory lock Lock (so that one process at a time sends, in
// outbox order across processes), the first Limit rows Select reads ($1 the limit; the first
// column the row's seq, the rest Scan's) are settled one after the other, and those settled are
// deleted by Delete ($1 their seqs) in the same transaction. The first row Settle fails on
// stops the part: it and every row after it wait for the next attempt.
type Ordered[T any] struct {
	Pool           *pgxpool.Pool
	Lock           int64
	Limit          int
	Select, Delete string
	Scan           func(pgx.CollectableRow) (seq int64, row T, err error)
	Settle         func(ctx context.Context, row T) error
}

// FlushOnce settles one part (OutboxLoop's FlushOnce): how many rows, and whether more may be
// waiting. With the lock held by another process it settles nothing and reports no more: that
// process is sending them.
func (o Ordered[T]) FlushOnce(ctx context.Context) (int, bool, error) {
	tx, err := o.Pool.Begin(ctx)
	if err != nil {
		return 0, false, fmt.Errorf("outbox: begin: %w", err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck // a no-op after Commit
	var mine bool
	if err := tx.QueryRow(ctx, `SELECT pg_try_advisory_xact_lock($1)`, o.Lock).Scan(&mine); err != nil {
		return 0, false, fmt.Errorf("outbox: lock: %w", err)
	}
	if !mine {
		return 0, false, nil
	}
	rows, err := tx.Query(ctx, o.Select, o.Limit)
	if err != nil {
		return 0, false, fmt.Errorf("outbox: read: %w", err)
	}
	type entry struct {
		seq int64
		row T
	}
	pending, err := pgx.CollectRows(rows, func(cr pgx.CollectableRow) (entry, error) {
		seq, row, err := o.Scan(cr)
		return entry{seq, row}, err
	})
	if err != nil {
		return 0, false, fmt.Errorf("outbox: read: %w", err)
	}
	var done []int64
	var settleErr error
	for _, p := range pending {
		if settleErr = o.Settle(ctx, p.row); settleErr != nil {
			break
		}
		done = append(done, p.seq)
	}
	if len(done) > 0 {
		if _, err := tx.Exec(ctx, o.Delete, done); err != nil {
			return 0, false, fmt.Errorf("outbox: drop settled rows: %w", err)
		}
		if err := tx.Commit(ctx); err != nil {
			return 0, false, fmt.Errorf("outbox: commit: %w", err)
		}
	}
	return len(done), settleErr == nil && len(pending) == o.Limit, settleErr
}
