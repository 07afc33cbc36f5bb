package checkpoint_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chorus-chat/chorus/domain"
	"github.com/chorus-chat/chorus/projections/checkpoint"
)

var errBehind = errors.New("behind")

func TestWaiterWakesOnAdvanceAndOnPoll(t *testing.T) {
	var stored atomic.Int64 // next offset of chat-events/3 as the "database" holds it
	w := checkpoint.NewWaiter(func(context.Context) (map[string]map[int32]int64, error) {
		return map[string]map[int32]int64{"chat-events": {3: stored.Load()}}, nil
	}, errBehind, "chat-events")
	pos := domain.Position{Topic: "chat-events", Partition: 3, Offset: 41}

	// Not reached within the bound: the projection's own error.
	if err := w.WaitFor(context.Background(), pos, 30*time.Millisecond); !errors.Is(err, errBehind) {
		t.Fatalf("want errBehind, got %v", err)
	}
	// Reached by a batch of this process: at once.
	done := make(chan error, 1)
	go func() { done <- w.WaitFor(context.Background(), pos, 5*time.Second) }()
	time.Sleep(20 * time.Millisecond)
	w.Advance("chat-events", 3, 42)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	// Reached by another process (seen by the poller).
	next := domain.Position{Topic: "chat-events", Partition: 3, Offset: 99}
	go func() { done <- w.WaitFor(context.Background(), next, 5*time.Second) }()
	time.Sleep(20 * time.Millisecond)
	stored.Store(100)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	// A topic the projection does not read is included already; a stale report never moves back.
	if err := w.WaitFor(context.Background(), domain.Position{Topic: "user-events", Offset: 1 << 40}, time.Millisecond); err != nil {
		t.Fatalf("other topic: %v", err)
	}
	w.Advance("chat-events", 3, 1)
	if err := w.WaitFor(context.Background(), next, time.Millisecond); err != nil {
		t.Fatalf("offset moved back: %v", err)
	}
	// The caller's context ends the wait with its error.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := w.WaitFor(ctx, domain.Position{Topic: "chat-events", Partition: 9, Offset: 5}, time.Second); !errors.Is(err, context.Canceled) {
		t.Fatalf("want context.Canceled, got %v", err)
	}
}
