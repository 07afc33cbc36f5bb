// Command chorus-onlinetime-bench measures the online-time report at the size of a large
// department: it fills a fresh database with one organization (by default 5,000 members in one
// department, in Europe/Berlin) and 30 days of about 3 sessions per member and day (some over
// midnight, the change to summer time among the days, a tenth of the members online now),
// applying the sessions as events through the projection's own ApplyBatch (timed: sessions/s),
// then times the department's report over the 30 days from the daily totals (Store.Report)
// against the same report computed from the sessions (Store.ReportFromSessions, the report as
// it was before the totals) and a plain scan of the sessions, taking turns, and checks that
// both reports agree. It is a benchmark, not a test: `make bench` runs it.
package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/signal"
	"reflect"
	"slices"
	"syscall"
	"time"

	"github.com/alecthomas/kong"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/chorus-chat/chorus/cmd/internal/benchdb"
	"github.com/chorus-chat/chorus/domain"
	"github.com/chorus-chat/chorus/projections/onlinetime"
)

type options struct {
	Database   string `help:"Postgres server URL (a fresh database is created on it and dropped at the end)." default:"postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"`
	Members    int    `help:"Members of the department." default:"5000"`
	Days       int    `help:"Days of sessions, and of the report." default:"30"`
	PerDay     int    `help:"Sessions per member and day." default:"3"`
	Runs       int    `help:"Timed runs of each query." default:"10"`
	Batch      int    `help:"Events per ApplyBatch while loading (each partition's events in order, as a projector applies them)." default:"2000"`
	Partitions int    `help:"Partitions of user-events the members are spread over." default:"12"`
	ZoneLast   bool   `help:"Apply the organization (its time zone) after the sessions instead of before: the sessions are applied without totals, then the zone's totals are filled from them (timed)."`
	Seed       uint64 `help:"Generator seed." default:"1"`
	Keep       bool   `help:"Keep the database at the end (its name is printed) to look at its plans."`
}

func main() {
	var o options
	kong.Parse(&o, kong.Name("chorus-onlinetime-bench"), kong.Description("Benchmark the online-time report of a large department."))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, o)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "chorus-onlinetime-bench:", err)
		os.Exit(1)
	}
}

const zone = "Europe/Berlin"

