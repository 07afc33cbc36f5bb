package main

import (
	"context"
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chorus-chat/chorus/adapters/kafka"
	"github.com/chorus-chat/chorus/adapters/ops"
	"github.com/chorus-chat/chorus/adapters/postgres"
	"github.com/chorus-chat/chorus/adapters/postgres/pgtest"
	"github.com/chorus-chat/chorus/domain"
)

func TestProjectionsStatus(t *testing.T) {
	cfg := startBroker(t, 4)
	l := newEventLog(t, cfg)
	old := time.Now().Add(-time.Hour).UTC().Truncate(time.Microsecond)
	recent := time.Now().UTC().Truncate(time.Microsecond)
	r0, r1, r2 := roomOn(0, 4), roomOn(1, 4), roomOn(2, 4)
	// chat-events: partition 0 holds 3 events (offsets 0, 2, 4: one transaction each, each
	// followed by its commit marker; the end is 6), partition 1 two old ones in one
	// transaction (0, 1; end 3), partition 2 a recent one (end 2), partition 3 none.
	for i := int64(0); i < 3; i++ {
		l.write(messageEvent(r0, i+1, old.Add(time.Duration(i)*time.Second), "p0"))
	}
	l.write(messageEvent(r1, 1, old, "p1a"), messageEvent(r1, 2, old.Add(time.Second), "p1b"))
	l.write(messageEvent(r2, 1, recent, "p2"))
	u := domain.UserIDFor("carol")
	l.write(domain.Event{ID: u, Type: domain.TypeUserRegistered, AggregateType: domain.AggregateUser, AggregateID: u, Version: 1, OccurredAt: old, ActorID: u, SchemaVersion: 1,
		Data: domain.UserRegistered{UserID: u, Username: "carol", DisplayName: "Carol", RegisteredAt: old}})
	up := kafka.PartitionFor(u.String(), 4)

	dbURL, pool := migratedDB(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	set := func(projection, topic string, part int32, next int64) {
		t.Helper()
		if _, err := pool.Exec(ctx, `INSERT INTO projection_checkpoints (projection, topic, partition, next_offset) VALUES ($1, $2, $3, $4)`, projection, topic, part, next); err != nil {
			t.Fatal(err)
		}
	}
	// readmodel: chat 0 past its last event (5: the marker's offset), chat 1 before both of its
	// events, chat 2 and 3 without a checkpoint, the user partition caught up.
	set("readmodel", "chat-events", 0, 5)
	set("readmodel", "chat-events", 1, 0)
	set("readmodel", "user-events", up, 1)
	// push: chat 0 after its first event only; chat 2 at the end (6: the log's end, past
	// the marker).
	set("push", "chat-events", 0, 2)
	set("push", "chat-events", 2, 2)

	// One record the push projector gave up on.
	if _, err := pool.Exec(ctx, `INSERT INTO projection_dead_letters (projection, source_topic, source_partition, source_offset, error)
		VALUES ('push', 'chat-events', 0, 0, 'poisoned')`); err != nil {
		t.Fatal(err)
	}

	// By default every projection the server runs is listed.
	out, errs, code := ctl(t, cfg, "--database-url", dbURL, "projections", "status", "--format", "json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var all ops.StatusReport
	if err := json.Unmarshal([]byte(out), &all); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	var names []string
	for _, p := range all.Projections {
		names = append(names, p.Projection)
	}
	if got := strings.Join(names, ","); got != "readmodel,push,search,notifications,directory,orgrooms,orgproxies,onlinetime" {
		t.Fatalf("default projections %q", got)
	}

	out, errs, code = ctl(t, cfg, "--database-url", dbURL, "projections", "status", "--format", "json", "--projection", "readmodel,push")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var rep ops.StatusReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if len(rep.Projections) != 2 || rep.Projections[0].Projection != "readmodel" || rep.Projections[1].Projection != "push" {
		t.Fatalf("projections: %s", out)
	}
	if rep.Projections[0].DeadLetters != 0 || rep.Projections[1].DeadLetters != 1 {
		t.Errorf("dead letters: readmodel %d, push %d; want 0 and 1", rep.Projections[0].DeadLetters, rep.Projections[1].DeadLetters)
	}
	find := func(p ops.ProjectionStatus, topic string, part int32) ops.PartitionStatus {
		t.Helper()
		for _, q := range p.Partitions {
			if q.Topic == topic && q.Partition == part {
				return q
			}
		}
		t.Fatalf("%s has no row for %s/%d", p.Projection, topic, part)
		return ops.PartitionStatus{}
	}
	type want struct {
		topic  string
		part   int32
		cp     int64 // -1: none
		end    int64
		lag    int64
		minAge float64
		maxAge float64
		state  string
	}
	check := func(p ops.ProjectionStatus, w want) {
		t.Helper()
		q := find(p, w.topic, w.part)
		cp := int64(-1)
		if q.Checkpoint != nil {
			cp = *q.Checkpoint
		}
		if cp != w.cp || q.EndOffset != w.end || q.LagEvents != w.lag || !q.LagExact || q.State != w.state || q.LagSeconds < w.minAge || q.LagSeconds > w.maxAge {
			t.Errorf("%s %s/%d: %+v (checkpoint %d), want %+v", p.Projection, w.topic, w.part, q, cp, w)
		}
	}
	rm, push := rep.Projections[0], rep.Projections[1]
	check(rm, want{"chat-events", 0, 5, 6, 0, 0, 0, ops.StateLive})
	check(rm, want{"chat-events", 1, 0, 3, 2, 3590, 3700, ops.StateBehind})
	check(rm, want{"chat-events", 2, -1, 2, 1, 0, 100, ops.StateUnknown})
	check(rm, want{"chat-events", 3, -1, 0, 0, 0, 0, ops.StateLive})
	check(rm, want{"user-events", up, 1, 2, 0, 0, 0, ops.StateLive})
	if len(rm.Partitions) != 4*len(cfg.Topics.EventTopics()) || rm.State != ops.StateBehind || rm.LagEvents != 3 || rm.LagSeconds < 3590 || rm.Group != "chorus-projector-readmodel" {
		t.Errorf("readmodel summary: %+v", rm)
	}
	check(push, want{"chat-events", 0, 2, 6, 2, 3590, 3700, ops.StateBehind})
	check(push, want{"chat-events", 2, 2, 2, 0, 0, 0, ops.StateLive})
	if len(push.Partitions) != 12 || push.State != ops.StateBehind || push.LagEvents != 2+2 { // chat-events, system-events and org-events
		t.Errorf("push summary: %+v", push)
	}

	// Projections unknown to chorusctl show up when they have checkpoints; one without any is
	// an error.
	set("experimental", "chat-events", 2, 1)
	out = mustCtl(t, cfg, "--database-url", dbURL, "projections", "status", "-f", "json")
	rep = ops.StatusReport{}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatal(err)
	}
	known := len(ops.Projections) // the unknown one comes after them
	if len(rep.Projections) != known+1 || rep.Projections[known].Projection != "experimental" || rep.Projections[known].Group != "chorus-projector-experimental" {
		t.Fatalf("projections: %s", out)
	}
	check(rep.Projections[known], want{"chat-events", 2, 1, 2, 0, 0, 0, ops.StateLive})
	if _, errs, code := ctl(t, cfg, "--database-url", dbURL, "projections", "status", "--projection", "nosuch"); code != 1 || !strings.Contains(errs, `unknown projection "nosuch"`) {
		t.Fatalf("unknown projection: exit %d, %s", code, errs)
	}

	// A recent event behind the checkpoint is still live (--live-within), an old one is not.
	set("push", "chat-events", 1, 2)
	set("push", "chat-events", 3, 0)
	out = mustCtl(t, cfg, "--database-url", dbURL, "projections", "status", "-f", "json", "--projection", "push", "--live-within", "10m")
	rep = ops.StatusReport{}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatal(err)
	}
	check(rep.Projections[0], want{"chat-events", 0, 2, 6, 2, 3590, 3700, ops.StateBehind})
	check(rep.Projections[0], want{"chat-events", 1, 2, 3, 0, 0, 0, ops.StateLive})

	// The table shows the same.
	table := mustCtl(t, cfg, "--database-url", dbURL, "projections", "status")
	t.Logf("status:\n%s", table)
	for _, w := range []string{`PROJECTION`, `readmodel\s+behind`, `push\s+behind\s+2\s+\S+\s+1\s`, `chorus-projector-readmodel \(`, `no checkpoint: never projected`} {
		if !regexp.MustCompile(w).MatchString(table) {
			t.Fatalf("table lacks %q:\n%s", w, table)
		}
	}

	// A projector process that keeps failing makes its projection failed, with the error; one
	// that stopped reporting a while ago (its process is gone) does not.
	if _, err := pool.Exec(ctx, `INSERT INTO projection_failures (projection, instance, error, failures, since, last_failed_at) VALUES
		('push', 'host-1', 'redis: connection refused', 12, now() - interval '30 seconds', now()),
		('readmodel', 'host-2', 'old trouble', 3, now() - interval '1 hour', now() - interval '50 minutes')`); err != nil {
		t.Fatal(err)
	}
	out = mustCtl(t, cfg, "--database-url", dbURL, "projections", "status", "-f", "json", "--projection", "push,readmodel")
	rep = ops.StatusReport{}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatal(err)
	}
	if p := rep.Projections[0]; p.State != ops.StateFailed || len(p.Failures) != 1 || p.Failures[0].Instance != "host-1" || p.Failures[0].Failures != 12 || p.Failures[0].Error != "redis: connection refused" {
		t.Fatalf("a failing projection: %+v", p)
	}
	if p := rep.Projections[1]; p.State == ops.StateFailed || len(p.Failures) != 0 {
		t.Fatalf("a projection with a stale failure: %+v", p)
	}
	if table := mustCtl(t, cfg, "--database-url", dbURL, "projections", "status"); !regexp.MustCompile(`push\s+failed`).MatchString(table) ||
		!strings.Contains(table, "push: failing on host-1 since") || !strings.Contains(table, "redis: connection refused") {
		t.Fatalf("table of a failing projection:\n%s", table)
	}
	if _, err := pool.Exec(ctx, `DELETE FROM projection_failures`); err != nil {
		t.Fatal(err)
	}

	// Over --exact-up-to, the lag is the offset difference and says so.
	out = mustCtl(t, cfg, "--database-url", dbURL, "projections", "status", "-f", "json", "--projection", "readmodel", "--exact-up-to", "1")
	rep = ops.StatusReport{}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatal(err)
	}
	if q := find(rep.Projections[0], "chat-events", 1); q.LagExact || q.LagEvents != 3 || q.LagSeconds < 3590 {
		t.Fatalf("approximate lag: %+v", q)
	}
}

// A database the server never ran against says so.
func TestProjectionsStatusWithoutTables(t *testing.T) {
	cfg := startBroker(t, 1)
	dbURL := pgtest.URL(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	pool, err := postgres.Open(ctx, dbURL)
	if err != nil {
		t.Fatalf("real Postgres is needed for this test: %v", err)
	}
	if _, err := pool.Exec(ctx, `DROP TABLE projection_checkpoints`); err != nil {
		t.Fatal(err)
	}
	pool.Close()
	_, errs, code := ctl(t, cfg, "--database-url", dbURL, "projections", "status")
	if code != 1 || !strings.Contains(errs, "has no projection_checkpoints table") {
		t.Fatalf("exit %d: %s", code, errs)
	}
}
