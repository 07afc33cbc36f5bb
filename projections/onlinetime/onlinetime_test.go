package onlinetime_test

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/chorus-chat/chorus/adapters/postgres/pgtest"
	"github.com/chorus-chat/chorus/domain"
	"github.com/chorus-chat/chorus/projections/onlinetime"
)

// fixture is a database with one organization in Berlin's time zone: a department tree
// top > sub, and other beside it; alice in sub, bob in other, carol in no department.
type fixture struct {
	t                 *testing.T
	ctx               context.Context
	pool              *pgxpool.Pool
	store             *onlinetime.Store
	offset            int64
	org               uuid.UUID
	top, sub, other   uuid.UUID
	alice, bob, carol uuid.UUID
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	pool := pgtest.New(t)
	f := &fixture{t: t, ctx: context.Background(), pool: pool, store: onlinetime.NewStore(pool),
		org: uuid.New(), top: uuid.New(), sub: uuid.New(), other: uuid.New(),
		alice: domain.UserIDFor("alice"), bob: domain.UserIDFor("bob"), carol: domain.UserIDFor("carol")}
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	f.exec(`INSERT INTO organizations (id, name, slug, time_zone, created_at, updated_at) VALUES ($1, 'Acme', 'acme', 'Europe/Berlin', $2, $2)`, f.org, at)
	for _, d := range []struct {
		id   uuid.UUID
		path []uuid.UUID
	}{{f.top, []uuid.UUID{f.top}}, {f.sub, []uuid.UUID{f.top, f.sub}}, {f.other, []uuid.UUID{f.other}}} {
		f.exec(`INSERT INTO org_departments (id, org_id, parent_id, name, path, created_at) VALUES ($1, $2, NULL, $5, $3, $4)`, d.id, f.org, d.path, at, d.id.String())
	}
	for name, u := range map[string]uuid.UUID{"alice": f.alice, "bob": f.bob, "carol": f.carol} {
		f.exec(`INSERT INTO org_members (org_id, user_id, username, username_lower, via, joined_at) VALUES ($1, $2, $3, $3, 'created', $4)`, f.org, u, name, at)
	}
	f.exec(`INSERT INTO org_department_members (org_id, department_id, user_id, is_primary, added_version, added_at) VALUES ($1, $2, $3, true, 1, $4), ($1, $5, $6, true, 2, $4)`,
		f.org, f.sub, f.alice, at, f.other, f.bob)
	return f
}

func (f *fixture) exec(sql string, args ...any) {
	f.t.Helper()
	if _, err := f.pool.Exec(f.ctx, sql, args...); err != nil {
		f.t.Fatalf("%s: %v", sql, err)
	}
}

// emit applies user events as the projector would, one batch.
func (f *fixture) emit(ds ...domain.EventData) {
	f.t.Helper()
	var recs []onlinetime.Record
	for _, d := range ds {
		var user uuid.UUID
		switch d := d.(type) {
		case domain.UserCameOnline:
			user = d.UserID
		case domain.UserWentOffline:
			user = d.UserID
		}
		recs = append(recs, onlinetime.Record{Topic: "user-events", Partition: 0, Offset: f.offset, Event: domain.Event{
			ID: uuid.New(), Type: d.EventType(), AggregateType: domain.AggregateUser, AggregateID: user,
			Version: f.offset + 1, OccurredAt: time.Now(), ActorID: domain.SystemActorID, CommandID: uuid.New(),
			SchemaVersion: 1, Data: d}})
		f.offset++
	}
	if err := f.store.ApplyBatch(f.ctx, recs); err != nil {
		f.t.Fatal(err)
	}
}

func (f *fixture) report(from, to string, dept, user *uuid.UUID, now time.Time) onlinetime.Report {
	f.t.Helper()
	fd, _ := time.Parse(onlinetime.DateLayout, from)
	td, _ := time.Parse(onlinetime.DateLayout, to)
	r, err := f.store.Report(f.ctx, onlinetime.ReportQuery{OrgID: f.org, From: fd, To: td, DepartmentID: dept, UserID: user, Now: now})
	if err != nil {
		f.t.Fatal(err)
	}
	return r
}

func days(u onlinetime.UserTime) map[string]int64 {
	out := map[string]int64{}
	for _, d := range u.Days {
		out[d.Date] = d.Seconds
	}
	return out
}

