package readmodel

import (
	"context"
	"fmt"
	"time"

	"github.com/chorus-chat/chorus/domain"
)

// pollInterval is how often the shared poller reads the checkpoints while anyone waits.
const pollInterval = 5 * time.Millisecond

// WaitFor returns nil once the read model includes the event at pos, that is once Projection's
// checkpoint of pos's partition is past pos.Offset. It returns ErrNotCaughtUp if that does not
// happen within timeout, and the context's error if ctx ends first.
//
// Waiters share one poller per Store rather than each querying Postgres, and it runs only while
// someone waits: at most one small indexed query every 5 ms per process however many requests
// wait. Polling was chosen over LISTEN/NOTIFY because it needs no dedicated connection to keep
// alive and re-LISTEN after a failover (with a poll anyway, for notifications lost meanwhile),
// works unchanged when projector and gateway run in different processes, and keeps NOTIFY's
// global commit-time queue lock out of the projector's hot path. Batches applied through this
// same Store wake its waiters at once, without waiting for a poll.
func (s *Store) WaitFor(ctx context.Context, pos domain.Position, timeout time.Duration) error {
	p := partition{pos.Topic, pos.Partition}
	s.mu.Lock()
	if s.known[p] > pos.Offset {
		s.mu.Unlock()
		return nil
	}
	w := &waiter{p: p, offset: pos.Offset, done: make(chan struct{})}
	s.waiters[w] = struct{}{}
	if !s.polling {
		s.polling = true
		go s.poll()
	}
	s.mu.Unlock()

	defer func() {
		s.mu.Lock()
		delete(s.waiters, w)
		s.mu.Unlock()
	}()
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case <-w.done:
		return nil
	case <-timer.C:
		return fmt.Errorf("wait for %s: %w", pos, ErrNotCaughtUp)
	case <-ctx.Done():
		return fmt.Errorf("wait for %s: %w", pos, ctx.Err())
	}
}

// waiter is one WaitFor call: done is closed once the partition's next offset passes offset.
type waiter struct {
	p      partition
	offset int64
	done   chan struct{}
}

// poll reads the checkpoints and wakes the waiters they satisfy, every pollInterval, until no
// one waits. It is started by the first waiter; a failed read is simply retried on the next
// tick (the waiters' own timeouts bound how long anyone waits).
func (s *Store) poll() {
	ticker := time.NewTicker(pollInterval)
	defer ticker.Stop()
	for {
		if cps, err := s.readCheckpoints(); err == nil {
			s.advance(cps)
		}
		s.mu.Lock()
		if len(s.waiters) == 0 {
			s.polling = false
			s.mu.Unlock()
			return
		}
		s.mu.Unlock()
		<-ticker.C
	}
}

func (s *Store) readCheckpoints() (map[partition]int64, error) {
	// Not tied to any one waiter's context: the poll serves all of them.
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	cps, err := s.Checkpoints(ctx, Projection)
	if err != nil {
		return nil, err
	}
	out := make(map[partition]int64)
	for topic, parts := range cps {
		for part, off := range parts {
			out[partition{topic, part}] = off
		}
	}
	return out, nil
}

// advance records next offsets of Projection and wakes the waiters they satisfy. Offsets only
// grow, so a stale report never moves one back.
func (s *Store) advance(next map[partition]int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for p, off := range next {
		if off > s.known[p] {
			s.known[p] = off
		}
	}
	for w := range s.waiters {
		if s.known[w.p] > w.offset {
			close(w.done)
			delete(s.waiters, w)
		}
	}
}
