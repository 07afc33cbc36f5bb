package commands

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/chorus-chat/chorus/domain"
)

// snapshotWorld drives a PartitionState with random commands over a few rooms, users and the
// system aggregate, keeping every command it sent so that probes can retry them.
type snapshotWorld struct {
	rng   *rand.Rand
	rooms []uuid.UUID
	users []uuid.UUID
	names []string
	sent  []domain.Command
	msgs  map[uuid.UUID][]uuid.UUID
	now   time.Time
}

func newSnapshotWorld(seed uint64) *snapshotWorld {
	w := &snapshotWorld{rng: rand.New(rand.NewPCG(seed, 3)), msgs: map[uuid.UUID][]uuid.UUID{}, now: time.Unix(1_700_000_000, 0).UTC()}
	for i := 0; i < 4; i++ {
		w.rooms = append(w.rooms, uuid.New())
		name := fmt.Sprintf("user%d_%d", seed, i)
		w.names = append(w.names, name)
		w.users = append(w.users, domain.UserIDFor(name))
	}
	return w
}

func (w *snapshotWorld) command() domain.Command {
	w.now = w.now.Add(time.Millisecond)
	if len(w.sent) > 0 && w.rng.IntN(10) == 0 {
		return w.sent[w.rng.IntN(len(w.sent))] // a retry
	}
	ui := w.rng.IntN(len(w.users))
	actor, name := w.users[ui], w.names[ui]
	other := w.users[w.rng.IntN(len(w.users))]
	room := w.rooms[w.rng.IntN(len(w.rooms))]
	var cmd domain.Command
	switch k := w.rng.IntN(20); {
	case k == 0:
		cmd = domain.NewCommand(uuid.New(), actor, actor, name, w.now, domain.RegisterUser{Username: name, DisplayName: name})
	case k == 1:
		dn := fmt.Sprint("dn", w.rng.IntN(9))
		cmd = domain.NewCommand(uuid.New(), actor, actor, name, w.now, domain.UpdateProfile{DisplayName: &dn})
	case k == 2:
		cmd = domain.NewCommand(uuid.New(), domain.SystemAggregateID, actor, name, w.now, domain.PublishSystemEvent{Kind: domain.SystemUpdate, Message: "v2"})
	case k == 3:
		cmd = domain.NewCommand(uuid.New(), room, actor, name, w.now, domain.CreateRoom{Name: "r"})
	case k < 6:
		cmd = domain.NewCommand(uuid.New(), room, actor, name, w.now, domain.JoinRoom{})
	case k == 6:
		cmd = domain.NewCommand(uuid.New(), room, actor, name, w.now, domain.BanMember{UserID: other})
	case k == 7:
		cmd = domain.NewCommand(uuid.New(), room, actor, name, w.now, domain.UnbanMember{UserID: other})
	case k == 8:
		cmd = domain.NewCommand(uuid.New(), room, actor, name, w.now, domain.SetRole{UserID: other, Role: domain.RoleAdmin})
	case k == 9:
		cmd = domain.NewCommand(uuid.New(), room, actor, name, w.now, domain.MarkRead{Seq: int64(1 + w.rng.IntN(5))})
	case k == 10 && len(w.msgs[room]) > 0:
		ids := w.msgs[room]
		cmd = domain.NewCommand(uuid.New(), room, actor, name, w.now, domain.EditMessage{MessageID: ids[w.rng.IntN(len(ids))], Content: "edit"})
	case k == 11 && len(w.msgs[room]) > 0:
		ids := w.msgs[room]
		cmd = domain.NewCommand(uuid.New(), room, actor, name, w.now, domain.DeleteMessage{MessageID: ids[w.rng.IntN(len(ids))]})
	default:
		var reply *uuid.UUID
		if ids := w.msgs[room]; len(ids) > 0 && w.rng.IntN(4) == 0 {
			reply = &ids[w.rng.IntN(len(ids))]
		}
		cmd = domain.NewCommand(uuid.New(), room, actor, name, w.now, domain.SendMessage{Content: fmt.Sprint("m", w.rng.Int()), ReplyToMessageID: reply, ClientMsgID: fmt.Sprint(w.rng.IntN(3))})
	}
	w.sent = append(w.sent, cmd)
	return cmd
}

