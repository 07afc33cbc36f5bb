package readmodel_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/chorus-chat/chorus/adapters/postgres/pgtest"
	"github.com/chorus-chat/chorus/domain"
	"github.com/chorus-chat/chorus/projections/readmodel"
)

func TestWaitFor(t *testing.T) {
	ctx := context.Background()
	pool := pgtest.New(t)
	projector := readmodel.NewStore(pool)
	// The gateway's Store is a different one, as in a separate process: it learns of progress
	// only from Postgres.
	gateway := readmodel.NewStore(pool)
	log := newEventLog(t)

	alice, _, r1 := log.register("alice")
	apply(t, projector, r1)
	room, created := log.createRoom(alice, "General", false, "")
	pos := func(r readmodel.Record) domain.Position {
		return domain.Position{Topic: r.Topic, Partition: r.Partition, Offset: r.Offset}
	}

	// Already projected: no wait.
	if err := gateway.WaitFor(ctx, pos(r1[0]), time.Second); err != nil {
		t.Fatalf("WaitFor(projected) = %v", err)
	}

	// Not projected: times out.
	start := time.Now()
	err := gateway.WaitFor(ctx, pos(created[1]), 100*time.Millisecond)
	if !errors.Is(err, readmodel.ErrNotCaughtUp) {
		t.Fatalf("WaitFor(unprojected) = %v, want ErrNotCaughtUp", err)
	}
	if d := time.Since(start); d < 100*time.Millisecond || d > 2*time.Second {
		t.Errorf("timed out after %v, want about 100ms", d)
	}

	// Many waiters, released by a later batch; the view then includes the event.
	const waiters = 100
	var wg sync.WaitGroup
	errs := make(chan error, waiters)
	for range waiters {
		wg.Go(func() {
			errs <- gateway.WaitFor(ctx, pos(created[1]), 10*time.Second)
		})
	}
	time.Sleep(50 * time.Millisecond)
	applied := time.Now()
	apply(t, projector, created)
	wg.Wait()
	if d := time.Since(applied); d > 2*time.Second {
		t.Errorf("waiters released %v after the batch, want promptly", d)
	}
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("WaitFor after ApplyBatch = %v", err)
		}
	}
	if r, err := gateway.Room(ctx, room); err != nil || r.MemberCount != 1 {
		t.Errorf("Room after WaitFor = %+v, %v", r, err)
	}

	// The earlier offset of the same partition is included too; another partition is not.
	if err := gateway.WaitFor(ctx, pos(created[0]), time.Second); err != nil {
		t.Errorf("WaitFor(earlier offset) = %v", err)
	}
	other := pos(created[0])
	other.Partition = 1
	if err := gateway.WaitFor(ctx, other, 50*time.Millisecond); !errors.Is(err, readmodel.ErrNotCaughtUp) {
		t.Errorf("WaitFor(other partition) = %v, want ErrNotCaughtUp", err)
	}

	// A cancelled request stops waiting with its context's error.
	cctx, cancel := context.WithCancel(ctx)
	time.AfterFunc(20*time.Millisecond, cancel)
	if err := gateway.WaitFor(cctx, domain.Position{Topic: chatTopic, Offset: 1000}, 10*time.Second); !errors.Is(err, context.Canceled) {
		t.Errorf("WaitFor(cancelled) = %v, want context.Canceled", err)
	}
}
