package main_test

// End to end: online sessions left open by a gateway that died while Redis lost its presence
// entries, ended by a reconciler at their user's last activity (adapters/gateway/presence_reconcile.go).

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// onlineFlush is the cluster's CHORUS_PRESENCE_FLUSH_INTERVAL in these tests.
const onlineFlush = 500 * time.Millisecond

// reconcileBound is how long after its user's last activity a session left open ends at the
// latest (gateway.RealtimeConfig.ReconcileBound): the ttl, twice the flush interval and a
// sweep interval, and one more flush interval between two reconciles.
func reconcileBound(ttl, flush, sweep time.Duration) time.Duration {
	return ttl + 2*flush + sweep + flush
}

// checkReconciled checks a session that ended when its gateway died at killed: reconciled, at
// the user's last activity its gateway wrote (heartbeats every 500 ms, written every flush), so
// not after the kill nor more than a flush interval and a heartbeat before it.
func checkReconciled(t *testing.T, who string, s sessionRow, killed time.Time, flush time.Duration) {
	t.Helper()
	if msg := reconciledProblem(s, killed, flush); msg != "" {
		t.Fatalf("%s: %s", who, msg)
	}
}

func reconciledProblem(s sessionRow, killed time.Time, flush time.Duration) string {
	if s.end == nil {
		return fmt.Sprintf("session %v.. still open", s.start)
	}
	if s.cause == nil || *s.cause != "reconciled" {
		return fmt.Sprintf("session %v..%v ended %v, want reconciled", s.start, *s.end, s.cause)
	}
	// The last heartbeat before the last flush, and some slack for a busy machine's timers.
	early := killed.Add(-flush - 500*time.Millisecond - 300*time.Millisecond)
	if s.end.After(killed) || s.end.Before(early) || s.end.Before(s.start) {
		return fmt.Sprintf("session %v..%v; its gateway died at %v: want the end at the last activity, in [%v, %v]",
			s.start, *s.end, killed, early, killed)
	}
	return ""
}

// Gateway 2 is killed (SIGKILL) with bob's only socket open, and Redis loses every key of the
// deployment at once: no entry is left for a sweeper. Gateway 1's reconciler ends bob's session
// at his last activity, within the bound. Carol's socket on gateway 1, whose entry Redis lost
// too, stays online: her session is never reconciled.
func TestE2EOnlineTimeReconciledAfterGatewayAndRedisLost(t *testing.T) {
	skipShort(t)
	const sweep = 200 * time.Millisecond
	c := startCluster(t, map[string]string{
		"CHORUS_WS_CONNECTION_TIMEOUT":   (onlineTTL / 2).String(),
		"CHORUS_PRESENCE_TTL":            onlineTTL.String(),
		"CHORUS_PRESENCE_SWEEP_INTERVAL": sweep.String(),
		"CHORUS_PRESENCE_FLUSH_INTERVAL": onlineFlush.String(),
	})
	c.warmUp()
	ctx := context.Background()
	db, err := pgx.Connect(ctx, c.proj.envOf("CHORUS_DATABASE_URL"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close(ctx)

	bob := newAccount(t, c.gwURL(1), "bob_rec_"+randomHex(3))
	carol := newAccount(t, c.gwURL(0), "carol_rec_"+randomHex(3))
	bobWS, err := openLeaver(bob, c.gwURL(1))
	if err != nil {
		t.Fatal(err)
	}
	defer bobWS.closeConn()
	carolWS, err := openLeaver(carol, c.gwURL(0))
	if err != nil {
		t.Fatal(err)
	}
	defer carolWS.closeConn()
	open := func(s []sessionRow) bool { return len(s) == 1 && s[0].end == nil }
	waitSessions(t, db, bob.user.ID, 10*time.Second, "bob's session opens", open)
	waitSessions(t, db, carol.user.ID, 10*time.Second, "carol's session opens", open)
	time.Sleep(2 * onlineFlush) // bob's activity is written

	killed := time.Now()
	c.gw[1].kill9()
	if err := forgetRedis(redisURL, c.prefix); err != nil {
		t.Fatal(err)
	}
	bound := reconcileBound(onlineTTL, onlineFlush, sweep)
	s := waitSessions(t, db, bob.user.ID, bound+10*time.Second, "bob's session left open ends", func(s []sessionRow) bool {
		return len(s) == 1 && s[0].end != nil
	})
	seen := time.Since(killed)
	checkReconciled(t, "bob", s[0], killed, onlineFlush)
	t.Logf("bob's session reconciled at %v before the kill, seen ended %v after it (bound %v after his last activity, + the projection)",
		killed.Sub(*s[0].end).Round(time.Millisecond), seen.Round(time.Millisecond), bound)
	if seen > bound+3*time.Second {
		t.Errorf("bob's session ended %v after the kill; the bound is %v", seen, bound)
	}

	// Carol is online all along: Redis forgot her, so her socket's next refresh announced her
	// online again (her first session superseded there), but nothing ended her session as idle.
	time.Sleep(bound)
	cs := sessionsOf(t, db, carol.user.ID)
	if len(cs) == 0 || cs[len(cs)-1].end != nil {
		t.Fatalf("carol, whose socket is open, has no open session: %+v", cs)
	}
	for _, x := range cs {
		if x.cause != nil && *x.cause == "reconciled" {
			t.Fatalf("carol's live session was reconciled: %+v", cs)
		}
	}
}

// The all-in-one server is killed (SIGKILL) with bob's socket open; its embedded Redis dies
// with it. Started again, it ends the previous run's session at bob's last activity, within the
// bound of the kill (and the restart).
func TestE2EOnlineTimeAllInOneKilledReconciles(t *testing.T) {
	skipShort(t)
	c := startChaosAllInOne(t)
	base := c.bases()[0]
	ctx := context.Background()
	db, err := pgx.Connect(ctx, c.dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close(ctx)
	bob := newAccount(t, base, "bob_aio_"+randomHex(3))
	bobWS, err := openLeaver(bob, base)
	if err != nil {
		t.Fatal(err)
	}
	waitSessions(t, db, bob.user.ID, 10*time.Second, "bob's session opens", func(s []sessionRow) bool { return len(s) == 1 && s[0].end == nil })
	time.Sleep(2 * chaosPresenceFlush)

	killed := time.Now()
	killAndRestart(t, c.all, 500*time.Millisecond)
	bobWS.closeConn() // he does not come back
	c.h.waitReady(c.all)
	restarted := time.Since(killed)
	bound := reconcileBound(chaosPresenceTTL, chaosPresenceFlush, chaosPresenceSweep)
	s := waitSessions(t, db, bob.user.ID, bound+restarted+20*time.Second, "the previous run's session ends", func(s []sessionRow) bool {
		return len(s) == 1 && s[0].end != nil
	})
	seen := time.Since(killed)
	checkReconciled(t, "bob", s[0], killed, chaosPresenceFlush)
	t.Logf("the previous run's session reconciled at %v before the kill, seen ended %v after it (ready again after %v; bound %v after the last activity)",
		killed.Sub(*s[0].end).Round(time.Millisecond), seen.Round(time.Millisecond), restarted.Round(time.Millisecond), bound)
	if seen > restarted+bound+5*time.Second {
		t.Errorf("the session ended %v after the kill: more than the restart (%v) and the bound (%v)", seen, restarted, bound)
	}
}
