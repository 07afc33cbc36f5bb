package commands_test

import (
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/chorus-chat/chorus/commands"
	"github.com/chorus-chat/chorus/domain"
)

var now = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

func send(room, user uuid.UUID, id uuid.UUID, text string) domain.Command {
	return domain.NewCommand(id, room, user, "u", now, domain.SendMessage{Content: text})
}

func TestDecideRemembersCommandsAndAnswersRetriesWithTheFirstResult(t *testing.T) {
	s := commands.NewPartitionState()
	room, owner := uuid.New(), uuid.New()
	if d := s.Decide(domain.NewCommand(uuid.New(), room, owner, "u", now, domain.CreateRoom{Name: "r"}), now); !d.Reply.Accepted {
		t.Fatalf("create: %+v", d.Reply)
	}
	id := uuid.New()
	first := s.Decide(send(room, owner, id, "hi"), now)
	if !first.Reply.Accepted || first.Duplicate || len(first.Events) != 1 {
		t.Fatalf("first send: %+v", first)
	}
	again := s.Decide(send(room, owner, id, "hi"), now)
	if !again.Duplicate || len(again.Events) != 0 || again.Reply != first.Reply {
		t.Fatalf("retry must answer the first reply and append nothing: %+v", again)
	}
	// A rejection is not remembered: a retry is decided again.
	stranger := uuid.New()
	rej := s.Decide(send(room, stranger, uuid.New(), "x"), now)
	if rej.Reply.Accepted || rej.Reply.Code != domain.CodeNotAMember || rej.Reply.Message == "" {
		t.Fatalf("stranger: %+v", rej.Reply)
	}
}

func TestReplayRebuildsStateAndReplies(t *testing.T) {
	live := commands.NewPartitionState()
	room, owner := uuid.New(), uuid.New()
	var log []domain.Event
	create := live.Decide(domain.NewCommand(uuid.New(), room, owner, "u", now, domain.CreateRoom{Name: "r"}), now)
	log = append(log, create.Events...)
	sendID := uuid.New()
	sent := live.Decide(send(room, owner, sendID, "one"), now)
	log = append(log, sent.Events...)

	rebuilt := commands.NewPartitionState()
	for i, ev := range log {
		if err := rebuilt.Replay(ev, domain.Position{Topic: "chat-events", Partition: 0, Offset: int64(i)}); err != nil {
			t.Fatal(err)
		}
	}
	d := rebuilt.Decide(send(room, owner, sendID, "one"), now)
	if !d.Duplicate || d.Reply.Position != "chat-events:0:2" || len(d.Reply.Events) != 1 {
		t.Fatalf("rebuilt state must know the command and its position: %+v", d.Reply)
	}
	next := rebuilt.Decide(send(room, owner, uuid.New(), "two"), now)
	if got := next.Events[0].Data.(domain.MessageSent).Message.Seq; got != 2 {
		t.Fatalf("seq after rebuild %d, want 2", got)
	}
	if next.Events[0].Version != 4 {
		t.Fatalf("version after rebuild %d, want 4", next.Events[0].Version)
	}
}

func TestRecentCommandsAreBoundedPerAggregate(t *testing.T) {
	s := commands.NewPartitionState()
	room, owner := uuid.New(), uuid.New()
	s.Decide(domain.NewCommand(uuid.New(), room, owner, "u", now, domain.CreateRoom{Name: "r"}), now)
	rename := uuid.New()
	name := "renamed"
	if d := s.Decide(domain.NewCommand(rename, room, owner, "u", now, domain.UpdateRoom{Name: &name}), now); !d.Reply.Accepted {
		t.Fatalf("rename: %+v", d.Reply)
	}
	for i := 0; i < commands.RecentCommands; i++ {
		s.Decide(send(room, owner, uuid.New(), "filler"), now)
	}
	// The rename fell out of the window: it is decided anew (the room cannot tell).
	d := s.Decide(domain.NewCommand(rename, room, owner, "u", now, domain.UpdateRoom{Name: &name}), now)
	if d.Duplicate || len(d.Events) != 1 {
		t.Fatalf("a command older than the window should be decided again: %+v", d)
	}
}

