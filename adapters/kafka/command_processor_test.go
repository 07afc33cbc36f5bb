package kafka_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/google/uuid"

	"github.com/chorus-chat/chorus/adapters/kafka"
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

type harness struct {
	t      *testing.T
	cfg    kafka.Config
	broker *kafka.EmbeddedBroker
	disp   *commands.Dispatcher
	log    *kafka.CommandLog
	reply  *redis.Replies
}

// newHarness starts the embedded broker over TCP, creates the topics and a dispatcher whose
// replies come back through the real Redis.
func newHarness(t *testing.T) *harness {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	b, err := kafka.StartEmbedded(kafka.EmbeddedOptions{Addr: "127.0.0.1:0", DataDir: t.TempDir(), MinSessionTimeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	cfg := kafka.Config{Brokers: []string{b.Addr()}, Topics: kafka.DefaultTopics(), Partitions: 4, SessionTimeout: 1500 * time.Millisecond, Heartbeat: 300 * time.Millisecond}
	if err := kafka.EnsureTopics(cfg); err != nil {
		t.Fatal(err)
	}
	conn, err := redis.Dial(ctx, "redis://127.0.0.1:6379", "chorus-test-"+uuid.NewString()[:8])
	if err != nil {
		t.Fatalf("real Redis is needed for this test: %v", err)
	}
	replies := redis.NewReplies(conn, testLogger())
	t.Cleanup(func() { replies.Close() })
	cl, err := kafka.NewCommandLog(cfg, testLogger())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cl.Close() })
	ch := replies.Channel("gw-test")
	disp := commands.NewDispatcher(cl, ch, 10*time.Second)
	if err := replies.Listen(ctx, ch, disp.Resolve); err != nil {
		t.Fatal(err)
	}
	return &harness{t: t, cfg: cfg, broker: b, disp: disp, log: cl, reply: replies}
}

// startProcessor runs a command processor until the returned stop is called.
func (h *harness) startProcessor() (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	p := kafka.NewCommandProcessor(h.cfg, h.reply, testLogger())
	done := make(chan struct{})
	go func() { defer close(done); _ = p.Run(ctx) }()
	return func() { cancel(); <-done }
}

func (h *harness) dispatch(cmd domain.Command) commands.Reply {
	h.t.Helper()
	r, err := h.disp.Dispatch(context.Background(), cmd)
	if err != nil {
		h.t.Fatalf("dispatch %s: %v", cmd.Type, err)
	}
	return r
}

func seqOf(t *testing.T, r commands.Reply) int64 {
	t.Helper()
	if !r.Accepted || len(r.Events) != 1 {
		t.Fatalf("want one accepted event, got %+v", r)
	}
	return r.Events[0].Data.(domain.MessageSent).Message.Seq
}

func TestCommandProcessorDecidesDedupesAndSurvivesTakeover(t *testing.T) {
	h := newHarness(t)
	stop := h.startProcessor()
	owner, room := uuid.New(), uuid.New()
	now := time.Now()
	r := h.dispatch(domain.NewCommand(uuid.New(), room, owner, "alice", now, domain.CreateRoom{Name: "general"}))
	if !r.Accepted || len(r.Events) != 2 || r.Position == "" {
		t.Fatalf("create room: %+v", r)
	}
	send := func(id uuid.UUID, text string) commands.Reply {
		return h.dispatch(domain.NewCommand(id, room, owner, "alice", time.Now(), domain.SendMessage{Content: text}))
	}
	first := uuid.New()
	if s := seqOf(t, send(first, "one")); s != 1 {
		t.Fatalf("first seq %d", s)
	}
	if s := seqOf(t, send(uuid.New(), "two")); s != 2 {
		t.Fatalf("second seq %d", s)
	}
	// A retry of the first command answers the first result and appends nothing.
	again := send(first, "one")
	if s := seqOf(t, again); s != 1 {
		t.Fatalf("retried command got seq %d, want the original 1", s)
	}
	// A stranger is rejected with the contract code.
	rej := h.dispatch(domain.NewCommand(uuid.New(), room, uuid.New(), "mallory", time.Now(), domain.SendMessage{Content: "hi"}))
	if rej.Accepted || rej.Code != domain.CodeNotAMember {
		t.Fatalf("stranger send: %+v", rej)
	}

	// A new owner rebuilds the partition from the log: seqs go on, the retry is still known.
	stop()
	stop = h.startProcessor()
	defer stop()
	if s := seqOf(t, send(first, "one")); s != 1 {
		t.Fatalf("after takeover the retried command got seq %d, want 1", s)
	}
	if s := seqOf(t, send(uuid.New(), "three")); s != 3 {
		t.Fatalf("after takeover seq %d, want 3", s)
	}
}

