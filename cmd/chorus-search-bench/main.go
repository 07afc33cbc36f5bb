// Command chorus-search-bench measures message search at scale: it fills a fresh database with
// a synthetic corpus (by default 1,000,000 messages in English, Chinese, Japanese and Korean over
// 1,000 rooms, loaded with COPY and indexed exactly as the search projector indexes them), then
// times searches of different kinds by users who are members of about 50 rooms each, through the
// same query code the gateway uses, and prints p50/p95/p99 per kind and overall. It also times
// the index writer (the projector's ApplyBatch) on top of the full index.
// It is a benchmark, not a test: `make bench` runs it. It takes a few minutes.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"slices"
	"syscall"
	"time"

	"github.com/alecthomas/kong"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/chorus-chat/chorus/cmd/internal/benchdb"
	"github.com/chorus-chat/chorus/cmd/internal/benchprof"
	"github.com/chorus-chat/chorus/domain"
	"github.com/chorus-chat/chorus/projections/search"
)

type options struct {
	Database      string `help:"Postgres server URL (a fresh database is created on it and dropped at the end)." default:"postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"`
	Messages      int    `help:"Messages in the index." default:"1000000"`
	Rooms         int    `help:"Rooms (sizes skewed: the k-th largest holds about 1/sqrt(k) as much)." default:"1000"`
	Users         int    `help:"Users searching." default:"2000"`
	RoomsPerUser  int    `help:"Rooms each user is a member of." default:"50"`
	Queries       int    `help:"Timed searches." default:"1000"`
	Warmup        int    `help:"Untimed searches before them." default:"200"`
	Limit         int    `help:"Results per search." default:"20"`
	Events        int    `help:"MessageSent events applied through the projector's ApplyBatch (1000 per batch) to time the writer." default:"20000"`
	Seed          uint64 `help:"Corpus seed." default:"1"`
	Keep          bool   `help:"Keep the database (its name is printed at the end)."`
	Reuse         string `help:"Search the database at this URL, filled by an earlier --keep run, instead of a fresh one."`
	Explain       bool   `help:"Print EXPLAIN ANALYZE of the slowest search of each kind."`
	WriterProfile string `help:"Write a CPU profile of the writer phase (this process: tokenizing, encoding, the client's side of the statements) to this file, for go tool pprof." default:""`
}

func main() {
	var o options
	kong.Parse(&o, kong.Name("chorus-search-bench"), kong.Description("Benchmark message search over a large synthetic index."))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, o)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "chorus-search-bench:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, o options) error {
	pool, drop, err := openDatabase(ctx, o)
	if err != nil {
		return err
	}
	defer drop() // after the pool closes: on Ctrl-C too, as ctx's end makes run return
	defer pool.Close()

	w := newWorld(o)
	if o.Reuse == "" {
		fmt.Printf("chorus-search-bench: %d messages, %d rooms, %d users × %d rooms\n", o.Messages, o.Rooms, o.Users, o.RoomsPerUser)
		start := time.Now()
		if err := w.load(ctx, pool); err != nil {
			return err
		}
		fmt.Printf("load: %s (COPY, index build, VACUUM ANALYZE)\n", time.Since(start).Round(time.Second))
	}
	if err := printSizes(ctx, pool); err != nil {
		return err
	}
	// Queries are drawn from what the database holds, so that --reuse draws them alike.
	if err := w.sampleDatabase(ctx, pool); err != nil {
		return err
	}

	store := search.NewStore(pool)
	qs := w.queries(o.Warmup + o.Queries)
	for _, q := range qs[:o.Warmup] {
		if _, err := store.Search(ctx, q.Query); err != nil {
			return fmt.Errorf("warm-up search %q: %w", q.Text, err)
		}
	}
	timed := qs[o.Warmup:]
	if err := timeSearches(ctx, store, timed); err != nil {
		return err
	}
	fmt.Printf("\nsearch latency (one search at a time, limit %d, wall time in the client incl. the membership lookup):\n", o.Limit)
	report(timed, true)
	if o.Explain {
		if err := explainSlowest(ctx, store, timed); err != nil {
			return err
		}
	}
	if o.Events <= 0 {
		return nil
	}
	stopProfile, err := benchprof.StartCPU(o.WriterProfile)
	if err != nil {
		return fmt.Errorf("writer profile: %w", err)
	}
	err = w.timeWriter(ctx, store, o.Events)
	stopProfile()
	if err != nil {
		return err
	}
	// The writes went to the GIN index's pending list (fastupdate), which every search scans
	// until it is merged: the same searches again show what that costs.
	if err := timeSearches(ctx, store, timed); err != nil {
		return err
	}
	fmt.Printf("\nthe same searches right after those writes:\n")
	report(timed, false)
	return nil
}

// timeSearches runs the searches one at a time and records their latency and result count.
func timeSearches(ctx context.Context, store *search.Store, qs []benchQuery) error {
	for i := range qs {
		q := &qs[i]
		t0 := time.Now()
		res, err := store.Search(ctx, q.Query)
		q.took = time.Since(t0)
		if err != nil {
			return fmt.Errorf("search %q: %w", q.Text, err)
		}
		q.results = len(res)
	}
	return nil
}

// openDatabase creates and migrates a fresh database, which drop drops unless --keep
// (benchdb.Open), or opens the --reuse one.
func openDatabase(ctx context.Context, o options) (pool *pgxpool.Pool, drop func(), err error) {
	if o.Reuse != "" {
		pool, err = pgxpool.New(ctx, o.Reuse)
		return pool, func() {}, err
	}
	return benchdb.Open(ctx, o.Database, "chorus_search_bench", o.Keep)
}

// timeWriter applies n MessageSent events through ApplyBatch, 1,000 per batch as the projector
// runner hands them over, on top of the full index, and prints the rate.
func (w *world) timeWriter(ctx context.Context, store *search.Store, n int) error {
	if n <= 0 {
		return nil
	}
	var durations []time.Duration
	var batch []search.Record
	offset := int64(0)
	topic := "bench-events-" + uuid.NewString()[:8] // fresh checkpoints, whatever ran before
	t0 := time.Now()
	for i := range n {
		room := w.room()
		w.seqs[room]++
		w.now = w.now.Add(time.Millisecond)
		text, _ := w.corpus.message()
		msg := domain.MessageData{
			ID: uuid.New(), RoomID: room, SenderID: w.users[w.rng.IntN(len(w.users))], Content: text,
			MessageType: domain.MessageText, Seq: w.seqs[room], CreatedAt: w.now,
		}
		batch = append(batch, search.Record{Topic: topic, Partition: int32(i % 4), Offset: offset, Event: domain.Event{
			ID: uuid.New(), Type: domain.TypeMessageSent, AggregateType: domain.AggregateRoom, AggregateID: room,
			Data: domain.MessageSent{RoomID: room, Message: msg},
		}})
		if i%4 == 3 {
			offset++
		}
		if len(batch) == 1000 || i == n-1 {
			b0 := time.Now()
			if err := store.ApplyBatch(ctx, batch); err != nil {
				return err
			}
			durations = append(durations, time.Since(b0))
			batch = batch[:0]
		}
	}
	el := time.Since(t0)
	slices.Sort(durations)
	fmt.Printf("\nindex writer (ApplyBatch, 1,000 MessageSent per batch, on the full index): %d events in %s = %.0f events/s; batch p50 %s, max %s\n",
		n, el.Round(time.Millisecond), float64(n)/el.Seconds(), ms(pct(durations, 0.50)), ms(durations[len(durations)-1]))
	return nil
}
