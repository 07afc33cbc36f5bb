package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/chorus-chat/chorus/adapters/kafka"
	"github.com/chorus-chat/chorus/adapters/ops"
	"github.com/chorus-chat/chorus/domain"
	"github.com/chorus-chat/chorus/projections/checkpoint"
	"github.com/chorus-chat/chorus/projections/notify"
	"github.com/chorus-chat/chorus/projections/search"
)

// applyLive applies every record of topics from the projection's checkpoints, as its projector
// does, through apply (a store's ApplyBatch).
func applyLive(t *testing.T, ctx context.Context, cfg kafka.Config, pool *pgxpool.Pool, projection string, topics []string, apply func([]checkpoint.Record) error) {
	t.Helper()
	client, err := kafka.NewReadClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	cps, err := checkpoint.Load(ctx, pool, projection)
	if err != nil {
		t.Fatal(err)
	}
	logs, err := kafka.LogRanges(client, topics)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range logs {
		var recs []checkpoint.Record
		if _, err := kafka.ReadCommitted(ctx, client, l.Topic, l.Partition, cps[l.Topic][l.Partition], func(r kafka.Record) error {
			ev, err := kafka.DecodeEvent(r.Value)
			recs = append(recs, checkpoint.Record{Topic: r.Topic, Partition: r.Partition, Offset: r.Offset, Event: ev})
			return err
		}); err != nil {
			t.Fatal(err)
		}
		if err := apply(recs); err != nil {
			t.Fatal(err)
		}
	}
}

