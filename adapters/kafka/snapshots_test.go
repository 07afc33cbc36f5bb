package kafka_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/google/uuid"

	"github.com/chorus-chat/chorus/adapters/kafka"
	"github.com/chorus-chat/chorus/commands"
	"github.com/chorus-chat/chorus/domain"
)

// startProcessorWith runs a command processor with cfg until stop; it returns the processor so
// that the test can read its recovery statistics.
func (h *harness) startProcessorWith(cfg kafka.Config) (*kafka.CommandProcessor, func()) {
	return h.startProcessorReplying(cfg, h.reply)
}

func recoveryOf(t *testing.T, p *kafka.CommandProcessor, part int32) kafka.RecoveryStats {
	t.Helper()
	var last *kafka.RecoveryStats
	for _, r := range p.Recoveries() {
		if r.Partition == part {
			last = &r
		}
	}
	if last == nil {
		t.Fatalf("no takeover of partition %d recorded: %+v", part, p.Recoveries())
	}
	return *last
}

func replyJSON(t *testing.T, r commands.Reply) string {
	t.Helper()
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestTakeoverRestoresFromSnapshotPlusTail(t *testing.T) {
	h := newHarness(t)
	cfg := h.cfg
	cfg.SnapshotEvery = 20
	p1, stop := h.startProcessorWith(cfg)
	owner, room := uuid.New(), uuid.New()
	part := kafka.PartitionFor(room.String(), cfg.Partitions)
	if r := h.dispatch(domain.NewCommand(uuid.New(), room, owner, "alice", time.Now(), domain.CreateRoom{Name: "snap"})); !r.Accepted {
		t.Fatalf("create: %+v", r)
	}
	send := func(id uuid.UUID, text string) commands.Reply {
		return h.dispatch(domain.NewCommand(id, room, owner, "alice", time.Now(), domain.SendMessage{Content: text}))
	}
	first := uuid.New()
	firstReply := send(first, "m1")
	for i := 2; i <= 25; i++ { // 2 + 25 events: one snapshot is due
		if s := seqOf(t, send(uuid.New(), fmt.Sprint("m", i))); s != int64(i) {
			t.Fatalf("seq %d, want %d", s, i)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for p1.SnapshotsWritten() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no snapshot written after 27 events with SnapshotEvery 20")
		}
		time.Sleep(20 * time.Millisecond)
	}
	// Events after the snapshot: the next owner reads them from the log.
	var tailReply commands.Reply
	tailID := uuid.New()
	for i := 26; i <= 30; i++ {
		id := uuid.New()
		if i == 30 {
			id = tailID
		}
		r := send(id, fmt.Sprint("m", i))
		if s := seqOf(t, r); s != int64(i) {
			t.Fatalf("seq %d, want %d", s, i)
		}
		tailReply = r
	}
	stop()

	p2, stop := h.startProcessorWith(cfg)
	defer stop()
	// Retries of a command from before the snapshot and of one after it get their first answers.
	if again := send(first, "m1"); replyJSON(t, again) != replyJSON(t, firstReply) {
		t.Fatalf("retry after takeover:\n%s\nwant\n%s", replyJSON(t, again), replyJSON(t, firstReply))
	}
	if again := send(tailID, "m30"); replyJSON(t, again) != replyJSON(t, tailReply) {
		t.Fatalf("retry of a tail command after takeover:\n%s\nwant\n%s", replyJSON(t, again), replyJSON(t, tailReply))
	}
	if s := seqOf(t, send(uuid.New(), "m31")); s != 31 {
		t.Fatalf("after takeover seq %d, want 31", s)
	}
	// A stranger is still not a member: the members came back with the snapshot.
	if r := h.dispatch(domain.NewCommand(uuid.New(), room, uuid.New(), "mallory", time.Now(), domain.SendMessage{Content: "hi"})); r.Accepted || r.Code != domain.CodeNotAMember {
		t.Fatalf("stranger: %+v", r)
	}
	rec := recoveryOf(t, p2, part)
	const total = 2 + 30
	if !rec.FromSnapshot || rec.SnapshotEvents < 20 || rec.TailEvents == 0 || rec.TailEvents >= total || rec.SnapshotEvents+int64(rec.TailEvents) != total {
		t.Fatalf("takeover read %+v; want a snapshot of >= 20 events plus the rest of the %d as tail", rec, total)
	}
}

func TestUnreadableSnapshotIsIgnored(t *testing.T) {
	h := newHarness(t)
	cfg := h.cfg
	cfg.SnapshotEvery = -1 // this test writes the snapshot itself
	_, stop := h.startProcessorWith(cfg)
	owner, room := uuid.New(), uuid.New()
	part := kafka.PartitionFor(room.String(), cfg.Partitions)
	if r := h.dispatch(domain.NewCommand(uuid.New(), room, owner, "alice", time.Now(), domain.CreateRoom{Name: "bad"})); !r.Accepted {
		t.Fatalf("create: %+v", r)
	}
	for i := 1; i <= 3; i++ {
		seqOf(t, h.dispatch(domain.NewCommand(uuid.New(), room, owner, "alice", time.Now(), domain.SendMessage{Content: "x"})))
	}
	stop()
	// A manifest that does not decode, then one of a format from the future.
	sc := h.cfg.Sarama()
	sc.Producer.Partitioner = sarama.NewManualPartitioner
	prod, err := sarama.NewSyncProducer(h.cfg.Brokers, sc)
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	for _, v := range []string{`{"format":`, `{"format":99,"generation":"x","chunks":0}`} {
		if _, _, err := prod.SendMessage(&sarama.ProducerMessage{Topic: h.cfg.Topics.Snapshots, Partition: part,
			Key: sarama.StringEncoder(fmt.Sprint(part)), Value: sarama.StringEncoder(v)}); err != nil {
			t.Fatal(err)
		}
		p, stop := h.startProcessorWith(cfg)
		r := h.dispatch(domain.NewCommand(uuid.New(), room, owner, "alice", time.Now(), domain.SendMessage{Content: "y"}))
		rec := recoveryOf(t, p, part)
		stop()
		if seqOf(t, r) < 4 {
			t.Fatalf("after an unusable snapshot the room lost its history: %+v", r)
		}
		if rec.FromSnapshot || rec.TailEvents < 5 {
			t.Fatalf("manifest %s: takeover %+v, want a full rebuild", v, rec)
		}
	}
}

// The snapshot a processor writes and the one it restores give the same decisions as a full
// rebuild, also for a partition whose last snapshot is followed by nothing.
func TestSnapshotPartitionThenRecover(t *testing.T) {
	h := newHarness(t)
	cfg := h.cfg
	cfg.SnapshotEvery = -1
	_, stop := h.startProcessorWith(cfg)
	owner, room := uuid.New(), uuid.New()
	part := kafka.PartitionFor(room.String(), cfg.Partitions)
	h.dispatch(domain.NewCommand(uuid.New(), room, owner, "alice", time.Now(), domain.CreateRoom{Name: "r"}))
	for i := 0; i < 10; i++ {
		seqOf(t, h.dispatch(domain.NewCommand(uuid.New(), room, owner, "alice", time.Now(), domain.SendMessage{Content: "x"})))
	}
	stop()
	p := kafka.NewCommandProcessor(cfg, h.reply, testLogger())
	ctx := context.Background()
	if _, err := p.SnapshotPartition(ctx, part); err != nil {
		t.Fatal(err)
	}
	full, err := p.Recover(ctx, part, false)
	if err != nil {
		t.Fatal(err)
	}
	snap, err := p.Recover(ctx, part, true)
	if err != nil {
		t.Fatal(err)
	}
	if full.FromSnapshot || full.TailEvents != 12 || !snap.FromSnapshot || snap.TailEvents != 0 || snap.SnapshotEvents != 12 || snap.Aggregates != full.Aggregates {
		t.Fatalf("full rebuild %+v, from snapshot %+v", full, snap)
	}
}
