package readmodel_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/chorus-chat/chorus/adapters/postgres/pgtest"
	"github.com/chorus-chat/chorus/domain"
	"github.com/chorus-chat/chorus/projections"
	"github.com/chorus-chat/chorus/projections/readmodel"
)

// The grants in force are what the gateways check a delegate's command against; a revoked one
// is gone, one not started or ended is not listed; a delegate's message keeps who sent it. A
// replay of the log changes nothing.
func TestProxyGrantsAndSentBy(t *testing.T) {
	ctx := context.Background()
	pool := pgtest.New(t)
	store := readmodel.NewStore(pool)
	log := newEventLog(t)
	alice, _, r1 := log.register("alice")
	bob, _, r2 := log.register("bob")
	room, r3 := log.createRoom(alice, "r", false, "")
	start := log.now
	grant := log.do(domain.NewCommand(uuid.New(), domain.ProxiesIDFor(alice), alice, "alice", log.now, domain.GrantProxy{
		PrincipalID: alice, DelegateID: bob, Scope: domain.ProxyScopeMessages, StartsAt: start, EndsAt: start.Add(time.Hour)}))
	send := domain.NewCommand(uuid.New(), room, alice, "alice", log.now, domain.SendMessage{Content: "for alice", MessageType: domain.MessageText})
	send.ActingID = &bob
	sent := log.do(send)
	mine := log.send(room, alice, "myself")
	all := concat(r1, r2, r3, grant, sent, mine)
	apply(t, store, all)
	apply(t, store, all) // a replay

	at := start.Add(30 * time.Minute)
	gs, err := store.ProxyGrants(ctx, alice, bob, at)
	if err != nil || len(gs) != 1 || gs[0].Scope != domain.ProxyScopeMessages || !gs[0].EndsAt.Equal(start.Add(time.Hour)) {
		t.Fatalf("grants in force: %+v %v", gs, err)
	}
	for name, c := range map[string]struct {
		principal, delegate uuid.UUID
		at                  time.Time
	}{
		"the other way": {bob, alice, at}, "before": {alice, bob, start.Add(-time.Second)}, "at the end": {alice, bob, start.Add(time.Hour)},
	} {
		if gs, err := store.ProxyGrants(ctx, c.principal, c.delegate, c.at); err != nil || len(gs) != 0 {
			t.Errorf("%s: %+v %v", name, gs, err)
		}
	}
	msgs, _, err := store.Messages(ctx, room, readmodel.HistoryQuery{Limit: 10})
	if err != nil || len(msgs) != 2 || msgs[0].SentBy == nil || *msgs[0].SentBy != bob || msgs[1].SentBy != nil {
		t.Fatalf("history: %+v %v", msgs, err)
	}
	if org, err := store.RoomOrganization(ctx, room); err != nil || org != uuid.Nil {
		t.Errorf("a room of no organization: %s %v", org, err)
	}

	revoked := log.do(domain.NewCommand(uuid.New(), domain.ProxiesIDFor(alice), alice, "alice", log.now,
		domain.RevokeProxy{GrantID: grant[0].Event.Data.(domain.ProxyGranted).GrantID}))
	apply(t, store, revoked)
	if gs, err := store.ProxyGrants(ctx, alice, bob, at); err != nil || len(gs) != 0 {
		t.Fatalf("after the revocation: %+v %v", gs, err)
	}
	id := grant[0].Event.Data.(domain.ProxyGranted).GrantID
	if g, err := store.ProxyGrant(ctx, id); !errors.Is(err, projections.ErrNotFound) {
		t.Errorf("the revoked grant by id: %+v %v", g, err)
	}
	if gs, err := store.ProxyGrantsOf(ctx, bob, at); err != nil || len(gs) != 0 {
		t.Errorf("bob's grants after the revocation: %+v %v", gs, err)
	}
	// Kept, marked revoked by alice (an organization's list tells revoked from not made).
	var by uuid.UUID
	if err := pool.QueryRow(ctx, `SELECT revoked_by FROM user_proxies WHERE grant_id = $1 AND revoked_at IS NOT NULL`, id).Scan(&by); err != nil || by != alice {
		t.Errorf("the revoked row: revoked by %s, %v; want alice", by, err)
	}
}

// A user's list holds the grants they gave and hold that have not ended.
func TestProxyGrantsOf(t *testing.T) {
	ctx := context.Background()
	store := readmodel.NewStore(pgtest.New(t))
	log := newEventLog(t)
	alice, _, r1 := log.register("alice")
	bob, _, r2 := log.register("bob")
	carol, _, r3 := log.register("carol")
	start := log.now
	grant := func(principal, delegate uuid.UUID) []readmodel.Record {
		return log.do(domain.NewCommand(uuid.New(), domain.ProxiesIDFor(principal), principal, "p", log.now, domain.GrantProxy{
			PrincipalID: principal, DelegateID: delegate, Scope: domain.ProxyScopeRooms, StartsAt: start.Add(time.Hour), EndsAt: start.Add(2 * time.Hour)}))
	}
	apply(t, store, r1, r2, r3, grant(alice, bob), grant(bob, carol))
	for user, want := range map[uuid.UUID]int{alice: 1, bob: 2, carol: 1} {
		if gs, err := store.ProxyGrantsOf(ctx, user, start); err != nil || len(gs) != want {
			t.Errorf("grants of %s: %+v %v, want %d", user, gs, err, want)
		}
	}
	if gs, err := store.ProxyGrantsOf(ctx, bob, start.Add(2*time.Hour)); err != nil || len(gs) != 0 {
		t.Errorf("ended grants listed: %+v %v", gs, err)
	}
}
