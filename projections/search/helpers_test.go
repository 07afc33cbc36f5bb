package search_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/chorus-chat/chorus/adapters/postgres/pgtest"
	"github.com/chorus-chat/chorus/domain"
	"github.com/chorus-chat/chorus/projections"
	"github.com/chorus-chat/chorus/projections/search"
)

const chatTopic = "chat-events"

// eventLog decides commands with the real room aggregates and numbers their events as the log
// would, on chat-events partition 0.
type eventLog struct {
	t      testing.TB
	aggs   map[uuid.UUID]domain.Aggregate
	offset int64
	now    time.Time
}

func newEventLog(t testing.TB) *eventLog {
	return &eventLog{t: t, aggs: map[uuid.UUID]domain.Aggregate{}, now: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
}

// act decides p by actor on the room; each command happens a second after the last.
func (l *eventLog) act(room, actor uuid.UUID, p domain.CommandData) []search.Record {
	l.t.Helper()
	l.now = l.now.Add(time.Second)
	agg, ok := l.aggs[room]
	if !ok {
		agg = domain.NewAggregate(domain.AggregateRoom, room)
		l.aggs[room] = agg
	}
	events, err := agg.Decide(domain.NewCommand(uuid.New(), room, actor, "user-"+actor.String()[:8], l.now, p), l.now)
	if err != nil {
		l.t.Fatalf("decide %T: %v", p, err)
	}
	recs := make([]search.Record, len(events))
	for i, e := range events {
		agg.Apply(e)
		recs[i] = search.Record{Topic: chatTopic, Partition: 0, Offset: l.offset, Event: e}
		l.offset++
	}
	return recs
}

func (l *eventLog) createRoom(owner uuid.UUID, private bool) (uuid.UUID, []search.Record) {
	id := uuid.New()
	return id, l.act(id, owner, domain.CreateRoom{Name: "room " + id.String()[:8], IsPrivate: private})
}

func (l *eventLog) join(room, user uuid.UUID) []search.Record {
	return l.act(room, user, domain.JoinRoom{})
}

// send posts content and returns the message id with the records.
func (l *eventLog) send(room, user uuid.UUID, content string) (uuid.UUID, []search.Record) {
	l.t.Helper()
	recs := l.act(room, user, domain.SendMessage{Content: content})
	for _, r := range recs {
		if d, ok := r.Event.Data.(domain.MessageSent); ok {
			return d.Message.ID, recs
		}
	}
	l.t.Fatal("no MessageSent among the records")
	return uuid.Nil, nil
}

// fixture is a fresh database, its search store and an event log.
type fixture struct {
	t     *testing.T
	pool  *pgxpool.Pool
	store *search.Store
	log   *eventLog
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	pool := pgtest.New(t)
	return &fixture{t: t, pool: pool, store: search.NewStore(pool, chatTopic), log: newEventLog(t)}
}

// apply applies the records in one batch.
func (f *fixture) apply(recs ...[]search.Record) {
	f.t.Helper()
	var all []search.Record
	for _, r := range recs {
		all = append(all, r...)
	}
	if err := f.store.ApplyBatch(context.Background(), all); err != nil {
		f.t.Fatalf("ApplyBatch: %v", err)
	}
}

// search runs q and fails the test on an error.
func (f *fixture) search(q search.Query) []projections.Message {
	f.t.Helper()
	res, err := f.store.Search(context.Background(), q)
	if err != nil {
		f.t.Fatalf("search %+v: %v", q, err)
	}
	return res
}

// find searches text in every room user may read and returns the contents found, best first.
func (f *fixture) find(user uuid.UUID, text string) []string {
	f.t.Helper()
	var out []string
	for _, m := range f.search(search.Query{UserID: user, Text: text, Limit: search.MaxLimit}) {
		out = append(out, m.Content)
	}
	return out
}

func ids(ms []projections.Message) []uuid.UUID {
	out := make([]uuid.UUID, len(ms))
	for i, m := range ms {
		out[i] = m.ID
	}
	return out
}
