package notify

import (
	"context"
	"fmt"
	"time"

	"github.com/chorus-chat/chorus/domain"
)

// pollInterval is how often the shared poller reads the checkpoints while anyone waits.
const pollInterval = 5 * time.Millisecond

// WaitFor returns nil once the notifications include the effects of the event at pos, that is
// once the projection's checkpoint of pos's partition is past pos.Offset; at once for a
// position on a topic the projection does not read. It returns ErrNotCaughtUp if that does not
// happen within timeout, and the context's error if ctx ends first.
//
// As the read model's waiter does (readmodel.Store.WaitFor), waiters share one poller per Store
// that runs only while someone waits, and batches applied through this Store wake them at once.
func (s *Store) WaitFor(ctx context.Context, pos domain.Position, timeout time.Duration) error {
	if len(s.topics) > 0 && !s.topics[pos.Topic] {
		return nil
	}
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
// one waits. A failed read is retried on the next tick; the waiters' timeouts bound the wait.
func (s *Store) poll() {
	ticker := time.NewTicker(pollInterval)
	defer ticker.Stop()
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		cps, err := s.Checkpoints(ctx)
		cancel()
		if err == nil {
			next := map[partition]int64{}
			for topic, parts := range cps {
				for part, off := range parts {
					next[partition{topic, part}] = off
				}
			}
			s.advance(next)
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

// advance records next offsets and wakes the waiters they satisfy. Offsets only grow, so a
// stale report never moves one back.
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
