package redis_test

import (
	"context"
	"encoding/json"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/chorus-chat/chorus/adapters/redis"
	"github.com/chorus-chat/chorus/adapters/redis/redistest"
	"github.com/chorus-chat/chorus/projections"
)

type presenceFixture struct {
	t        *testing.T
	presence *redis.Presence
	pushes   chan projections.Push
}

func newPresenceFixture(t *testing.T, conn *redis.Conn) *presenceFixture {
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	pushes := redis.NewPushes(conn, redis.PushStreamMaxLen, quiet)
	got := make(chan projections.Push, 100)
	if err := pushes.Subscribe(ctx, func(p projections.Push) { got <- p }); err != nil {
		t.Fatal(err)
	}
	p := redis.NewPresence(conn, pushes)
	t.Cleanup(func() { p.Close() })
	return &presenceFixture{t: t, presence: p, pushes: got}
}

// presencePush is what the gateway would build: the status frame for the user's rooms.
func presencePush(user uuid.UUID, status string, rooms ...uuid.UUID) projections.Push {
	frame, _ := json.Marshal(map[string]string{"type": "presence", "user_id": user.String(), "status": status})
	return projections.Push{Target: projections.TargetRooms, RoomIDs: rooms, Kind: "presence", ExceptUserID: user, Frame: frame}
}

// builder returns a push builder that counts its calls.
func builder(user uuid.UUID, status string, calls *atomic.Int32, rooms ...uuid.UUID) func() (projections.Push, error) {
	return func() (projections.Push, error) {
		calls.Add(1)
		return presencePush(user, status, rooms...), nil
	}
}

// expectPush waits for the next push and checks it announces status for user.
func (f *presenceFixture) expectPush(user uuid.UUID, status string) projections.Push {
	f.t.Helper()
	select {
	case p := <-f.pushes:
		var fr struct {
			Type   string `json:"type"`
			UserID string `json:"user_id"`
			Status string `json:"status"`
		}
		_ = json.Unmarshal(p.Frame, &fr)
		if fr.Type != "presence" || fr.UserID != user.String() || fr.Status != status || p.Target != projections.TargetRooms {
			f.t.Fatalf("got push %+v (frame %s), want presence %s of %s", p, p.Frame, status, user)
		}
		return p
	case <-time.After(5 * time.Second):
		f.t.Fatalf("no presence push %s of %s", status, user)
		return projections.Push{}
	}
}

// expectNoPush checks that nothing more was appended to the stream.
func (f *presenceFixture) expectNoPush() {
	f.t.Helper()
	select {
	case p := <-f.pushes:
		f.t.Fatalf("unexpected push %+v (frame %s)", p, p.Frame)
	case <-time.After(150 * time.Millisecond):
	}
}

func (f *presenceFixture) online(user uuid.UUID) bool {
	f.t.Helper()
	m, err := f.presence.Online(context.Background(), []uuid.UUID{user})
	if err != nil {
		f.t.Fatal(err)
	}
	return m[user]
}

func TestPresenceOnlineWhileAnySocketIsOpen(t *testing.T) {
	backends(t, func(t *testing.T, conn *redis.Conn) {
		f := newPresenceFixture(t, conn)
		ctx := context.Background()
		user, room := uuid.New(), uuid.New()
		var built atomic.Int32

		if f.online(user) {
			t.Fatal("online before any socket")
		}
		on, err := f.presence.Touch(ctx, user, "a", time.Minute, builder(user, "online", &built, room))
		if err != nil || !on {
			t.Fatalf("first socket: %v %v, want an online transition", on, err)
		}
		if p := f.expectPush(user, "online"); len(p.RoomIDs) != 1 || p.RoomIDs[0] != room || p.ExceptUserID != user {
			t.Fatalf("online push %+v", p)
		}
		// A second socket, and refreshes of either: no transition, and the push is not even built.
		built.Store(0)
		for _, c := range []string{"b", "a", "b"} {
			if on, err := f.presence.Touch(ctx, user, c, time.Minute, builder(user, "online", &built, room)); err != nil || on {
				t.Fatalf("touch %s: %v %v", c, on, err)
			}
		}
		if built.Load() != 0 {
			t.Fatalf("push built %d times for refreshes", built.Load())
		}
		if !f.online(user) {
			t.Fatal("not online with two sockets")
		}
		if off, _, err := f.presence.Leave(ctx, user, "a", builder(user, "offline", &built, room)); err != nil || off {
			t.Fatalf("leave of one of two sockets: %v %v", off, err)
		}
		if !f.online(user) {
			t.Fatal("not online with one socket left")
		}
		off, _, err := f.presence.Leave(ctx, user, "b", builder(user, "offline", &built, room))
		if err != nil || !off {
			t.Fatalf("leave of the last socket: %v %v, want an offline transition", off, err)
		}
		f.expectPush(user, "offline")
		if f.online(user) {
			t.Fatal("online after the last socket left")
		}
		// Leaving twice announces nothing.
		if off, _, err := f.presence.Leave(ctx, user, "b", builder(user, "offline", &built, room)); err != nil || off {
			t.Fatalf("second leave: %v %v", off, err)
		}
		// Back online: announced again.
		if on, err := f.presence.Touch(ctx, user, "c", time.Minute, builder(user, "online", &built, room)); err != nil || !on {
			t.Fatalf("reconnect: %v %v", on, err)
		}
		f.expectPush(user, "online")
		f.expectNoPush()
	})
}