// decide runs a command as the processor does: Decide, then the reply gets the position of its
// last event.
func (w *snapshotWorld) decide(s *PartitionState, cmd domain.Command, offset *int64) Decision {
	d := s.Decide(cmd, w.now)
	if !d.Duplicate && len(d.Events) > 0 {
		*offset += int64(len(d.Events))
		d.Reply.Position = domain.Position{Topic: "chat-events", Partition: 0, Offset: *offset}.String()
	}
	for _, ev := range d.Events {
		if ms, ok := ev.Data.(domain.MessageSent); ok {
			w.msgs[ev.AggregateID] = append(w.msgs[ev.AggregateID], ms.Message.ID)
		}
	}
	return d
}

func decisionJSON(t *testing.T, d Decision) string {
	t.Helper()
	b, err := json.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestPartitionSnapshotRoundTripsExactly(t *testing.T) {
	for seed := uint64(1); seed <= 6; seed++ {
		w := newSnapshotWorld(seed)
		s := NewPartitionState()
		var offset int64
		// More commands than RecentCommands on some aggregates, so that eviction order matters.
		for i := 0; i < 5000; i++ {
			w.decide(s, w.command(), &offset)
		}
		snap, err := s.Snapshot()
		if err != nil {
			t.Fatal(err)
		}
		segs, err := snap.Encode(64 << 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(segs) < 2 {
			t.Fatalf("want several segments, got %d", len(segs))
		}
		restored, err := DecodePartitionSnapshot(segs)
		if err != nil {
			t.Fatal(err)
		}
		if restored.Aggregates() != s.Aggregates() {
			t.Fatalf("restored %d aggregates, want %d", restored.Aggregates(), s.Aggregates())
		}
		// The same commands, new and retried, get the same decisions from both.
		probeWorld := *w
		probeWorld.rng = rand.New(rand.NewPCG(seed, 77))
		off1, off2 := offset, offset
		dups := 0
		for i := 0; i < 3000; i++ {
			cmd := probeWorld.command()
			d1 := probeWorld.decide(s, cmd, &off1)
			d2 := probeWorld.decide(restored, cmd, &off2)
			if j1, j2 := decisionJSON(t, d1), decisionJSON(t, d2); j1 != j2 {
				t.Fatalf("seed %d probe %d (%s): original %s\nrestored %s", seed, i, cmd.Type, j1, j2)
			}
			if d1.Duplicate {
				dups++
			}
		}
		if dups == 0 {
			t.Fatal("no probe was a retry: the recent-command memory went untested")
		}
	}
}

func TestPartitionSnapshotRejectsWhatItCannotRead(t *testing.T) {
	w := newSnapshotWorld(9)
	s := NewPartitionState()
	var offset int64
	for i := 0; i < 200; i++ {
		w.decide(s, w.command(), &offset)
	}
	snap, err := s.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	segs, err := snap.Encode(1 << 20)
	if err != nil {
		t.Fatal(err)
	}
	other := append([]byte(nil), segs[0]...)
	other[3] = SnapshotFormat + 1
	if _, err := DecodePartitionSnapshot([][]byte{other}); !errors.Is(err, ErrSnapshotFormat) {
		t.Fatalf("a snapshot of an unknown format: %v, want ErrSnapshotFormat", err)
	}
	for _, cut := range []int{5, len(segs[0]) / 2, len(segs[0]) - 1} {
		if _, err := DecodePartitionSnapshot([][]byte{segs[0][:cut]}); err == nil {
			t.Fatalf("a snapshot cut at %d of %d bytes decoded", cut, len(segs[0]))
		}
	}
	if _, err := DecodePartitionSnapshot([][]byte{segs[0], segs[0]}); err == nil {
		t.Fatal("a snapshot holding an aggregate twice decoded")
	}
}

// The snapshot writes MessageSent field by field: a new field must reach the encoder (and raise
// the event's schema version or SnapshotFormat), or restored replies would lose it.
func TestSnapshotKnowsEveryFieldOfMessageSent(t *testing.T) {
	if n := reflect.TypeFor[domain.MessageSent]().NumField(); n != 2 {
		t.Fatalf("MessageSent has %d fields; commands/snapshot.go encodes 2", n)
	}
	if n := reflect.TypeFor[domain.MessageData]().NumField(); n != 9 {
		t.Fatalf("MessageData has %d fields; commands/snapshot.go encodes 9", n)
	}
	if n := reflect.TypeFor[domain.Event]().NumField(); n != 11 {
		t.Fatalf("Event has %d fields; commands/snapshot.go encodes 10 (and a delegate's MessageSent as JSON)", n)
	}
}

// A MessageSent whose fields do not repeat each other (no event Decide writes today) keeps them
// all.
func TestSnapshotKeepsUnusualMessageSent(t *testing.T) {
	replyTo := uuid.New()
	ev := domain.Event{
		ID: uuid.New(), Type: domain.TypeMessageSent, AggregateType: "odd", AggregateID: uuid.New(), Version: 7,
		OccurredAt: time.Unix(1_700_000_000, 5).UTC(), ActorID: uuid.New(), CommandID: uuid.New(),
		SchemaVersion: domain.SchemaVersion(domain.TypeMessageSent),
		Data: domain.MessageSent{RoomID: uuid.New(), Message: domain.MessageData{
			ID: uuid.New(), RoomID: uuid.New(), SenderID: uuid.New(), Content: "c", MessageType: domain.MessageFile,
			ReplyToMessageID: &replyTo, Seq: 3, ClientMsgID: "k", CreatedAt: time.Unix(1_600_000_000, 0).UTC(),
		}},
	}
	room := domain.NewRoom(uuid.New())
	rs := room.Snapshot()
	ps := &PartitionSnapshot{Entries: []EntrySnapshot{{
		Aggregate: domain.AggregateSnapshot{Type: domain.AggregateRoom, Room: &rs},
		Recent:    []*Reply{{CommandID: uuid.New(), Accepted: true, Position: "chat-events:1:2", Events: []domain.Event{ev}}},
	}}}
	segs, err := ps.Encode(1 << 20)
	if err != nil {
		t.Fatal(err)
	}
	s, err := DecodePartitionSnapshot(segs)
	if err != nil {
		t.Fatal(err)
	}
	back, err := s.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	if got := back.Entries[0].Recent[0].Events[0]; !reflect.DeepEqual(got, ev) {
		t.Fatalf("event came back as\n%+v\nwant\n%+v", got, ev)
	}
}

// A delegate's MessageSent keeps acting_id through a snapshot (it is written as JSON).
func TestSnapshotKeepsDelegatesMessageSent(t *testing.T) {
	room, acting := uuid.New(), uuid.New()
	ev := domain.Event{
		ID: uuid.New(), Type: domain.TypeMessageSent, AggregateType: domain.AggregateRoom, AggregateID: room, Version: 2,
		OccurredAt: time.Unix(1_700_000_000, 0).UTC(), ActorID: uuid.New(), CommandID: uuid.New(),
		SchemaVersion: domain.SchemaVersion(domain.TypeMessageSent), ActingID: &acting,
		Data: domain.MessageSent{RoomID: room, Message: domain.MessageData{ID: uuid.New(), RoomID: room, Content: "c",
			MessageType: domain.MessageText, Seq: 1, CreatedAt: time.Unix(1_700_000_000, 0).UTC()}},
	}
	rs := domain.NewRoom(room).Snapshot()
	ps := &PartitionSnapshot{Entries: []EntrySnapshot{{
		Aggregate: domain.AggregateSnapshot{Type: domain.AggregateRoom, Room: &rs},
		Recent:    []*Reply{{CommandID: ev.CommandID, Accepted: true, Position: "chat-events:1:2", Events: []domain.Event{ev}}},
	}}}
	segs, err := ps.Encode(1 << 20)
	if err != nil {
		t.Fatal(err)
	}
	s, err := DecodePartitionSnapshot(segs)
	if err != nil {
		t.Fatal(err)
	}
	back, err := s.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	if got := back.Entries[0].Recent[0].Events[0]; !reflect.DeepEqual(got, ev) {
		t.Fatalf("event came back as\n%+v\nwant\n%+v", got, ev)
	}
}
