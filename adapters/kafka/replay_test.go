package kafka_test

import (
	"bytes"
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
	"unicode/utf8"

	"github.com/IBM/sarama"
	"github.com/google/uuid"

	"github.com/chorus-chat/chorus/adapters/kafka"
	"github.com/chorus-chat/chorus/domain"
)

// --- envelope decoding and re-encoding (no broker) ---

func sampleEvents(t testing.TB) []domain.Event {
	t.Helper()
	at := time.Date(2026, 3, 4, 5, 6, 7, 123456000, time.UTC)
	room, alice := uuid.New(), uuid.New()
	ev := func(v int64, d domain.EventData) domain.Event {
		return domain.Event{ID: uuid.New(), Type: d.EventType(), AggregateType: domain.AggregateRoom, AggregateID: room, Version: v,
			OccurredAt: at, ActorID: alice, CommandID: uuid.New(), SchemaVersion: domain.CurrentSchemaVersion, Data: d}
	}
	reply := uuid.New()
	return []domain.Event{
		ev(1, domain.RoomCreated{RoomID: room, Name: "général <&> \"q\" \u2028", OwnerID: alice, CreatedAt: at}),
		ev(2, domain.UserJoinedRoom{RoomID: room, UserID: alice, Username: "alice", Role: domain.RoleOwner, JoinedAt: at}),
		ev(3, domain.MessageSent{RoomID: room, Message: domain.MessageData{ID: uuid.New(), RoomID: room, SenderID: alice,
			Content: "你好 \\ \"world\"\n\t😀", MessageType: "text", ReplyToMessageID: &reply, Seq: 1, CreatedAt: at}}),
		{ID: uuid.New(), Type: domain.TypeUserRegistered, AggregateType: domain.AggregateUser, AggregateID: alice, Version: 1,
			OccurredAt: at.Add(time.Second), ActorID: alice, CommandID: uuid.New(), SchemaVersion: 1,
			Data: domain.UserRegistered{UserID: alice, Username: "alice", DisplayName: "Alice", RegisteredAt: at}},
	}
}

// Without secrets, the re-encoding is exactly what encoding/json wrote (which the processor uses).
func TestEnvelopeRoundTripsByteForByte(t *testing.T) {
	for _, ev := range sampleEvents(t) {
		b, err := json.Marshal(ev)
		if err != nil {
			t.Fatal(err)
		}
		env, err := kafka.ParseEnvelope(b)
		if err != nil {
			t.Fatalf("parse %s: %v", b, err)
		}
		if env.ID != ev.ID.String() || env.Type != ev.Type || env.AggregateID != ev.AggregateID.String() || env.Version != ev.Version ||
			!env.OccurredAt.Equal(ev.OccurredAt) || env.ActorID != ev.ActorID.String() || env.CommandID != ev.CommandID.String() || env.SchemaVersion != 1 {
			t.Fatalf("parsed %+v from %s", env, b)
		}
		out, err := env.AppendJSON(nil, true)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(out, b) {
			t.Fatalf("re-encoded\n%s\nwant\n%s", out, b)
		}
	}
}

