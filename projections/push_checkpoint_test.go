package projections_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/chorus-chat/chorus/adapters/postgres/pgtest"
	"github.com/chorus-chat/chorus/domain"
	"github.com/chorus-chat/chorus/projections"
	"github.com/chorus-chat/chorus/projections/checkpoint"
)

type pushSink struct{ got []projections.Push }

func (s *pushSink) Publish(p []projections.Push) error {
	s.got = append(s.got, p...)
	return nil
}

// The push projection writes its checkpoints at most once per interval, and a position reached
// after the last write is written by the timer when no further batch comes: an idle projection
// shows where it is, and a restart re-sends at most the interval's pushes.
func TestPushCheckpointsAreWrittenWithinTheInterval(t *testing.T) {
	pool := pgtest.New(t)
	ctx := context.Background()
	sink := &pushSink{}
	const every = 300 * time.Millisecond
	h := projections.NewPushHandler(pool, sink, checkpoint.DeadLetters{Pool: pool}).CheckpointEvery(every)
	room, name := uuid.New(), "r"
	rec := func(off int64) checkpoint.Record {
		return checkpoint.Record{Topic: "chat-events", Partition: 2, Offset: off, Event: domain.Event{
			ID: uuid.New(), Type: "RoomUpdated", OccurredAt: time.Now(),
			Data: domain.RoomUpdated{RoomID: room, Name: &name},
		}}
	}
	next := func() int64 {
		cps, err := h.Checkpoints(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return cps["chat-events"][2]
	}
	if err := h.Handle(ctx, []checkpoint.Record{rec(0), rec(1)}); err != nil {
		t.Fatal(err)
	}
	if got := next(); got != 2 {
		t.Fatalf("the first batch's checkpoint is %d, want 2 (written at once)", got)
	}
	if err := h.Handle(ctx, []checkpoint.Record{rec(2)}); err != nil {
		t.Fatal(err)
	}
	if got := next(); got != 2 {
		t.Fatalf("a batch within the interval wrote its checkpoint (%d): one write per interval", got)
	}
	deadline := time.Now().Add(5 * time.Second)
	for next() != 3 {
		if time.Now().After(deadline) {
			t.Fatalf("with no further batch the checkpoint stayed at %d, want 3", next())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if len(sink.got) != 3 {
		t.Fatalf("published %d pushes, want 3", len(sink.got))
	}
	for _, p := range sink.got {
		if p.OccurredAt.IsZero() {
			t.Fatalf("push %+v has no occurred_at", p)
		}
	}
}