// Search and notifications rebuild and verify like the read model: a corrupted row is found
// and repaired; the rebuild announces nothing again (its outbox is its own), keeps what users
// marked read, and leaves indexes under the names migrations know.
func TestProjectionsRebuildSearchAndNotifications(t *testing.T) {
	cfg := startBroker(t, 4)
	l := newEventLog(t, cfg)
	at := time.Now().Add(-time.Hour).UTC().Truncate(time.Microsecond)
	alice, bob := domain.UserIDFor("alice"), domain.UserIDFor("bob")
	room := roomOn(1, 4)
	v := int64(0)
	next := func(d domain.EventData) domain.Event {
		v++
		e := roomEvent(room, v, at.Add(time.Duration(v)*time.Second), d)
		e.ActorID = alice
		return e
	}
	hello := uuid.New()
	l.write(
		next(domain.RoomCreated{RoomID: room, Name: "General", OwnerID: alice, CreatedAt: at}),
		next(domain.UserJoinedRoom{RoomID: room, UserID: alice, Username: "alice", Role: domain.RoleOwner, JoinedAt: at}),
		next(domain.UserJoinedRoom{RoomID: room, UserID: bob, Username: "bob", Role: domain.RoleMember, JoinedAt: at}),
		next(domain.MessageSent{RoomID: room, Message: domain.MessageData{ID: hello, RoomID: room, SenderID: alice, Content: "hello @bob, the quarterly numbers", MessageType: domain.MessageText, Seq: 1, CreatedAt: at}}),
		next(domain.MessageSent{RoomID: room, Message: domain.MessageData{ID: uuid.New(), RoomID: room, SenderID: bob, Content: "numbers look fine", MessageType: domain.MessageText, Seq: 2, CreatedAt: at}}),
	)

	dbURL, pool := migratedDB(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	sstore, nstore := search.NewStore(pool), notify.NewStore(pool)
	live := func() {
		applyLive(t, ctx, cfg, pool, search.Projection, []string{cfg.Topics.ChatEvents}, func(r []checkpoint.Record) error { return sstore.ApplyBatch(ctx, r) })
		applyLive(t, ctx, cfg, pool, notify.Projection, []string{cfg.Topics.ChatEvents, cfg.Topics.SystemEvents}, func(r []checkpoint.Record) error { return nstore.ApplyBatch(ctx, r) })
	}
	live()
	found := func() int {
		t.Helper()
		res, err := sstore.Search(ctx, search.Query{UserID: bob, Text: "numbers"})
		if err != nil {
			t.Fatal(err)
		}
		return len(res)
	}
	if n := found(); n != 2 {
		t.Fatalf("live search finds %d messages, want 2", n)
	}
	bobs, _, err := nstore.List(ctx, bob, notify.ListQuery{Limit: 10})
	if err != nil || len(bobs) != 1 || bobs[0].NotificationType != "mention" {
		t.Fatalf("bob's notifications: %+v, %v", bobs, err)
	}
	if _, err := nstore.MarkRead(ctx, bob, bobs[0].ID); err != nil {
		t.Fatal(err)
	}
	count := func(q string) int {
		t.Helper()
		var n int
		if err := pool.QueryRow(ctx, q).Scan(&n); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		return n
	}
	outbox := count(`SELECT count(*) FROM notification_outbox`)
	if outbox != 2 { // bob's mention, alice told that bob joined
		t.Fatalf("live outbox holds %d notifications, want 2", outbox)
	}

	for _, p := range []string{"search", "notifications"} {
		if out := mustCtl(t, cfg, "--database-url", dbURL, "projections", "verify", p); !strings.Contains(out, "total: 0 differing rows") {
			t.Fatalf("verify %s of a faithful projection:\n%s", p, out)
		}
	}

	// Corrupt both.
	if _, err := pool.Exec(ctx, `DELETE FROM search_messages WHERE id = $1`, hello); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `UPDATE notifications SET message = 'tampered' WHERE user_id = $1`, bob); err != nil {
		t.Fatal(err)
	}
	out, errs, code := ctl(t, cfg, "--database-url", dbURL, "projections", "verify", "search")
	if code != 1 || !strings.Contains(out, "search_messages        1 differing rows") || !strings.Contains(out, "quarterly") {
		t.Fatalf("verify search after a lost row: exit %d\n%s%s", code, out, errs)
	}
	out, errs, code = ctl(t, cfg, "--database-url", dbURL, "projections", "verify", "notifications")
	if code != 1 || !strings.Contains(out, "notifications          2 differing rows") || !strings.Contains(out, "tampered") {
		t.Fatalf("verify notifications after a tampered row: exit %d\n%s%s", code, out, errs)
	}

	// An abandoned generation shows in the status until a rebuild resumes it.
	if _, err := pool.Exec(ctx, `CREATE SCHEMA search_next`); err != nil {
		t.Fatal(err)
	}
	var rep ops.StatusReport
	if err := json.Unmarshal([]byte(mustCtl(t, cfg, "--database-url", dbURL, "projections", "status", "-f", "json", "--projection", "search")), &rep); err != nil {
		t.Fatal(err)
	}
	if rb := rep.Projections[0].Rebuild; rb == nil || rb.Schema != "search_next" || rb.Running || rb.Behind == 0 || rep.Projections[0].State == ops.StateRebuilding {
		t.Fatalf("status with an abandoned search_next: %+v", rep.Projections[0])
	}

	for _, p := range []string{"search", "notifications"} {
		if out := mustCtl(t, cfg, "--database-url", dbURL, "projections", "rebuild", p); !strings.Contains(out, "rebuilt "+p) {
			t.Fatalf("rebuild %s: %s", p, out)
		}
	}
	if n := found(); n != 2 {
		t.Fatalf("after the rebuild search finds %d messages, want 2", n)
	}
	bobs, _, err = nstore.List(ctx, bob, notify.ListQuery{Limit: 10})
	if err != nil || len(bobs) != 1 || strings.Contains(bobs[0].Message, "tampered") || !bobs[0].Read {
		t.Fatalf("bob's notifications after the rebuild (repaired, still read): %+v, %v", bobs, err)
	}
	if n := count(`SELECT count(*) FROM notification_outbox`); n != outbox {
		t.Fatalf("the live outbox holds %d after the rebuild, %d before: a rebuild must not announce again", n, outbox)
	}
	if n := count(`SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'search\_%' OR nspname LIKE 'notifications\_%'`); n != 0 {
		t.Fatalf("%d generation schemas left after the rebuilds", n)
	}
	if n := count(`SELECT count(*) FROM pg_indexes WHERE schemaname = 'public' AND indexname IN ('search_messages_tsv_idx', 'search_members_room_id_idx', 'notifications_user_created_idx', 'notifications_message_idx')`); n != 4 {
		t.Fatalf("%d of the named indexes found after the rebuilds", n)
	}

	// The live projectors go on over the new tables.
	l.write(next(domain.MessageSent{RoomID: room, Message: domain.MessageData{ID: uuid.New(), RoomID: room, SenderID: alice, Content: "more numbers, @bob", MessageType: domain.MessageText, Seq: 3, CreatedAt: at}}))
	live()
	if n := found(); n != 3 {
		t.Fatalf("after one more message search finds %d, want 3", n)
	}
	for _, p := range []string{"search", "notifications"} {
		if out := mustCtl(t, cfg, "--database-url", dbURL, "projections", "verify", p); !strings.Contains(out, "total: 0 differing rows") {
			t.Fatalf("verify %s after the rebuild:\n%s", p, out)
		}
	}
}