func TestPresenceLookupIsPerUser(t *testing.T) {
	backends(t, func(t *testing.T, conn *redis.Conn) {
		f := newPresenceFixture(t, conn)
		ctx := context.Background()
		users := []uuid.UUID{uuid.New(), uuid.New(), uuid.New()}
		var built atomic.Int32
		for _, u := range users[:2] {
			if _, err := f.presence.Touch(ctx, u, "s", time.Minute, builder(u, "online", &built)); err != nil {
				t.Fatal(err)
			}
		}
		got, err := f.presence.Online(ctx, users)
		if err != nil {
			t.Fatal(err)
		}
		if !got[users[0]] || !got[users[1]] || got[users[2]] || len(got) != 3 {
			t.Fatalf("online %v", got)
		}
	})
}

// A user with no rooms goes online and offline without a push (nobody is to be told).
func TestPresenceWithoutRoomsAppendsNothing(t *testing.T) {
	backends(t, func(t *testing.T, conn *redis.Conn) {
		f := newPresenceFixture(t, conn)
		ctx := context.Background()
		user := uuid.New()
		silent := func() (projections.Push, error) { return projections.Push{}, nil }
		if on, err := f.presence.Touch(ctx, user, "s", time.Minute, silent); err != nil || !on {
			t.Fatalf("touch: %v %v", on, err)
		}
		if !f.online(user) {
			t.Fatal("not online")
		}
		if off, _, err := f.presence.Leave(ctx, user, "s", silent); err != nil || !off {
			t.Fatalf("leave: %v %v", off, err)
		}
		f.expectNoPush()
	})
}

// When a gateway dies its entries are not left: they expire, the user shows offline in lookups
// at once, and a sweeper (any gateway's) announces the offline exactly once.
func TestPresenceExpiredEntriesAreSweptOnce(t *testing.T) {
	backends(t, func(t *testing.T, conn *redis.Conn) {
		f := newPresenceFixture(t, conn)
		ctx := context.Background()
		var built atomic.Int32
		gone, alive := uuid.New(), uuid.New()
		// gone's only socket expires; alive has an expiring one and a live one. An entry's flag
		// outlives it by its ttl, the time a sweeper has to announce the offline: the sweep
		// below must start within it, which under -race on a busy machine took more than the
		// 50 ms a ttl of 100 ms left (CI, 2026-12-07: "0 offline announced").
		const dead = 400 * time.Millisecond
		for _, c := range []struct {
			user uuid.UUID
			conn string
			ttl  time.Duration
		}{{gone, "dead", dead}, {alive, "dead", dead}, {alive, "live", time.Minute}} {
			if _, err := f.presence.Touch(ctx, c.user, c.conn, c.ttl, builder(c.user, "online", &built)); err != nil {
				t.Fatal(err)
			}
		}
		f.expectPush(gone, "online")
		f.expectPush(alive, "online")
		time.Sleep(dead + 50*time.Millisecond)
		if f.online(gone) || !f.online(alive) {
			t.Fatalf("after expiry: gone online %v, alive online %v", f.online(gone), f.online(alive))
		}

		// Two sweepers at once, as two gateways would.
		other := redis.NewPresence(conn, redis.NewPushes(conn, redis.PushStreamMaxLen, quiet))
		defer other.Close()
		var wg sync.WaitGroup
		var found, announced atomic.Int32
		for _, p := range []*redis.Presence{f.presence, other} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				n, a, err := p.Sweep(ctx, 100, func(u uuid.UUID) (projections.Push, error) {
					return presencePush(u, "offline", uuid.New()), nil
				}, nil)
				if err != nil {
					t.Error(err)
				}
				found.Add(int32(n))
				announced.Add(int32(a))
			}()
		}
		wg.Wait()
		if announced.Load() != 1 {
			t.Fatalf("%d offline announced, want 1 (found %d entries)", announced.Load(), found.Load())
		}
		f.expectPush(gone, "offline")
		f.expectNoPush()
		if n, _, err := f.presence.Sweep(ctx, 100, nil, nil); err != nil || n != 0 {
			t.Fatalf("second sweep found %d (%v)", n, err)
		}
		// alive's dead socket was forgotten, its live one still counts; leaving it announces offline.
		if off, _, err := f.presence.Leave(ctx, alive, "live", builder(alive, "offline", &built)); err != nil || !off {
			t.Fatalf("leave alive: %v %v", off, err)
		}
		f.expectPush(alive, "offline")
	})
}

