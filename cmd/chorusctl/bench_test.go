package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/google/uuid"

	"github.com/chorus-chat/chorus/adapters/kafka"
)

// TestReplayThroughput measures `chorusctl events replay` on a log of CHORUS_REPLAY_BENCH
// events (skipped without it). They are written the way the command processor writes them:
// per partition, transactions of 50 events (so ~2% of the offsets are commit markers), 12
// partitions, 1,000 rooms, messages of ~60 characters. By default the broker is embedded in the
// test process; with CHORUS_REPLAY_BENCH_BROKERS it is an external one (e.g. `bin/chorus broker`),
// which is then seeded only if its chat-events topic is empty.
//
//	CHORUS_REPLAY_BENCH=100000 go test -run TestReplayThroughput -v ./cmd/chorusctl/
func TestReplayThroughput(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("CHORUS_REPLAY_BENCH"))
	if n <= 0 {
		t.Skip("set CHORUS_REPLAY_BENCH=<events> to measure replay throughput")
	}
	var cfg kafka.Config
	if b := os.Getenv("CHORUS_REPLAY_BENCH_BROKERS"); b != "" {
		cfg = kafka.Config{Brokers: strings.Split(b, ","), Topics: kafka.DefaultTopics(), Partitions: 12, SessionTimeout: 10 * time.Second, Heartbeat: time.Second}
		if err := kafka.EnsureTopics(cfg); err != nil {
			t.Fatal(err)
		}
	} else {
		cfg = startBroker(t, 12)
	}
	if err := seedIfEmpty(t, cfg, n); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "events.jsonl")
	for _, format := range []string{"jsonl", "csv"} {
		for round := 0; round < 3; round++ {
			start := time.Now()
			_, errs, code := ctl(t, cfg, "events", "replay", "-f", format, "-o", out)
			took := time.Since(start)
			if code != 0 {
				t.Fatal(errs)
			}
			fi, _ := os.Stat(out)
			lines := n // the seeded events (an external broker may hold more)
			t.Logf("%s round %d: %d events in %v: %.0f events/s, %.1f MB/s of output", format, round, lines, took.Round(time.Millisecond),
				float64(lines)/took.Seconds(), float64(fi.Size())/took.Seconds()/1e6)
		}
	}
	start := time.Now()
	mustCtl(t, cfg, "events", "stats", "-f", "json")
	t.Logf("stats: %v", time.Since(start).Round(time.Millisecond))
}

func seedIfEmpty(t *testing.T, cfg kafka.Config, n int) error {
	client, err := kafka.NewReadClient(cfg)
	if err != nil {
		return err
	}
	logs, err := kafka.LogRanges(client, []string{cfg.Topics.ChatEvents})
	client.Close()
	if err != nil {
		return err
	}
	for _, l := range logs {
		if l.End > 0 {
			t.Logf("chat-events is not empty: not seeding")
			return nil
		}
	}
	parts := cfg.Partitions
	rooms := make([][]uuid.UUID, parts)
	for i := 0; i < 1000; i++ {
		id := uuid.New()
		p := kafka.PartitionFor(id.String(), parts)
		rooms[p] = append(rooms[p], id)
	}
	start := time.Now()
	now := time.Now().Add(-time.Hour).UTC().Truncate(time.Microsecond)
	seq := map[uuid.UUID]int64{}
	per := n / int(parts)
	evs := make([][]*sarama.ProducerMessage, parts)
	for p := int32(0); p < parts; p++ {
		for i := 0; i < per+boolInt(int(p) < n%int(parts)); i++ {
			room := rooms[p][i%len(rooms[p])]
			seq[room]++
			at := now.Add(time.Duration(i) * 10 * time.Millisecond)
			ev := messageEvent(room, seq[room], at, fmt.Sprintf("message %d of a benchmark of replay, in room %s", i, room.String()[:8]))
			b, _ := json.Marshal(ev)
			evs[p] = append(evs[p], &sarama.ProducerMessage{Topic: cfg.Topics.ChatEvents, Partition: p, Key: sarama.StringEncoder(room.String()), Value: sarama.ByteEncoder(b), Timestamp: at})
		}
	}
	if err := produceHistory(cfg, evs); err != nil {
		return err
	}
	t.Logf("seeded %d events in %v", n, time.Since(start).Round(time.Millisecond))
	return nil
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