func TestEnvelopeDropsSecretsAtAnyDepth(t *testing.T) {
	at := time.Now().UTC()
	room := uuid.New()
	hash := "$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHQ$aGFzaGhhc2g"
	ev := domain.Event{ID: uuid.New(), Type: domain.TypeRoomCreated, AggregateType: domain.AggregateRoom, AggregateID: room, Version: 1,
		OccurredAt: at, SchemaVersion: 1, Data: domain.RoomCreated{RoomID: room, Name: "secret club", IsPrivate: true, PasswordHash: hash, CreatedAt: at}}
	b, _ := json.Marshal(ev)
	env, err := kafka.ParseEnvelope(b)
	if err != nil {
		t.Fatal(err)
	}
	out, err := env.AppendJSON(nil, true)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(out, []byte(hash)) || bytes.Contains(out, []byte("password")) {
		t.Fatalf("secret in %s", out)
	}
	ev.Data = domain.RoomCreated{RoomID: room, Name: "secret club", IsPrivate: true, CreatedAt: at}
	want, _ := json.Marshal(ev)
	if !bytes.Equal(out, want) {
		t.Fatalf("got\n%s\nwant\n%s", out, want)
	}

	// Any field named like a secret goes, at any depth, whatever its value; the rest stays.
	env.Data = json.RawMessage(` { "a" : [ {"Api_Token": {"x":1}, "b": "password_hash"}, 2 ],
		"nested": {"refresh_TOKEN":"t", "HashOfIt":null, "my\u0048ash": 3, "ok": "\u00e9\"", "Secret":[1]}, "plain_password": "p", "z": -1.5e3 } `)
	got, err := env.AppendData(nil, true)
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"a":[{"b":"password_hash"},2],"nested":{"ok":"\u00e9\""},"z":-1.5e3}`; string(got) != want {
		t.Fatalf("redacted data %s, want %s", got, want)
	}
}

func TestParseEnvelopeRejectsWhatIsNotAnEnvelope(t *testing.T) {
	for _, in := range []string{
		``, `null`, `[]`, `{}`, `{"id":"x"}`, `{"occurred_at":"yesterday"}`, `{"occurred_at":"2026-01-01T00:00:00Z"`,
		`{"occurred_at":"2026-01-01T00:00:00Z","data":{"a":}}`, `{"occurred_at":"2026-01-01T00:00:00Z"} x`,
		`{"occurred_at":"2026-01-01T00:00:00Z","version":1.5}`, `{"occurred_at":"2026-01-01T00:00:00Z","data":"\x01"}`,
		"{\"occurred_at\":\"2026-01-01T00:00:00Z\",\"data\":\"\xff\"}", strings.Repeat("[", 5000),
		`{"occurred_at":"2026-01-01T00:00:00Z","data":` + strings.Repeat("[", 5000) + strings.Repeat("]", 5000) + `}`,
	} {
		if _, err := kafka.ParseEnvelope([]byte(in)); err == nil {
			t.Errorf("ParseEnvelope(%.60q) accepted it", in)
		}
	}
	env, err := kafka.ParseEnvelope([]byte(`{"occurred_at":"2026-01-01T00:00:00Z","data": { "a" : [ 1 , "x y" ] , "b\u0022":{} } }`))
	if err != nil {
		t.Fatal(err)
	}
	if out, _ := env.AppendJSON(nil, true); !bytes.HasSuffix(out, []byte(`"data":{"a":[1,"x y"],"b\u0022":{}}}`)) {
		t.Fatalf("data with white space: %s", out)
	}
	env, err = kafka.ParseEnvelope([]byte(` {"occurred_at":"2026-01-01T00:00:00+02:00","extra":{"k":[true,false,null]},"actor_id":null,"type":"X\u0059"} `))
	if err != nil || env.Type != "XY" || env.ActorID != "" || env.OccurredAt.UTC().Hour() != 22 || env.Data != nil {
		t.Fatalf("lenient parse: %+v %v", env, err)
	}
	if out, _ := env.AppendJSON(nil, false); !bytes.HasSuffix(out, []byte(`"data":null}`)) {
		t.Fatalf("absent data: %s", out)
	}
}

// The scanner accepts exactly what encoding/json accepts, and never panics.
func FuzzJSONScanner(f *testing.F) {
	for _, s := range []string{`{}`, `[1,2,{"a":"b"}]`, `"\u00e9"`, `-0.5e+10`, `01`, `1.`, `{"a" 1}`, `[1,]`, `tru`, "\"\xff\"", `"\ud800"`, ` 1 `, `{"a":1,}`, `1 2`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) == 0 {
			return
		}
		err := kafka.EachDataField(b, func(_, _ []byte) {})
		if err != nil && strings.Contains(err.Error(), "nested too deeply") {
			return // a limit of the scanner (1000 levels); encoding/json's is 10000
		}
		// Valid JSON, and UTF-8 (encoding/json lets invalid UTF-8 through; the scanner does not).
		if (err == nil) != (json.Valid(b) && utf8.Valid(b)) {
			t.Fatalf("%q: scanner error %v, json.Valid %v", b, err, json.Valid(b))
		}
		if err != nil {
			return
		}
		env := kafka.Envelope{Data: b}
		out, err := env.AppendData(nil, false)
		if err != nil {
			t.Fatal(err)
		}
		var want bytes.Buffer
		_ = json.Compact(&want, b)
		if !bytes.Equal(out, want.Bytes()) {
			t.Fatalf("compact %q = %q, want %q", b, out, want.Bytes())
		}
	})
}

func TestParseReplayBound(t *testing.T) {
	for in, want := range map[string]string{
		"": "", "offset:0": "offset:0", "offset:42": "offset:42", "2026-01-02": "2026-01-02T00:00:00Z",
		"2026-01-02T03:04:05.5+01:00": "2026-01-02T02:04:05.5Z",
	} {
		b, err := kafka.ParseReplayBound(in)
		if err != nil || b.String() != want {
			t.Errorf("ParseReplayBound(%q) = %q, %v; want %q", in, b.String(), err, want)
		}
	}
	for _, in := range []string{"offset:-1", "offset:x", "yesterday", "2026-13-01", "0000-01-01T00:00:00+01:00", "9999-12-31T23:00:00-02:00"} {
		if _, err := kafka.ParseReplayBound(in); err == nil {
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

func replayAll(t *testing.T, cfg kafka.Config, opts kafka.ReplayOptions) ([]got, kafka.ReplayStats) {
	t.Helper()
	var out []got
	st, err := kafka.Replay(context.Background(), cfg, opts, func(r *kafka.ReplayRecord) error {
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
	out, st := replayAll(t, h.cfg, kafka.ReplayOptions{})
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
	prepared, _ := replayAll(t, h.cfg, kafka.ReplayOptions{Topics: []string{"user-events", "chat-events"}, Prepare: func(r *kafka.ReplayRecord, buf []byte) ([]byte, bool, error) {
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
	count := func(opts kafka.ReplayOptions) []got {
		out, _ := replayAll(t, h.cfg, opts)
		if !sortedByKey(out) {
			t.Fatal("out of order")
		}
		return out
	}
	// Times: exact, From inclusive, To exclusive, down to the microsecond.
	from, to := base.Add(10*time.Second+time.Millisecond), base.Add(20*time.Second+time.Microsecond)
	out := count(kafka.ReplayOptions{From: kafka.TimeBound(from), To: kafka.TimeBound(to)})
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
		if n := len(count(kafka.ReplayOptions{From: kafka.TimeBound(from), To: kafka.TimeBound(to), TimeSlack: slack})); n != want {
			t.Fatalf("slack %v: %d events, want %d", slack, n, want)
		}
	}
	// Beyond the log: nothing; before it: everything.
	if n := len(count(kafka.ReplayOptions{From: kafka.TimeBound(base.Add(time.Hour))})); n != 0 {
		t.Fatalf("from after the last event: %d", n)
	}
	if n := len(count(kafka.ReplayOptions{To: kafka.TimeBound(base.Add(time.Hour)), From: kafka.TimeBound(base.Add(-time.Hour))})); n != len(all) {
		t.Fatalf("wide range: %d of %d", n, len(all))
	}
	// Offsets: per partition, [N, M). Each transaction adds one marker per partition, so
	// event i of a partition is at offset 2i.
	out = count(kafka.ReplayOptions{From: kafka.OffsetBound(10), To: kafka.OffsetBound(20)})
	if len(out) != 5*6 {
		t.Fatalf("offset range: %d events, want 30", len(out))
	}
	for _, g := range out {
		if g.offset < 10 || g.offset >= 20 {
			t.Fatalf("offset %d outside [10, 20)", g.offset)
		}
	}
	// Mixed: from a time, to an offset.
	out = count(kafka.ReplayOptions{Topics: []string{"chat-events"}, From: kafka.TimeBound(base.Add(25 * time.Second)), To: kafka.OffsetBound(56)})
	if len(out) != 3*3 {
		t.Fatalf("mixed bounds: %d events, want 9", len(out))
	}
	var rng kafka.ReplayRange
	count(kafka.ReplayOptions{Topics: []string{"chat-events"}, OnStart: func(r kafka.ReplayRange) { rng = r }})
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
		out, _ := replayAll(t, h.cfg, kafka.ReplayOptions{Topics: []string{"chat-events"}})
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
	out, _ := replayAll(t, h.cfg, kafka.ReplayOptions{Topics: []string{"chat-events"}})
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
		_, err := kafka.Replay(ctx, h.cfg, kafka.ReplayOptions{Follow: true, PollInterval: 20 * time.Millisecond,
			OnCaughtUp: func() error { caught <- struct{}{}; return nil }},
			func(r *kafka.ReplayRecord) error {
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
	out, st := replayAll(t, h.cfg, kafka.ReplayOptions{})
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
	_, err := kafka.Replay(context.Background(), h.cfg, kafka.ReplayOptions{}, func(*kafka.ReplayRecord) error { return nil })
	if err == nil || !strings.Contains(err.Error(), "chat-events/0/2 is not a valid envelope") {
		t.Fatalf("bad record: %v", err)
	}
	var skipped []int64
	out, st := replayAll(t, h.cfg, kafka.ReplayOptions{SkipBad: func(r kafka.Record, _ error) { skipped = append(skipped, r.Offset) }})
	if len(out) != 1 || st.Skipped != 1 || len(skipped) != 1 || skipped[0] != 2 {
		t.Fatalf("skip bad: %d events, stats %+v, skipped %v", len(out), st, skipped)
	}

	// A topic that does not exist is an error, and is not created by asking.
	_, err = kafka.Replay(context.Background(), h.cfg, kafka.ReplayOptions{Topics: []string{"no-such-topic"}}, func(*kafka.ReplayRecord) error { return nil })
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
	if _, err := kafka.Replay(context.Background(), h.cfg, kafka.ReplayOptions{SkipBad: func(kafka.Record, error) {}}, func(*kafka.ReplayRecord) error { return boom }); !errors.Is(err, boom) {
		t.Fatalf("fn error: %v", err)
	}

	// No broker: a one-line error naming where it looked.
	_, err = kafka.Replay(context.Background(), kafka.Config{Brokers: []string{"127.0.0.1:1"}, Topics: kafka.DefaultTopics()}, kafka.ReplayOptions{}, func(*kafka.ReplayRecord) error { return nil })
	if err == nil || !strings.HasPrefix(err.Error(), "cannot reach Kafka at 127.0.0.1:1: ") || strings.Contains(err.Error(), "\n") {
		t.Fatalf("unreachable broker: %v", err)
	}
}

// Events decided by the real command processor replay whole: every aggregate's versions run
// from 1 without gaps, in order, and the private room's password hash is in the log but not in
// the output.
func TestReplayOfCommandProcessorEvents(t *testing.T) {
	h := newHarness(t)
	stop := h.startProcessor()
	defer stop()
	const hash = "$2a$10$abcdefghijklmnopqrstuuJ0Wm9e8m1lJ6Jm2b3K4l5m6n7o8p9q0"
	owner := uuid.New()
	var rooms []uuid.UUID
	for i := 0; i < 6; i++ {
		room := uuid.New()
		rooms = append(rooms, room)
		c := domain.CreateRoom{Name: fmt.Sprint("room ", i)}
		if i == 0 {
			c = domain.CreateRoom{Name: "private", IsPrivate: true, PasswordHash: hash}
		}
		if r := h.dispatch(domain.NewCommand(uuid.New(), room, owner, "alice", time.Now(), c)); !r.Accepted {
			t.Fatalf("create: %+v", r)
		}
	}
	for i := 0; i < 60; i++ {
		if r := h.dispatch(domain.NewCommand(uuid.New(), rooms[i%len(rooms)], owner, "alice", time.Now(), domain.SendMessage{Content: fmt.Sprint("hello ", i)})); !r.Accepted {
			t.Fatalf("send: %+v", r)
		}
	}
	want := 6*2 + 60
	var lines [][]byte
	versions := map[string]int64{}
	_, err := kafka.Replay(context.Background(), h.cfg, kafka.ReplayOptions{
		Prepare: func(r *kafka.ReplayRecord, buf []byte) ([]byte, bool, error) {
			if !bytes.Contains(r.Value, []byte(hash)) && r.Event.Type == domain.TypeRoomCreated && r.Event.AggregateID == rooms[0].String() {
				return buf, false, errors.New("the log should hold the hash")
			}
			b, err := r.Event.AppendJSON(buf, true)
			return b, true, err
		},
	}, func(r *kafka.ReplayRecord) error {
		lines = append(lines, append([]byte(nil), r.Out...))
		if v := versions[r.Event.AggregateID] + 1; r.Event.Version != v {
			return fmt.Errorf("aggregate %s: version %d after %d", r.Event.AggregateID, r.Event.Version, v-1)
		}
		versions[r.Event.AggregateID] = r.Event.Version
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(lines) != want || len(versions) != 6 {
		t.Fatalf("%d events of %d aggregates, want %d of 6", len(lines), len(versions), want)
	}
	for _, l := range lines {
		if bytes.Contains(l, []byte(hash)) || bytes.Contains(l, []byte("password")) {
			t.Fatalf("secret in the output: %s", l)
		}
		var ev domain.Event
		if err := json.Unmarshal(l, &ev); err != nil {
			t.Fatalf("output is not an event: %v: %s", err, l)
		}
	}
}

func TestSecretField(t *testing.T) {
	for name, want := range map[string]bool{
		"password_hash": true, "PassWord": true, "api_token": true, "TOKEN": true, "x_hash_y": true, "Secret": true, "client_secret": true,
		"name": false, "room_id": false, "has": false, "pass": false, "tok": false, "": false, "sender_id": false, "hashtags": true,
	} {
		if got := kafka.SecretField([]byte(name)); got != want {
			t.Errorf("SecretField(%q) = %v", name, got)
		}
	}
}

func BenchmarkEnvelope(b *testing.B) {
	at := time.Now().UTC()
	room := uuid.New()
	ev := domain.Event{ID: uuid.New(), Type: domain.TypeMessageSent, AggregateType: domain.AggregateRoom, AggregateID: room, Version: 42,
		OccurredAt: at, ActorID: uuid.New(), CommandID: uuid.New(), SchemaVersion: 1, Data: domain.MessageSent{RoomID: room, Message: domain.MessageData{
			ID: uuid.New(), RoomID: room, SenderID: uuid.New(), Content: "a message of a typical length, with some words in it, about sixty", MessageType: "text", Seq: 41, CreatedAt: at}}}
	v, _ := json.Marshal(ev)
	b.Run("parse", func(b *testing.B) {
		b.SetBytes(int64(len(v)))
		b.ReportAllocs()
		for range b.N {
			if _, err := kafka.ParseEnvelope(v); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("parse+render", func(b *testing.B) {
		b.SetBytes(int64(len(v)))
		b.ReportAllocs()
		buf := make([]byte, 0, 4096)
		for range b.N {
			env, err := kafka.ParseEnvelope(v)
			if err != nil {
				b.Fatal(err)
			}
			if buf, err = env.AppendJSON(buf[:0], true); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("encoding/json", func(b *testing.B) {
		b.SetBytes(int64(len(v)))
		b.ReportAllocs()
		for range b.N {
			var e domain.Event
			if err := json.Unmarshal(v, &e); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// Strings are scanned 8 bytes at a time: a special byte at any position of any length is seen.
func TestJSONStringsAtEveryAlignment(t *testing.T) {
	for _, special := range []string{`\"`, `\\`, `\u00e9`, "\x01", "\x1f", `"`, "é", "\xff", "\x7f", " "} {
		for n := 0; n < 40; n++ {
			for pos := 0; pos <= n; pos++ {
				doc := []byte(`{"k":"` + strings.Repeat("a", pos) + special + strings.Repeat("b", n-pos) + `"}`)
				err := kafka.EachDataField(doc, func(_, _ []byte) {})
				if want := json.Valid(doc) && utf8.Valid(doc); (err == nil) != want {
					t.Fatalf("%q: error %v, want valid %v", doc, err, want)
				}
			}
		}
	}
}

// occurred_at reads as time.Parse reads it (a fast path takes the processor's form).
func TestParseEnvelopeTimes(t *testing.T) {
	for _, ts := range []string{
		"2026-01-01T00:00:00Z", "2026-01-01T00:00:00.1Z", "2026-11-25T23:59:59.123456Z", "2026-01-01T00:00:00.123456789Z",
		"2026-01-01T00:00:00.1234567891Z", "2026-02-29T00:00:00Z", "2024-02-29T12:00:00Z", "2026-02-30T00:00:00Z", "2026-04-31T00:00:00Z",
		"2026-01-01T24:00:00Z", "2026-01-01T00:60:00Z", "2026-01-01T00:00:60Z", "2026-13-01T00:00:00Z", "2026-00-01T00:00:00Z",
		"2026-01-01T00:00:00+01:00", "2026-01-01T00:00:00.5-07:30", "2026-01-01T00:00:00z", "2026-01-01t00:00:00Z", "0000-01-01T00:00:00Z",
		"9999-12-31T23:59:59.999999999Z", "2026-01-01T00:00:00.Z", "2026-01-01T00:00:00", "2026-1-01T00:00:00Z", "２026-01-01T00:00:00Z",
		"2026-01-01T00:00:0xZ", "+026-01-01T00:00:00Z", "2026-01-01T00:00:00.12a4Z",
	} {
		want, werr := time.Parse(time.RFC3339Nano, ts)
		b, _ := json.Marshal(ts)
		env, gerr := kafka.ParseEnvelope([]byte(`{"occurred_at":` + string(b) + `}`))
		if (werr == nil) != (gerr == nil) {
			t.Errorf("%s: time.Parse error %v, ParseEnvelope error %v", ts, werr, gerr)
			continue
		}
		if werr == nil && (!env.OccurredAt.Equal(want) || env.OccurredAt.Format(time.RFC3339Nano) != want.Format(time.RFC3339Nano)) {
			t.Errorf("%s: %s, want %s", ts, env.OccurredAt.Format(time.RFC3339Nano), want.Format(time.RFC3339Nano))
		}
	}
	// Ids come out the same whether escaped or not, duplicated or null.
	env, err := kafka.ParseEnvelope([]byte(`{"occurred_at":"2026-01-01T00:00:00Z","id":"a","aggregate_id":"b\u0062","actor_id":null,"command_id":"x","command_id":"d","type":"T","aggregate_type":"r\u006fom"}`))
	if err != nil || env.ID != "a" || env.AggregateID != "bb" || env.ActorID != "" || env.CommandID != "d" || env.Type != "T" || env.AggregateType != "room" {
		t.Fatalf("%+v %v", env, err)
	}
}

// Whatever ParseEnvelope accepts re-encodes as valid JSON that parses back to the same envelope.
func FuzzParseEnvelope(f *testing.F) {
	for _, ev := range sampleEventsForFuzz() {
		f.Add(ev)
	}
	f.Add([]byte(`{"occurred_at":"2026-01-01T00:00:00Z","data":{"password":"x","a":[{"token":1}]}}`))
	f.Add([]byte(` { "occurred_at" : "2026-01-01T00:00:00.5+01:00" , "id" : "\u0041" , "data" : [ 1 , 2 ] } `))
	f.Fuzz(func(t *testing.T, b []byte) {
		env, err := kafka.ParseEnvelope(b)
		if err != nil {
			return
		}
		for _, redact := range []bool{false, true} {
			out, err := env.AppendJSON(nil, redact)
			if err != nil {
				t.Fatalf("%q: %v", b, err)
			}
			if !json.Valid(out) {
				t.Fatalf("%q re-encodes as invalid JSON %q", b, out)
			}
			again, err := kafka.ParseEnvelope(out)
			if err != nil {
				t.Fatalf("%q: output %q does not parse: %v", b, out, err)
			}
			if again.ID != env.ID || again.Type != env.Type || again.AggregateID != env.AggregateID || again.Version != env.Version ||
				!again.OccurredAt.Equal(env.OccurredAt) || again.ActorID != env.ActorID || again.CommandID != env.CommandID {
				t.Fatalf("%q: %+v became %+v", b, env, again)
			}
			if redact {
				_ = kafka.EachDataField(again.Data, func(name, _ []byte) {
					if kafka.SecretField(name) {
						t.Fatalf("%q: %s survived redaction in %q", b, name, out)
					}
				})
			}
		}
	})
}

func sampleEventsForFuzz() [][]byte {
	at := time.Date(2026, 3, 4, 5, 6, 7, 123456000, time.UTC)
	room := uuid.New()
	var out [][]byte
	for _, d := range []domain.EventData{
		domain.RoomCreated{RoomID: room, Name: "n", IsPrivate: true, PasswordHash: "$h", CreatedAt: at},
		domain.MessageSent{RoomID: room, Message: domain.MessageData{ID: uuid.New(), Content: "é \"q\"", Seq: 3, CreatedAt: at}},
	} {
		b, _ := json.Marshal(domain.Event{ID: uuid.New(), Type: d.EventType(), AggregateType: "room", AggregateID: room, Version: 1, OccurredAt: at, SchemaVersion: 1, Data: d})
		out = append(out, b)
	}
	return out
}
