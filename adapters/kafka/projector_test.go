package kafka_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/chorus-chat/chorus/adapters/kafka"
	"github.com/chorus-chat/chorus/adapters/metrics"
)

// projectorCluster is the embedded broker over TCP with Chorus's topics, of 2 partitions each.
func projectorCluster(t *testing.T) kafka.Config { return projectorClusterOf(t, 2) }

// projectorClusterOf is projectorCluster with topics of the given number of partitions.
func projectorClusterOf(t *testing.T, partitions int32) kafka.Config {
	t.Helper()
	b, err := kafka.StartEmbedded(kafka.EmbeddedOptions{Addr: "127.0.0.1:0", DataDir: t.TempDir(), MinSessionTimeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	cfg := kafka.Config{Brokers: []string{b.Addr()}, Topics: kafka.DefaultTopics(), Partitions: partitions, SessionTimeout: 1500 * time.Millisecond, Heartbeat: 300 * time.Millisecond}
	if err := kafka.EnsureTopics(cfg); err != nil {
		t.Fatal(err)
	}
	return cfg
}

// produce appends values to partition 0 of topic and returns their offsets.
func produce(t *testing.T, cfg kafka.Config, topic string, values ...string) []int64 {
	t.Helper()
	return produceTo(t, cfg, topic, 0, values...)
}

// produceTo appends values to one partition of topic and returns their offsets.
func produceTo(t *testing.T, cfg kafka.Config, topic string, partition int32, values ...string) []int64 {
	t.Helper()
	sc := cfg.Sarama()
	sc.Producer.Partitioner = sarama.NewManualPartitioner
	p, err := sarama.NewSyncProducer(cfg.Brokers, sc)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	var offs []int64
	for _, v := range values {
		_, off, err := p.SendMessage(&sarama.ProducerMessage{Topic: topic, Partition: partition, Key: sarama.StringEncoder("k-" + v), Value: sarama.StringEncoder(v)})
		if err != nil {
			t.Fatal(err)
		}
		offs = append(offs, off)
	}
	return offs
}

// memProjection is a projection kept in memory: the values it applied, its checkpoints, the
// records it skipped. Its Handle fails, for a whole batch, on any record that poisoned says is
// poisoned, and with an Unavailable error while down is set.
type memProjection struct {
	mu       sync.Mutex
	applied  []string
	next     map[string]map[int32]int64
	skipped  map[string]string // value -> cause
	poisoned func(value string) bool
	down     atomic.Bool
	calls    atomic.Int32
}

func newMemProjection(poisoned func(string) bool) *memProjection {
	return &memProjection{next: map[string]map[int32]int64{}, skipped: map[string]string{}, poisoned: poisoned}
}

func (m *memProjection) Checkpoints(context.Context) (map[string]map[int32]int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := map[string]map[int32]int64{}
	for t, ps := range m.next {
		out[t] = map[int32]int64{}
		for p, o := range ps {
			out[t][p] = o
		}
	}
	return out, nil
}

func (m *memProjection) advance(r kafka.Record) {
	if m.next[r.Topic] == nil {
		m.next[r.Topic] = map[int32]int64{}
	}
	if r.Offset+1 > m.next[r.Topic][r.Partition] {
		m.next[r.Topic][r.Partition] = r.Offset + 1
	}
}

func (m *memProjection) Handle(_ context.Context, recs []kafka.Record) error {
	m.calls.Add(1)
	if m.down.Load() {
		return kafka.Unavailable(errors.New("database is down"))
	}
	for _, r := range recs {
		if m.poisoned(string(r.Value)) {
			return fmt.Errorf("cannot project %q: it is poisoned", r.Value)
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, r := range recs {
		if r.Offset < m.next[r.Topic][r.Partition] {
			continue // already applied
		}
		m.applied = append(m.applied, string(r.Value))
		m.advance(r)
	}
	return nil
}

func (m *memProjection) Skip(_ context.Context, r kafka.Record, cause error) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.skipped[string(r.Value)] = cause.Error()
	m.advance(r)
	return nil
}

func (m *memProjection) state() (applied []string, skipped map[string]string, next int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]string(nil), m.applied...), copyMap(m.skipped), m.next["chat-events"][0]
}

func copyMap(m map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range m {
		out[k] = v
	}
	return out
}

// runProjector runs a projector until the returned stop is called.
func runProjector(t *testing.T, p *kafka.Projector) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = p.Run(ctx) }()
	var once sync.Once
	stop = func() { once.Do(func() { cancel(); <-done }) }
	t.Cleanup(stop)
	return stop
}

