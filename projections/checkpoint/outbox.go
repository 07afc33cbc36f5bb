package checkpoint

import (
	"context"
	"time"
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
