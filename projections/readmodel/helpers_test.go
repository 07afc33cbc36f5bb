package readmodel_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/chorus-chat/chorus/domain"
	"github.com/chorus-chat/chorus/projections/readmodel"
)

const (
	chatTopic = "chat-events"
	userTopic = "user-events"
)

// eventLog decides commands with the real aggregates and numbers the resulting events as the
// log would: room events on chat-events, user events on user-events, partition 0 each.
type eventLog struct {
	t       testing.TB
	aggs    map[uuid.UUID]domain.Aggregate
	offsets map[string]int64
	now     time.Time
}

func newEventLog(t testing.TB) *eventLog {
	return &eventLog{
		t: t, aggs: map[uuid.UUID]domain.Aggregate{}, offsets: map[string]int64{},
		now: time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC),
	}
}

// do decides cmd and returns its events as records; each command happens a second after the last.
func (l *eventLog) do(cmd domain.Command) []readmodel.Record {
	l.t.Helper()
	l.now = l.now.Add(time.Second)
	agg, ok := l.aggs[cmd.AggregateID]
	if !ok {
		agg = domain.NewAggregate(cmd.AggregateType, cmd.AggregateID)
		l.aggs[cmd.AggregateID] = agg
	}
	events, err := agg.Decide(cmd, l.now)
	if err != nil {
		l.t.Fatalf("decide %s: %v", cmd.Type, err)
	}
	topic := chatTopic
	if cmd.AggregateType == domain.AggregateUser || cmd.AggregateType == domain.AggregateProxies {
		topic = userTopic
	}
	recs := make([]readmodel.Record, len(events))
	for i, e := range events {
		agg.Apply(e)
		recs[i] = readmodel.Record{Topic: topic, Partition: 0, Offset: l.offsets[topic], Event: e}
		l.offsets[topic]++
	}
	return recs
}

// register registers name with display name "<name> Display" and email <name>@example.com and
// returns the user id, the command id and the events.
func (l *eventLog) register(name string) (uuid.UUID, uuid.UUID, []readmodel.Record) {
	return l.registerAs(name, name+" Display")
}

func (l *eventLog) registerAs(name, display string) (uuid.UUID, uuid.UUID, []readmodel.Record) {
	cmdID := uuid.New()
	id := domain.UserIDFor(name)
	recs := l.do(domain.NewCommand(cmdID, id, id, name, l.now, domain.RegisterUser{
		Username: name, DisplayName: display, Email: name + "@example.com",
	}))
	return id, cmdID, recs
}

func (l *eventLog) createRoom(owner uuid.UUID, name string, private bool, passwordHash string) (uuid.UUID, []readmodel.Record) {
	id := uuid.New()
	return id, l.do(domain.NewCommand(uuid.New(), id, owner, "owner", l.now, domain.CreateRoom{
		Name: name, Description: "about " + name, IsPrivate: private, PasswordHash: passwordHash,
	}))
}

func (l *eventLog) join(room, user uuid.UUID) []readmodel.Record {
	return l.do(domain.NewCommand(uuid.New(), room, user, "joiner", l.now, domain.JoinRoom{}))
}

func (l *eventLog) leave(room, user uuid.UUID) []readmodel.Record {
	return l.do(domain.NewCommand(uuid.New(), room, user, "leaver", l.now, domain.LeaveRoom{}))
}

func (l *eventLog) send(room, user uuid.UUID, content string) []readmodel.Record {
	return l.do(domain.NewCommand(uuid.New(), room, user, "sender", l.now, domain.SendMessage{Content: content}))
}

// joinAs joins user to room under username.
func (l *eventLog) joinAs(room, user uuid.UUID, username string) []readmodel.Record {
	return l.do(domain.NewCommand(uuid.New(), room, user, username, l.now, domain.JoinRoom{}))
}

// act decides any command by actor on the aggregate id.
func (l *eventLog) act(id, actor uuid.UUID, p domain.CommandData) []readmodel.Record {
	return l.do(domain.NewCommand(uuid.New(), id, actor, "actor", l.now, p))
}

// messageID is the id of the message a send's records hold.
func messageID(t testing.TB, recs []readmodel.Record) uuid.UUID {
	t.Helper()
	for _, r := range recs {
		if d, ok := r.Event.Data.(domain.MessageSent); ok {
			return d.Message.ID
		}
	}
	t.Fatal("no MessageSent among the records")
	return uuid.Nil
}

func concat(parts ...[]readmodel.Record) []readmodel.Record {
	var out []readmodel.Record
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

func apply(t testing.TB, s *readmodel.Store, recs ...[]readmodel.Record) {
	t.Helper()
	if err := s.ApplyBatch(context.Background(), readmodel.Projection, concat(recs...)); err != nil {
		t.Fatalf("ApplyBatch: %v", err)
	}
}