type deadLetter struct {
	key, value string
	headers    map[string]string
}

// deadLetters reads every record of the dead-letter topic.
func deadLetters(t *testing.T, cfg kafka.Config) []deadLetter {
	t.Helper()
	client, err := sarama.NewClient(cfg.Brokers, cfg.Sarama())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	consumer, err := sarama.NewConsumerFromClient(client)
	if err != nil {
		t.Fatal(err)
	}
	defer consumer.Close()
	var out []deadLetter
	for p := range cfg.Partitions {
		end, err := client.GetOffset(cfg.Topics.DeadLetters, p, sarama.OffsetNewest)
		if err != nil {
			t.Fatal(err)
		}
		if end == 0 {
			continue
		}
		pc, err := consumer.ConsumePartition(cfg.Topics.DeadLetters, p, sarama.OffsetOldest)
		if err != nil {
			t.Fatal(err)
		}
		for {
			m := <-pc.Messages()
			d := deadLetter{key: string(m.Key), value: string(m.Value), headers: map[string]string{}}
			for _, h := range m.Headers {
				d.headers[string(h.Key)] = string(h.Value)
			}
			out = append(out, d)
			if m.Offset+1 >= end {
				break
			}
		}
		pc.Close()
	}
	return out
}

func waitUntil(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// A poisoned record fails its batch; after the bounded retries the batch is handled record by
// record: the others are projected in order, the poisoned one goes to the dead-letter topic
// with headers saying who gave up on what and why, and the checkpoint moves past it.
func TestProjectorDeadLettersPoisonedRecord(t *testing.T) {
	cfg := projectorCluster(t)
	values := []string{"a", "b", "poison", "c", "d"}
	offs := produce(t, cfg, cfg.Topics.ChatEvents, values...)
	m := newMemProjection(func(v string) bool { return v == "poison" })
	met := metrics.New()
	p := kafka.NewProjector(cfg, "chorus-projector-test", []string{cfg.Topics.ChatEvents}, m, testLogger()).WithDeadLetters("test", 3).UseMetrics(met)
	stop := runProjector(t, p)

	waitUntil(t, "the records after the poisoned one projected", 20*time.Second, func() bool {
		_, _, next := m.state()
		return next == offs[len(offs)-1]+1
	})
	applied, skipped, _ := m.state()
	if fmt.Sprint(applied) != "[a b c d]" {
		t.Fatalf("applied %v, want [a b c d] in order", applied)
	}
	if len(skipped) != 1 || skipped["poison"] == "" {
		t.Fatalf("skipped %v", skipped)
	}
	if p.DeadLettered() != 1 || p.Health().DeadLettered != 1 || p.Health().Failing {
		t.Fatalf("DeadLettered() = %d, Health %+v", p.DeadLettered(), p.Health())
	}
	if v := gauge(t, met, "chorus_projector_dead_letters_total", "test"); v != 1 {
		t.Fatalf("chorus_projector_dead_letters_total = %v", v)
	}
	if v := gauge(t, met, "chorus_projection_failing", "test"); v != 0 {
		t.Fatalf("chorus_projection_failing = %v once the poisoned record is dead-lettered", v)
	}
	dls := deadLetters(t, cfg)
	if len(dls) != 1 {
		t.Fatalf("%d dead letters: %+v", len(dls), dls)
	}
	d := dls[0]
	want := map[string]string{
		kafka.HeaderDeadLetterProjection: "test",
		kafka.HeaderDeadLetterGroup:      "chorus-projector-test",
		kafka.HeaderDeadLetterTopic:      cfg.Topics.ChatEvents,
		kafka.HeaderDeadLetterPartition:  "0",
		kafka.HeaderDeadLetterOffset:     strconv.FormatInt(offs[2], 10),
		kafka.HeaderDeadLetterError:      `cannot project "poison": it is poisoned`,
	}
	for k, v := range want {
		if d.headers[k] != v {
			t.Errorf("header %s = %q, want %q", k, d.headers[k], v)
		}
	}
	if _, err := time.Parse(time.RFC3339Nano, d.headers[kafka.HeaderDeadLetterAt]); err != nil {
		t.Errorf("header %s: %v", kafka.HeaderDeadLetterAt, err)
	}
	if d.key != "k-poison" || d.value != "poison" {
		t.Errorf("dead letter %q=%q, want the original record", d.key, d.value)
	}

	// A restarted projector resumes past the poisoned record: nothing is dead-lettered again,
	// later records are projected.
	stop()
	more := produce(t, cfg, cfg.Topics.ChatEvents, "e")
	calls := m.calls.Load()
	runProjector(t, kafka.NewProjector(cfg, "chorus-projector-test", []string{cfg.Topics.ChatEvents}, m, testLogger()).WithDeadLetters("test", 3))
	waitUntil(t, "the new record projected", 20*time.Second, func() bool {
		_, _, next := m.state()
		return next == more[0]+1
	})
	if applied, _, _ := m.state(); fmt.Sprint(applied) != "[a b c d e]" {
		t.Fatalf("after restart applied %v", applied)
	}
	if got := m.calls.Load() - calls; got != 1 {
		t.Fatalf("%d Handle calls after restart, want 1 (the poisoned record is not retried)", got)
	}
	if n := len(deadLetters(t, cfg)); n != 1 {
		t.Fatalf("%d dead letters after restart", n)
	}
}

// A failure of the projection's store (marked Unavailable) is retried for as long as it lasts:
// nothing is dead-lettered, and everything is projected once it is back.
func TestProjectorNeverDeadLettersWhileUnavailable(t *testing.T) {
	cfg := projectorCluster(t)
	m := newMemProjection(func(string) bool { return false })
	m.down.Store(true)
	offs := produce(t, cfg, cfg.Topics.ChatEvents, "a", "b", "c")
	runProjector(t, kafka.NewProjector(cfg, "chorus-projector-test", []string{cfg.Topics.ChatEvents}, m, testLogger()).WithDeadLetters("test", 2))
	// Past 2 attempts of the batch and 2 of the first record, had they counted.
	waitUntil(t, "retries", 20*time.Second, func() bool { return m.calls.Load() >= 5 })
	m.down.Store(false)
	waitUntil(t, "everything projected", 20*time.Second, func() bool {
		_, _, next := m.state()
		return next == offs[2]+1
	})
	applied, skipped, _ := m.state()
	if fmt.Sprint(applied) != "[a b c]" || len(skipped) != 0 {
		t.Fatalf("applied %v, skipped %v", applied, skipped)
	}
	if n := len(deadLetters(t, cfg)); n != 0 {
		t.Fatalf("%d dead letters", n)
	}
}

// noSkip is a projection that cannot skip records: it is never dead-lettered, it waits.
type noSkip struct{ m *memProjection }

func (n noSkip) Checkpoints(ctx context.Context) (map[string]map[int32]int64, error) {
	return n.m.Checkpoints(ctx)
}
func (n noSkip) Handle(ctx context.Context, recs []kafka.Record) error { return n.m.Handle(ctx, recs) }

// memFailures is a kafka.FailureLog in memory.
type memFailures struct {
	mu        sync.Mutex
	failing   map[string]int64 // projection → failures reported last
	lastErr   string
	recovered int
}

func (f *memFailures) Failing(_ context.Context, projection string, failures int64, err error) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.failing == nil {
		f.failing = map[string]int64{}
	}
	f.failing[projection], f.lastErr = failures, err.Error()
	return nil
}

