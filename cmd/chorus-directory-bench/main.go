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

	"github.com/chorus-chat/chorus/cmd/internal/benchdb"
	"github.com/chorus-chat/chorus/projections/directory"
)

type options struct {
	Database    string `help:"Postgres server URL (a fresh database is created on it and dropped at the end)." default:"postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"`
	Members     int    `help:"Members of the organization." default:"50000"`
	Departments int    `help:"Departments." default:"2000"`
	Depth       int    `help:"Levels of the department tree." default:"8"`
	Queries     int    `help:"Timed queries of each kind." default:"300"`
	Rounds      int    `help:"Rounds the timed queries of each kind are split into, taking turns over the kinds." default:"3"`
	Baseline    bool   `help:"Also time the member searches as they were first written (collect every match, then sort), in the same rounds."`
	Batch       int    `help:"Events per ApplyBatch while loading." default:"5000"`
	Seed        uint64 `help:"Generator seed." default:"1"`
	Vacuum      bool   `help:"VACUUM ANALYZE after the load, as autovacuum would in time (--no-vacuum: ANALYZE only, as right after a bulk load)." default:"true" negatable:""`
	Keep        bool   `help:"Keep the database at the end (its name is printed) to look at its plans."`
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
	if o.Depth < 1 || o.Departments < o.Depth || o.Members < 1 || o.Queries < 1 || o.Batch < 1 || o.Rounds < 1 || o.Rounds > o.Queries {
		return fmt.Errorf("want depth ≥ 1, departments ≥ depth, members, queries and batch ≥ 1, and 1 ≤ rounds ≤ queries")
	}
	pool, drop, err := benchdb.Open(ctx, o.Database, "chorus_directory_bench", o.Keep)
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
	fmt.Printf("load: %s (%d events through ApplyBatch, %d per batch, then %s)\n", time.Since(start).Round(time.Second), g.events, o.Batch,
		map[bool]string{true: "VACUUM ANALYZE", false: "ANALYZE"}[o.Vacuum])

	steps := g.steps(ctx, pool, store, rand.New(rand.NewPCG(o.Seed, 2)), o.Baseline)
	for _, s := range steps {
		for range 20 { // warm the caches and the prepared statements
			if _, err := s.f(); err != nil {
				return fmt.Errorf("%s: %w", s.name, err)
			}
		}
	}
	// Rounds take turns over the kinds, so that a burst of load on the shared machine falls
	// on all of them (and on the baseline as on the query it is compared with).
	times := make([][]time.Duration, len(steps))
	rows := make([]int, len(steps))
	for r := range o.Rounds {
		n := o.Queries/o.Rounds + min(1, max(0, o.Queries%o.Rounds-r))
		for i, s := range steps {
			for range n {
				t := time.Now()
				k, err := s.f()
				if err != nil {
					return fmt.Errorf("%s: %w", s.name, err)
				}
				times[i], rows[i] = append(times[i], time.Since(t)), rows[i]+k
			}
		}
	}
	fmt.Printf("\n| query | runs | p50 | p95 | p99 | max | mean rows |\n|---|---|---|---|---|---|---|\n")
	for i, s := range steps {
		t := times[i]
		slices.Sort(t)
		fmt.Printf("| %s | %d | %s | %s | %s | %s | %.1f |\n", s.name, len(t), benchdb.Ms(benchdb.Pct(t, 0.50)), benchdb.Ms(benchdb.Pct(t, 0.95)),
			benchdb.Ms(benchdb.Pct(t, 0.99)), benchdb.Ms(t[len(t)-1]), float64(rows[i])/float64(len(t)))
	}
	return g.benchMove(ctx, store)
}

func substring(rng *rand.Rand, s string) string {
	r := []rune(strings.ToLower(s))
	n := min(len(r), 3+rng.IntN(3))
	at := rng.IntN(len(r) - n + 1)
	return string(r[at : at+n])
}

// Names the display names are made of.
var (
	firstNames = []string{"Ada", "Bruno", "Chen", "Dana", "Emeka", "Fatima", "Goran", "Hana", "Ivan", "Jia", "Kofi", "Lena",
		"Mateo", "Nadia", "Omar", "Priya", "Quentin", "Rosa", "Sven", "Tomoko", "Uma", "Viktor", "Wen", "Ximena", "Yusuf", "Zoe"}
	lastNames = []string{"Abe", "Berg", "Costa", "Dubois", "Eriksen", "Fischer", "Garcia", "Haddad", "Ito", "Jensen", "Kowalski",
		"Larsen", "Moreau", "Nakamura", "Okafor", "Petrov", "Quinn", "Rossi", "Schmidt", "Tanaka", "Usman", "Virtanen",
		"Wang", "Xu", "Yilmaz", "Zhang"}
)
