package main_test

// End to end: online time across two gateway processes, one of them killed with a socket open.

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// onlineTTL is the cluster's CHORUS_PRESENCE_TTL: short, so that a dead gateway's entries expire
// within the test.
const onlineTTL = 3 * time.Second

type sessionRow struct {
	start time.Time
	end   *time.Time
	cause *string
}

// sessionsOf reads a user's sessions from the online-time projection.
func sessionsOf(t *testing.T, db *pgx.Conn, user string) []sessionRow {
	t.Helper()
	rows, err := db.Query(context.Background(), `SELECT started_at, ended_at, cause FROM online_sessions WHERE user_id = $1 ORDER BY started_at`, user)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []sessionRow
	for rows.Next() {
		var s sessionRow
		if err := rows.Scan(&s.start, &s.end, &s.cause); err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	return out
}

// waitSessions waits until ok holds of the user's sessions.
func waitSessions(t *testing.T, db *pgx.Conn, user string, within time.Duration, what string, ok func([]sessionRow) bool) []sessionRow {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		s := sessionsOf(t, db, user)
		if ok(s) {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v; sessions %+v", what, within, s)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Bob's sockets on both gateways make one session. Closing the one on gateway 1 ends nothing;
// killing gateway 2 (SIGKILL) with the other open ends it, once its entry has expired and
// gateway 1's sweeper found it, at that socket's last refresh: before the kill, not when it was
// found.
func TestE2EOnlineTimeGatewayKilled(t *testing.T) {
	skipShort(t)
	c := startCluster(t, map[string]string{
		"CHORUS_WS_CONNECTION_TIMEOUT":   (onlineTTL / 2).String(),
		"CHORUS_PRESENCE_TTL":            onlineTTL.String(),
		"CHORUS_PRESENCE_SWEEP_INTERVAL": "200ms",
	})
	c.warmUp()
	ctx := context.Background()
	db, err := pgx.Connect(ctx, c.proj.envOf("CHORUS_DATABASE_URL"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close(ctx)

	bob := newAccount(t, c.gwURL(1), "bob_online_"+randomHex(3))
	opened := time.Now()
	onTwo := dialWS(t, "bob@gateway2", c.gwURL(1), bob.token)
	onTwo.barrier(t)
	onOne := dialWS(t, "bob@gateway1", c.gwURL(0), bob.token)
	onOne.barrier(t)
	s := waitSessions(t, db, bob.user.ID, 10*time.Second, "bob's session opens", func(s []sessionRow) bool { return len(s) == 1 })
	if s[0].end != nil || s[0].start.Before(opened.Add(-time.Second)) {
		t.Fatalf("session %+v, opened at %v", s[0], opened)
	}

	onOne.close()
	time.Sleep(time.Second)
	if s := sessionsOf(t, db, bob.user.ID); len(s) != 1 || s[0].end != nil {
		t.Fatalf("closing one of two sockets changed the session: %+v", s)
	}

	// Keep gateway 2's socket alive a little, then kill it there.
	onTwo.barrier(t)
	killed := time.Now()
	c.gw[1].kill9()
	s = waitSessions(t, db, bob.user.ID, onlineTTL+10*time.Second, "the killed gateway's session ends", func(s []sessionRow) bool {
		return len(s) == 1 && s[0].end != nil
	})
	if *s[0].cause != "expired" {
		t.Fatalf("ended %q, want expired", *s[0].cause)
	}
	if s[0].end.After(killed) || s[0].end.Before(s[0].start) {
		t.Fatalf("session %v..%v: it should end at the last refresh, before the kill at %v", s[0].start, *s[0].end, killed)
	}
	onTwo.close()
}
