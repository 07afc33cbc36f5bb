package kafka_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/google/uuid"

	"github.com/chorus-chat/chorus/adapters/kafka"
	"github.com/chorus-chat/chorus/commands"
	"github.com/chorus-chat/chorus/domain"
)

// countingReplier passes replies on and remembers the commands they answer.
type countingReplier struct {
	next kafka.Replier
	mu   sync.Mutex
	ids  []uuid.UUID
}

func (c *countingReplier) Reply(ctx context.Context, replies []commands.AddressedReply) error {
	c.mu.Lock()
	for _, r := range replies {
		c.ids = append(c.ids, r.Reply.CommandID)
	}
	c.mu.Unlock()
	return c.next.Reply(ctx, replies)
}

func (c *countingReplier) answered() []uuid.UUID {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.ids)
}

// groupOffset is partition part's committed offset in the command group, and the partition's end.
func groupOffset(t *testing.T, cfg kafka.Config, part int32) (committed, end int64) {
	t.Helper()
	admin, err := sarama.NewClusterAdmin(cfg.Brokers, cfg.Sarama())
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	resp, err := admin.ListConsumerGroupOffsets(kafka.CommandGroup, map[string][]int32{cfg.Topics.Commands: {part}})
	if err != nil {
		t.Fatal(err)
	}
	client, err := sarama.NewClient(cfg.Brokers, cfg.Sarama())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	if end, err = client.GetOffset(cfg.Topics.Commands, part, sarama.OffsetNewest); err != nil {
		t.Fatal(err)
	}
	return resp.GetBlock(cfg.Topics.Commands, part).Offset, end
}

// A command processor commits the command group's offset at most every CommandOffsetsEvery; what
// a partition's next owner resumes from is the position its events carry (from the log, or from
// a snapshot that folded them in). Commands the group's offset trails are not decided again (a
// gateway would get a second reply), and once the partition is quiet its group offset is exact.
func TestCommandProcessorResumesFromTheEventsPositionNotTheGroupOffset(t *testing.T) {
	for _, tc := range []struct {
		name  string
		sends int // after the room's creation (2 events)
		snap  int // SnapshotEvery: with 20, the snapshot folds in every event and the tail is empty
	}{
		{name: "from the log", sends: 20, snap: -1},
		{name: "from a snapshot", sends: 18, snap: 20},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			cfg := h.cfg
			cfg.SnapshotEvery = tc.snap
			cfg.CommandOffsetsEvery = time.Hour // the first owner commits the group's offset once
			owner, room := uuid.New(), uuid.New()
			part := kafka.PartitionFor(room.String(), cfg.Partitions)

			first := &countingReplier{next: h.reply}
			p1, stop := h.startProcessorReplying(cfg, first)
			if r := h.dispatch(domain.NewCommand(uuid.New(), room, owner, "alice", time.Now(), domain.CreateRoom{Name: "position"})); !r.Accepted {
				t.Fatalf("create: %+v", r)
			}
			send := func(text string) (uuid.UUID, commands.Reply) {
				id := uuid.New()
				return id, h.dispatch(domain.NewCommand(id, room, owner, "alice", time.Now(), domain.SendMessage{Content: text}))
			}
			for i := 1; i <= tc.sends; i++ {
				if _, r := send(fmt.Sprint("m", i)); seqOf(t, r) != int64(i) {
					t.Fatalf("seq %d, want %d", seqOf(t, r), i)
				}
			}
			if tc.snap > 0 {
				deadline := time.Now().Add(10 * time.Second)
				for p1.SnapshotsWritten() == 0 {
					if time.Now().After(deadline) {
						t.Fatal("no snapshot written")
					}
					time.Sleep(20 * time.Millisecond)
				}
			}
			// A newer owner fences the first (its producer's initialisation, as at a takeover), so
			// that the first cannot commit the group's offset as it stops: as if it had died.
			if err := kafka.FencePartition(cfg, part); err != nil {
				t.Fatal(err)
			}
			stop()
			if n := len(first.answered()); n != 1+tc.sends {
				t.Fatalf("first owner replied %d times, want %d", n, 1+tc.sends)
			}
			committed, end := groupOffset(t, cfg, part)
			if end != int64(1+tc.sends) || committed >= end {
				t.Fatalf("group offset %d of %d commands: the test needs it to trail", committed, end)
			}

			cfg.CommandOffsetsEvery = 200 * time.Millisecond
			second := &countingReplier{next: h.reply}
			p2, stop := h.startProcessorReplying(cfg, second)
			defer stop()
			deadline := time.Now().Add(15 * time.Second)
			for {
				if committed, _ = groupOffset(t, cfg, part); committed == end {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("the quiet partition's group offset stayed at %d, want %d", committed, end)
				}
				time.Sleep(50 * time.Millisecond)
			}
			if rec := recoveryOf(t, p2, part); (tc.snap > 0) != (rec.FromSnapshot && rec.TailEvents == 0) {
				t.Fatalf("takeover %+v: want it from the snapshot alone: %v", rec, tc.snap > 0)
			}
			id, r := send("after")
			if s := seqOf(t, r); s != int64(tc.sends+1) {
				t.Fatalf("after takeover seq %d, want %d", s, tc.sends+1)
			}
			if got := second.answered(); len(got) != 1 || got[0] != id {
				t.Fatalf("the second owner answered %d commands (%v), want only the new one %s: it decided again what was decided", len(got), got, id)
			}

			// An owner that stops leaves the group's offset exact, though it would not have
			// committed it for an hour yet (its first batch commits it, the second does not).
			stop()
			cfg.CommandOffsetsEvery = time.Hour
			_, stop = h.startProcessorReplying(cfg, h.reply)
			for i := 2; i <= 3; i++ {
				if _, r := send("last"); seqOf(t, r) != int64(tc.sends+i) {
					t.Fatalf("last seq %d, want %d", seqOf(t, r), tc.sends+i)
				}
			}
			stop()
			if committed, end = groupOffset(t, cfg, part); committed != end {
				t.Fatalf("after a stop the group's offset is %d of %d", committed, end)
			}
		})
	}
}

