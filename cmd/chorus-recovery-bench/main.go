// Command chorus-recovery-bench measures how long a command processor takes to take over a
// partition with a long history, with and without a partition snapshot
// (adapters/kafka/snapshots.go). It starts the embedded broker on a temporary directory, appends
// (by default) 1,000,000 events to one partition the way the processor does (decided by the
// domain, JSON-encoded, in transactions of a few thousand events: 1,000 rooms, messages of about
// 100 bytes), then times a takeover that rebuilds from the whole log, writes a snapshot, and times
// a takeover that restores it. It is a benchmark, not a test: `make bench` runs it.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/IBM/sarama"
	"github.com/alecthomas/kong"
	"github.com/google/uuid"

	"github.com/chorus-chat/chorus/adapters/kafka"
	"github.com/chorus-chat/chorus/cmd/internal/benchprof"
	"github.com/chorus-chat/chorus/commands"
	"github.com/chorus-chat/chorus/domain"
)

type options struct {
	Events  int    `help:"Events in the partition." default:"1000000"`
	Rooms   int    `help:"Rooms the messages go to (round robin)." default:"1000"`
	Content int    `help:"Bytes of message content." default:"100"`
	Batch   int    `help:"Events per transaction." default:"5000"`
	Tail    int    `help:"Events appended after the snapshot for a last timed takeover (snapshot plus tail; the default is CHORUS_SNAPSHOT_EVERY's, the most a tail can be)." default:"50000"`
	Runs    int    `help:"Timed takeovers of each kind (the best is reported too)." default:"3"`
	Verbose bool   `help:"Log the processor's lines."`
	Profile string `help:"Write a CPU profile of the takeovers with the snapshot to this file."`
}

func main() {
	var o options
	kong.Parse(&o, kong.Name("chorus-recovery-bench"), kong.Description("Benchmark partition takeover with and without snapshots."))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, o)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "chorus-recovery-bench:", err)
		os.Exit(1)
	}
}

type noReplies struct{}

func (noReplies) Reply(context.Context, []commands.AddressedReply) error { return nil }

