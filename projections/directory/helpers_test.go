package directory_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/chorus-chat/chorus/adapters/postgres/pgtest"
	"github.com/chorus-chat/chorus/domain"
	"github.com/chorus-chat/chorus/projections/directory"
)

const orgTopic = "org-events"

// orgLog numbers organization events as the log would: versions per organization from 1,
// offsets on org-events partition 0, a second apart. (The aggregate that decides them is built
// elsewhere; the directory is tested against the events the contract describes.)
type orgLog struct {
	versions map[uuid.UUID]int64
	offset   int64
	now      time.Time
}

func newOrgLog() *orgLog {
	return &orgLog{versions: map[uuid.UUID]int64{}, now: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
}

// ev is the record of d, an event of org caused by actor.
func (l *orgLog) ev(org, actor uuid.UUID, d domain.EventData) directory.Record {
	l.now = l.now.Add(time.Second)
	l.versions[org]++
	r := directory.Record{Topic: orgTopic, Partition: 0, Offset: l.offset, Event: domain.Event{
		ID: uuid.New(), Type: d.EventType(), AggregateType: domain.AggregateOrganization, AggregateID: org,
		Version: l.versions[org], OccurredAt: l.now, ActorID: actor, CommandID: uuid.New(),
		SchemaVersion: domain.CurrentSchemaVersion, Data: d}}
	l.offset++
	return r
}

// fixture is a fresh database, its directory store and an event log.
type fixture struct {
	t     *testing.T
	ctx   context.Context
	pool  *pgxpool.Pool
	store *directory.Store
	log   *orgLog
	all   []directory.Record // every record applied, in order
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	pool := pgtest.New(t)
	return &fixture{t: t, ctx: context.Background(), pool: pool, store: directory.NewStore(pool, orgTopic), log: newOrgLog()}
}

// apply applies the records in one batch.
func (f *fixture) apply(recs ...directory.Record) {
	f.t.Helper()
	if err := f.store.ApplyBatch(f.ctx, recs); err != nil {
		f.t.Fatalf("ApplyBatch: %v", err)
	}
	f.all = append(f.all, recs...)
}

// emit applies one event of org by actor.
func (f *fixture) emit(org, actor uuid.UUID, d domain.EventData) {
	f.t.Helper()
	f.apply(f.log.ev(org, actor, d))
}

// world is an organization with a few people.
type world struct {
	*fixture
	org                     uuid.UUID
	alice, bob, carol, dave uuid.UUID
	names                   map[uuid.UUID]string
}

// newWorld makes an organization owned by alice, with bob, carol and dave members.
func newWorld(t *testing.T) *world {
	t.Helper()
	f := newFixture(t)
	w := &world{fixture: f, org: domain.OrgIDFor("acme"), names: map[uuid.UUID]string{}}
	for _, p := range []struct {
		id   *uuid.UUID
		name string
	}{{&w.alice, "alice"}, {&w.bob, "bob"}, {&w.carol, "carol"}, {&w.dave, "dave"}} {
		*p.id = domain.UserIDFor(p.name)
		w.names[*p.id] = p.name
	}
	f.emit(w.org, w.alice, domain.OrganizationCreated{OrgID: w.org, Name: "Acme", Slug: "acme", Description: "Anvils",
		TimeZone: "Europe/Berlin", OwnerID: w.alice, OwnerUsername: "alice", CreatedAt: f.log.now})
	f.emit(w.org, w.alice, domain.OrgMemberJoined{OrgID: w.org, UserID: w.alice, Username: "alice", Via: domain.JoinedAsCreator, AddedBy: w.alice, JoinedAt: f.log.now})
	for _, u := range []uuid.UUID{w.bob, w.carol, w.dave} {
		w.join(u)
	}
	return w
}

func (w *world) join(u uuid.UUID) {
	w.t.Helper()
	w.emit(w.org, w.alice, domain.OrgMemberJoined{OrgID: w.org, UserID: u, Username: w.names[u], Via: domain.JoinedByAdding, AddedBy: w.alice, JoinedAt: w.log.now})
}

// dept creates a department under parent (nil: the top) and returns its id.
func (w *world) dept(parent *uuid.UUID, name string) uuid.UUID {
	w.t.Helper()
	id := uuid.New()
	w.emit(w.org, w.alice, domain.DepartmentCreated{OrgID: w.org, DepartmentID: id, ParentID: parent, Name: name, CreatedBy: w.alice, CreatedAt: w.log.now})
	return id
}

func (w *world) addTo(dept, user uuid.UUID, primary bool) {
	w.t.Helper()
	w.emit(w.org, w.alice, domain.DepartmentMemberAdded{OrgID: w.org, DepartmentID: dept, UserID: user, Primary: primary, AddedBy: w.alice, AddedAt: w.log.now})
}

// chart returns the org chart (or root's subtree) flattened: department name → its node.
func (w *world) chart(root *uuid.UUID) map[string]*directory.Department {
	w.t.Helper()
	tops, err := w.store.OrgChart(w.ctx, w.org, root)
	if err != nil {
		w.t.Fatalf("OrgChart: %v", err)
	}
	out := map[string]*directory.Department{}
	var walk func([]*directory.Department)
	walk = func(ds []*directory.Department) {
		for _, d := range ds {
			out[d.Name] = d
			walk(d.Children)
		}
	}
	walk(tops)
	return out
}

// members returns the usernames q selects, all pages of them.
func (w *world) members(q directory.MemberQuery) []string {
	w.t.Helper()
	var out []string
	for {
		page, next, err := w.store.Members(w.ctx, w.org, q)
		if err != nil {
			w.t.Fatalf("Members %+v: %v", q, err)
		}
		for _, m := range page {
			out = append(out, m.Username)
		}
		if next == nil {
			return out
		}
		q.After = next
	}
}

func ptr[T any](v T) *T { return &v }
