package notify

import (
	"context"
	"time"

	"github.com/chorus-chat/chorus/domain"
)

// WaitFor returns nil once the notification projection includes the event at pos, that is once its checkpoint
// of pos's partition is past pos.Offset; at once for a position on a topic it does not read. It
// returns ErrNotCaughtUp if that does not happen within timeout, and the context's error if ctx
// ends first (see checkpoint.Waiter). This is the projection's own progress, not the read
// model's: they are separate consumer groups and either may be ahead.
func (s *Store) WaitFor(ctx context.Context, pos domain.Position, timeout time.Duration) error {
	return s.wait.WaitFor(ctx, pos, timeout)
}

// advance tells the waiters what a committed batch applied.
func (s *Store) advance(applied map[partition]int64) {
	for p, next := range applied {
		s.wait.Advance(p.Topic, p.Part, next)
	}
}
