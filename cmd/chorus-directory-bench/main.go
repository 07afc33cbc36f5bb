// Command chorus-directory-bench measures the organization directory at scale: it fills a fresh
// database with one organization (by default 50,000 members in 2,000 departments 8 levels
// deep, positions, grants, display names), applying generated events through the projector's
// own ApplyBatch in large batches, then times the directory search (name substrings, a
// department's subtree), the org chart (the whole organization and departments' subtrees) and
// the projection of a move of a large department, through the query code the gateway calls,
// and prints p50/p95/p99 of each. It is a benchmark, not a test: `make bench` runs it.
package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/alecthomas/kong"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/chorus-chat/chorus/adapters/postgres"
	"github.com/chorus-chat/chorus/projections/directory"
)

type options struct {
	Database    string `help:"Postgres server URL (a fresh database is created on it and dropped at the end)." default:"postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"`
	Members     int    `help:"Members of the organization." default:"50000"`
	Departments int    `help:"Departments." default:"2000"`
	Depth       int    `help:"Levels of the department tree." default:"8"`
	Queries     int    `help:"Timed queries of each kind." default:"300"`
	Batch       int    `help:"Events per ApplyBatch while loading." default:"5000"`
	Seed        uint64 `help:"Generator seed." default:"1"`
}

func main() {
	var o options
	kong.Parse(&o, kong.Name("chorus-directory-bench"), kong.Description("Benchmark the organization directory over a large synthetic organization."))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, o)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "chorus-directory-bench:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, o options) error {
	if o.Depth < 1 || o.Departments < o.Depth || o.Members < 1 || o.Queries < 1 || o.Batch < 1 {
		return fmt.Errorf("want depth ≥ 1, departments ≥ depth, and members, queries and batch ≥ 1")
	}
	pool, drop, err := openDatabase(ctx, o.Database)
	if err != nil {
		return err
	}
	defer drop()
	defer pool.Close()

	g := newGenerator(o)
	fmt.Printf("chorus-directory-bench: %d members, %d departments, %d levels\n", o.Members, o.Departments, o.Depth)
	start := time.Now()
	store := directory.NewStore(pool)
	if err := g.load(ctx, pool, store); err != nil {
		return err
	}
	fmt.Printf("load: %s (%d events through ApplyBatch, %d per batch, then ANALYZE)\n", time.Since(start).Round(time.Second), g.events, o.Batch)

	fmt.Printf("\n| query | runs | p50 | p95 | p99 | max | mean rows |\n|---|---|---|---|---|---|---|\n")
	rng := rand.New(rand.NewPCG(o.Seed, 2))
	bench := func(name string, f func() (int, error)) error {
		for range 20 { // warm the caches and the prepared statements
			if _, err := f(); err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
		}
		times := make([]time.Duration, o.Queries)
		rows := 0
		for i := range times {
			t := time.Now()
			n, err := f()
			if err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
			times[i], rows = time.Since(t), rows+n
		}
		slices.Sort(times)
		fmt.Printf("| %s | %d | %s | %s | %s | %s | %.1f |\n", name, len(times), ms(pct(times, 0.50)), ms(pct(times, 0.95)),
			ms(pct(times, 0.99)), ms(times[len(times)-1]), float64(rows)/float64(len(times)))
		return nil
	}
	members := func(q directory.MemberQuery) (int, error) {
		page, _, err := store.Members(ctx, g.org, q)
		return len(page), err
	}
	steps := []struct {
		name string
		f    func() (int, error)
	}{
		{"search: a substring of a username", func() (int, error) {
			return members(directory.MemberQuery{Q: substring(rng, g.usernames[rng.IntN(len(g.usernames))])})
		}},
		{"search: a substring of a display name", func() (int, error) {
			return members(directory.MemberQuery{Q: substring(rng, g.displays[rng.IntN(len(g.displays))])})
		}},
		{"search: a department's subtree", func() (int, error) {
			return members(directory.MemberQuery{DepartmentID: &g.depts[rng.IntN(len(g.depts))].id})
		}},
		{"search: a name within a top-level department", func() (int, error) {
			return members(directory.MemberQuery{Q: substring(rng, g.displays[rng.IntN(len(g.displays))]), DepartmentID: &g.depts[rng.IntN(5)].id})
		}},
		{"search: a position, next page", func() (int, error) {
			q := directory.MemberQuery{PositionID: &g.positions[rng.IntN(len(g.positions))]}
			_, next, err := store.Members(ctx, g.org, q)
			if err != nil || next == nil {
				return 0, err
			}
			q.After = next
			return members(q)
		}},
		{"org chart: the whole organization", func() (int, error) {
			tops, err := store.OrgChart(ctx, g.org, nil)
			return len(tops), err
		}},
		{"org chart: a department's subtree", func() (int, error) {
			tops, err := store.OrgChart(ctx, g.org, &g.depts[rng.IntN(len(g.depts))].id)
			return len(tops), err
		}},
	}
	for _, s := range steps {
		if err := bench(s.name, s.f); err != nil {
			return err
		}
	}
	return g.benchMove(ctx, store)
}

func substring(rng *rand.Rand, s string) string {
	r := []rune(strings.ToLower(s))
	n := min(len(r), 3+rng.IntN(3))
	at := rng.IntN(len(r) - n + 1)
	return string(r[at : at+n])
}

func pct(d []time.Duration, p float64) time.Duration {
	return d[min(len(d)-1, int(float64(len(d))*p))]
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d.Microseconds())/1000) }

func openDatabase(ctx context.Context, base string) (*pgxpool.Pool, func(), error) {
	cfg, err := pgx.ParseConfig(base)
	if err != nil {
		return nil, func() {}, fmt.Errorf("database url: %w", err)
	}
	name := "chorus_directory_bench_" + strings.ReplaceAll(uuid.NewString()[:8], "-", "")
	url := strings.Replace(base, "/"+cfg.Database+"?", "/"+name+"?", 1)
	if url == base {
		return nil, func() {}, fmt.Errorf("database url %q: want postgres://…/<database>?…", base)
	}
	drop := func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		conn, err := pgx.ConnectConfig(ctx, cfg)
		if err != nil {
			fmt.Fprintln(os.Stderr, "drop database:", err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
			fmt.Fprintln(os.Stderr, "drop database:", err)
		}
	}
	pool, err := postgres.Open(ctx, url)
	if err != nil {
		drop()
		return nil, func() {}, err
	}
	return pool, drop, nil
}

// Names the display names are made of.
var (
	firstNames = []string{"Ada", "Bruno", "Chen", "Dana", "Emeka", "Fatima", "Goran", "Hana", "Ivan", "Jia", "Kofi", "Lena",
		"Mateo", "Nadia", "Omar", "Priya", "Quentin", "Rosa", "Sven", "Tomoko", "Uma", "Viktor", "Wen", "Ximena", "Yusuf", "Zoe"}
	lastNames = []string{"Abe", "Berg", "Costa", "Dubois", "Eriksen", "Fischer", "Garcia", "Haddad", "Ito", "Jensen", "Kowalski",
		"Larsen", "Moreau", "Nakamura", "Okafor", "Petrov", "Quinn", "Rossi", "Schmidt", "Tanaka", "Usman", "Virtanen",
		"Wang", "Xu", "Yilmaz", "Zhang"}
)