func run(ctx context.Context, o options) error {
	if o.Members < 1 || o.Days < 1 || o.PerDay < 1 || o.Runs < 1 || o.Batch < 1 || o.Partitions < 1 {
		return fmt.Errorf("want members, days, per-day, runs, batch and partitions ≥ 1")
	}
	loc, err := time.LoadLocation(zone)
	if err != nil {
		return err
	}
	pool, drop, err := benchdb.Open(ctx, o.Database, "chorus_onlinetime_bench", o.Keep)
	if err != nil {
		return err
	}
	defer drop()
	defer pool.Close()

	// The last of the days is today, up to now (noon); the first is Days-1 before.
	to := time.Date(2026, 4, 15, 0, 0, 0, 0, time.UTC)
	from := to.AddDate(0, 0, -(o.Days - 1))
	now := time.Date(to.Year(), to.Month(), to.Day(), 12, 0, 0, 0, loc)
	org, dept := uuid.New(), uuid.New()
	members := make([]uuid.UUID, o.Members)
	for i := range members {
		members[i] = uuid.New()
	}
	if err := directory(ctx, pool, org, dept, members); err != nil {
		return err
	}
	parts, sessions := history(rand.New(rand.NewPCG(o.Seed, 3)), members, o, from, now, loc)
	fmt.Printf("chorus-onlinetime-bench: %d members in one department (%s), %d days %s to %s, %d sessions (%d events)\n",
		o.Members, zone, o.Days, from.Format(onlinetime.DateLayout), to.Format(onlinetime.DateLayout), sessions, events(parts))

	store := onlinetime.NewStore(pool)
	orgRec := []onlinetime.Record{{Topic: "org-events", Partition: 0, Offset: 0, Event: event(org, domain.OrganizationCreated{OrgID: org, Name: "Acme", Slug: "acme", TimeZone: zone})}}
	if !o.ZoneLast {
		if err := store.ApplyBatch(ctx, orgRec); err != nil {
			return err
		}
	}
	start := time.Now()
	for _, recs := range parts {
		for i := 0; i < len(recs); i += o.Batch {
			if err := store.ApplyBatch(ctx, recs[i:min(len(recs), i+o.Batch)]); err != nil {
				return err
			}
		}
	}
	took := time.Since(start)
	what := "with the zone's totals kept as they go"
	if o.ZoneLast {
		what = "no zone known yet: sessions only"
	}
	fmt.Printf("apply: %d sessions in %s, %.0f sessions/s, %.0f events/s (%s, %d events per ApplyBatch)\n",
		sessions, took.Round(time.Millisecond), float64(sessions)/took.Seconds(), float64(events(parts))/took.Seconds(), what, o.Batch)
	if o.ZoneLast {
		start = time.Now()
		if err := store.ApplyBatch(ctx, orgRec); err != nil {
			return err
		}
		took = time.Since(start)
		fmt.Printf("zone added afterwards: its totals filled from %d sessions in %s (%.0f sessions/s)\n", sessions, took.Round(time.Millisecond), float64(sessions)/took.Seconds())
	}
	if _, err := pool.Exec(ctx, `VACUUM ANALYZE`); err != nil {
		return err
	}
	var rows int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM online_daily`).Scan(&rows); err != nil {
		return err
	}
	fmt.Printf("online_daily: %d rows\n", rows)

	q := onlinetime.ReportQuery{OrgID: org, From: from, To: to, DepartmentID: &dept, Now: now}
	fast, err := store.Report(ctx, q)
	if err != nil {
		return err
	}
	slow, err := store.ReportFromSessions(ctx, q)
	if err != nil {
		return err
	}
	if !reflect.DeepEqual(fast, slow) {
		return fmt.Errorf("the report from the totals differs from the report from the sessions")
	}
	fmt.Printf("the two reports agree: %d members, %d member-days with time\n", len(fast.Users), memberDays(fast))

	steps := []struct {
		name string
		f    func() error
	}{
		{"report from the daily totals (Store.Report)", func() error { _, err := store.Report(ctx, q); return err }},
		{"report from the sessions (as before)", func() error { _, err := store.ReportFromSessions(ctx, q); return err }},
		{"plain scan: SELECT count(*), sum(ended_at - started_at) FROM online_sessions", func() error {
			var n int64
			var d *time.Duration
			return pool.QueryRow(ctx, `SELECT count(*), sum(ended_at - started_at) FROM online_sessions`).Scan(&n, &d)
		}},
	}
	times := make([][]time.Duration, len(steps))
	for range o.Runs {
		for i, s := range steps {
			t := time.Now()
			if err := s.f(); err != nil {
				return fmt.Errorf("%s: %w", s.name, err)
			}
			times[i] = append(times[i], time.Since(t))
		}
	}
	fmt.Printf("\n| query | runs | p50 | p95 | max |\n|---|---|---|---|---|\n")
	for i, s := range steps {
		t := times[i]
		slices.Sort(t)
		fmt.Printf("| %s | %d | %s | %s | %s |\n", s.name, len(t), benchdb.Ms(benchdb.Pct(t, 0.50)), benchdb.Ms(benchdb.Pct(t, 0.95)), benchdb.Ms(t[len(t)-1]))
	}
	fmt.Printf("\nreport from the sessions / from the totals, p50: %.1f×; totals / plain scan, p50: %.2f×\n",
		float64(benchdb.Pct(times[1], 0.5))/float64(benchdb.Pct(times[0], 0.5)), float64(benchdb.Pct(times[0], 0.5))/float64(benchdb.Pct(times[2], 0.5)))
	return nil
}

// directory writes the organization, its department and its members as the directory
// projection keeps them.
func directory(ctx context.Context, pool *pgxpool.Pool, org, dept uuid.UUID, members []uuid.UUID) error {
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	names := make([]string, len(members))
	for i := range members {
		names[i] = fmt.Sprintf("member%05d", i)
	}
	for _, q := range []struct {
		sql  string
		args []any
	}{
		{`INSERT INTO organizations (id, name, slug, time_zone, created_at, updated_at) VALUES ($1, 'Acme', 'acme', $2, $3, $3)`, []any{org, zone, at}},
		{`INSERT INTO org_departments (id, org_id, parent_id, name, path, created_at) VALUES ($1, $2, NULL, 'Support', ARRAY[$1::uuid], $3)`, []any{dept, org, at}},
		{`INSERT INTO org_members (org_id, user_id, username, username_lower, via, joined_at)
			SELECT $1, u, n, n, 'created', $4 FROM unnest($2::uuid[], $3::text[]) AS m(u, n)`, []any{org, members, names, at}},
		{`INSERT INTO org_department_members (org_id, department_id, user_id, is_primary, added_version, added_at)
			SELECT $1, $2, u, true, 1, $4 FROM unnest($3::uuid[]) AS u`, []any{org, dept, members, at}},
	} {
		if _, err := pool.Exec(ctx, q.sql, q.args...); err != nil {
			return fmt.Errorf("directory: %w", err)
		}
	}
	return nil
}

// history is each partition's records: per member and day PerDay sessions (morning, afternoon,
// evening, the evening's sometimes over midnight; more or fewer a day around PerDay), and for a
// tenth of the members a session open since this morning.
func history(rng *rand.Rand, members []uuid.UUID, o options, from, now time.Time, loc *time.Location) ([][]onlinetime.Record, int) {
	parts := make([][]onlinetime.Record, o.Partitions)
	sessions := 0
	for i, u := range members {
		p := i % o.Partitions
		add := func(d domain.EventData) {
			parts[p] = append(parts[p], onlinetime.Record{Topic: "user-events", Partition: int32(p), Offset: int64(len(parts[p])), Event: event(u, d)})
		}
		for day := range o.Days {
			date := from.AddDate(0, 0, day)
			// The slots of the day, from 7:00 to 23:00, each session within its own.
			n := max(1, o.PerDay+rng.IntN(3)-1)
			slot := 16 * time.Hour / time.Duration(n)
			for k := range n {
				begin := time.Date(date.Year(), date.Month(), date.Day(), 7, 0, 0, 0, loc).Add(time.Duration(k) * slot)
				start := begin.Add(time.Duration(rng.Int64N(int64(slot / 2))))
				length := time.Duration(rng.Int64N(int64(slot))) + 5*time.Minute
				end := start.Add(length)
				if !end.Before(now) {
					if start.Before(now) && i%10 == 0 {
						add(domain.UserCameOnline{UserID: u, At: start})
						sessions++
					}
					break
				}
				add(domain.UserCameOnline{UserID: u, At: start})
				add(domain.UserWentOffline{UserID: u, Since: start, At: end, Cause: domain.OfflineLeft})
				sessions++
			}
		}
	}
	return parts, sessions
}

func event(agg uuid.UUID, d domain.EventData) domain.Event {
	return domain.Event{ID: uuid.New(), Type: d.EventType(), AggregateID: agg, AggregateType: domain.AggregateUser,
		Version: 1, OccurredAt: time.Now(), ActorID: domain.SystemActorID, CommandID: uuid.New(), SchemaVersion: 1, Data: d}
}

func events(parts [][]onlinetime.Record) int {
	n := 0
	for _, p := range parts {
		n += len(p)
	}
	return n
}

func memberDays(r onlinetime.Report) int {
	n := 0
	for _, u := range r.Users {
		n += len(u.Days)
	}
	return n
}