func (f *memFailures) Recovered(_ context.Context, projection string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.failing, projection)
	f.recovered++
	return nil
}

func (f *memFailures) state() (map[string]int64, string, int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return maps.Clone(f.failing), f.lastErr, f.recovered
}

func TestProjectorWithoutSkipRetriesPoisonedRecord(t *testing.T) {
	cfg := projectorCluster(t)
	var healed atomic.Bool
	m := newMemProjection(func(v string) bool { return v == "poison" && !healed.Load() })
	produce(t, cfg, cfg.Topics.ChatEvents, "a", "poison", "b")
	failures := &memFailures{}
	met := metrics.New()
	p := kafka.NewProjector(cfg, "chorus-projector-test", []string{cfg.Topics.ChatEvents}, noSkip{m}, testLogger()).
		WithDeadLetters("test", 1).WithFailures(failures).UseMetrics(met)
	runProjector(t, p)
	waitUntil(t, "retries", 20*time.Second, func() bool { return m.calls.Load() >= 4 })
	// The process says so itself (its /readyz reads Health) and in its metrics.
	if h := p.Health(); !h.Failing || h.Failures < 1 || h.Since.IsZero() || !strings.Contains(h.LastError, "poisoned") || h.Projection != "test" {
		t.Fatalf("Health while failing: %+v", h)
	}
	if v := gauge(t, met, "chorus_projection_failing", "test"); v != 1 {
		t.Fatalf("chorus_projection_failing = %v while failing", v)
	}
	// While it keeps failing, the failure log says so (at most once a second, the first at once).
	if failing, lastErr, _ := failures.state(); failing["test"] < 1 || !strings.Contains(lastErr, "poisoned") {
		t.Fatalf("failure log while failing: %v %q", failing, lastErr)
	}
	// "a" may have come in a fetch of its own and be applied; nothing at or after the poisoned
	// record may be, while it fails: a projection without Skip waits rather than loses it.
	if applied, _, _ := m.state(); len(applied) > 1 || (len(applied) == 1 && applied[0] != "a") {
		t.Fatalf("applied %v while the poisoned record fails", applied)
	}
	healed.Store(true) // e.g. a fixed projection deployed
	waitUntil(t, "everything projected", 20*time.Second, func() bool {
		applied, _, _ := m.state()
		return len(applied) == 3
	})
	if n := len(deadLetters(t, cfg)); n != 0 {
		t.Fatalf("%d dead letters", n)
	}
	if applied, _, _ := m.state(); fmt.Sprint(applied) != "[a poison b]" {
		t.Fatalf("applied %v", applied)
	}
	if failing, _, recovered := failures.state(); len(failing) != 0 || recovered != 1 {
		t.Fatalf("failure log after recovery: failing %v, %d recoveries", failing, recovered)
	}
	if h := p.Health(); h.Failing || h.Failures != 0 {
		t.Fatalf("Health after recovery: %+v", h)
	}
	if v := gauge(t, met, "chorus_projection_failing", "test"); v != 0 {
		t.Fatalf("chorus_projection_failing = %v after recovery", v)
	}
}

