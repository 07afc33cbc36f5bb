package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/chorus-chat/chorus/adapters/kafka"
	"github.com/chorus-chat/chorus/adapters/postgres"
	"github.com/chorus-chat/chorus/adapters/postgres/pgtest"
	"github.com/chorus-chat/chorus/domain"
)

// TestRebuildThroughput measures `chorusctl projections rebuild readmodel` on a log of
// CHORUS_REBUILD_BENCH events (skipped without it), against a raw COPY of the rows the rebuild
// ends with: how far the rebuild is from the most Postgres can take in, a COPY after each
// rebuild. The log is a made-up
// chat's history run through the domain, as the command processor runs commands, and written as
// it writes them (12 partitions, per partition transactions of 50): N/50 users, N/500 rooms of
// ~10 members, then messages of ~60 characters with ~3% edits, ~1% deletions and ~5% read
// markers among them. It is a benchmark: it fails only when the rebuild is wrong, never on time.
//
//	CHORUS_REBUILD_BENCH=200000 go test -count=1 -run TestRebuildThroughput -v ./cmd/chorusctl/
func TestRebuildThroughput(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("CHORUS_REBUILD_BENCH"))
	if n <= 0 {
		t.Skip("set CHORUS_REBUILD_BENCH=<events> to measure rebuild throughput")
	}
	cfg := startBroker(t, 12)
	dbURL := pgtest.URL(t)
	ctx := context.Background()
	pool, err := postgres.Open(ctx, dbURL)
	if err != nil {
		t.Fatalf("real Postgres is needed for this benchmark: %v", err)
	}
	defer pool.Close()

	start := time.Now()
	chat, err := makeChatHistory(cfg, n)
	if err != nil {
		t.Fatal(err)
	}
	made := time.Since(start)
	n = chat.events // more than asked only if n is too small for the users and rooms alone
	start = time.Now()
	if err := produceHistory(cfg, chat.parts); err != nil {
		t.Fatal(err)
	}
	t.Logf("seeded %d events in %v (made up in %v), 12 partitions, transactions of 50", n, time.Since(start).Round(time.Millisecond), made.Round(time.Millisecond))
	t.Logf("mix: %s", chat.mix())

	// Rounds alternate a rebuild and a raw COPY, so that each ratio compares the two under the
	// same load (a shared machine's load moves within a minute).
	applied := regexp.MustCompile(`rebuilt readmodel: (\d+) events applied`)
	var bestRebuild, bestCopy float64
	var ratios []float64
	var tables []tableRows
	total := 0
	for round := 1; round <= 3; round++ {
		// Each round starts from offset 0 (the previous round's generation is live by now and
		// its checkpoints moved to the live projection): a full rebuild every time.
		cpu := startCPU(ctx, pool)
		start := time.Now()
		out := mustCtl(t, cfg, "--database-url", dbURL, "projections", "rebuild", "readmodel", "--no-progress")
		took := time.Since(start)
		goCPU, pgCPU := cpu.stop()
		m := applied.FindStringSubmatch(out)
		if m == nil || m[1] != strconv.Itoa(n) {
			t.Fatalf("rebuild round %d: want %d events applied, got output %q", round, n, out)
		}
		var messages int
		if err := pool.QueryRow(ctx, `SELECT count(*) FROM messages`).Scan(&messages); err != nil {
			t.Fatal(err)
		}
		if messages != chat.counts[domain.TypeMessageSent] {
			t.Fatalf("rebuild round %d: %d messages in the live table, %d MessageSent in the log", round, messages, chat.counts[domain.TypeMessageSent])
		}
		rate := float64(n) / took.Seconds()
		bestRebuild = max(bestRebuild, rate)
		t.Logf("rebuild round %d: %d events in %v: %.0f events/s; CPU %.2f s in this process, %.2f s in its Postgres backends", round, n, took.Round(time.Millisecond), rate, goCPU, pgCPU)

		if tables == nil {
			var err error
			if tables, err = readTables(ctx, pool); err != nil {
				t.Fatal(err)
			}
			var counts []string
			for _, tb := range tables {
				counts = append(counts, fmt.Sprintf("%s %d", tb.name, len(tb.rows)))
				total += len(tb.rows)
			}
			t.Logf("rows after the rebuild: %d (%s)", total, strings.Join(counts, ", "))
		}
		cpu = startCPU(ctx, pool)
		copyTook, err := copyRound(ctx, pool, tables)
		if err != nil {
			t.Fatal(err)
		}
		goCPU, pgCPU = cpu.stop()
		copyRate := float64(n) / copyTook.Seconds()
		bestCopy = max(bestCopy, copyRate)
		ratios = append(ratios, rate/copyRate)
		t.Logf("copy round %d: %d rows in %v (one transaction, synchronous_commit off): %.0f rows/s, %.0f events/s equivalent; ratio this round %.3f; CPU %.2f s in this process, %.2f s in its Postgres backends",
			round, total, copyTook.Round(time.Millisecond), float64(total)/copyTook.Seconds(), copyRate, rate/copyRate, goCPU, pgCPU)
	}
	sort.Float64s(ratios)
	t.Logf("rebuild: best %.0f events/s; raw COPY of the same rows: best %.0f events/s; ratio %.3f (median of the rounds' %.3f)",
		bestRebuild, bestCopy, bestRebuild/bestCopy, ratios[len(ratios)/2])

	// The other projections that can be rebuilt, once each, for the record: they read only
	// chat-events (and system-events, which is empty here).
	chatEvents := n - chat.counts[domain.TypeUserRegistered]
	for _, p := range []string{"search", "notifications"} {
		start := time.Now()
		out := mustCtl(t, cfg, "--database-url", dbURL, "projections", "rebuild", p, "--no-progress")
		took := time.Since(start)
		if !strings.Contains(out, fmt.Sprintf("rebuilt %s: %d events applied", p, chatEvents)) {
			t.Fatalf("rebuild %s: want %d events applied, got %q", p, chatEvents, out)
		}
		t.Logf("rebuild %s: %d events in %v: %.0f events/s", p, chatEvents, took.Round(time.Millisecond), float64(chatEvents)/took.Seconds())
	}
}