// A socket whose entry expired but was refreshed before any sweep is not swept, and the user
// was never announced offline, so nothing is announced again.
func TestPresenceRefreshBeforeSweepKeepsUserOnline(t *testing.T) {
	backends(t, func(t *testing.T, conn *redis.Conn) {
		f := newPresenceFixture(t, conn)
		ctx := context.Background()
		var built atomic.Int32
		user := uuid.New()
		// The entry expires after ttl and the online flag a ttl later: the refresh must come in
		// between, which a loaded machine's scheduling must not push past (a 50 ms ttl did).
		const ttl = 500 * time.Millisecond
		start := time.Now()
		if _, err := f.presence.Touch(ctx, user, "s", ttl, builder(user, "online", &built)); err != nil {
			t.Fatal(err)
		}
		f.expectPush(user, "online")
		time.Sleep(time.Until(start.Add(ttl + 100*time.Millisecond)))
		if on, err := f.presence.Touch(ctx, user, "s", time.Minute, builder(user, "online", &built)); err != nil || on {
			t.Fatalf("refresh after expiry: %v %v", on, err)
		}
		if n, a, err := f.presence.Sweep(ctx, 100, nil, nil); err != nil || n != 0 || a != 0 {
			t.Fatalf("sweep found %d, announced %d (%v)", n, a, err)
		}
		if !f.online(user) {
			t.Fatal("not online after refresh")
		}
		f.expectNoPush()
	})
}

// Transitions racing on two gateways still alternate: opening and closing sockets of one user
// concurrently ends with as many onlines as offlines announced, online first.
func TestPresenceConcurrentTransitionsAlternate(t *testing.T) {
	backends(t, func(t *testing.T, conn *redis.Conn) {
		f := newPresenceFixture(t, conn)
		ctx := context.Background()
		user := uuid.New()
		var built atomic.Int32
		var wg sync.WaitGroup
		for g := range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range 10 {
					c := string(rune('a'+g)) + string(rune('0'+i))
					if _, err := f.presence.Touch(ctx, user, c, time.Minute, builder(user, "online", &built, uuid.New())); err != nil {
						t.Error(err)
						return
					}
					if _, _, err := f.presence.Leave(ctx, user, c, builder(user, "offline", &built, uuid.New())); err != nil {
						t.Error(err)
						return
					}
				}
			}()
		}
		wg.Wait()
		want := "online"
		n := 0
		for {
			select {
			case p := <-f.pushes:
				var fr struct {
					Status string `json:"status"`
				}
				_ = json.Unmarshal(p.Frame, &fr)
				if fr.Status != want {
					t.Fatalf("push %d is %s, want %s", n, fr.Status, want)
				}
				n++
				want = map[string]string{"online": "offline", "offline": "online"}[want]
				continue
			case <-time.After(300 * time.Millisecond):
			}
			break
		}
		if n == 0 || want != "online" {
			t.Fatalf("%d pushes, ending with %s", n, map[string]string{"online": "offline", "offline": "online"}[want])
		}
		if f.online(user) {
			t.Fatal("online after every socket left")
		}
	})
}