// gauge is the value of the series of name whose projection label is projection.
func gauge(t *testing.T, met *metrics.Metrics, name, projection string) float64 {
	t.Helper()
	mfs, err := met.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "projection" && l.GetValue() == projection {
					if m.GetGauge() != nil {
						return m.GetGauge().GetValue()
					}
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	t.Fatalf("no series %s{projection=%q}", name, projection)
	return 0
}

// batchLog is a projection that remembers every batch it was handed (the partition and value of
// each record); its first batch takes a while, as a slow transaction would.
type batchLog struct {
	mu      sync.Mutex
	batches [][]kafka.Record
}

func (b *batchLog) Checkpoints(context.Context) (map[string]map[int32]int64, error) {
	return map[string]map[int32]int64{}, nil
}

func (b *batchLog) Handle(_ context.Context, recs []kafka.Record) error {
	b.mu.Lock()
	first := len(b.batches) == 0
	b.batches = append(b.batches, slices.Clone(recs))
	b.mu.Unlock()
	if first {
		time.Sleep(300 * time.Millisecond)
	}
	return nil
}

func (b *batchLog) seen() [][]kafka.Record {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.batches)
}

// What a projector's claims read while the projection is busy is handed to it as one batch, not
// one batch per partition (each a Postgres transaction for the read model), and each
// partition's records still come in offset order, each once.
func TestProjectorMergesThePartitionsWaitingIntoOneBatch(t *testing.T) {
	const partitions, per = 8, 5
	cfg := projectorClusterOf(t, partitions)
	for part := range int32(partitions) {
		var values []string
		for i := range per {
			values = append(values, fmt.Sprintf("p%d-%d", part, i))
		}
		produceTo(t, cfg, cfg.Topics.ChatEvents, part, values...)
	}
	b := &batchLog{}
	runProjector(t, kafka.NewProjector(cfg, "chorus-projector-test", []string{cfg.Topics.ChatEvents}, b, testLogger()))
	count := func() (n int) {
		for _, batch := range b.seen() {
			n += len(batch)
		}
		return n
	}
	waitUntil(t, "every record handed over", 20*time.Second, func() bool { return count() >= partitions*per })
	time.Sleep(100 * time.Millisecond) // a record handed over twice would show by now
	batches := b.seen()
	next := map[int32]int{}
	widest := 0
	for _, batch := range batches {
		parts := map[int32]bool{}
		for _, r := range batch {
			parts[r.Partition] = true
			if want := fmt.Sprintf("p%d-%d", r.Partition, next[r.Partition]); string(r.Value) != want {
				t.Fatalf("partition %d handed %q, want %q next (batches %v)", r.Partition, r.Value, want, batches)
			}
			next[r.Partition]++
		}
		widest = max(widest, len(parts))
	}
	if n := count(); n != partitions*per {
		t.Fatalf("%d records handed over, want %d", n, partitions*per)
	}
	if len(batches) >= partitions || widest < 2 {
		t.Fatalf("%d batches for %d partitions, at most %d partitions in one: the waiting partitions were not merged", len(batches), partitions, widest)
	}
}