func TestCommandProcessorConcurrentSendsGetDistinctSeqs(t *testing.T) {
	h := newHarness(t)
	stop := h.startProcessor()
	defer stop()
	owner, room := uuid.New(), uuid.New()
	if r := h.dispatch(domain.NewCommand(uuid.New(), room, owner, "alice", time.Now(), domain.CreateRoom{Name: "busy"})); !r.Accepted {
		t.Fatalf("create: %+v", r)
	}
	const n = 300
	var mu sync.Mutex
	seen := map[int64]bool{}
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			r, err := h.disp.Dispatch(context.Background(), domain.NewCommand(uuid.New(), room, owner, "alice", time.Now(), domain.SendMessage{Content: fmt.Sprint("m", i)}))
			if err != nil || !r.Accepted {
				errs <- fmt.Errorf("send %d: %w %+v", i, err, r)
				return
			}
			mu.Lock()
			seen[r.Events[0].Data.(domain.MessageSent).Message.Seq] = true
			mu.Unlock()
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if len(seen) != n {
		t.Fatalf("%d distinct seqs for %d sends", len(seen), n)
	}
}

// A command processor that died between sending a batch's offsets and committing its
// transaction leaves the partition's committed offset unstable: the next owner's group session
// cannot start (its offset fetch is answered UNSTABLE_OFFSET_COMMIT) and so it cannot open the
// partition's producer, which would abort that transaction. The next owner aborts it itself
// (settleOrphans) instead of waiting for the transaction timeout, here a minute: the room is
// served again within seconds, and the other partitions' offsets were never unstable.
func TestCommandProcessorTakesOverAPartitionWhoseOwnerDiedInATransaction(t *testing.T) {
	h := newHarness(t)
	h.cfg.TransactionTimeout = time.Minute
	stop := h.startProcessor()
	owner, room := uuid.New(), uuid.New()
	if r := h.dispatch(domain.NewCommand(uuid.New(), room, owner, "alice", time.Now(), domain.CreateRoom{Name: "orphaned"})); !r.Accepted {
		t.Fatalf("create room: %+v", r)
	}
	send := func(text string) commands.Reply {
		return h.dispatch(domain.NewCommand(uuid.New(), room, owner, "alice", time.Now(), domain.SendMessage{Content: text}))
	}
	seqOf(t, send("before"))
	stop()

	// The dead owner's transaction: the partition's producer id, its offsets sent, no commit.
	part := kafka.PartitionFor(room.String(), h.cfg.Partitions)
	client, err := sarama.NewClient(h.cfg.Brokers, h.cfg.Sarama())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	txid := "chorus-commands-" + strconv.Itoa(int(part))
	coord, err := client.TransactionCoordinator(txid)
	if err != nil {
		t.Fatal(err)
	}
	pid, err := coord.InitProducerID(&sarama.InitProducerIDRequest{TransactionalID: &txid, TransactionTimeout: time.Minute})
	if err != nil || pid.Err != sarama.ErrNoError {
		t.Fatalf("init producer id: %v %v", err, pid)
	}
	added, err := coord.AddOffsetsToTxn(&sarama.AddOffsetsToTxnRequest{TransactionalID: txid, ProducerID: pid.ProducerID, ProducerEpoch: pid.ProducerEpoch, GroupID: kafka.CommandGroup})
	if err != nil || added.Err != sarama.ErrNoError {
		t.Fatalf("add offsets to the transaction: %v %v", err, added)
	}
	groupCoord, err := client.Coordinator(kafka.CommandGroup)
	if err != nil {
		t.Fatal(err)
	}
	committed, err := groupCoord.TxnOffsetCommit(&sarama.TxnOffsetCommitRequest{TransactionalID: txid, GroupID: kafka.CommandGroup,
		ProducerID: pid.ProducerID, ProducerEpoch: pid.ProducerEpoch,
		Topics: map[string][]*sarama.PartitionOffsetMetadata{h.cfg.Topics.Commands: {{Partition: part, Offset: 1 << 20}}}})
	if err != nil {
		t.Fatalf("transactional offset commit: %v", err)
	}
	for _, errs := range committed.Topics {
		for _, e := range errs {
			if e.Err != sarama.ErrNoError {
				t.Fatalf("transactional offset commit of partition %d: %v", e.Partition, e.Err)
			}
		}
	}
	// Only that partition's offset is unstable.
	req := &sarama.OffsetFetchRequest{Version: 7, ConsumerGroup: kafka.CommandGroup, RequireStable: true}
	for p := range h.cfg.Partitions {
		req.AddPartition(h.cfg.Topics.Commands, p)
	}
	fetched, err := groupCoord.FetchOffset(req)
	if err != nil {
		t.Fatal(err)
	}
	for p, block := range fetched.Blocks[h.cfg.Topics.Commands] {
		if unstable := block.Err == sarama.ErrUnstableOffsetCommit; unstable != (p == part) {
			t.Fatalf("partition %d's committed offset: %v (the open transaction holds partition %d's)", p, block.Err, part)
		}
	}

	start := time.Now()
	stop = h.startProcessor()
	defer stop()
	for {
		r, err := h.disp.Dispatch(context.Background(), domain.NewCommand(uuid.New(), room, owner, "alice", time.Now(), domain.SendMessage{Content: "after"}))
		if err == nil && r.Accepted {
			if s := seqOf(t, r); s != 2 {
				t.Fatalf("the message after the takeover got seq %d, want 2 (the dead owner's offset of 1<<20 must not hold)", s)
			}
			break
		}
		if time.Since(start) > 30*time.Second {
			t.Fatalf("the room was not served again within 30 s of the new owner's start (the orphaned transaction times out after a minute): %v %+v", err, r)
		}
	}
	t.Logf("served again %s after the new owner started", time.Since(start).Round(time.Millisecond))
}

