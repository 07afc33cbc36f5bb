package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/chorus-chat/chorus/adapters/kafka"
	"github.com/chorus-chat/chorus/domain"
	"github.com/chorus-chat/chorus/projections"
	"github.com/chorus-chat/chorus/projections/checkpoint"
)

// logByKey reads every committed record of topic and lists each key's values in log order; it
// fails the test if a key's records are on more than one partition or not on its key's one.
func logByKey(t *testing.T, cfg kafka.Config, topic string) map[string][]string {
	t.Helper()
	client, err := kafka.NewReadClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	ranges, err := kafka.LogRanges(client, []string{topic})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]string{}
	for _, r := range ranges {
		_, err := kafka.ReadCommitted(context.Background(), client, topic, r.Partition, r.Start, func(rec kafka.Record) error {
			if p := kafka.PartitionFor(string(rec.Key), int32(len(ranges))); p != rec.Partition {
				t.Errorf("%s: key %s on partition %d, its partition is %d", topic, rec.Key, rec.Partition, p)
			}
			out[string(rec.Key)] = append(out[string(rec.Key)], string(rec.Value))
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// abortedMessage appends a message event for room in a transaction that is aborted.
func abortedMessage(t *testing.T, cfg kafka.Config, room uuid.UUID) string {
	t.Helper()
	ev := messageEvent(room, 99, time.Now(), "never committed")
	b, _ := json.Marshal(ev)
	p := newEventLog(t, cfg).prod
	if err := p.BeginTxn(); err != nil {
		t.Fatal(err)
	}
	if _, _, err := p.SendMessage(&sarama.ProducerMessage{Topic: cfg.Topics.ChatEvents, Partition: kafka.PartitionFor(room.String(), cfg.Partitions),
		Key: sarama.StringEncoder(room.String()), Value: sarama.ByteEncoder(b)}); err != nil {
		t.Fatal(err)
	}
	if err := p.AbortTxn(); err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// Events of many rooms on 4 partitions, copied to 7 (the copy cut short once and run again,
// then run a third time for nothing): every aggregate's records are on its partition of the
// new count in the same order, nothing of an aborted transaction is copied, and a command
// processor on the new topics goes on where the old ones stopped: the next message of each
// room gets the next seq, a retried command its first answer, and membership is what it was.
func TestRepartitionKeepsEveryAggregate(t *testing.T) {
	cfg := startBroker(t, 4)
	sys := startSystemOn(t, cfg)
	defer sys.stop()
	alice, bob := domain.UserIDFor("alice"), domain.UserIDFor("bob")
	sys.do(alice, alice, "alice", domain.RegisterUser{Username: "alice", DisplayName: "Alice"})
	sys.do(bob, bob, "bob", domain.RegisterUser{Username: "bob", DisplayName: "Bob"})
	rooms := make([]uuid.UUID, 12)
	firsts := make([]uuid.UUID, len(rooms)) // each room's first message command
	for i := range rooms {
		rooms[i] = uuid.New()
		sys.do(rooms[i], alice, "alice", domain.CreateRoom{Name: fmt.Sprint("room-", i)})
		if i%2 == 0 {
			sys.do(rooms[i], bob, "bob", domain.JoinRoom{})
		}
		for m := range 3 {
			cmd := domain.NewCommand(uuid.New(), rooms[i], alice, "alice", time.Now(), domain.SendMessage{Content: fmt.Sprint("message ", m)})
			if m == 0 {
				firsts[i] = cmd.ID
			}
			if r, err := sys.disp.Dispatch(context.Background(), cmd); err != nil || !r.Accepted {
				t.Fatalf("send: %+v %v", r, err)
			}
		}
	}
	aborted := abortedMessage(t, cfg, rooms[0])
	dbURL, pool := migratedDB(t)

	if _, errs, code := ctl(t, cfg, "--database-url", dbURL, "topics", "repartition", "--partitions", "7", "--to-suffix", ".p7", "--no-progress"); code != 1 ||
		!strings.Contains(errs, "command processors are running (1 in group chorus-commands)") {
		t.Fatalf("with a processor running: exit %d, %s", code, errs)
	}
	sys.stop()
	// The read model as projected from the old topics: live, its checkpoints on them.
	mustCtl(t, cfg, "--database-url", dbURL, "projections", "rebuild", "readmodel", "--no-progress")
	before := readModelDigest(t, pool)

	// A copy cut short after its first transaction leaves a resumable state.
	ctx, cancel := context.WithCancel(context.Background())
	to := cfg.Topics.WithSuffix(".p7")
	_, err := kafka.Repartition(ctx, cfg, kafka.RepartitionOptions{To: to, Partitions: 7, Batch: 5, Passed: func(int64) { cancel() }})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("a copy cancelled after its first transaction: %v", err)
	}
	out, errs, code := ctl(t, cfg, "--database-url", dbURL, "topics", "repartition", "--partitions", "7", "--to-suffix", ".p7", "--no-progress", "--batch", "5")
	if code != 0 || !strings.Contains(errs, "went on from where an earlier run stopped in 1 partitions") {
		t.Fatalf("second run: exit %d, %s", code, errs)
	}
	if !strings.Contains(out, "CHORUS_TOPIC_SUFFIX=.p7 CHORUS_PARTITIONS=7") {
		t.Errorf("the next steps are not named:\n%s", out)
	}

	cfg7 := cfg
	cfg7.Topics, cfg7.Partitions = to, 7
	for i, topic := range cfg.Topics.Logs() {
		old, copied := logByKey(t, cfg, topic), logByKey(t, cfg7, to.Logs()[i])
		if !maps.EqualFunc(old, copied, slices.Equal) {
			t.Errorf("%s: %d keys, the copy %d; or a key's records differ or are out of order", topic, len(old), len(copied))
		}
		for _, vs := range copied {
			if slices.Contains(vs, aborted) {
				t.Errorf("%s: the aborted record was copied", topic)
			}
		}
	}
	if n := len(logByKey(t, cfg7, to.ChatEvents)[rooms[0].String()]); n != 1+1+3+1 { // created, owner joined, 3 messages, bob joined
		t.Errorf("room 0 has %d events in the copy, want 6", n)
	}

	// The push projection starts at the new topics' ends: nothing of the history is pushed again.
	client, err := kafka.NewReadClient(cfg7)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	ends, err := kafka.LogRanges(client, []string{to.ChatEvents, to.SystemEvents, to.OrgEvents})
	if err != nil {
		t.Fatal(err)
	}
	cps, err := checkpoint.Load(context.Background(), pool, projections.PushProjection)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range ends {
		if got, ok := cps[r.Topic][r.Partition]; !ok || got != r.End {
			t.Errorf("push checkpoint of %s/%d: %d (set: %v), want the end %d", r.Topic, r.Partition, got, ok, r.End)
		}
	}
	if cps[to.ChatEvents][kafka.PartitionFor(rooms[0].String(), 7)] == 0 {
		t.Error("the push projection would start room 0's partition at its beginning")
	}

	again := mustCtl(t, cfg, "--database-url", dbURL, "topics", "repartition", "--partitions", "7", "--to-suffix", ".p7", "--no-progress")
	if strings.Count(again, " 0 records copied") != len(cfg.Topics.Logs()) {
		t.Errorf("a run after a complete one copied something:\n%s", again)
	}

	// The projections are rebuilt from the new topics (docs/operations.md, Changing the partition
	// count, step 4): the live checkpoints on the old topics, which the rebuild never reaches,
	// do not hold its swap back, and the read model is the one the old topics made.
	if out := mustCtl(t, cfg, "--database-url", dbURL, "--topic-suffix", ".p7", "projections", "rebuild", "readmodel", "--no-progress"); !strings.Contains(out, "the new tables are live") {
		t.Errorf("rebuild from the new topics:\n%s", out)
	}
	if out := mustCtl(t, cfg, "--database-url", dbURL, "--topic-suffix", ".p7", "projections", "verify", "readmodel", "--no-progress"); !strings.Contains(out, "total: 0 differing rows") {
		t.Errorf("verify on the new topics:\n%s", out)
	}
	if after := readModelDigest(t, pool); after != before {
		t.Errorf("the read model rebuilt from the new topics differs from the old one:\n%s\nwant\n%s", after, before)
	}

	sys7 := startSystemOn(t, cfg7)
	defer sys7.stop()
	for i, room := range rooms {
		r := sys7.do(room, alice, "alice", domain.SendMessage{Content: "after the migration"})
		if seq := r.Events[0].Data.(domain.MessageSent).Message.Seq; seq != 4 {
			t.Errorf("room %d: the next message got seq %d, want 4", i, seq)
		}
		retry, err := sys7.disp.Dispatch(context.Background(), domain.NewCommand(firsts[i], room, alice, "alice", time.Now(), domain.SendMessage{Content: "message 0"}))
		if err != nil || !retry.Accepted || retry.Events[0].Data.(domain.MessageSent).Message.Seq != 1 {
			t.Errorf("room %d: a retry of the first message: %+v %v, want its seq 1", i, retry, err)
		}
		byBob, err := sys7.disp.Dispatch(context.Background(), domain.NewCommand(uuid.New(), room, bob, "bob", time.Now(), domain.SendMessage{Content: "me too"}))
		if err != nil || byBob.Accepted != (i%2 == 0) {
			t.Errorf("room %d: bob (a member: %v) sends: %+v %v", i, i%2 == 0, byBob, err)
		}
	}

	// Step 6: the old topics deleted, the status shows the projections on the new ones, as it
	// showed the old topics' checkpoints beside them while those existed.
	oldRow := regexp.MustCompile(`(?m)^readmodel +chat-events +\d`)
	if out := mustCtl(t, cfg, "--database-url", dbURL, "--topic-suffix", ".p7", "projections", "status", "--projection", "readmodel"); !oldRow.MatchString(out) {
		t.Errorf("the old topics' checkpoints are not shown while the topics exist:\n%s", out)
	}
	admin, err := sarama.NewClusterAdmin(cfg.Brokers, cfg.Sarama())
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	for _, topic := range cfg.Topics.All() {
		if err := admin.DeleteTopic(topic); err != nil {
			t.Fatal(err)
		}
	}
	out = mustCtl(t, cfg, "--database-url", dbURL, "--topic-suffix", ".p7", "projections", "status")
	if oldRow.MatchString(out) || !strings.Contains(out, "chat-events.p7") {
		t.Errorf("status after the old topics were deleted:\n%s", out)
	}
}

func TestRepartitionRefusesBadUsage(t *testing.T) {
	cfg := kafka.Config{Brokers: []string{"127.0.0.1:1"}}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--partitions", "0", "--to-suffix", ".x"}, "--partitions must be at least 1"},
		{[]string{"--partitions", "3", "--to-suffix", ""}, "--to-suffix must not be empty"},
		{[]string{"--partitions", "3", "--to-suffix", "a b"}, `--to-suffix: topic suffix "a b"`},
		{[]string{"--partitions", "3", "--to-suffix", ".x", "--replication", "2", "--min-insync-replicas", "3"}, "--min-insync-replicas between 0 and it"},
	} {
		_, errs, code := ctl(t, cfg, append([]string{"topics", "repartition"}, tc.args...)...)
		if code != 2 || !strings.Contains(errs, tc.want) {
			t.Errorf("%q: exit %d, %s; want 2 and %q", tc.args, code, errs, tc.want)
		}
	}
	if _, err := kafka.Repartition(context.Background(), kafka.Config{Topics: kafka.DefaultTopics()},
		kafka.RepartitionOptions{To: kafka.DefaultTopics(), Partitions: 3}); err == nil || !strings.Contains(err.Error(), "would be copied onto itself") {
		t.Errorf("a copy onto the same topics: %v", err)
	}
}

// readModelDigest is the read model's rooms, memberships and messages, one line each, in order.
func readModelDigest(t *testing.T, pool *pgxpool.Pool) string {
	t.Helper()
	var digest string
	err := pool.QueryRow(context.Background(), `SELECT
		(SELECT coalesce(string_agg(id::text || ' ' || name, E'\n' ORDER BY id), '') FROM rooms) || E'\n' ||
		(SELECT coalesce(string_agg(room_id::text || ' ' || user_id::text, E'\n' ORDER BY room_id, user_id), '') FROM room_members) || E'\n' ||
		(SELECT coalesce(string_agg(room_id::text || ' ' || seq || ' ' || content, E'\n' ORDER BY room_id, seq), '') FROM messages)`).Scan(&digest)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Count(digest, "\n")+1 < 12+18+36 { // 12 rooms, 18 memberships, 36 messages
		t.Fatalf("the read model holds less than the test wrote:\n%s", digest)
	}
	return digest
}