// A projector with topics apart reads them in a consumer group of its own: every record of
// both groups' topics is projected, in order per partition, and each group holds only its own
// topics' partitions, so that a fetch of the busy topic names none of the quiet one's.
func TestProjectorReadsTopicsApartInAGroupOfTheirOwn(t *testing.T) {
	cfg := projectorCluster(t)
	produce(t, cfg, cfg.Topics.ChatEvents, "chat-0", "chat-1", "chat-2")
	produce(t, cfg, cfg.Topics.SystemEvents, "system-0", "system-1")
	m := newMemProjection(func(string) bool { return false })
	topics := []string{cfg.Topics.ChatEvents, cfg.Topics.SystemEvents}
	runProjector(t, kafka.NewProjector(cfg, "chorus-projector-lanes", topics, m, testLogger()).Apart("-quiet", cfg.Topics.SystemEvents))
	applied := func() []string { a, _, _ := m.state(); return a }
	waitUntil(t, "every record projected", 20*time.Second, func() bool { return len(applied()) == 5 })
	produce(t, cfg, cfg.Topics.SystemEvents, "system-2")
	produce(t, cfg, cfg.Topics.ChatEvents, "chat-3")
	waitUntil(t, "the records produced while running projected", 20*time.Second, func() bool { return len(applied()) == 7 })
	var chat, system []string
	for _, v := range applied() {
		if strings.HasPrefix(v, "chat-") {
			chat = append(chat, v)
		} else {
			system = append(system, v)
		}
	}
	if want := []string{"chat-0", "chat-1", "chat-2", "chat-3"}; !slices.Equal(chat, want) {
		t.Fatalf("chat-events projected %v, want %v", chat, want)
	}
	if want := []string{"system-0", "system-1", "system-2"}; !slices.Equal(system, want) {
		t.Fatalf("system-events projected %v, want %v", system, want)
	}

	admin, err := sarama.NewClusterAdmin(cfg.Brokers, cfg.Sarama())
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	groups, err := admin.DescribeConsumerGroups([]string{"chorus-projector-lanes", "chorus-projector-lanes-quiet"})
	if err != nil {
		t.Fatal(err)
	}
	held := map[string][]string{}
	for _, g := range groups {
		for _, mem := range g.Members {
			a, err := mem.GetMemberAssignment()
			if err != nil {
				t.Fatal(err)
			}
			for topic := range a.Topics {
				held[g.GroupId] = append(held[g.GroupId], topic)
			}
		}
	}
	if got := held["chorus-projector-lanes"]; !slices.Equal(got, []string{cfg.Topics.ChatEvents}) {
		t.Fatalf("the projector's group holds partitions of %v, want only %s", got, cfg.Topics.ChatEvents)
	}
	if got := held["chorus-projector-lanes-quiet"]; !slices.Equal(got, []string{cfg.Topics.SystemEvents}) {
		t.Fatalf("the group apart holds partitions of %v, want only %s", got, cfg.Topics.SystemEvents)
	}
}

// The topics apart are quiet ones: their group does not wait for the projector's gathering, so
// that a record there is handed over as it comes. (A gathered fetch is answered at its deadline,
// so a gathered record would take anything up to the gathering's 10 s: two records each under
// 1.5 s would then pass one time in 44. The gathering also bounds the test: closing a consumer
// group waits for its fetch.)
func TestProjectorTopicsApartAreNotGathered(t *testing.T) {
	const gather = 10 * time.Second
	cfg := projectorCluster(t)
	m := newMemProjection(func(string) bool { return false })
	topics := []string{cfg.Topics.ChatEvents, cfg.Topics.SystemEvents}
	p := kafka.NewProjector(cfg, "chorus-projector-gathered", topics, m, testLogger()).
		Gathering(1<<20, gather).Apart("-quiet", cfg.Topics.SystemEvents)
	runProjector(t, p)
	applied := func() []string { a, _, _ := m.state(); return a }
	produce(t, cfg, cfg.Topics.SystemEvents, "system-0")
	waitUntil(t, "the group apart projecting", gather+10*time.Second, func() bool { return len(applied()) == 1 })
	for i := 1; i <= 2; i++ {
		start := time.Now()
		produce(t, cfg, cfg.Topics.SystemEvents, fmt.Sprintf("system-%d", i))
		waitUntil(t, "the quiet topic's record projected", gather+10*time.Second, func() bool { return len(applied()) == 1+i })
		if took := time.Since(start); took >= 1500*time.Millisecond {
			t.Fatalf("a record of the topic apart took %s to be projected: its group waited for the gathering (%s)", took, gather)
		}
	}
}