func berlin(t *testing.T, s string) time.Time {
	t.Helper()
	loc, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	v, err := time.ParseInLocation("2006-01-02 15:04", s, loc)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// A session across midnight in the organization's zone is split between its days there (not
// UTC's: 23:00 Berlin is 22:00 UTC); open sessions count up to now; a department's report
// covers its subtree.
func TestReportSplitsAtTheOrganizationsMidnight(t *testing.T) {
	f := newFixture(t)
	start, end := berlin(t, "2026-03-10 22:00"), berlin(t, "2026-03-11 01:30")
	f.emit(domain.UserCameOnline{UserID: f.alice, At: start},
		domain.UserWentOffline{UserID: f.alice, Since: start, At: end, Cause: domain.OfflineLeft},
		domain.UserCameOnline{UserID: f.bob, At: berlin(t, "2026-03-11 09:00")})
	now := berlin(t, "2026-03-11 09:45")

	r := f.report("2026-03-10", "2026-03-11", nil, nil, now)
	if r.TimeZone != "Europe/Berlin" || len(r.Users) != 3 {
		t.Fatalf("report %+v", r)
	}
	byName := map[string]onlinetime.UserTime{}
	for _, u := range r.Users {
		byName[u.Username] = u
	}
	if d := days(byName["alice"]); d["2026-03-10"] != 7200 || d["2026-03-11"] != 5400 || byName["alice"].TotalSeconds != 12600 {
		t.Errorf("alice %+v, want 2 h on the 10th and 1.5 h on the 11th", byName["alice"])
	}
	if d := days(byName["bob"]); d["2026-03-11"] != 2700 || len(d) != 1 {
		t.Errorf("bob's open session %+v, want 45 min up to now", byName["bob"])
	}
	if byName["carol"].TotalSeconds != 0 || len(byName["carol"].Days) != 0 {
		t.Errorf("carol was never online: %+v", byName["carol"])
	}

	// Replayed, the sessions are the same.
	f.offset = 0
	f.emit(domain.UserCameOnline{UserID: f.alice, At: start},
		domain.UserWentOffline{UserID: f.alice, Since: start, At: end, Cause: domain.OfflineLeft})

	sub := f.report("2026-03-11", "2026-03-11", &f.top, nil, now)
	if len(sub.Users) != 1 || sub.Users[0].UserID != f.alice || sub.Users[0].TotalSeconds != 5400 {
		t.Errorf("top's subtree on the 11th: %+v, want alice's 1.5 h", sub.Users)
	}
	one := f.report("2026-03-10", "2026-03-11", nil, &f.bob, now)
	if len(one.Users) != 1 || one.Users[0].UserID != f.bob {
		t.Errorf("bob's report: %+v", one.Users)
	}
}

// A day of the change to summer time is 23 hours in the organization's zone: a session over the
// whole of it counts 23 hours, not 24.
func TestReportDaylightSavingDay(t *testing.T) {
	f := newFixture(t)
	start := berlin(t, "2026-03-28 12:00")
	end := berlin(t, "2026-03-30 12:00")
	f.emit(domain.UserCameOnline{UserID: f.alice, At: start},
		domain.UserWentOffline{UserID: f.alice, Since: start, At: end, Cause: domain.OfflineExpired})
	r := f.report("2026-03-29", "2026-03-29", nil, &f.alice, end)
	if got := r.Users[0].TotalSeconds; got != 23*3600 {
		t.Fatalf("29 March: %d s, want 23 h", got)
	}
}

// The CSV has a row for every member and day, zeros included.
func TestReportCSV(t *testing.T) {
	f := newFixture(t)
	start := berlin(t, "2026-03-10 08:00")
	f.emit(domain.UserCameOnline{UserID: f.alice, At: start},
		domain.UserWentOffline{UserID: f.alice, Since: start, At: start.Add(time.Hour), Cause: domain.OfflineLeft})
	var b bytes.Buffer
	if err := onlinetime.WriteCSV(&b, f.report("2026-03-10", "2026-03-11", nil, &f.alice, start.Add(2*time.Hour))); err != nil {
		t.Fatal(err)
	}
	want := "user_id,username,date,seconds\n" +
		f.alice.String() + ",alice,2026-03-10,3600\n" +
		f.alice.String() + ",alice,2026-03-11,0\n"
	if got := b.String(); got != want {
		t.Fatalf("csv\n%s\nwant\n%s", got, want)
	}
	if strings.Count(b.String(), "\n") != 3 {
		t.Fatal("rows")
	}
}