// chatHistory is a made-up chat's event log: the records the command processor would have
// written, per partition, in the order it would have written them.
type chatHistory struct {
	cfg    kafka.Config
	rng    *rand.Rand
	clock  time.Time
	step   time.Duration
	parts  [][]*sarama.ProducerMessage
	counts map[string]int // events per type
	events int
}

// benchRoom is what the history maker remembers of a room to pick plausible commands: the
// domain's Room decides them (and would reject an implausible one).
type benchRoom struct {
	id      uuid.UUID
	agg     *domain.Room
	members []benchUser
	recent  []benchMessage // the room's last messages still live, newest last
	weight  float64        // how busy the room is, relative to the others
}

type benchMessage struct {
	id     uuid.UUID
	sender benchUser
}

type benchUser struct {
	id   uuid.UUID
	name string
}

var (
	benchFirstNames = []string{"alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy", "mallory", "niaj", "olivia", "peggy", "rupert", "sybil", "trent", "victor", "walter", "yasmin"}
	benchLastNames  = []string{"Adams", "Baker", "Chen", "Dubois", "Evans", "Fischer", "Garcia", "Hansen", "Ito", "Jensen", "Kowalski", "Lopez", "Müller", "Novak", "Okafor", "Petrov"}
	benchTopics     = []string{"general", "random", "backend", "frontend", "ops", "design", "release", "support", "hiring", "music", "football", "books"}
	benchWords      = strings.Fields(`the a to and of it is in that we for on this you with deploy build test ` +
		`tomorrow today meeting lunch coffee review merge branch bug fix release ticket issue server ` +
		`database latency graph dashboard ok thanks sure maybe later please done looks good agreed why ` +
		`how what when weekend friday morning idea plan draft update quick question anyone seen`)
)