// startProcessorReplying runs a command processor with cfg whose replies go through replier.
func (h *harness) startProcessorReplying(cfg kafka.Config, replier kafka.Replier) (*kafka.CommandProcessor, func()) {
	ctx, cancel := context.WithCancel(context.Background())
	p := kafka.NewCommandProcessor(cfg, replier, testLogger())
	done := make(chan struct{})
	go func() { defer close(done); _ = p.Run(ctx) }()
	return p, func() { cancel(); <-done }
}

// A command topic made anew under the same name starts at offset 0 again, below the position
// the events carry: its commands are decided, not passed over as decided.
func TestCommandProcessorDecidesACommandTopicMadeAnew(t *testing.T) {
	h := newHarness(t)
	owner, room := uuid.New(), uuid.New()
	stop := h.startProcessor()
	if r := h.dispatch(domain.NewCommand(uuid.New(), room, owner, "alice", time.Now(), domain.CreateRoom{Name: "anew"})); !r.Accepted {
		t.Fatalf("create: %+v", r)
	}
	for i := 1; i <= 5; i++ {
		if r := h.dispatch(domain.NewCommand(uuid.New(), room, owner, "alice", time.Now(), domain.SendMessage{Content: fmt.Sprint("m", i)})); seqOf(t, r) != int64(i) {
			t.Fatalf("seq %d, want %d", seqOf(t, r), i)
		}
	}
	stop()
	admin, err := sarama.NewClusterAdmin(h.cfg.Brokers, h.cfg.Sarama())
	if err != nil {
		t.Fatal(err)
	}
	if err := admin.DeleteTopic(h.cfg.Topics.Commands); err != nil {
		t.Fatal(err)
	}
	_ = admin.Close()
	deadline := time.Now().Add(10 * time.Second)
	for err = kafka.EnsureTopics(h.cfg); err != nil; err = kafka.EnsureTopics(h.cfg) {
		if time.Now().After(deadline) {
			t.Fatalf("make the command topic anew: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}

	stop = h.startProcessor()
	defer stop()
	if r := h.dispatch(domain.NewCommand(uuid.New(), room, owner, "alice", time.Now(), domain.SendMessage{Content: "anew"})); seqOf(t, r) != 6 {
		t.Fatalf("seq %d, want 6", seqOf(t, r))
	}
}
