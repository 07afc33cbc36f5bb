package ops_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/google/uuid"

	"github.com/chorus-chat/chorus/adapters/kafka"
	"github.com/chorus-chat/chorus/adapters/ops"
	"github.com/chorus-chat/chorus/domain"
)

func TestParseReplayBound(t *testing.T) {
	for in, want := range map[string]string{
		"": "", "offset:0": "offset:0", "offset:42": "offset:42", "2026-01-02": "2026-01-02T00:00:00Z",
		"2026-01-02T03:04:05.5+01:00": "2026-01-02T02:04:05.5Z",
	} {
		b, err := ops.ParseReplayBound(in)
		if err != nil || b.String() != want {
			t.Errorf("ParseReplayBound(%q) = %q, %v; want %q", in, b.String(), err, want)
		}
	}
	for _, in := range []string{"offset:-1", "offset:x", "yesterday", "2026-13-01", "0000-01-01T00:00:00+01:00", "9999-12-31T23:00:00-02:00"} {
		if _, err := ops.ParseReplayBound(in); err == nil {
			t.Errorf("ParseReplayBound(%q) accepted it", in)
		}
	}
}

// --- replay against the embedded broker ---

// logHarness is an embedded broker with the Chorus topics and a transactional producer that
// writes envelopes as the command processor does (record timestamp = occurred_at).
type logHarness struct {
	t    *testing.T
	cfg  kafka.Config
	prod sarama.SyncProducer
}

