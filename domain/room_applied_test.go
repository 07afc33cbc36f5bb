package domain_test

import (
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/chorus-chat/chorus/domain"
)

func TestRoomRecognizesASendItApplied(t *testing.T) {
	at := time.Date(2026, 12, 6, 3, 0, 0, 0, time.UTC)
	room, alice, bob := uuid.New(), uuid.New(), uuid.New()
	r := domain.NewAggregate(domain.AggregateRoom, room).(*domain.Room)
	decide := func(cmd domain.Command) []domain.Event {
		t.Helper()
		evs, err := r.Decide(cmd, at)
		if err != nil {
			t.Fatalf("%s: %v", cmd.Type, err)
		}
		for _, e := range evs {
			r.Apply(e)
		}
		return evs
	}
	decide(domain.NewCommand(uuid.New(), room, alice, "alice", at, domain.CreateRoom{Name: "r"}))
	decide(domain.NewCommand(uuid.New(), room, bob, "bob", at, domain.JoinRoom{}))
	sendID := uuid.New()
	send := domain.NewCommand(sendID, room, alice, "alice", at, domain.SendMessage{Content: " hello ", ClientMsgID: "c1"})
	first := decide(send)[0].Data.(domain.MessageSent).Message
	decide(domain.NewCommand(uuid.New(), room, bob, "bob", at, domain.SendMessage{Content: "later"}))

	evs, ok := r.Applied(send)
	if !ok || len(evs) != 1 {
		t.Fatalf("the send it applied: %v %v", evs, ok)
	}
	got := evs[0].Data.(domain.MessageSent).Message
	if got != first && (got.ID != first.ID || got.Seq != first.Seq || got.Content != first.Content || !got.CreatedAt.Equal(first.CreatedAt) || got.ClientMsgID != first.ClientMsgID) {
		t.Errorf("rebuilt %+v, want %+v", got, first)
	}
	if evs[0].ID != domain.EventID(sendID, 0) || evs[0].CommandID != sendID {
		t.Errorf("rebuilt event ids %s/%s", evs[0].ID, evs[0].CommandID)
	}
	for name, cmd := range map[string]domain.Command{
		"another command id":   domain.NewCommand(uuid.New(), room, alice, "alice", at, domain.SendMessage{Content: "hello"}),
		"the same id from bob": domain.NewCommand(sendID, room, bob, "bob", at, domain.SendMessage{Content: "hello"}),
		"not a send":           domain.NewCommand(sendID, room, alice, "alice", at, domain.MarkRead{Seq: 1}),
	} {
		if _, ok := r.Applied(cmd); ok {
			t.Errorf("%s: taken for the applied send", name)
		}
	}
}