// BenchmarkPresenceRefresh is the cost of a socket's refresh (no transition: one script run).
func BenchmarkPresenceRefresh(b *testing.B) {
	conn, err := redis.Dial(context.Background(), "redis://127.0.0.1:6379", "chorus-bench-"+uuid.NewString()[:8])
	if err != nil {
		b.Skip(err)
	}
	p := redis.NewPresence(conn, redis.NewPushes(conn, redis.PushStreamMaxLen, quiet))
	defer p.Close()
	ctx := context.Background()
	user := uuid.New()
	silent := func() (projections.Push, error) { return projections.Push{}, nil }
	if _, err := p.Touch(ctx, user, "s", time.Minute, silent); err != nil {
		b.Fatal(err)
	}
	defer p.Leave(ctx, user, "s", silent)
	b.ResetTimer()
	for range b.N {
		if _, err := p.Touch(ctx, user, "s", time.Minute, silent); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPresenceOnline200 is the status lookup of a 200-member listing.
func BenchmarkPresenceOnline200(b *testing.B) {
	conn, err := redis.Dial(context.Background(), "redis://127.0.0.1:6379", "chorus-bench-"+uuid.NewString()[:8])
	if err != nil {
		b.Skip(err)
	}
	p := redis.NewPresence(conn, redis.NewPushes(conn, redis.PushStreamMaxLen, quiet))
	defer p.Close()
	ctx := context.Background()
	users := make([]uuid.UUID, 200)
	silent := func() (projections.Push, error) { return projections.Push{}, nil }
	for i := range users {
		users[i] = uuid.New()
		if i%2 == 0 {
			if _, err := p.Touch(ctx, users[i], "s", time.Minute, silent); err != nil {
				b.Fatal(err)
			}
			defer p.Leave(ctx, users[i], "s", silent)
		}
	}
	b.ResetTimer()
	for range b.N {
		if _, err := p.Online(ctx, users); err != nil {
			b.Fatal(err)
		}
	}
}

// A Redis that restarted forgot every entry: a socket leaving then is reported forgotten (its
// gateway ends the session itself), unless another socket of the user refreshed since; a
// socket whose entry is still there is never forgotten.
func TestPresenceLeaveAfterRedisForgotIsReported(t *testing.T) {
	backends(t, func(t *testing.T, conn *redis.Conn) {
		f := newPresenceFixture(t, conn)
		ctx := context.Background()
		user := uuid.New()
		var built atomic.Int32
		for _, c := range []string{"a", "b", "c"} {
			if _, err := f.presence.Touch(ctx, user, c, time.Minute, builder(user, "online", &built)); err != nil {
				t.Fatal(err)
			}
		}
		if off, forgotten, err := f.presence.Leave(ctx, user, "a", builder(user, "offline", &built)); err != nil || off || forgotten {
			t.Fatalf("leave of one of three sockets: off %v forgotten %v %v", off, forgotten, err)
		}
		// Redis restarts: everything under the prefix is gone.
		if err := redistest.Forget(ctx, conn); err != nil {
			t.Fatal(err)
		}
		// b refreshes (the user is online again), c leaves: not forgotten, b is live.
		if on, err := f.presence.Touch(ctx, user, "b", time.Minute, builder(user, "online", &built)); err != nil || !on {
			t.Fatalf("refresh after the restart: %v %v, want online", on, err)
		}
		if off, forgotten, err := f.presence.Leave(ctx, user, "c", builder(user, "offline", &built)); err != nil || off || forgotten {
			t.Fatalf("leave of a forgotten socket beside a live one: off %v forgotten %v %v", off, forgotten, err)
		}
		if off, forgotten, err := f.presence.Leave(ctx, user, "b", builder(user, "offline", &built)); err != nil || !off || forgotten {
			t.Fatalf("leave of the last live socket: off %v forgotten %v %v", off, forgotten, err)
		}
		// Forgotten again, with nothing live: reported.
		if err := redistest.Forget(ctx, conn); err != nil {
			t.Fatal(err)
		}
		if _, err := f.presence.Touch(ctx, user, "d", time.Minute, builder(user, "online", &built)); err != nil {
			t.Fatal(err)
		}
		if err := redistest.Forget(ctx, conn); err != nil {
			t.Fatal(err)
		}
		if off, forgotten, err := f.presence.Leave(ctx, user, "d", builder(user, "offline", &built)); err != nil || off || !forgotten {
			t.Fatalf("leave of the only socket after a restart: off %v forgotten %v %v, want forgotten", off, forgotten, err)
		}
	})
}