// A record the live projector dead-lettered (it cannot be decoded, say) stops a rebuild that
// does not know of it, leaving the live tables alone; once counted in projection_dead_letters,
// as the projector counts it, the rebuild skips it as the projector did.
func TestRebuildSkipsWhatTheLiveProjectorDeadLettered(t *testing.T) {
	cfg := startBroker(t, 4)
	l := newEventLog(t, cfg)
	at := time.Now().Add(-time.Hour).UTC().Truncate(time.Microsecond)
	room := roomOn(2, 4)
	l.write(roomEvent(room, 1, at, domain.RoomCreated{RoomID: room, Name: "general", OwnerID: uuid.New(), CreatedAt: at}),
		messageEvent(room, 1, at, "before"))
	if err := l.prod.BeginTxn(); err != nil {
		t.Fatal(err)
	}
	part, poisoned, err := l.prod.SendMessage(&sarama.ProducerMessage{Topic: cfg.Topics.ChatEvents, Partition: 2, Key: sarama.StringEncoder(room.String()), Value: sarama.StringEncoder("{not an event")})
	if err != nil {
		t.Fatal(err)
	}
	if err := l.prod.CommitTxn(); err != nil {
		t.Fatal(err)
	}
	l.write(messageEvent(room, 2, at.Add(time.Second), "after"))

	dbURL, pool := migratedDB(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, errs, code := ctl(t, cfg, "--database-url", dbURL, "projections", "rebuild", "readmodel", "--restart")
	if code != 1 || !strings.Contains(errs, fmt.Sprintf("chat-events/2/%d", poisoned)) || !strings.Contains(errs, "live projection is untouched") {
		t.Fatalf("rebuild over an undecodable record: exit %d: %s", code, errs)
	}
	var n int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM messages`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("live messages after the failed rebuild: %d, %v", n, err)
	}

	if _, err := pool.Exec(ctx, `INSERT INTO projection_dead_letters (projection, source_topic, source_partition, source_offset, error)
		VALUES ('readmodel', $1, $2, $3, 'undecodable')`, cfg.Topics.ChatEvents, part, poisoned); err != nil {
		t.Fatal(err)
	}
	mustCtl(t, cfg, "--database-url", dbURL, "projections", "rebuild", "readmodel")
	var contents []string
	rows, err := pool.Query(ctx, `SELECT content FROM messages ORDER BY seq`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var c string
		if err := rows.Scan(&c); err != nil {
			t.Fatal(err)
		}
		contents = append(contents, c)
	}
	if strings.Join(contents, ",") != "before,after" {
		t.Fatalf("messages after skipping the dead letter: %v", contents)
	}
}

// One rebuild or verify of a projection at a time, whoever runs it: a second one fails at once
// and leaves the first alone; another projection is not held.
func TestOneOperationPerProjectionAtATime(t *testing.T) {
	cfg := startBroker(t, 4)
	l := newEventLog(t, cfg)
	at := time.Now().Add(-time.Hour).UTC().Truncate(time.Microsecond)
	room := roomOn(0, 4)
	l.write(roomEvent(room, 1, at, domain.RoomCreated{RoomID: room, Name: "general", OwnerID: uuid.New(), CreatedAt: at}))
	for i := range 10 {
		l.write(messageEvent(room, int64(i+1), at.Add(time.Duration(i)*time.Second), fmt.Sprintf("m%d", i)))
	}
	dbURL, _ := migratedDB(t)

	// The first rebuild stops after its first batch until told to go on.
	holding, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	afterBatch = func() { once.Do(func() { close(holding); <-release }) }
	defer func() { afterBatch = nil }()
	first := make(chan int, 1)
	go func() {
		_, _, code := ctl(t, cfg, "--database-url", dbURL, "projections", "rebuild", "readmodel", "--batch", "2")
		first <- code
	}()
	<-holding
	for _, cmd := range []string{"rebuild", "verify"} {
		if _, errs, code := ctl(t, cfg, "--database-url", dbURL, "projections", cmd, "readmodel"); code != 1 || !strings.Contains(errs, "already running") {
			t.Errorf("%s while a rebuild runs: exit %d: %s", cmd, code, errs)
		}
	}
	// search is another projection: its verify runs (and finds nothing to differ).
	if out := mustCtl(t, cfg, "--database-url", dbURL, "projections", "verify", "search"); !strings.Contains(out, "total: 0 differing rows") {
		t.Errorf("verify search while readmodel rebuilds: %s", out)
	}
	close(release)
	if code := <-first; code != 0 {
		t.Fatalf("the first rebuild: exit %d", code)
	}
}
