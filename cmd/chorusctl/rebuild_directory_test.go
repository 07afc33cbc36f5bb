package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/chorus-chat/chorus/domain"
	"github.com/chorus-chat/chorus/projections/checkpoint"
	"github.com/chorus-chat/chorus/projections/directory"
)

// The organization directory rebuilds and verifies from the table of projections like the
// others: a tampered head count is found, and the rebuild repairs it.
func TestProjectionsRebuildDirectory(t *testing.T) {
	// The log's org events are decoded by the table of aggregate kinds, which learns the
	// organization with its aggregate.
	if _, _, err := domain.DecodeData(domain.TypeOrganizationCreated, 1, json.RawMessage(`{}`)); err != nil {
		t.Skipf("organization events cannot be decoded yet (%v): the organization kind is not in domain.Kinds", err)
	}
	cfg := startBroker(t, 4)
	l := newEventLog(t, cfg)
	at := time.Now().Add(-time.Hour).UTC().Truncate(time.Microsecond)
	alice, bob := domain.UserIDFor("alice"), domain.UserIDFor("bob")
	org := domain.OrgIDFor("acme")
	eng, backend := uuid.New(), uuid.New()
	v := int64(0)
	next := func(d domain.EventData) domain.Event {
		v++
		return domain.Event{ID: uuid.New(), Type: d.EventType(), AggregateType: domain.AggregateOrganization, AggregateID: org,
			Version: v, OccurredAt: at.Add(time.Duration(v) * time.Second), ActorID: alice, CommandID: uuid.New(),
			SchemaVersion: domain.CurrentSchemaVersion, Data: d}
	}
	l.write(
		next(domain.OrganizationCreated{OrgID: org, Name: "Acme", Slug: "acme", OwnerID: alice, OwnerUsername: "alice", CreatedAt: at}),
		next(domain.OrgMemberJoined{OrgID: org, UserID: bob, Username: "bob", Via: domain.JoinedByAdding, AddedBy: alice, JoinedAt: at}),
		next(domain.DepartmentCreated{OrgID: org, DepartmentID: eng, Name: "Engineering", CreatedBy: alice, CreatedAt: at}),
		next(domain.DepartmentCreated{OrgID: org, DepartmentID: backend, ParentID: &eng, Name: "Backend", CreatedBy: alice, CreatedAt: at}),
		next(domain.DepartmentMemberAdded{OrgID: org, DepartmentID: backend, UserID: bob, Primary: true, AddedBy: alice, AddedAt: at}),
		next(domain.DepartmentMemberAdded{OrgID: org, DepartmentID: eng, UserID: alice, Primary: true, AddedBy: alice, AddedAt: at}),
	)

	dbURL, pool := migratedDB(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	store := directory.NewStore(pool)
	applyLive(t, ctx, cfg, pool, directory.Projection, []string{cfg.Topics.OrgEvents}, func(r []checkpoint.Record) error { return store.ApplyBatch(ctx, r) })
	headCount := func() int {
		t.Helper()
		tops, err := store.OrgChart(ctx, org, nil)
		if err != nil || len(tops) != 1 {
			t.Fatalf("org chart: %+v, %v", tops, err)
		}
		return tops[0].HeadCount
	}
	if n := headCount(); n != 2 {
		t.Fatalf("engineering's head count %d, want 2", n)
	}
	if out := mustCtl(t, cfg, "--database-url", dbURL, "projections", "verify", "directory"); !strings.Contains(out, "total: 0 differing rows") {
		t.Fatalf("verify a faithful directory:\n%s", out)
	}

	if _, err := pool.Exec(ctx, `UPDATE org_departments SET subtree_count = 40 WHERE id = $1`, eng); err != nil {
		t.Fatal(err)
	}
	out, errs, code := ctl(t, cfg, "--database-url", dbURL, "projections", "verify", "directory")
	if code != 1 || !strings.Contains(out, "org_departments        2 differing rows") || !strings.Contains(out, `"subtree_count":40`) {
		t.Fatalf("verify after a tampered count: exit %d\n%s%s", code, out, errs)
	}
	if out := mustCtl(t, cfg, "--database-url", dbURL, "projections", "rebuild", "directory"); !strings.Contains(out, "rebuilt directory") {
		t.Fatalf("rebuild directory: %s", out)
	}
	if n := headCount(); n != 2 {
		t.Fatalf("after the rebuild engineering's head count is %d, want 2", n)
	}

	// The live projector goes on over the rebuilt tables.
	l.write(next(domain.OrgMemberRemoved{OrgID: org, UserID: bob, Username: "bob", RemovedBy: alice, RemovedAt: at}))
	applyLive(t, ctx, cfg, pool, directory.Projection, []string{cfg.Topics.OrgEvents}, func(r []checkpoint.Record) error { return store.ApplyBatch(ctx, r) })
	if n := headCount(); n != 1 {
		t.Fatalf("after bob left, engineering's head count is %d, want 1", n)
	}
	if out := mustCtl(t, cfg, "--database-url", dbURL, "projections", "verify", "directory"); !strings.Contains(out, "total: 0 differing rows") {
		t.Fatalf("verify after the rebuild:\n%s", out)
	}
}