// makeChatHistory makes a history of n events spread over the last 30 days, from a fixed seed:
// the same users, rooms and messages every run (only the times move), so that runs compare.
func makeChatHistory(cfg kafka.Config, n int) (*chatHistory, error) {
	const span = 30 * 24 * time.Hour
	c := &chatHistory{
		cfg: cfg, rng: rand.New(rand.NewPCG(1, 2)),
		clock: time.Now().Add(-span).UTC().Truncate(time.Microsecond), step: (span / time.Duration(n)).Truncate(time.Microsecond),
		parts: make([][]*sarama.ProducerMessage, cfg.Partitions), counts: map[string]int{},
	}
	users := make([]benchUser, max(n/50, 20))
	for i := range users {
		first, last := benchFirstNames[i%len(benchFirstNames)], benchLastNames[c.rng.IntN(len(benchLastNames))]
		u := benchUser{name: fmt.Sprintf("%s.%s%d", first, strings.ToLower(last[:1]), i)}
		u.id = domain.UserIDFor(u.name)
		reg := domain.RegisterUser{Username: u.name, DisplayName: strings.ToUpper(first[:1]) + first[1:] + " " + last}
		if c.rng.IntN(2) == 0 {
			reg.Email = u.name + "@example.com"
		}
		if err := c.do(domain.NewAggregate(domain.AggregateUser, u.id), u.id, u, reg); err != nil {
			return nil, err
		}
		users[i] = u
	}

	// Rooms, each with its owner (who joins with the room's creation), then the other members'
	// joins in no particular order of rooms.
	rooms := make([]*benchRoom, max(n/500, 1))
	type join struct {
		room *benchRoom
		user benchUser
	}
	var joins []join
	for i := range rooms {
		id := c.newID()
		r := &benchRoom{id: id, agg: domain.NewAggregate(domain.AggregateRoom, id).(*domain.Room), weight: c.rng.ExpFloat64()}
		owner := users[c.rng.IntN(len(users))]
		create := domain.CreateRoom{Name: fmt.Sprintf("%s-%d", benchTopics[i%len(benchTopics)], i), Description: "Talk about " + benchTopics[i%len(benchTopics)]}
		if err := c.do(r.agg, id, owner, create); err != nil {
			return nil, err
		}
		r.members = append(r.members, owner)
		in := map[uuid.UUID]bool{owner.id: true}
		for size := 6 + c.rng.IntN(9); len(in) < size; { // 6 to 14 members, ~10
			u := users[c.rng.IntN(len(users))]
			if !in[u.id] {
				in[u.id] = true
				joins = append(joins, join{r, u})
			}
		}
		rooms[i] = r
	}
	c.rng.Shuffle(len(joins), func(i, j int) { joins[i], joins[j] = joins[j], joins[i] })
	for _, j := range joins {
		if err := c.do(j.room.agg, j.room.id, j.user, domain.JoinRoom{}); err != nil {
			return nil, err
		}
		j.room.members = append(j.room.members, j.user)
	}

	// Messages, in rooms of different activity, with edits, deletions and read markers among
	// them; when the room drawn has nothing to edit or delete, or nobody behind, it is a send.
	cumulative := make([]float64, len(rooms))
	sum := 0.0
	for i, r := range rooms {
		sum += r.weight
		cumulative[i] = sum
	}
	for c.events < n {
		r := rooms[min(sort.SearchFloat64s(cumulative, c.rng.Float64()*sum), len(rooms)-1)]
		x := c.rng.Float64()
		var reader *benchUser
		if x >= 0.04 && x < 0.09 {
			reader = r.behind(c.rng)
		}
		var err error
		switch {
		case x < 0.03 && len(r.recent) > 0:
			m := r.recent[c.rng.IntN(len(r.recent))]
			err = c.do(r.agg, r.id, m.sender, domain.EditMessage{MessageID: m.id, Content: c.content() + " (edited)"})
		case x < 0.04 && len(r.recent) > 0:
			i := c.rng.IntN(len(r.recent))
			err = c.do(r.agg, r.id, r.recent[i].sender, domain.DeleteMessage{MessageID: r.recent[i].id})
			r.recent = append(r.recent[:i], r.recent[i+1:]...)
		case reader != nil:
			err = c.do(r.agg, r.id, *reader, domain.MarkRead{Seq: r.agg.LastSeq()})
		default:
			sender := r.members[c.rng.IntN(len(r.members))]
			send := domain.SendMessage{Content: c.content()}
			if len(r.recent) > 0 && c.rng.IntN(10) == 0 {
				reply := r.recent[c.rng.IntN(len(r.recent))].id
				send.ReplyToMessageID = &reply
			}
			var cmd uuid.UUID
			cmd, err = c.doID(r.agg, r.id, sender, send)
			if r.recent = append(r.recent, benchMessage{domain.MessageIDFor(cmd), sender}); len(r.recent) > 50 {
				r.recent = r.recent[1:]
			}
		}
		if err != nil {
			return nil, err
		}
	}
	return c, nil
}

// behind picks a member at random and returns them if their read marker is behind the room's
// last message, else nil.
func (r *benchRoom) behind(rng *rand.Rand) *benchUser {
	if r.agg.LastSeq() == 0 {
		return nil
	}
	u := r.members[rng.IntN(len(r.members))]
	if r.agg.ReadMarker(u.id) >= r.agg.LastSeq() {
		return nil
	}
	return &u
}

// content is a message of 20 to 100 characters, ~60, of everyday words.
func (c *chatHistory) content() string {
	target := 20 + c.rng.IntN(81)
	var b strings.Builder
	for b.Len() < target {
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(benchWords[c.rng.IntN(len(benchWords))])
	}
	return b.String()
}

