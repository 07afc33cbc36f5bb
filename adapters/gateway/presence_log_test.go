package gateway

import (
	"context"
	"github.com/gorilla/websocket"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/chorus-chat/chorus/adapters/redis/redistest"
	"github.com/chorus-chat/chorus/domain"
	"github.com/chorus-chat/chorus/projections"
)

// sessionEvents are the online-time events the world's user aggregate of user was given.
func (w *world) sessionEvents(user uuid.UUID) []domain.Event {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []domain.Event
	for _, c := range w.dispatched {
		if c.AggregateID != user || c.Type != domain.CmdRecordPresence {
			continue
		}
		if r, ok := w.replies[c.ID]; ok {
			out = append(out, r.Events...)
		}
	}
	return out
}

// waitSessionEvents waits until user has n online-time events.
func waitSessionEvents(t *testing.T, w *world, user uuid.UUID, n int) []domain.Event {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		evs := w.sessionEvents(user)
		if len(evs) >= n {
			if len(evs) > n {
				t.Fatalf("%d online-time events, want %d: %+v", len(evs), n, evs)
			}
			return evs
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d online-time events after 5 s, want %d: %+v", len(evs), n, evs)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Sockets on two gateways at once make one session: it opens with the first and ends, left,
// when the last closes.
func TestOnlineTimeOverlappingSocketsCountOnce(t *testing.T) {
	shared := newSharedRedis(t)
	gw1 := newRealtimeEnv(t, nil, nil, shared.wire(t))
	gw2 := newRealtimeEnv(t, gw1.w, nil, shared.wire(t))
	bobTok, bobID := gw1.user("bob")
	opened := time.Now()
	a := gw1.dial(bobTok)
	b := gw2.dial(bobTok)
	// A socket joins presence as it starts, after the upgrade has answered: a pong proves both
	// are in (else, on a loaded machine, a's close could come before b's join and rightly end
	// the session).
	for _, ws := range []*websocket.Conn{a, b} {
		send(t, ws, `{"type":"ping","id":"joined"}`)
		for f := read(t, ws); f.str("type") != "pong"; f = read(t, ws) {
			t.Logf("before the pong: %v", f)
		}
	}
	waitSessionEvents(t, gw1.w, bobID, 1)
	a.Close()
	time.Sleep(200 * time.Millisecond) // the first close ends nothing: bob is still on gw2
	if n := len(gw1.w.sessionEvents(bobID)); n != 1 {
		t.Fatalf("closing one of two sockets recorded %d events", n)
	}
	b.Close()
	evs := waitSessionEvents(t, gw1.w, bobID, 2)
	on, ok1 := evs[0].Data.(domain.UserCameOnline)
	off, ok2 := evs[1].Data.(domain.UserWentOffline)
	if !ok1 || !ok2 || off.Cause != domain.OfflineLeft || !off.Since.Equal(on.At) || off.At.Before(on.At) {
		t.Fatalf("session events %+v", evs)
	}
	if on.At.Before(opened.Add(-time.Second)) || time.Since(off.At) > 5*time.Second {
		t.Fatalf("session %v..%v, opened at %v", on.At, off.At, opened)
	}
	if evs[0].ActorID != domain.SystemActorID {
		t.Fatalf("recorded by %s, want the server", evs[0].ActorID)
	}
}

// A gateway that dies with a socket open still ends its user's session: the sweeper of a
// surviving gateway finds the expired entry and records the offline at its last refresh.
func TestOnlineTimeCrashedGatewayEndsAtLastRefresh(t *testing.T) {
	shared := newSharedRedis(t)
	const ttl = 400 * time.Millisecond
	e := newRealtimeEnv(t, nil, func(c *Config) {
		c.ConnectionTimeout = ttl / 2
		c.PresenceTTL, c.PresenceSweepInterval = ttl, 50*time.Millisecond
	}, shared.wire(t))
	_, bobID := e.user("bob")

	// What the crashed gateway did for bob's socket: touched its entry, and recorded the online.
	touched := time.Now().Truncate(time.Millisecond) // as the gateway records it
	on, err := shared.presence.Touch(context.Background(), bobID, "crashed-socket", ttl, func() (projections.Push, error) {
		return projections.Push{}, nil
	})
	if err != nil || !on {
		t.Fatalf("touch: %v %v", on, err)
	}
	e.gw.recordPresence(bobID, "crashed-socket", domain.RecordPresence{Online: true, At: touched})

	evs := waitSessionEvents(t, e.w, bobID, 2)
	off, ok := evs[1].Data.(domain.UserWentOffline)
	if !ok || off.Cause != domain.OfflineExpired {
		t.Fatalf("session events %+v", evs)
	}
	// The entry's last refresh, not when the sweeper found it.
	if d := off.At.Sub(touched); d < -50*time.Millisecond || d > 50*time.Millisecond {
		t.Fatalf("session ended at %v, %v after the last refresh %v", off.At, d, touched)
	}
}

// A full queue drops the transition (and counts it) rather than hold the socket.
func TestPresenceLogNeverBlocks(t *testing.T) {
	l := newPresenceLog()
	gw := &Gateway{log: slog.New(slog.NewTextHandler(io.Discard, nil)), rt: realtime{log: l}} // nothing drains it
	user := uuid.New()
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; i < presenceLogQueue+10; i++ {
			gw.recordPresence(user, "c", domain.RecordPresence{Online: true, At: time.Now()})
		}
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("queuing transitions blocked")
	}
	if n := l.pending.Load(); n != presenceLogQueue {
		t.Fatalf("%d transitions pending, want the queue's %d", n, presenceLogQueue)
	}
}

// forget drops every key of the shared deployment's Redis, as a Redis restarted without
// persistence has.
func (r *sharedRedis) forget(t *testing.T) {
	t.Helper()
	if err := redistest.Forget(context.Background(), r.conn); err != nil {
		t.Fatal(err)
	}
}

// Redis restarted (it forgot every presence entry) and then the user's only socket closed,
// before it refreshed its entry: the session still ends, left, when the socket closed. Nothing
// in Redis would ever end it otherwise: no entry to sweep, no flag saying the user was online.
func TestOnlineTimeSessionEndsWhenRedisForgotTheSocket(t *testing.T) {
	shared := newSharedRedis(t)
	e := newRealtimeEnv(t, nil, nil, shared.wire(t))
	bobTok, bobID := e.user("bob")
	ws := e.dial(bobTok)
	waitSessionEvents(t, e.w, bobID, 1)
	shared.forget(t)
	closed := time.Now()
	ws.Close()
	evs := waitSessionEvents(t, e.w, bobID, 2)
	on, ok1 := evs[0].Data.(domain.UserCameOnline)
	off, ok2 := evs[1].Data.(domain.UserWentOffline)
	if !ok1 || !ok2 || off.Cause != domain.OfflineLeft || !off.Since.Equal(on.At) {
		t.Fatalf("session events %+v", evs)
	}
	if d := off.At.Sub(closed); d < -time.Second || d > time.Second {
		t.Fatalf("session ended at %v, the socket closed at %v", off.At, closed)
	}
}
