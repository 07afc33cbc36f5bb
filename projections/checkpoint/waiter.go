// Package checkpoint lets readers wait until a projection has passed a log position: what every
// query's `?position=` needs, whichever projection answers it.
package checkpoint

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/chorus-chat/chorus/domain"
)

// PollInterval is how often the shared poller reads the checkpoints while anyone waits.
const PollInterval = 5 * time.Millisecond

// Loader reads a projection's checkpoints: topic → partition → next offset to apply.
type Loader func(ctx context.Context) (map[string]map[int32]int64, error)

// Waiter tracks one projection's checkpoints for the readers of one process.
//
// Waiters share one poller rather than each querying Postgres, and it runs only while someone
// waits: at most one small indexed query every 5 ms per projection and process however many
// requests wait. Polling was chosen over LISTEN/NOTIFY because it needs no dedicated connection
// to keep alive and re-LISTEN after a failover (with a poll anyway, for notifications lost
// meanwhile), works unchanged when projector and gateway run in different processes, and keeps
// NOTIFY's global commit-time queue lock out of the projectors' hot path. Batches the same
// process applies wake waiters at once (Advance), without waiting for a poll.
//
// Known offsets only grow, so a Waiter must not outlive a rebuild that resets the checkpoints
// (restart the process after one).
type Waiter struct {
	load        Loader
	notCaughtUp error
	topics      map[string]bool // nil: the projection reads every topic

	mu      sync.Mutex
	known   map[Partition]int64
	waiters map[*waiter]struct{}
	polling bool
}

// waiter is one WaitFor call: done is closed once the partition's next offset passes offset.
type waiter struct {
	p      Partition
	offset int64
	done   chan struct{}
}

// NewWaiter makes a waiter over a projection's checkpoints. notCaughtUp is the projection's
// error for a position not reached in time (WaitFor wraps it). topics, if given, are the topics
// the projection reads: a position in any other topic has nothing to do with it, so it is
// included already.
func NewWaiter(load Loader, notCaughtUp error, topics ...string) *Waiter {
	w := &Waiter{load: load, notCaughtUp: notCaughtUp, known: map[Partition]int64{}, waiters: map[*waiter]struct{}{}}
	if len(topics) > 0 {
		w.topics = map[string]bool{}
		for _, t := range topics {
			w.topics[t] = true
		}
	}
	return w
}

// WaitFor returns nil once the projection includes the event at pos, that is once its
// checkpoint of pos's partition is past pos.Offset. It returns the projection's not-caught-up
// error if that does not happen within timeout, and the context's error if ctx ends first.
func (w *Waiter) WaitFor(ctx context.Context, pos domain.Position, timeout time.Duration) error {
	if w.topics != nil && !w.topics[pos.Topic] {
		return nil
	}
	p := Partition{Topic: pos.Topic, Part: pos.Partition}
	w.mu.Lock()
	if w.known[p] > pos.Offset {
		w.mu.Unlock()
		return nil
	}
	one := &waiter{p: p, offset: pos.Offset, done: make(chan struct{})}
	w.waiters[one] = struct{}{}
	if !w.polling {
		w.polling = true
		go w.poll()
	}
	w.mu.Unlock()

	defer func() {
		w.mu.Lock()
		delete(w.waiters, one)
		w.mu.Unlock()
	}()
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case <-one.done:
		return nil
	case <-timer.C:
		return fmt.Errorf("wait for %s: %w", pos, w.notCaughtUp)
	case <-ctx.Done():
		return fmt.Errorf("wait for %s: %w", pos, ctx.Err())
	}
}

// Advance records that a partition's next offset is at least next and wakes the waiters that
// satisfies. A stale report never moves an offset back.
func (w *Waiter) Advance(topic string, part int32, next int64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.advanceLocked(Partition{Topic: topic, Part: part}, next)
	w.wakeLocked()
}

// AdvanceAll is Advance for every partition of a batch just applied.
func (w *Waiter) AdvanceAll(applied map[Partition]int64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for p, next := range applied {
		w.advanceLocked(p, next)
	}
	w.wakeLocked()
}

func (w *Waiter) advanceLocked(p Partition, next int64) {
	if next > w.known[p] {
		w.known[p] = next
	}
}

func (w *Waiter) wakeLocked() {
	for one := range w.waiters {
		if w.known[one.p] > one.offset {
			close(one.done)
			delete(w.waiters, one)
		}
	}
}

// poll reads the checkpoints and wakes the waiters they satisfy, every PollInterval, until no
// one waits. It is started by the first waiter; a failed read is retried on the next tick (the
// waiters' own timeouts bound how long anyone waits).
func (w *Waiter) poll() {
	ticker := time.NewTicker(PollInterval)
	defer ticker.Stop()
	for {
		// Not tied to any one waiter's context: the poll serves all of them.
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		cps, err := w.load(ctx)
		cancel()
		w.mu.Lock()
		if err == nil {
			for topic, parts := range cps {
				for part, off := range parts {
					w.advanceLocked(Partition{Topic: topic, Part: part}, off)
				}
			}
			w.wakeLocked()
		}
		if len(w.waiters) == 0 {
			w.polling = false
			w.mu.Unlock()
			return
		}
		w.mu.Unlock()
		<-ticker.C
	}
}