// newID is a version 4 uuid from the history's seed.
func (c *chatHistory) newID() uuid.UUID {
	var id uuid.UUID
	for i := 0; i < 16; i += 8 {
		v := c.rng.Uint64()
		for j := range 8 {
			id[i+j] = byte(v >> (8 * j))
		}
	}
	id[6] = id[6]&0x0f | 0x40
	id[8] = id[8]&0x3f | 0x80
	return id
}

func (c *chatHistory) do(agg domain.Aggregate, aggID uuid.UUID, actor benchUser, p domain.CommandData) error {
	_, err := c.doID(agg, aggID, actor, p)
	return err
}

// doID runs one command through the aggregate at the history's next instant, applies its events
// and records them as the command processor writes them: JSON, keyed by aggregate id, on the
// aggregate's partition of its topic, timestamped with occurred_at. It returns the command's id.
func (c *chatHistory) doID(agg domain.Aggregate, aggID uuid.UUID, actor benchUser, p domain.CommandData) (uuid.UUID, error) {
	c.clock = c.clock.Add(c.step)
	cmd := domain.NewCommand(c.newID(), aggID, actor.id, actor.name, c.clock, p)
	evs, err := agg.Decide(cmd, c.clock)
	if err != nil {
		return uuid.Nil, fmt.Errorf("rebuild bench: the domain rejected %s by %s: %w", cmd.Type, actor.name, err)
	}
	for _, ev := range evs {
		agg.Apply(ev)
		b, err := json.Marshal(ev)
		if err != nil {
			return uuid.Nil, err
		}
		topic := c.cfg.Topics.ChatEvents
		if ev.AggregateType == domain.AggregateUser {
			topic = c.cfg.Topics.UserEvents
		}
		part := kafka.PartitionFor(ev.AggregateID.String(), c.cfg.Partitions)
		c.parts[part] = append(c.parts[part], &sarama.ProducerMessage{Topic: topic, Partition: part,
			Key: sarama.StringEncoder(ev.AggregateID.String()), Value: sarama.ByteEncoder(b), Timestamp: ev.OccurredAt})
		c.counts[ev.Type]++
		c.events++
	}
	return cmd.ID, nil
}

// mix is the count and share of each event type, the most frequent first.
func (c *chatHistory) mix() string {
	types := make([]string, 0, len(c.counts))
	for typ := range c.counts {
		types = append(types, typ)
	}
	sort.Slice(types, func(i, j int) bool { return c.counts[types[i]] > c.counts[types[j]] })
	parts := make([]string, len(types))
	for i, typ := range types {
		parts[i] = fmt.Sprintf("%s %d (%.1f%%)", typ, c.counts[typ], 100*float64(c.counts[typ])/float64(c.events))
	}
	return strings.Join(parts, ", ")
}

// produceHistory writes each partition's records with a transactional producer of its own, in
// transactions of 50 as the command processor writes them, all partitions at once.
func produceHistory(cfg kafka.Config, parts [][]*sarama.ProducerMessage) error {
	errc := make(chan error, len(parts))
	for p, msgs := range parts {
		go func() {
			sc := cfg.Sarama()
			sc.Producer.Idempotent = true
			sc.Producer.Transaction.ID = fmt.Sprintf("bench-seed-%d-%s", p, uuid.NewString()[:6])
			sc.Producer.Partitioner = sarama.NewManualPartitioner
			sc.Net.MaxOpenRequests = 1
			prod, err := sarama.NewSyncProducer(cfg.Brokers, sc)
			if err != nil {
				errc <- err
				return
			}
			defer prod.Close()
			for len(msgs) > 0 {
				k := min(50, len(msgs))
				if err := prod.BeginTxn(); err != nil {
					errc <- err
					return
				}
				if err := prod.SendMessages(msgs[:k]); err != nil {
					errc <- err
					return
				}
				if err := prod.CommitTxn(); err != nil {
					errc <- err
					return
				}
				msgs = msgs[k:]
			}
			errc <- nil
		}()
	}
	for range parts {
		if err := <-errc; err != nil {
			return err
		}
	}
	return nil
}

// tableRows is every row of one read-model table, as pgx decodes them.
type tableRows struct {
	name    string
	columns []string
	rows    [][]any
}

