package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/chorus-chat/chorus/adapters/kafka"
	"github.com/chorus-chat/chorus/adapters/postgres"
	"github.com/chorus-chat/chorus/adapters/postgres/pgtest"
	"github.com/chorus-chat/chorus/adapters/redis"
	"github.com/chorus-chat/chorus/commands"
	"github.com/chorus-chat/chorus/domain"
)

func testLogger() *slog.Logger {
	if os.Getenv("CHORUS_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// startBroker starts the embedded broker over TCP with the Chorus topics.
func startBroker(t testing.TB, partitions int32) kafka.Config {
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

// system is a broker with a real command processor behind a dispatcher whose replies come back
// through the real Redis: events in the log are exactly what the server writes.
type system struct {
	t    *testing.T
	cfg  kafka.Config
	disp *commands.Dispatcher
	stop func() // stops the processor and the dispatcher (once)
}

func startSystem(t *testing.T) *system {
	t.Helper()
	s := startSystemOn(t, startBroker(t, 4))
	t.Cleanup(s.stop)
	return s
}

// startSystemOn runs a command processor and a dispatcher on cfg until stop.
func startSystemOn(t *testing.T, cfg kafka.Config) *system {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	conn, err := redis.Dial(ctx, "redis://127.0.0.1:6379", "chorusctl-test-"+uuid.NewString()[:8])
	if err != nil {
		cancel()
		t.Fatalf("real Redis is needed for this test: %v", err)
	}
	replies := redis.NewReplies(conn, testLogger())
	cl, err := kafka.NewCommandLog(cfg, testLogger())
	if err != nil {
		t.Fatal(err)
	}
	ch := replies.Channel("gw-test")
	disp := commands.NewDispatcher(cl, ch, 10*time.Second)
	if err := replies.Listen(ctx, ch, disp.Resolve); err != nil {
		t.Fatal(err)
	}
	proc := kafka.NewCommandProcessor(cfg, replies, testLogger())
	done := make(chan struct{})
	go func() { defer close(done); _ = proc.Run(ctx) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			<-done
			_ = cl.Close()
			_ = replies.Close()
		})
	}
	return &system{t: t, cfg: cfg, disp: disp, stop: stop}
}

func (s *system) do(agg, actor uuid.UUID, actorName string, p domain.CommandData) commands.Reply {
	s.t.Helper()
	r, err := s.disp.Dispatch(context.Background(), domain.NewCommand(uuid.New(), agg, actor, actorName, time.Now(), p))
	if err != nil {
		s.t.Fatalf("dispatch %s: %v", p.CommandType(), err)
	}
	if !r.Accepted {
		s.t.Fatalf("%s rejected: %+v", p.CommandType(), r)
	}
	return r
}

// ctl runs chorusctl in-process against the broker (and database) given.
func ctl(t testing.TB, cfg kafka.Config, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(append([]string{"--brokers", strings.Join(cfg.Brokers, ",")}, args...), &out, &errb)
	return out.String(), errb.String(), code
}

// mustCtl is ctl that wants exit code 0.
func mustCtl(t testing.TB, cfg kafka.Config, args ...string) string {
	t.Helper()
	out, errs, code := ctl(t, cfg, args...)
	if code != 0 {
		t.Fatalf("chorusctl %s: exit %d: %s", strings.Join(args, " "), code, errs)
	}
	return out
}

// eventLog writes envelopes transactionally, as the command processor does (record timestamp
// = occurred_at), for cases that need chosen times.
type eventLog struct {
	t    testing.TB
	cfg  kafka.Config
	prod sarama.SyncProducer
}

func newEventLog(t testing.TB, cfg kafka.Config) *eventLog {
	t.Helper()
	sc := cfg.Sarama()
	sc.Producer.Idempotent = true
	sc.Producer.Transaction.ID = "chorusctl-test-" + uuid.NewString()[:8]
	sc.Producer.Partitioner = sarama.NewManualPartitioner
	sc.Net.MaxOpenRequests = 1
	p, err := sarama.NewSyncProducer(cfg.Brokers, sc)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	return &eventLog{t: t, cfg: cfg, prod: p}
}

// write appends events in one committed transaction, each to its aggregate's partition.
func (l *eventLog) write(evs ...domain.Event) {
	l.t.Helper()
	msgs := make([]*sarama.ProducerMessage, len(evs))
	for i, ev := range evs {
		b, err := json.Marshal(ev)
		if err != nil {
			l.t.Fatal(err)
		}
		topic := l.cfg.Topics.ChatEvents
		switch ev.AggregateType {
		case domain.AggregateUser:
			topic = l.cfg.Topics.UserEvents
		case domain.AggregateOrganization:
			topic = l.cfg.Topics.OrgEvents
		}
		msgs[i] = &sarama.ProducerMessage{Topic: topic, Partition: kafka.PartitionFor(ev.AggregateID.String(), l.cfg.Partitions),
			Key: sarama.StringEncoder(ev.AggregateID.String()), Value: sarama.ByteEncoder(b), Timestamp: ev.OccurredAt}
	}
	if err := l.prod.BeginTxn(); err != nil {
		l.t.Fatal(err)
	}
	if err := l.prod.SendMessages(msgs); err != nil {
		l.t.Fatal(err)
	}
	if err := l.prod.CommitTxn(); err != nil {
		l.t.Fatal(err)
	}
}

// roomEvent makes a room event with data d at time at.
func roomEvent(room uuid.UUID, version int64, at time.Time, d domain.EventData) domain.Event {
	return domain.Event{ID: uuid.New(), Type: d.EventType(), AggregateType: domain.AggregateRoom, AggregateID: room, Version: version,
		OccurredAt: at.UTC(), ActorID: uuid.New(), CommandID: uuid.New(), SchemaVersion: domain.CurrentSchemaVersion, Data: d}
}

func messageEvent(room uuid.UUID, seq int64, at time.Time, content string) domain.Event {
	return roomEvent(room, seq+1, at, domain.MessageSent{RoomID: room, Message: domain.MessageData{
		ID: uuid.New(), RoomID: room, SenderID: uuid.New(), Content: content, MessageType: domain.MessageText, Seq: seq, CreatedAt: at.UTC()}})
}

// roomOn returns a new room id whose events go to partition p.
func roomOn(p, partitions int32) uuid.UUID {
	for {
		id := uuid.New()
		if kafka.PartitionFor(id.String(), partitions) == p {
			return id
		}
	}
}

// syncBuffer is a bytes.Buffer safe for a writer and a reader in different goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// migratedDB is a fresh database of the real Postgres, migrated as the server does it, and a
// pool on it (closed at the end of the test).
func migratedDB(t *testing.T) (string, *pgxpool.Pool) {
	t.Helper()
	dbURL := pgtest.URL(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	pool, err := postgres.Open(ctx, dbURL)
	if err != nil {
		t.Fatalf("real Postgres is needed for this test: %v", err)
	}
	t.Cleanup(pool.Close)
	return dbURL, pool
}
