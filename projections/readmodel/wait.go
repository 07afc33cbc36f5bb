package readmodel

import (
	"context"
	"time"

	"github.com/chorus-chat/chorus/domain"
)

// WaitFor returns nil once the read model includes the event at pos, that is once Projection's
// checkpoint of pos's partition is past pos.Offset. It returns ErrNotCaughtUp if that does not
// happen within timeout, and the context's error if ctx ends first (see checkpoint.Waiter).
func (s *Store) WaitFor(ctx context.Context, pos domain.Position, timeout time.Duration) error {
	return s.wait.WaitFor(ctx, pos, timeout)
}

// advance tells the waiters what a committed batch applied.
func (s *Store) advance(applied map[partition]int64) {
	for p, next := range applied {
		s.wait.Advance(p.Topic, p.Part, next)
	}
}
