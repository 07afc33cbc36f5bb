package commands_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/chorus-chat/chorus/commands"
	"github.com/chorus-chat/chorus/domain"
)

// benchPartition is a partition of rooms, each with members and messages, decided as the command
// processor decides them (the state a snapshot holds).
func benchPartition(b *testing.B, rooms, messages int) *commands.PartitionState {
	b.Helper()
	s := commands.NewPartitionState()
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	owner := domain.UserIDFor("owner")
	offset := int64(0)
	decide := func(room uuid.UUID, p domain.CommandData) {
		now = now.Add(time.Millisecond)
		d := s.Decide(domain.NewCommand(uuid.New(), room, owner, "owner", now, p), now)
		if !d.Reply.Accepted {
			b.Fatalf("%s: %s %s", p.CommandType(), d.Reply.Code, d.Reply.Message)
		}
		offset += int64(len(d.Events))
		d.Reply.Position = fmt.Sprintf("chat-events:0:%d", offset-1)
	}
	for r := range rooms {
		room := uuid.NewSHA1(uuid.Nil, []byte(fmt.Sprint("room", r)))
		decide(room, domain.CreateRoom{Name: fmt.Sprint("room ", r)})
		for m := range messages {
			decide(room, domain.SendMessage{Content: fmt.Sprintf("message %d of room %d, a hundred bytes of content or so to look like a chat line", m, r)})
		}
	}
	return s
}

func BenchmarkSnapshotEncode(b *testing.B) {
	s := benchPartition(b, 100, 1000)
	b.ResetTimer()
	for b.Loop() {
		ps, err := s.Snapshot()
		if err != nil {
			b.Fatal(err)
		}
		if _, err := ps.Encode(900 << 10); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSnapshotDecode(b *testing.B) {
	s := benchPartition(b, 100, 1000)
	ps, err := s.Snapshot()
	if err != nil {
		b.Fatal(err)
	}
	segs, err := ps.Encode(900 << 10)
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		if _, err := commands.DecodePartitionSnapshot(segs); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecideSend(b *testing.B) {
	s := benchPartition(b, 1, 0)
	room := uuid.NewSHA1(uuid.Nil, []byte("room0"))
	owner := domain.UserIDFor("owner")
	now := time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC)
	b.ResetTimer()
	for b.Loop() {
		now = now.Add(time.Millisecond)
		d := s.Decide(domain.NewCommand(uuid.New(), room, owner, "owner", now, domain.SendMessage{Content: "hello there"}), now)
		if !d.Reply.Accepted {
			b.Fatal(d.Reply.Message)
		}
	}
}
