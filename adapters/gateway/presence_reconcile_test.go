package gateway

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/chorus-chat/chorus/adapters/postgres"
	"github.com/chorus-chat/chorus/adapters/postgres/pgtest"
	"github.com/chorus-chat/chorus/domain"
	"github.com/chorus-chat/chorus/projections"
	"github.com/chorus-chat/chorus/projections/checkpoint"
	"github.com/chorus-chat/chorus/projections/onlinetime"
)

// reconcileTiming is the tests' presence: a short ttl, frequent sweeps and flushes. A session
// left open is ended within ReconcileBound (1.35 s) of its user's last activity.
func reconcileTiming(c *Config) {
	c.ConnectionTimeout = 500 * time.Millisecond
	c.PresenceTTL, c.PresenceSweepInterval, c.PresenceFlushInterval = time.Second, 50*time.Millisecond, 100*time.Millisecond
	c.RateLimits = RateLimits{RequestRate: -1, AuthRate: -1}
}

// onlineTimeDB is a real Postgres with the online-time projection kept up with the world's
// presence events (as the onlinetime projector keeps it with the log), and the last seen times.
type onlineTimeDB struct {
	pool  *pgxpool.Pool
	store *onlinetime.Store
	seen  *postgres.LastSeen
}

func newOnlineTimeDB(t *testing.T, w *world) *onlineTimeDB {
	t.Helper()
	pool := pgtest.New(t)
	db := &onlineTimeDB{pool: pool, store: onlinetime.NewStore(pool), seen: postgres.NewLastSeen(pool)}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		applied := 0
		for ctx.Err() == nil {
			evs := w.presenceEvents()
			if len(evs) > applied {
				recs := make([]checkpoint.Record, 0, len(evs)-applied)
				for i, e := range evs[applied:] {
					recs = append(recs, checkpoint.Record{Topic: "user-events", Offset: int64(applied + i), Event: e})
				}
				if err := db.store.ApplyBatch(ctx, recs); err != nil && ctx.Err() == nil {
					t.Errorf("project the sessions: %v", err)
					return
				}
				applied = len(evs)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}()
	t.Cleanup(func() { cancel(); <-done })
	return db
}

// presenceEvents are the online-time events the world's user aggregates appended, in order,
// each once (a command sent again gets its recorded reply and appends nothing).
func (w *world) presenceEvents() []domain.Event {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []domain.Event
	done := map[uuid.UUID]bool{}
	for _, c := range w.dispatched {
		if c.Type != domain.CmdRecordPresence || done[c.ID] {
			continue
		}
		if r, ok := w.replies[c.ID]; ok {
			done[c.ID] = true
			out = append(out, r.Events...)
		}
	}
	return out
}

// offlines are user's session ends in the world's log.
func (w *world) offlines(user uuid.UUID) []domain.UserWentOffline {
	var out []domain.UserWentOffline
	for _, e := range w.presenceEvents() {
		if d, ok := e.Data.(domain.UserWentOffline); ok && d.UserID == user {
			out = append(out, d)
		}
	}
	return out
}

// openSince is the start of user's open session in the world's log (zero: none).
func (w *world) openSince(user uuid.UUID) time.Time {
	var since time.Time
	for _, e := range w.presenceEvents() {
		switch d := e.Data.(type) {
		case domain.UserCameOnline:
			if d.UserID == user {
				since = d.At
			}
		case domain.UserWentOffline:
			if d.UserID == user {
				since = time.Time{}
			}
		}
	}
	return since
}

// wireReconcile is shared.wire with the last seen times in db.
func wireReconcile(t *testing.T, shared *sharedRedis, seen LastSeen, presence Presence) setup {
	s := shared.wire(t)
	deps := s.deps
	s.deps = func(d *Deps) {
		deps(d)
		d.LastSeen = seen
		if presence != nil {
			d.Presence = presence
		}
	}
	return s
}

// crashedSession leaves behind what a gateway that died with user's socket open leaves: the
// online recorded, the entry in Redis, the last activity it wrote to Postgres at lastActive.
func crashedSession(t *testing.T, gw *Gateway, shared *sharedRedis, db *onlineTimeDB, user uuid.UUID, opened, lastActive time.Time) {
	t.Helper()
	ctx := context.Background()
	if _, err := shared.presence.Touch(ctx, user, "crashed-"+user.String(), time.Minute, func() (projections.Push, error) {
		return projections.Push{}, nil
	}); err != nil {
		t.Fatal(err)
	}
	gw.recordPresence(user, "crashed-"+user.String(), domain.RecordPresence{Online: true, At: opened})
	if err := db.seen.Seen(ctx, map[uuid.UUID]time.Time{user: lastActive}); err != nil {
		t.Fatal(err)
	}
}

// waitOffline waits until user has n session ends.
func waitOffline(t *testing.T, w *world, user uuid.UUID, n int, within time.Duration) []domain.UserWentOffline {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		offs := w.offlines(user)
		if len(offs) >= n {
			return offs
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d session ends after %v, want %d: %+v", len(offs), within, n, offs)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// A gateway died with bob's socket open and Redis lost everything: no sweeper will find bob's
// entry. The surviving gateway's reconciler ends his session at the last activity his gateway
// wrote, within the bound, once. Carol's socket on the surviving gateway, whose entry Redis lost
// too, keeps her online: her gateway writes her activity, and she is never reconciled.
func TestOnlineTimeReconcileAfterRedisLostAll(t *testing.T) {
	shared := newSharedRedis(t)
	w := newWorld()
	db := newOnlineTimeDB(t, w)
	e := newRealtimeEnv(t, w, reconcileTiming, wireReconcile(t, shared, db.seen, nil))
	_, bobID := e.user("bob")
	carolTok, carolID := e.user("carol")
	carol := e.dial(carolTok)
	stopBeat := heartbeat(t, carol, 50*time.Millisecond)
	defer stopBeat()

	eventually(t, "carol's session projected", func() bool { return !w.openSince(carolID).IsZero() })
	opened := time.Now().Add(-time.Minute).Truncate(time.Millisecond)
	last := time.Now().Truncate(time.Millisecond) // bob's gateway dies now, Redis with it
	crashedSession(t, e.gw, shared, db, bobID, opened, last)
	shared.forget(t) // Redis restarted: bob's entry, and carol's, are gone

	offs := waitOffline(t, w, bobID, 1, 5*time.Second)
	ended := time.Since(last)
	if offs[0].Cause != domain.OfflineReconciled || !offs[0].At.Equal(last) || !offs[0].Since.Equal(opened) {
		t.Fatalf("bob's session ended %+v, want reconciled at his last activity %v", offs[0], last)
	}
	cfg := e.gw.cfg.RealtimeConfig
	bound := cfg.ReconcileBound()
	if early := cfg.PresenceTTL + cfg.reconcileMargin(); ended < early {
		t.Fatalf("bob's session ended %v after his last activity, before the ttl and margin %v", ended, early)
	}
	// The bound, and the time to decide the command and to project it.
	if ended > bound+500*time.Millisecond {
		t.Fatalf("bob's session ended %v after his last activity, the bound is %v", ended, bound)
	}
	t.Logf("bob's session reconciled %v after his last activity (bound %v)", ended.Round(time.Millisecond), bound)

	// Several more reconcile rounds: nothing more for bob, nothing for carol.
	time.Sleep(bound)
	if offs := w.offlines(bobID); len(offs) != 1 {
		t.Fatalf("bob's session ended %d times: %+v", len(offs), offs)
	}
	for _, off := range w.offlines(carolID) {
		if off.Cause == domain.OfflineReconciled {
			t.Fatalf("carol's live session was reconciled: %+v", off)
		}
	}
	if w.openSince(carolID).IsZero() {
		t.Fatal("carol, whose socket is open, has no open session")
	}
}

// heartbeat sends heartbeat frames on ws every d until stopped; it fails t if the socket ends
// before.
func heartbeat(t *testing.T, ws interface{ WriteJSON(any) error }, d time.Duration) (stop func()) {
	done := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		for {
			select {
			case <-done:
				return
			case <-time.After(d):
				if err := ws.WriteJSON(map[string]any{"type": "heartbeat"}); err != nil {
					t.Errorf("the socket ended: %v", err)
					return
				}
			}
		}
	}()
	return func() { close(done); <-stopped }
}

// Two gateways reconcile at once, each many times over: the session ends once.
func TestOnlineTimeReconcileTwoGatewaysEndOnce(t *testing.T) {
	shared := newSharedRedis(t)
	w := newWorld()
	db := newOnlineTimeDB(t, w)
	gw1 := newRealtimeEnv(t, w, reconcileTiming, wireReconcile(t, shared, db.seen, nil))
	gw2 := newRealtimeEnv(t, w, reconcileTiming, wireReconcile(t, shared, db.seen, nil))
	users := make([]uuid.UUID, 20)
	for i := range users {
		_, users[i] = gw1.user("user" + string(rune('a'+i)))
	}
	opened := time.Now().Add(-time.Minute).Truncate(time.Millisecond)
	last := time.Now().Add(-10 * time.Second).Truncate(time.Millisecond) // idle already
	for _, u := range users {
		crashedSession(t, gw1.gw, shared, db, u, opened, last)
	}
	for _, u := range users {
		eventually(t, "the sessions projected", func() bool { return !w.openSince(u).IsZero() })
	}
	shared.forget(t)
	for _, u := range users {
		waitOffline(t, w, u, 1, 5*time.Second)
	}
	time.Sleep(gw1.gw.cfg.ReconcileBound())
	var byGateway [2]int
	w.mu.Lock()
	for _, c := range w.dispatched {
		if p, ok := c.Payload.(domain.RecordPresence); ok && p.Cause == domain.OfflineReconciled {
			byGateway[0]++
		}
	}
	w.mu.Unlock()
	for _, u := range users {
		offs := w.offlines(u)
		if len(offs) != 1 || offs[0].Cause != domain.OfflineReconciled || !offs[0].At.Equal(last) {
			t.Fatalf("user %s: session ends %+v, want one, reconciled at %v", u, offs, last)
		}
	}
	t.Logf("%d reconciled offlines sent by the two gateways for %d sessions, each ended once", byGateway[0], len(users))
	_ = gw2
}

// flakyPresence is a gateway's Redis presence that can be cut off: Touch fails while cut (the
// gateway cannot reach Redis), as for a gateway whose Redis restarted under it.
type flakyPresence struct {
	Presence
	cut atomic.Bool
}

var errCut = errors.New("redis unreachable (test)")

func (f *flakyPresence) Touch(ctx context.Context, user uuid.UUID, conn string, ttl time.Duration, online func() (projections.Push, error)) (bool, error) {
	if f.cut.Load() {
		return false, errCut
	}
	return f.Presence.Touch(ctx, user, conn, ttl, online)
}

// flakySeen is a gateway's last seen store that can be cut off (Postgres unreachable from it).
type flakySeen struct {
	LastSeen
	cut atomic.Bool
	mu  sync.Mutex
	n   int
}

func (f *flakySeen) Seen(ctx context.Context, seen map[uuid.UUID]time.Time) error {
	if f.cut.Load() {
		return errCut
	}
	f.mu.Lock()
	f.n++
	f.mu.Unlock()
	return f.LastSeen.Seen(ctx, seen)
}

// Carol's socket is live on gateway 2, but Redis knows nothing of her (it lost her entry and
// gateway 2 cannot refresh it): gateway 1's reconciler sees her idle in Redis, but her activity,
// which gateway 2 writes to Postgres, keeps her session open. Only when gateway 2 cannot write
// that either, for longer than the bound, is her session ended (reconciled, at her last
// activity written); and her socket's next refresh, once gateway 2 reaches Redis again, opens a
// new one: the race ends her session for the time her gateway reached neither store.
func TestOnlineTimeReconcileSparesLiveSocketWithoutRedisEntry(t *testing.T) {
	shared := newSharedRedis(t)
	w := newWorld()
	db := newOnlineTimeDB(t, w)
	gw1 := newRealtimeEnv(t, w, reconcileTiming, wireReconcile(t, shared, db.seen, nil)) // the reconciler
	flaky := &flakyPresence{Presence: shared.presence}
	seen2 := &flakySeen{LastSeen: db.seen}
	gw2 := newRealtimeEnv(t, w, func(c *Config) {
		reconcileTiming(c)
		c.PresenceSweepInterval = time.Hour // gateway 2 does not reconcile: gateway 1 does
	}, wireReconcile(t, shared, seen2, flaky))
	carolTok, carolID := gw2.user("carol")
	carol := gw2.dial(carolTok)
	stop := heartbeat(t, carol, 50*time.Millisecond)
	defer stop()
	eventually(t, "carol's session projected", func() bool { return !w.openSince(carolID).IsZero() })
	first := w.openSince(carolID)

	flaky.cut.Store(true)
	shared.forget(t)
	bound := gw1.gw.cfg.ReconcileBound()
	time.Sleep(3 * bound)
	if offs := w.offlines(carolID); len(offs) != 0 {
		t.Fatalf("carol's live session ended: %+v", offs)
	}
	if got := w.openSince(carolID); !got.Equal(first) {
		t.Fatalf("carol's session is %v, want the one opened at %v", got, first)
	}

	// Gateway 2 now reaches neither Redis nor Postgres.
	seen2.cut.Store(true)
	cutAt := time.Now()
	offs := waitOffline(t, w, carolID, 1, 3*bound+2*time.Second)
	if offs[0].Cause != domain.OfflineReconciled || !offs[0].Since.Equal(first) {
		t.Fatalf("carol's session ended %+v, want reconciled", offs[0])
	}
	if d := cutAt.Sub(offs[0].At); d < 0 || d > 2*gw2.gw.cfg.PresenceFlushInterval {
		t.Fatalf("carol's session ended at %v, %v before her gateway lost Postgres: want her last activity written", offs[0].At, d)
	}
	// Gateway 2 reaches Redis again: carol's next refresh opens a new session.
	flaky.cut.Store(false)
	seen2.cut.Store(false)
	back := time.Now()
	// A refresh that failed is tried again presenceRetry later.
	for !w.openSince(carolID).After(back.Add(-time.Millisecond)) {
		if time.Since(back) > presenceRetry+5*time.Second {
			t.Fatalf("carol's session not reopened %v after her gateway reached Redis again", time.Since(back))
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Logf("carol's session reopened %v after her gateway reached Redis again", time.Since(back).Round(time.Millisecond))
	if offs := w.offlines(carolID); len(offs) != 1 {
		t.Fatalf("carol's session ends %+v, want the one reconciled", offs)
	}
}