// TestCommandProcessorSkipsRecordsThatAreNoCommand: whatever else lands in the command topic
// (anyone who can produce to it can write there), the processor passes over it without an event
// and goes on deciding the commands after it on the same partition.
func TestCommandProcessorSkipsRecordsThatAreNoCommand(t *testing.T) {
	h := newHarness(t)
	stop := h.startProcessor()
	defer stop()
	owner, room := uuid.New(), uuid.New()
	if r := h.dispatch(domain.NewCommand(uuid.New(), room, owner, "alice", time.Now(), domain.CreateRoom{Name: "general"})); !r.Accepted {
		t.Fatalf("create room: %+v", r)
	}
	send := func(text string) commands.Reply {
		return h.dispatch(domain.NewCommand(uuid.New(), room, owner, "alice", time.Now(), domain.SendMessage{Content: text}))
	}
	if s := seqOf(t, send("before")); s != 1 {
		t.Fatalf("seq %d before the records, want 1", s)
	}
	valid := domain.NewCommand(uuid.New(), room, owner, "alice", time.Now(), domain.SendMessage{Content: "trailing garbage"})
	good, err := json.Marshal(valid)
	if err != nil {
		t.Fatal(err)
	}
	prod, err := sarama.NewSyncProducer(h.cfg.Brokers, h.cfg.Sarama())
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	for _, v := range []string{
		"not json", "null", "[]", `"a string"`, "{}", `{"type":"send_message"}`,
		`{"type":"no_such_command","aggregate_id":"` + room.String() + `"}`,
		string(good) + " {}",                           // a command with something after it is not one
		`{"type":"send_message","payload":{"content":`, // cut short
	} {
		if _, _, err := prod.SendMessage(&sarama.ProducerMessage{
			Topic: h.cfg.Topics.Commands, Key: sarama.StringEncoder(room.String()), Value: sarama.StringEncoder(v),
			Headers: []sarama.RecordHeader{{Key: []byte(kafka.HeaderReplyTo), Value: []byte("gw-test")}},
		}); err != nil {
			t.Fatal(err)
		}
	}
	// Decided after them, on the same partition: the next seq, nothing appended in between.
	if s := seqOf(t, send("after")); s != 2 {
		t.Fatalf("seq %d after the records, want 2", s)
	}
}