func newLogHarness(t *testing.T, partitions int32) *logHarness {
	t.Helper()
	b, err := kafka.StartEmbedded(kafka.EmbeddedOptions{Addr: "127.0.0.1:0", DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	cfg := kafka.Config{Brokers: []string{b.Addr()}, Topics: kafka.DefaultTopics(), Partitions: partitions, SessionTimeout: 10 * time.Second, Heartbeat: time.Second}
	if err := kafka.EnsureTopics(cfg); err != nil {
		t.Fatal(err)
	}
	return &logHarness{t: t, cfg: cfg, prod: newTxnProducer(t, cfg, "replay-test")}
}

func newTxnProducer(t *testing.T, cfg kafka.Config, id string) sarama.SyncProducer {
	t.Helper()
	sc := cfg.Sarama()
	sc.Producer.Idempotent = true
	sc.Producer.Transaction.ID = id
	sc.Producer.Partitioner = sarama.NewManualPartitioner
	sc.Net.MaxOpenRequests = 1
	p, err := sarama.NewSyncProducer(cfg.Brokers, sc)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	return p
}

// placed is an event and where it goes.
type placed struct {
	topic string
	part  int32
	ev    domain.Event
}

func (p placed) message(t *testing.T) *sarama.ProducerMessage {
	b, err := json.Marshal(p.ev)
	if err != nil {
		t.Fatal(err)
	}
	return &sarama.ProducerMessage{Topic: p.topic, Partition: p.part, Key: sarama.StringEncoder(p.ev.AggregateID.String()),
		Value: sarama.ByteEncoder(b), Timestamp: p.ev.OccurredAt}
}

// txn writes events in one transaction and commits or aborts it.
func (h *logHarness) txn(evs []placed, commit bool) {
	h.t.Helper()
	if err := h.prod.BeginTxn(); err != nil {
		h.t.Fatal(err)
	}
	msgs := make([]*sarama.ProducerMessage, len(evs))
	for i, e := range evs {
		msgs[i] = e.message(h.t)
	}
	if err := h.prod.SendMessages(msgs); err != nil {
		h.t.Fatal(err)
	}
	if commit {
		if err := h.prod.CommitTxn(); err != nil {
			h.t.Fatal(err)
		}
	} else if err := h.prod.AbortTxn(); err != nil {
		h.t.Fatal(err)
	}
}

var base = time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)

func message(topic string, part int32, at time.Time, content string) placed {
	room := uuid.New()
	typ, agg := domain.AggregateRoom, room
	var data domain.EventData = domain.MessageSent{RoomID: room, Message: domain.MessageData{ID: uuid.New(), RoomID: room, SenderID: uuid.New(), Content: content, MessageType: "text", Seq: 1, CreatedAt: at}}
	if topic == "user-events" {
		typ = domain.AggregateUser
		data = domain.UserRegistered{UserID: agg, Username: content, DisplayName: content, RegisteredAt: at}
	}
	return placed{topic: topic, part: part, ev: domain.Event{ID: uuid.New(), Type: data.EventType(), AggregateType: typ, AggregateID: agg, Version: 1,
		OccurredAt: at, ActorID: uuid.New(), CommandID: uuid.New(), SchemaVersion: 1, Data: data}}
}

// got is what a replay delivered.
type got struct {
	topic  string
	part   int32
	offset int64
	at     time.Time
	id     string
	out    string
}

func replayAll(t *testing.T, cfg kafka.Config, opts ops.ReplayOptions) ([]got, ops.ReplayStats) {
	t.Helper()
	var out []got
	st, err := ops.Replay(context.Background(), cfg, opts, func(r *ops.ReplayRecord) error {
		out = append(out, got{r.Topic, r.Partition, r.Offset, r.Event.OccurredAt, r.Event.ID, string(r.Out)})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out, st
}

func sortedByKey(gs []got) bool {
	return sort.SliceIsSorted(gs, func(i, j int) bool {
		a, b := gs[i], gs[j]
		if !a.at.Equal(b.at) {
			return a.at.Before(b.at)
		}
		if a.topic != b.topic {
			return a.topic < b.topic
		}
		if a.part != b.part {
			return a.part < b.part
		}
		return a.offset < b.offset
	})
}

// The replay gives every committed event once, across topics and partitions, in event-time
// order with ties broken by topic, partition and offset, and nothing of aborted transactions.
func TestReplayMergesCommittedEventsByEventTime(t *testing.T) {
	h := newLogHarness(t, 4)
	rng := rand.New(rand.NewSource(1))
	topics := []string{"chat-events", "user-events", "system-events"}
	// Per partition, times that only grow; across partitions they interleave and sometimes tie.
	clock := map[string]time.Time{}
	var committed []placed
	aborted := map[string]bool{}
	for round := 0; round < 40; round++ {
		var batch []placed
		for i := 0; i < 1+rng.Intn(60); i++ {
			topic, part := topics[rng.Intn(3)], int32(rng.Intn(4))
			k := fmt.Sprint(topic, part)
			if clock[k].IsZero() {
				clock[k] = base
			}
			clock[k] = clock[k].Add(time.Duration(rng.Intn(3)) * time.Millisecond) // steps of 0: ties
			batch = append(batch, message(topic, part, clock[k], fmt.Sprint("m", round, "-", i)))
		}
		if round%7 == 3 {
			h.txn(batch, false)
			for _, p := range batch {
				aborted[p.ev.ID.String()] = true
			}
			continue
		}
		h.txn(batch, true)
		committed = append(committed, batch...)
	}
	out, st := replayAll(t, h.cfg, ops.ReplayOptions{})
	if len(out) != len(committed) || st.Delivered != int64(len(committed)) || st.Read != int64(len(committed)) {
		t.Fatalf("delivered %d (stats %+v), committed %d", len(out), st, len(committed))
	}
	seen := map[string]bool{}
	for _, g := range out {
		if aborted[g.id] {
			t.Fatalf("event %s of an aborted transaction replayed", g.id)
		}
		if seen[g.id] {
			t.Fatalf("event %s twice", g.id)
		}
		seen[g.id] = true
	}
	for _, p := range committed {
		if !seen[p.ev.ID.String()] {
			t.Fatalf("committed event %s missing", p.ev.ID)
		}
	}
	if !sortedByKey(out) || st.OutOfOrder != 0 {
		t.Fatalf("not in (occurred_at, topic, partition, offset) order (out of order: %d)", st.OutOfOrder)
	}
	ties := 0
	for i := 1; i < len(out); i++ {
		if out[i].at.Equal(out[i-1].at) {
			ties++
		}
	}
	if ties == 0 {
		t.Fatal("the test wants ties")
	}

	// Prepare filters and renders on the readers; the merge keeps the order.
	prepared, _ := replayAll(t, h.cfg, ops.ReplayOptions{Topics: []string{"user-events", "chat-events"}, Prepare: func(r *ops.ReplayRecord, buf []byte) ([]byte, bool, error) {
		if r.Event.Type != domain.TypeMessageSent {
			return buf, false, nil
		}
		return append(buf, r.Event.ID...), true, nil
	}})
	var want []string
	for _, g := range out {
		if g.topic == "chat-events" {
			want = append(want, g.id)
		}
	}
	if len(prepared) != len(want) {
		t.Fatalf("prepared %d, want %d", len(prepared), len(want))
	}
	for i, g := range prepared {
		if g.out != want[i] || g.id != want[i] {
			t.Fatalf("prepared[%d] = %s (%s), want %s", i, g.out, g.id, want[i])
		}
	}
}

func TestReplayBounds(t *testing.T) {
	h := newLogHarness(t, 3)
	// Partition p holds events at base + i seconds (+ p ms); chat and user topics both.
	var all []placed
	for i := 0; i < 30; i++ {
		var batch []placed
		for p := int32(0); p < 3; p++ {
			at := base.Add(time.Duration(i)*time.Second + time.Duration(p)*time.Millisecond)
			batch = append(batch, message("chat-events", p, at, fmt.Sprint(i)), message("user-events", p, at.Add(time.Microsecond), fmt.Sprint(i)))
		}
		h.txn(batch, true)
		all = append(all, batch...)
	}
	count := func(opts ops.ReplayOptions) []got {
		out, _ := replayAll(t, h.cfg, opts)
		if !sortedByKey(out) {
			t.Fatal("out of order")
		}
		return out
	}
	// Times: exact, From inclusive, To exclusive, down to the microsecond.
	from, to := base.Add(10*time.Second+time.Millisecond), base.Add(20*time.Second+time.Microsecond)
	out := count(ops.ReplayOptions{From: ops.TimeBound(from), To: ops.TimeBound(to)})
	want := 0
	for _, p := range all {
		if !p.ev.OccurredAt.Before(from) && p.ev.OccurredAt.Before(to) {
			want++
		}
	}
	if len(out) != want || want == 0 {
		t.Fatalf("time range: %d events, want %d", len(out), want)
	}
	for _, g := range out {
		if g.at.Before(from) || !g.at.Before(to) {
			t.Fatalf("event at %s outside [%s, %s)", g.at, from, to)
		}
	}
	// The same with the slack disabled (whole partitions scanned) and with a tiny one.
	for _, slack := range []time.Duration{-1, time.Nanosecond} {
		if n := len(count(ops.ReplayOptions{From: ops.TimeBound(from), To: ops.TimeBound(to), TimeSlack: slack})); n != want {
			t.Fatalf("slack %v: %d events, want %d", slack, n, want)
		}
	}
	// Beyond the log: nothing; before it: everything.
	if n := len(count(ops.ReplayOptions{From: ops.TimeBound(base.Add(time.Hour))})); n != 0 {
		t.Fatalf("from after the last event: %d", n)
	}
	if n := len(count(ops.ReplayOptions{To: ops.TimeBound(base.Add(time.Hour)), From: ops.TimeBound(base.Add(-time.Hour))})); n != len(all) {
		t.Fatalf("wide range: %d of %d", n, len(all))
	}
	// Offsets: per partition, [N, M). Each transaction adds one marker per partition, so
	// event i of a partition is at offset 2i.
	out = count(ops.ReplayOptions{From: ops.OffsetBound(10), To: ops.OffsetBound(20)})
	if len(out) != 5*6 {
		t.Fatalf("offset range: %d events, want 30", len(out))
	}
	for _, g := range out {
		if g.offset < 10 || g.offset >= 20 {
			t.Fatalf("offset %d outside [10, 20)", g.offset)
		}
	}
	// Mixed: from a time, to an offset.
	out = count(ops.ReplayOptions{Topics: []string{"chat-events"}, From: ops.TimeBound(base.Add(25 * time.Second)), To: ops.OffsetBound(56)})
	if len(out) != 3*3 {
		t.Fatalf("mixed bounds: %d events, want 9", len(out))
	}
	var rng ops.ReplayRange
	count(ops.ReplayOptions{Topics: []string{"chat-events"}, OnStart: func(r ops.ReplayRange) { rng = r }})
	if len(rng.Partitions) != 3 || rng.Total != 3*60 {
		t.Fatalf("range %+v", rng)
	}
}

// An open transaction holds the end back (last stable offset): the replay ends before it
// instead of waiting, and shows its events once it commits.
func TestReplayStopsAtOpenTransaction(t *testing.T) {
	h := newLogHarness(t, 2)
	h.txn([]placed{message("chat-events", 0, base, "a"), message("chat-events", 1, base, "b")}, true)
	open := newTxnProducer(t, h.cfg, "replay-test-open")
	if err := open.BeginTxn(); err != nil {
		t.Fatal(err)
	}
	pending := message("chat-events", 0, base.Add(time.Second), "pending")
	if err := open.SendMessages([]*sarama.ProducerMessage{pending.message(t)}); err != nil {
		t.Fatal(err)
	}
	h.txn([]placed{message("chat-events", 1, base.Add(2*time.Second), "c")}, true)
	done := make(chan []got, 1)
	go func() {
		out, _ := replayAll(t, h.cfg, ops.ReplayOptions{Topics: []string{"chat-events"}})
		done <- out
	}()
	select {
	case out := <-done:
		if len(out) != 3 {
			t.Fatalf("replay with an open transaction: %d events, want 3", len(out))
		}
	case <-time.After(20 * time.Second):
		t.Fatal("replay waits for an open transaction")
	}
	if err := open.CommitTxn(); err != nil {
		t.Fatal(err)
	}
	out, _ := replayAll(t, h.cfg, ops.ReplayOptions{Topics: []string{"chat-events"}})
	if len(out) != 4 || out[2].id != pending.ev.ID.String() {
		t.Fatalf("after commit: %+v", out)
	}
}

func TestReplayFollowsNewEvents(t *testing.T) {
	h := newLogHarness(t, 2)
	h.txn([]placed{message("chat-events", 0, base, "old")}, true)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var mu sync.Mutex
	var ids []string
	caught := make(chan struct{}, 10)
	errc := make(chan error, 1)
	go func() {
		_, err := ops.Replay(ctx, h.cfg, ops.ReplayOptions{Follow: true, PollInterval: 20 * time.Millisecond,
			OnCaughtUp: func() error { caught <- struct{}{}; return nil }},
			func(r *ops.ReplayRecord) error {
				mu.Lock()
				ids = append(ids, r.Event.ID)
				mu.Unlock()
				return nil
			})
		errc <- err
	}()
	wait := func(n int) {
		t.Helper()
		deadline := time.Now().Add(15 * time.Second)
		for {
			mu.Lock()
			k := len(ids)
			mu.Unlock()
			if k >= n {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("followed %d events, want %d", k, n)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	wait(1)
	<-caught
	later := []placed{message("chat-events", 1, base.Add(time.Second), "new1"), message("user-events", 0, base.Add(2*time.Second), "new2")}
	h.txn(later, true)
	h.txn([]placed{message("chat-events", 0, base.Add(3*time.Second), "aborted")}, false)
	wait(3)
	cancel()
	if err := <-errc; err != nil {
		t.Fatalf("a followed replay ends without error when its context ends: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(ids) != 3 || ids[1] != later[0].ev.ID.String() || ids[2] != later[1].ev.ID.String() {
		t.Fatalf("followed %v", ids)
	}
}

// A partition whose event times step back still comes out whole, and the step is counted.
func TestReplayCountsEventsOutOfOrder(t *testing.T) {
	h := newLogHarness(t, 1)
	h.txn([]placed{message("chat-events", 0, base.Add(time.Second), "late"), message("chat-events", 0, base, "early")}, true)
	out, st := replayAll(t, h.cfg, ops.ReplayOptions{})
	if len(out) != 2 || st.OutOfOrder != 1 {
		t.Fatalf("%d events, %d out of order", len(out), st.OutOfOrder)
	}
}

func TestReplayBadRecordsAndTopics(t *testing.T) {
	h := newLogHarness(t, 1)
	h.txn([]placed{message("chat-events", 0, base, "ok")}, true)
	if err := h.prod.BeginTxn(); err != nil {
		t.Fatal(err)
	}
	if err := h.prod.SendMessages([]*sarama.ProducerMessage{{Topic: "chat-events", Partition: 0, Value: sarama.StringEncoder("not json")}}); err != nil {
		t.Fatal(err)
	}
	if err := h.prod.CommitTxn(); err != nil {
		t.Fatal(err)
	}
	_, err := ops.Replay(context.Background(), h.cfg, ops.ReplayOptions{}, func(*ops.ReplayRecord) error { return nil })
	if err == nil || !strings.Contains(err.Error(), "chat-events/0/2 is not a valid envelope") {
		t.Fatalf("bad record: %v", err)
	}
	var skipped []int64
	out, st := replayAll(t, h.cfg, ops.ReplayOptions{SkipBad: func(r kafka.Record, _ error) { skipped = append(skipped, r.Offset) }})
	if len(out) != 1 || st.Skipped != 1 || len(skipped) != 1 || skipped[0] != 2 {
		t.Fatalf("skip bad: %d events, stats %+v, skipped %v", len(out), st, skipped)
	}

	// A topic that does not exist is an error, and is not created by asking.
	_, err = ops.Replay(context.Background(), h.cfg, ops.ReplayOptions{Topics: []string{"no-such-topic"}}, func(*ops.ReplayRecord) error { return nil })
	if err == nil || !strings.Contains(err.Error(), "topic no-such-topic does not exist") {
		t.Fatalf("missing topic: %v", err)
	}
	admin, err := sarama.NewClusterAdmin(h.cfg.Brokers, h.cfg.Sarama())
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	topics, err := admin.ListTopics()
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := topics["no-such-topic"]; ok {
		t.Fatal("replay created the topic it was asked about")
	}

	// fn's error ends the replay.
	boom := errors.New("boom")
	if _, err := ops.Replay(context.Background(), h.cfg, ops.ReplayOptions{SkipBad: func(kafka.Record, error) {}}, func(*ops.ReplayRecord) error { return boom }); !errors.Is(err, boom) {
		t.Fatalf("fn error: %v", err)
	}

	// No broker: a one-line error naming where it looked.
	_, err = ops.Replay(context.Background(), kafka.Config{Brokers: []string{"127.0.0.1:1"}, Topics: kafka.DefaultTopics()}, ops.ReplayOptions{}, func(*ops.ReplayRecord) error { return nil })
	if err == nil || !strings.HasPrefix(err.Error(), "cannot reach Kafka at 127.0.0.1:1: ") || strings.Contains(err.Error(), "\n") {
		t.Fatalf("unreachable broker: %v", err)
	}
}