// A send retried after more than RecentCommands later commands of its room (a client that
// retried by its client_msg_id long after, a command redelivered late) is recognized by its
// message, whose id derives from the command id, and answered as the first attempt was: the
// same message and seq, nothing appended. Before, it was decided again: the same message id
// with a new seq in the log.
func TestSendRetriedPastTheWindowIsAnsweredWithTheFirstMessage(t *testing.T) {
	s := commands.NewPartitionState()
	room, owner := uuid.New(), uuid.New()
	s.Decide(domain.NewCommand(uuid.New(), room, owner, "u", now, domain.CreateRoom{Name: "r"}), now)
	id := uuid.New()
	first := s.Decide(send(room, owner, id, "first"), now)
	want := first.Events[0].Data.(domain.MessageSent).Message
	var lastPos string
	for i := 0; i < commands.RecentCommands+10; i++ {
		d := s.Decide(send(room, owner, uuid.New(), "filler"), now.Add(time.Minute))
		lastPos = domain.Position{Topic: "chat-events", Partition: 0, Offset: int64(i + 10)}.String()
		d.Reply.Position = lastPos // as the processor sets it after the commit
	}
	again := s.Decide(send(room, owner, id, "first"), now.Add(time.Hour))
	if !again.Duplicate || len(again.Events) != 0 || !again.Reply.Accepted {
		t.Fatalf("a send past the window must be answered, not appended: %+v", again)
	}
	got := again.Reply.Events[0].Data.(domain.MessageSent).Message
	if got.ID != want.ID || got.Seq != want.Seq || !got.CreatedAt.Equal(want.CreatedAt) || got.Content != want.Content || got.SenderID != owner {
		t.Fatalf("answered with %+v, want the first message %+v", got, want)
	}
	if again.Reply.Position != lastPos {
		t.Fatalf("position %q, want the room's newest known %q (at or after the first message)", again.Reply.Position, lastPos)
	}
}

// A command of no kind is rejected as validation_failed, and leaves no aggregate behind; an
// event of no kind cannot be replayed. Neither is ever taken for a room.
func TestUnknownKindsAreErrors(t *testing.T) {
	s := commands.NewPartitionState()
	agg, user := uuid.New(), uuid.New()
	for name, cmd := range map[string]domain.Command{
		"unknown payload": domain.NewCommand(uuid.New(), agg, user, "u", now, explode{}),
		"no payload":      {ID: uuid.New(), Type: domain.CmdSendMessage, AggregateType: domain.AggregateRoom, AggregateID: agg, ActorID: user},
		"unknown kind": func() domain.Command {
			c := send(agg, user, uuid.New(), "hi")
			c.AggregateType = "guild"
			return c
		}(),
	} {
		d := s.Decide(cmd, now)
		if d.Reply.Accepted || d.Reply.Code != domain.CodeValidationFailed || d.Reply.Message == "" || len(d.Events) != 0 {
			t.Errorf("%s: %+v", name, d.Reply)
		}
	}
	if s.Aggregates() != 0 {
		t.Errorf("rejected commands left %d aggregates", s.Aggregates())
	}
	create := domain.NewCommand(uuid.New(), agg, user, "u", now, domain.CreateRoom{Name: "r"})
	d := s.Decide(create, now)
	ev := d.Events[0]
	ev.AggregateType = "guild"
	if err := commands.NewPartitionState().Replay(ev, domain.Position{Topic: "chat-events"}); !errors.Is(err, domain.ErrUnknownKind) {
		t.Errorf("replaying an event of a guild: %v", err)
	}
}

type explode struct{}

func (explode) CommandType() string { return "explode_room" }