// readTables reads every row of the live read-model tables into memory.
func readTables(ctx context.Context, pool *pgxpool.Pool) ([]tableRows, error) {
	var out []tableRows
	for _, name := range readModelTables() {
		rows, err := pool.Query(ctx, "SELECT * FROM public."+name)
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", name, err)
		}
		tb := tableRows{name: name}
		for _, f := range rows.FieldDescriptions() {
			tb.columns = append(tb.columns, f.Name)
		}
		for rows.Next() {
			v, err := rows.Values()
			if err != nil {
				rows.Close()
				return nil, fmt.Errorf("read %s: %w", name, err)
			}
			tb.rows = append(tb.rows, v)
		}
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("read %s: %w", name, err)
		}
		out = append(out, tb)
	}
	return out, nil
}

// copyRound copies tables into fresh copies of the read-model tables (schema scratch, made with
// LIKE ... INCLUDING ALL: the same indexes and constraints) and returns how long the copy took:
// one transaction from BEGIN to COMMIT, with synchronous_commit off as the projector's
// transactions have it. Making and dropping the schema is not timed.
func copyRound(ctx context.Context, pool *pgxpool.Pool, tables []tableRows) (time.Duration, error) {
	if _, err := pool.Exec(ctx, "CREATE SCHEMA scratch"); err != nil {
		return 0, err
	}
	for _, tb := range tables {
		if _, err := pool.Exec(ctx, fmt.Sprintf("CREATE TABLE scratch.%s (LIKE public.%s INCLUDING ALL)", tb.name, tb.name)); err != nil {
			return 0, err
		}
	}
	start := time.Now()
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SET LOCAL synchronous_commit = off"); err != nil {
			return err
		}
		for _, tb := range tables {
			n, err := tx.CopyFrom(ctx, pgx.Identifier{"scratch", tb.name}, tb.columns, pgx.CopyFromRows(tb.rows))
			if err != nil {
				return fmt.Errorf("copy %s: %w", tb.name, err)
			}
			if int(n) != len(tb.rows) {
				return fmt.Errorf("copy %s: %d rows copied of %d", tb.name, n, len(tb.rows))
			}
		}
		return nil
	})
	took := time.Since(start)
	if err != nil {
		return 0, err
	}
	_, err = pool.Exec(ctx, "DROP SCHEMA scratch CASCADE")
	return took, err
}

// cpuMeter measures the CPU time a round takes in this process and in the Postgres backends of
// the benchmark's database (not autovacuum's): on a machine shared with other work it moves much less than the
// wall time does. The backends are found in pg_stat_activity and their CPU read from /proc every
// 20 ms while they live (a backend's last 20 ms may be missed; 0 where /proc is not Linux's).
type cpuMeter struct {
	self0 time.Duration
	stopc chan struct{}
	done  chan float64
}

func startCPU(ctx context.Context, pool *pgxpool.Pool) *cpuMeter {
	c := &cpuMeter{self0: selfCPU(), stopc: make(chan struct{}), done: make(chan float64, 1)}
	var db string
	_ = pool.QueryRow(ctx, `SELECT current_database()`).Scan(&db)
	ticks := float64(100)      // USER_HZ: 100 on Linux
	last := map[int]float64{}  // backend pid → its CPU seconds when last seen
	first := map[int]float64{} // … and when the round started (0 for those started since)
	sample := func(starting bool) {
		rows, err := pool.Query(ctx, `SELECT pid FROM pg_stat_activity WHERE datname = $1 AND backend_type = 'client backend'`, db)
		if err != nil {
			return
		}
		pids, _ := pgx.CollectRows(rows, pgx.RowTo[int32])
		for _, pid := range pids {
			b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
			if err != nil {
				continue
			}
			// Fields after the command (which is in parentheses): utime and stime are the
			// 12th and 13th of them.
			f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
			if len(f) < 13 {
				continue
			}
			u, _ := strconv.ParseFloat(f[11], 64)
			s, _ := strconv.ParseFloat(f[12], 64)
			if starting {
				first[int(pid)] = (u + s) / ticks
			}
			last[int(pid)] = (u + s) / ticks
		}
	}
	sample(true)
	go func() {
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			sample(false)
			select {
			case <-c.stopc:
				sample(false)
				sum := 0.0
				for pid, v := range last {
					sum += v - first[pid]
				}
				c.done <- sum
				return
			case <-tick.C:
			}
		}
	}()
	return c
}

// stop ends the measure: CPU seconds in this process and in the database's backends (the
// sampler's own queries included in both: they are small).
func (c *cpuMeter) stop() (self, pg float64) {
	self = (selfCPU() - c.self0).Seconds()
	close(c.stopc)
	return self, <-c.done
}

func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
