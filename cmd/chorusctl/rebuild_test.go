package main

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/chorus-chat/chorus/adapters/kafka"
	"github.com/chorus-chat/chorus/adapters/ops"
	"github.com/chorus-chat/chorus/domain"
	"github.com/chorus-chat/chorus/projections/checkpoint"
	"github.com/chorus-chat/chorus/projections/readmodel"
)

// projectLive applies the whole log to the live read model as the server's projector does
// (ApplyBatch, checkpoint in the same transaction), from the live checkpoints.
func projectLive(t *testing.T, ctx context.Context, cfg kafka.Config, pool *pgxpool.Pool) {
	t.Helper()
	client, err := kafka.NewReadClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	store := readmodel.NewStore(pool)
	cps, err := store.Checkpoints(ctx, readmodel.Projection)
	if err != nil {
		t.Fatal(err)
	}
	logs, err := kafka.LogRanges(client, cfg.Topics.EventTopics())
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range logs {
		var recs []readmodel.Record
		_, err := kafka.ReadCommitted(ctx, client, l.Topic, l.Partition, cps[l.Topic][l.Partition], func(r kafka.Record) error {
			var ev domain.Event
			if err := json.Unmarshal(r.Value, &ev); err != nil {
				return err
			}
			recs = append(recs, readmodel.Record{Topic: r.Topic, Partition: r.Partition, Offset: r.Offset, Event: ev})
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if err := store.ApplyBatch(ctx, readmodel.Projection, recs); err != nil {
			t.Fatal(err)
		}
	}
}

func schemaExists(t *testing.T, ctx context.Context, pool *pgxpool.Pool, name string) bool {
	t.Helper()
	var ok bool
	if err := pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)`, name).Scan(&ok); err != nil {
		t.Fatal(err)
	}
	return ok
}

func TestProjectionsRebuildAndVerify(t *testing.T) {
	cfg := startBroker(t, 4)
	l := newEventLog(t, cfg)
	at := time.Now().Add(-time.Hour).UTC().Truncate(time.Microsecond)
	u := domain.UserIDFor("dora")
	l.write(domain.Event{ID: uuid.New(), Type: domain.TypeUserRegistered, AggregateType: domain.AggregateUser, AggregateID: u, Version: 1, OccurredAt: at, ActorID: u, SchemaVersion: 1,
		Data: domain.UserRegistered{UserID: u, Username: "dora", DisplayName: "Dora", RegisteredAt: at}})
	rooms := []uuid.UUID{roomOn(0, 4), roomOn(1, 4), roomOn(2, 4)}
	for i, r := range rooms {
		l.write(roomEvent(r, 1, at, domain.RoomCreated{RoomID: r, Name: fmt.Sprintf("room %d", i), OwnerID: u, CreatedAt: at}))
	}
	// A department room and one released since (its department deleted): their department
	// columns are verified as every other.
	org := uuid.New()
	for i, r := range []uuid.UUID{roomOn(3, 4), roomOn(3, 4)} {
		dept := uuid.New()
		l.write(roomEvent(r, 1, at, domain.RoomCreated{RoomID: r, Name: fmt.Sprintf("department %d", i), OwnerID: domain.SystemActorID, IsPrivate: true, CreatedAt: at}))
		l.write(roomEvent(r, 2, at, domain.RoomLinkedToDepartment{RoomID: r, OrgID: org, DepartmentID: dept}))
		if i == 1 {
			l.write(roomEvent(r, 3, at, domain.RoomReleased{RoomID: r, OrgID: org, DepartmentID: dept, ReleasedAt: at}))
		}
	}
	// 30 messages, one transaction each: several batches with --batch 4.
	for i := range 30 {
		r := rooms[i%3]
		l.write(messageEvent(r, int64(i/3+1), at.Add(time.Duration(i)*time.Second), fmt.Sprintf("hello %d", i)))
	}

	dbURL, pool := migratedDB(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	migratedIndexes := readModelIndexes(t, ctx, pool)
	projectLive(t, ctx, cfg, pool)
	var n int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM messages`).Scan(&n); err != nil || n != 30 {
		t.Fatalf("live messages: %d, %v", n, err)
	}
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM rooms WHERE department_org_id = $1`, org).Scan(&n); err != nil || n != 1 {
		t.Fatalf("live department rooms: %d, %v", n, err)
	}

	// push keeps no tables: there is nothing to rebuild.
	for _, cmd := range []string{"rebuild", "verify"} {
		_, errs, code := ctl(t, cfg, "--database-url", dbURL, "projections", cmd, "push")
		if code != 2 || !strings.Contains(errs, "only readmodel, search, notifications, directory, orgrooms, orgproxies, onlinetime can be rebuilt") {
			t.Fatalf("%s search: exit %d: %s", cmd, code, errs)
		}
	}

	// A faithful live read model verifies clean.
	out := mustCtl(t, cfg, "--database-url", dbURL, "projections", "verify", "readmodel")
	if !strings.Contains(out, "total: 0 differing rows") || !strings.Contains(out, "messages") {
		t.Fatalf("verify of a faithful read model:\n%s", out)
	}
	if schemaExists(t, ctx, pool, "readmodel_verify") {
		t.Fatal("verify left its scratch schema")
	}

	// A corrupted row is found, with an example.
	var corrupted uuid.UUID
	if err := pool.QueryRow(ctx, `UPDATE messages SET content = 'x' WHERE content = 'hello 7' RETURNING id`).Scan(&corrupted); err != nil {
		t.Fatal(err)
	}
	out, errs, code := ctl(t, cfg, "--database-url", dbURL, "projections", "verify", "readmodel", "--batch", "4")
	if code != 1 || !strings.Contains(out, `"content":"x"`) || !strings.Contains(out, `"content":"hello 7"`) || strings.Contains(out, "total: 0 ") {
		t.Fatalf("verify of a corrupted read model: exit %d\n%s%s", code, out, errs)
	}
	if !strings.Contains(out, "messages               2 differing rows") {
		t.Fatalf("verify should count the live and the rebuilt version of the row:\n%s", out)
	}

	content := func() string {
		t.Helper()
		var c string
		if err := pool.QueryRow(ctx, `SELECT content FROM messages WHERE id = $1`, corrupted).Scan(&c); err != nil {
			t.Fatal(err)
		}
		return c
	}

	// A rebuild interrupted after its first batch leaves the live tables alone and its
	// generation resumable; meanwhile the status shows the projection rebuilding.
	ictx, icancel := context.WithCancel(context.Background())
	var during ops.StatusReport
	var once sync.Once
	afterBatch = func() {
		once.Do(func() {
			// ctl, not mustCtl: this runs on one of the rebuild's goroutines.
			out, errs, code := ctl(t, cfg, "--database-url", dbURL, "projections", "status", "-f", "json", "--projection", "readmodel")
			if err := json.Unmarshal([]byte(out), &during); err != nil || code != 0 {
				t.Errorf("status during the rebuild: exit %d, %v: %s", code, err, errs)
			}
			icancel()
		})
	}
	_, errs, code = func() (string, string, int) {
		var o, e syncBuffer
		c := runContext(ictx, []string{"--brokers", strings.Join(cfg.Brokers, ","), "--database-url", dbURL, "projections", "rebuild", "readmodel", "--batch", "4"}, &o, &e)
		return o.String(), e.String(), c
	}()
	afterBatch = nil
	icancel()
	if code != 1 || !strings.Contains(errs, "run again to resume") {
		t.Fatalf("interrupted rebuild: exit %d: %s", code, errs)
	}
	if p := during.Projections; len(p) != 1 || p[0].State != ops.StateRebuilding || p[0].Rebuild == nil || !p[0].Rebuild.Running || p[0].Rebuild.Schema != "readmodel_next" {
		t.Fatalf("status during a rebuild: %+v", p)
	}
	if content() != "x" || !schemaExists(t, ctx, pool, "readmodel_next") {
		t.Fatal("an interrupted rebuild touched the live tables or dropped its generation")
	}
	next, err := checkpoint.Load(ctx, pool, "readmodel@next")
	if err != nil || len(next) == 0 {
		t.Fatalf("no checkpoints of the interrupted generation: %v %v", next, err)
	}
	var inNext int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM readmodel_next.messages`).Scan(&inNext); err != nil || inNext == 0 || inNext >= 30 {
		t.Fatalf("interrupted generation holds %d messages (%v), want some", inNext, err)
	}

	// The second run resumes and swaps.
	out, errs, code = ctl(t, cfg, "--database-url", dbURL, "projections", "rebuild", "readmodel", "--batch", "4")
	if code != 0 || !strings.Contains(errs, "resuming") {
		t.Fatalf("resumed rebuild: exit %d: %s%s", code, out, errs)
	}
	if got := content(); got != "hello 7" {
		t.Fatalf("after the rebuild the corrupted row is %q", got)
	}
	for _, s := range []string{"readmodel_next", "readmodel_old"} {
		if schemaExists(t, ctx, pool, s) {
			t.Fatalf("schema %s left after the rebuild", s)
		}
	}
	var inPublic int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM pg_tables WHERE schemaname = 'public' AND tablename = ANY($1)`, readModelTables()).Scan(&inPublic); err != nil || inPublic != len(readModelTables()) {
		t.Fatalf("%d read-model tables in public (%v)", inPublic, err)
	}
	// Indexes keep the names migrations know them by, and every index the migrated tables had
	// is there again, the same (the rebuild builds the secondary ones after its bulk load).
	var idx int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM pg_indexes WHERE schemaname = 'public' AND indexname IN ('room_message_changes_sent_idx', 'room_members_user_id_idx', 'messages_pkey')`).Scan(&idx); err != nil || idx != 3 {
		t.Fatalf("%d of the named indexes found (%v)", idx, err)
	}
	if got := readModelIndexes(t, ctx, pool); !slices.Equal(got, migratedIndexes) {
		t.Fatalf("indexes after the rebuild:\n%s\nwant, as migrated:\n%s", strings.Join(got, "\n"), strings.Join(migratedIndexes, "\n"))
	}
	client, err := kafka.NewReadClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	logs, err := kafka.LogRanges(client, cfg.Topics.EventTopics())
	if err != nil {
		t.Fatal(err)
	}
	cps, err := checkpoint.Load(ctx, pool, readmodel.Projection)
	if err != nil {
		t.Fatal(err)
	}
	for _, lr := range logs {
		if lr.End > 0 && cps[lr.Topic][lr.Partition] != lr.End {
			t.Fatalf("checkpoint of %s/%d is %d, log end %d", lr.Topic, lr.Partition, cps[lr.Topic][lr.Partition], lr.End)
		}
	}
	if next, _ := checkpoint.Load(ctx, pool, "readmodel@next"); len(next) != 0 {
		t.Fatalf("checkpoints of the generation left: %v", next)
	}

	// The live projector goes on over the new tables, and the result still verifies.
	l.write(messageEvent(rooms[0], 11, at.Add(time.Minute), "after the rebuild"))
	projectLive(t, ctx, cfg, pool)
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM messages`).Scan(&n); err != nil || n != 31 {
		t.Fatalf("messages after the rebuild and one more: %d, %v", n, err)
	}
	out = mustCtl(t, cfg, "--database-url", dbURL, "projections", "verify", "readmodel", "--keep")
	if !strings.Contains(out, "total: 0 differing rows") || !schemaExists(t, ctx, pool, "readmodel_verify") {
		t.Fatalf("verify after the rebuild (--keep):\n%s", out)
	}

	// --drop removes an abandoned generation.
	if _, err := pool.Exec(ctx, `CREATE SCHEMA readmodel_next`); err != nil {
		t.Fatal(err)
	}
	mustCtl(t, cfg, "--database-url", dbURL, "projections", "rebuild", "readmodel", "--drop")
	if schemaExists(t, ctx, pool, "readmodel_next") {
		t.Fatal("--drop left readmodel_next")
	}
}

// A rebuild while events keep coming and the live projector keeps applying them swaps without
// losing or doubling anything.
func TestProjectionsRebuildWhileLive(t *testing.T) {
	cfg := startBroker(t, 4)
	l := newEventLog(t, cfg)
	at := time.Now().Add(-time.Hour).UTC().Truncate(time.Microsecond)
	rooms := []uuid.UUID{roomOn(0, 4), roomOn(1, 4), roomOn(3, 4)}
	u := uuid.New()
	for i, r := range rooms {
		l.write(roomEvent(r, 1, at, domain.RoomCreated{RoomID: r, Name: fmt.Sprintf("room %d", i), OwnerID: u, CreatedAt: at}))
	}
	seq := map[uuid.UUID]int64{}
	sent := 0
	send := func(n int) {
		evs := make([]domain.Event, n)
		for i := range evs {
			r := rooms[sent%3]
			seq[r]++
			evs[i] = messageEvent(r, seq[r], at.Add(time.Duration(sent)*time.Millisecond), fmt.Sprintf("m%d", sent))
			sent++
		}
		l.write(evs...)
	}
	for range 20 {
		send(20)
	}
	dbURL, pool := migratedDB(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	projectLive(t, ctx, cfg, pool)

	type result struct {
		out, errs string
		code      int
	}
	done := make(chan result, 1)
	go func() {
		var o, e syncBuffer
		c := runContext(ctx, []string{"--brokers", strings.Join(cfg.Brokers, ","), "--database-url", dbURL, "projections", "rebuild", "readmodel", "--batch", "7"}, &o, &e)
		done <- result{o.String(), e.String(), c}
	}()
	var res result
	rounds := 0
loop:
	for {
		select {
		case res = <-done:
			break loop
		default:
			send(3)
			projectLive(t, ctx, cfg, pool)
			rounds++
		}
	}
	if res.code != 0 {
		t.Fatalf("rebuild while live: exit %d: %s%s", res.code, res.out, res.errs)
	}
	projectLive(t, ctx, cfg, pool)
	var n, distinct int
	if err := pool.QueryRow(ctx, `SELECT count(*), count(DISTINCT content) FROM messages`).Scan(&n, &distinct); err != nil || n != sent || distinct != sent {
		t.Fatalf("after the rebuild: %d messages (%d distinct), %d sent (%v)", n, distinct, sent, err)
	}
	out := mustCtl(t, cfg, "--database-url", dbURL, "projections", "verify", "readmodel")
	if !strings.Contains(out, "total: 0 differing rows") {
		t.Fatalf("verify after a rebuild under load (%d live rounds meanwhile):\n%s", rounds, out)
	}
	t.Logf("%d live rounds during the rebuild", rounds)
}

// readModelTables are the tables a readmodel rebuild swaps.
func readModelTables() []string {
	s, err := ops.RebuildableProjection(readmodel.Projection)
	if err != nil {
		panic(err)
	}
	return s.Tables
}

// readModelIndexes is every index of the live read-model tables, as its definition, sorted.
func readModelIndexes(t *testing.T, ctx context.Context, pool *pgxpool.Pool) []string {
	t.Helper()
	rows, err := pool.Query(ctx, `SELECT indexdef FROM pg_indexes WHERE schemaname = 'public' AND tablename = ANY($1) ORDER BY indexdef`, readModelTables())
	if err != nil {
		t.Fatal(err)
	}
	defs, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	return defs
}