func run(ctx context.Context, o options) error {
	dir, err := os.MkdirTemp("", "chorus-recovery-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	b, err := kafka.StartEmbedded(kafka.EmbeddedOptions{Addr: "127.0.0.1:0", DataDir: dir})
	if err != nil {
		return err
	}
	defer b.Close()
	cfg := kafka.Config{Brokers: []string{b.Addr()}, Topics: kafka.DefaultTopics(), Partitions: 1,
		SessionTimeout: 10 * time.Second, Heartbeat: time.Second, SnapshotEvery: -1}
	if err := kafka.EnsureTopics(cfg); err != nil {
		return err
	}
	fmt.Printf("machine: %s, %d CPUs, %s/%s, %s\n", cpuModel(), runtime.NumCPU(), runtime.GOOS, runtime.GOARCH, runtime.Version())
	start := time.Now()
	f, err := newFiller(cfg, o)
	if err != nil {
		return err
	}
	bytes, err := f.fill(ctx, o.Events)
	if err != nil {
		return err
	}
	fmt.Printf("appended %d events (%d rooms, %.0f MB of JSON) to partition 0 in %s\n", o.Events, o.Rooms, float64(bytes)/1e6, time.Since(start).Round(time.Millisecond))

	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if o.Verbose {
		log = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	p := kafka.NewCommandProcessor(cfg, noReplies{}, log)
	best := func(useSnapshot bool) (kafka.RecoveryStats, time.Duration, error) {
		var last kafka.RecoveryStats
		var fastest time.Duration
		for i := 0; i < o.Runs; i++ {
			runtime.GC()
			r, err := p.Recover(ctx, 0, useSnapshot)
			if err != nil {
				return r, 0, err
			}
			fmt.Printf("  takeover %d: %s (events read from the log %d, from snapshot %v)\n", i+1, r.Took.Round(time.Millisecond), r.TailEvents, r.FromSnapshot)
			if i == 0 || r.Took < fastest {
				fastest = r.Took
			}
			last = r
		}
		return last, fastest, nil
	}
	fmt.Println("takeover without a snapshot (rebuild from offset 0):")
	full, fullBest, err := best(false)
	if err != nil {
		return err
	}
	start = time.Now()
	if _, err := p.SnapshotPartition(ctx, 0); err != nil {
		return err
	}
	fmt.Printf("snapshot written (takeover + copy + encode + append) in %s; the partition waited %s for the copy\n",
		time.Since(start).Round(time.Millisecond), p.LastSnapshotCopy().Round(time.Millisecond))
	fmt.Println("takeover with the snapshot:")
	stopProfile, err := benchprof.StartCPU(o.Profile)
	if err != nil {
		return err
	}
	defer stopProfile()
	snap, snapBest, err := best(true)
	if err != nil {
		return err
	}
	if !snap.FromSnapshot || snap.Aggregates != full.Aggregates {
		return fmt.Errorf("the snapshot takeover restored %+v; the full rebuild had %d aggregates", snap, full.Aggregates)
	}
	var tail kafka.RecoveryStats
	var tailBest time.Duration
	if o.Tail > 0 {
		if _, err := f.fill(ctx, o.Tail); err != nil {
			return err
		}
		fmt.Printf("takeover with the snapshot and %d events after it:\n", o.Tail)
		if tail, tailBest, err = best(true); err != nil {
			return err
		}
		if !tail.FromSnapshot || tail.TailEvents != o.Tail {
			return fmt.Errorf("the snapshot-plus-tail takeover restored %+v", tail)
		}
	}
	fmt.Printf("\nRESULT snapshot+%d_tail=%s\n", o.Tail, tailBest.Round(time.Millisecond))
	fmt.Printf("RESULT events=%d aggregates=%d without_snapshot=%s with_snapshot=%s (snapshot %.0f MB, read+decode %s) speedup=%.1fx\n",
		o.Events, full.Aggregates, fullBest.Round(time.Millisecond), snapBest.Round(time.Millisecond),
		float64(snap.SnapshotBytes)/1e6, snap.SnapshotTook.Round(time.Millisecond), float64(fullBest)/float64(snapBest))
	return nil
}

// filler appends events to partition 0 of the event topics as the command processor does:
// commands decided by a PartitionState, events JSON-encoded and keyed by aggregate, in
// transactions under the partition's transactional id.
type filler struct {
	cfg     kafka.Config
	o       options
	state   *commands.PartitionState
	owners  []uuid.UUID
	rooms   []uuid.UUID
	content string
	cmds    int
}

func newFiller(cfg kafka.Config, o options) (*filler, error) {
	f := &filler{cfg: cfg, o: o, state: commands.NewPartitionState(),
		owners: make([]uuid.UUID, o.Rooms), rooms: make([]uuid.UUID, o.Rooms),
		content: strings.Repeat("lorem ipsum ", o.Content/12+1)[:o.Content]}
	for i := range f.rooms {
		f.owners[i], f.rooms[i] = uuid.New(), uuid.New()
	}
	return f, nil
}

// producer opens the partition's transactional producer anew: each timed takeover fenced the
// previous one, as a new owner does.
func (f *filler) producer() (sarama.SyncProducer, error) {
	sc := f.cfg.Sarama()
	sc.Producer.Idempotent = true
	sc.Producer.Transaction.ID = "chorus-commands-0"
	sc.Producer.Transaction.Timeout = 60 * time.Second
	sc.Producer.Partitioner = sarama.NewManualPartitioner
	sc.Net.MaxOpenRequests = 1
	return sarama.NewSyncProducer(f.cfg.Brokers, sc)
}

// fill appends n more events; it returns the bytes of JSON appended.
func (f *filler) fill(ctx context.Context, n int) (int64, error) {
	prod, err := f.producer()
	if err != nil {
		return 0, err
	}
	defer prod.Close()
	now := time.Now().UTC().Truncate(time.Microsecond)
	var total int64
	events := 0
	var batch []*sarama.ProducerMessage
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		if err := prod.BeginTxn(); err != nil {
			return err
		}
		if err := prod.SendMessages(batch); err != nil {
			_ = prod.AbortTxn()
			return err
		}
		if err := prod.CommitTxn(); err != nil {
			return err
		}
		batch = batch[:0]
		return ctx.Err()
	}
	for events < n {
		i := f.cmds % f.o.Rooms
		var cmd domain.Command
		if f.cmds < f.o.Rooms {
			cmd = domain.NewCommand(uuid.New(), f.rooms[i], f.owners[i], fmt.Sprint("owner", i), now, domain.CreateRoom{Name: fmt.Sprint("room ", i)})
		} else {
			cmd = domain.NewCommand(uuid.New(), f.rooms[i], f.owners[i], fmt.Sprint("owner", i), now, domain.SendMessage{Content: f.content, ClientMsgID: fmt.Sprint(f.cmds)})
		}
		f.cmds++
		d := f.state.Decide(cmd, now)
		if !d.Reply.Accepted {
			return total, fmt.Errorf("bench command rejected: %+v", d.Reply)
		}
		for _, ev := range d.Events {
			v, err := json.Marshal(ev)
			if err != nil {
				return total, err
			}
			total += int64(len(v))
			batch = append(batch, &sarama.ProducerMessage{Topic: f.cfg.Topics.ChatEvents, Partition: 0,
				Key: sarama.StringEncoder(ev.AggregateID.String()), Value: sarama.ByteEncoder(v), Timestamp: ev.OccurredAt})
			events++
		}
		if len(batch) >= f.o.Batch {
			if err := flush(); err != nil {
				return total, err
			}
		}
	}
	return total, flush()
}

func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "unknown CPU"
	}
	for _, l := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown CPU"
}
