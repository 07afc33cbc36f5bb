package gateway

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/gorilla/websocket"

	"github.com/chorus-chat/chorus/adapters/redis"
	"github.com/chorus-chat/chorus/adapters/redis/redistest"
	"github.com/chorus-chat/chorus/projections"
)

// newRealtimeEnv is newEnv with the gateway's realtime collaborators set up before it serves.
// Several envs may share one world (the same users, rooms and sessions): they are gateways of
// one deployment. The world hands the pushes of commands to its first gateway only.
func newRealtimeEnv(t *testing.T, w *world, tune func(*Config), s setup) *env {
	t.Helper()
	return buildEnv(t, w, tune, s, nil)
}

// sharedRedis is the real Redis under a prefix of this test's own: the push stream and the
// presence record that the test's gateways share.
type sharedRedis struct {
	conn     *redis.Conn
	pushes   *redis.Pushes
	presence *redis.Presence
}

func newSharedRedis(t *testing.T) *sharedRedis {
	t.Helper()
	ctx := context.Background()
	conn, err := redis.Dial(ctx, "redis://127.0.0.1:6379", "chorus-gwtest-"+uuid.NewString()[:8])
	if err != nil {
		t.Fatalf("the real Redis at 127.0.0.1:6379 is needed: %v", err)
	}
	t.Cleanup(func() {
		if err := redistest.Forget(ctx, conn); err != nil {
			t.Errorf("forget the test's Redis keys: %v", err)
		}
	})
	pushes := redis.NewPushes(conn, redis.PushStreamMaxLen, slog.New(slog.NewTextHandler(io.Discard, nil)))
	presence := redis.NewPresence(conn, pushes)
	t.Cleanup(func() { presence.Close() })
	return &sharedRedis{conn: conn, pushes: pushes, presence: presence}
}

// wire makes gw a gateway of the shared deployment: presence in Redis, its own pushes published
// to the stream, every push of the stream delivered to its sockets, the sweeper running. It is
// a setup function for newRealtimeEnv.
func (r *sharedRedis) wire(t *testing.T) setup {
	t.Helper()
	pub, err := r.pushes.Publisher()
	if err != nil {
		t.Fatal(err)
	}
	return setup{deps: func(d *Deps) { d.Presence, d.Pushes = r.presence, pub }, start: func(gw *Gateway) {
		t.Helper()
		ctx, cancel := context.WithCancel(context.Background())
		feed, err := r.pushes.Route(ctx, gw)
		if err != nil {
			t.Fatal(err)
		}
		gw.UseFeed(feed)
		done := make(chan struct{})
		go func() { defer close(done); _ = gw.RunRealtime(ctx) }()
		// Registered before newRealtimeEnv's shutdown, so it runs after it: the offline
		// announcements of the closing sockets go out while the stream is still read.
		t.Cleanup(func() { cancel(); <-done; pub.Close() })
	}}
}

// drain reads a socket's frames up to the pong answering a ping sent now, and returns the others:
// everything the server queued for it before the ping.
func drain(t *testing.T, ws *websocket.Conn) []frame {
	t.Helper()
	id := "barrier-" + uuid.NewString()[:8]
	send(t, ws, map[string]any{"type": "ping", "id": id})
	var out []frame
	for {
		f := read(t, ws)
		if f.str("type") == "pong" && f.str("id") == id {
			return out
		}
		out = append(out, f)
	}
}

// expectPresence reads frames until a presence frame, which must be status of user.
func expectPresence(t *testing.T, ws *websocket.Conn, user uuid.UUID, status string) {
	t.Helper()
	for {
		f := read(t, ws)
		if f.str("type") != "presence" {
			continue
		}
		if f.str("user_id") != user.String() || f.str("status") != status {
			t.Fatalf("got %v, want presence %s of %s", f, status, user)
		}
		return
	}
}

func noPresence(t *testing.T, ws *websocket.Conn, who string) {
	t.Helper()
	for _, f := range drain(t, ws) {
		if f.str("type") == "presence" {
			t.Fatalf("%s got an unexpected %v", who, f)
		}
	}
}

// statusOf reads a user's status from GET /users/{id}.
func (e *env) statusOf(token string, user uuid.UUID) string {
	e.t.Helper()
	return e.mustDo(http.StatusOK, "GET", "/api/v1/users/"+user.String(), token, nil).body["status"].(string)
}

// memberStatuses reads the statuses of a room's members from GET /rooms/{id}/members.
func (e *env) memberStatuses(token string, room uuid.UUID) map[string]string {
	e.t.Helper()
	r := e.mustDo(http.StatusOK, "GET", "/api/v1/rooms/"+room.String()+"/members", token, nil)
	out := map[string]string{}
	for _, m := range r.body["members"].([]any) {
		u := m.(map[string]any)["user"].(map[string]any)
		out[u["username"].(string)] = u["status"].(string)
	}
	return out
}

func TestPresenceAcrossGateways(t *testing.T) {
	shared := newSharedRedis(t)
	gw1 := newRealtimeEnv(t, nil, nil, shared.wire(t))
	gw2 := newRealtimeEnv(t, gw1.w, nil, shared.wire(t))
	aliceTok, aliceID := gw1.user("alice")
	bobTok, bobID := gw1.user("bob")
	carolTok, _ := gw1.user("carol") // shares no room with bob
	room := gw1.room(aliceTok, map[string]any{"name": "r"})
	gw1.mustDo(http.StatusOK, "POST", "/api/v1/rooms/"+room.String()+"/join", bobTok, nil)

	alice := gw1.dial(aliceTok)
	carol := gw1.dial(carolTok)
	// A socket answers frames only once its presence is recorded.
	drain(t, alice)
	drain(t, carol)
	if got := gw1.statusOf(bobTok, aliceID); got != "online" {
		t.Fatalf("alice with a socket open shows %q", got)
	}
	if got := gw1.statusOf(aliceTok, bobID); got != "offline" {
		t.Fatalf("bob without a socket shows %q", got)
	}

	// Bob's first socket, on the other gateway: alice hears it, carol (no common room) and
	// bob himself do not.
	bob1 := gw2.dial(bobTok)
	expectPresence(t, alice, bobID, "online")
	noPresence(t, carol, "carol")
	noPresence(t, bob1, "bob")
	if got := gw1.memberStatuses(carolTok, room); got["alice"] != "online" || got["bob"] != "online" {
		t.Fatalf("members %v", got)
	}
	users := gw2.mustDo(http.StatusOK, "GET", "/api/v1/users?q=", carolTok, nil).body["users"].([]any)
	for _, u := range users {
		u := u.(map[string]any)
		if want := map[string]string{"alice": "online", "bob": "online", "carol": "online"}[u["username"].(string)]; u["status"] != want {
			t.Fatalf("users?q= shows %v, want %s", u, want)
		}
	}
	if got := gw2.mustDo(http.StatusOK, "GET", "/api/v1/users/me", bobTok, nil).body["status"]; got != "online" {
		t.Fatalf("users/me shows %v", got)
	}

	// A second socket (first gateway) and closing the first: bob stays online, nothing is said.
	bob2 := gw1.dial(bobTok)
	drain(t, bob2)
	bob1.Close()
	eventually(t, "bob's first socket released", func() bool { return gw2.gw.Connections() == 0 })
	noPresence(t, alice, "alice")
	if got := gw1.statusOf(aliceTok, bobID); got != "online" {
		t.Fatalf("bob with one socket left shows %q", got)
	}

	// The last one closes: offline.
	bob2.Close()
	expectPresence(t, alice, bobID, "offline")
	if got := gw2.memberStatuses(aliceTok, room); got["bob"] != "offline" || got["alice"] != "online" {
		t.Fatalf("members after bob left %v", got)
	}

	// A gateway shutting down closes its sockets, and their users go offline.
	bob3 := gw2.dial(bobTok)
	go func() {
		for { // answers the server's close frame, so the shutdown does not wait for it
			if _, _, err := bob3.ReadMessage(); err != nil {
				return
			}
		}
	}()
	expectPresence(t, alice, bobID, "online")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	gw2.gw.Shutdown(ctx)
	expectPresence(t, alice, bobID, "offline")
}

// A gateway that crashes leaves its entries behind. They expire: lookups show the user offline
// at once, and a sweeper on a surviving gateway announces it.
func TestPresenceSweeperAnnouncesCrashedGatewaysUsers(t *testing.T) {
	shared := newSharedRedis(t)
	e := newRealtimeEnv(t, nil, func(c *Config) { c.PresenceSweepInterval = 50 * time.Millisecond }, shared.wire(t))
	aliceTok, _ := e.user("alice")
	bobTok, bobID := e.user("bob")
	room := e.room(aliceTok, map[string]any{"name": "r"})
	e.mustDo(http.StatusOK, "POST", "/api/v1/rooms/"+room.String()+"/join", bobTok, nil)
	alice := e.dial(aliceTok)

	// What a gateway records for bob's socket before it dies, with a short ttl.
	on, err := shared.presence.Touch(context.Background(), bobID, "crashed-socket", 300*time.Millisecond, func() (projections.Push, error) {
		return presencePush(bobID, statusOnline, []uuid.UUID{room}), nil
	})
	if err != nil || !on {
		t.Fatalf("touch: %v %v", on, err)
	}
	expectPresence(t, alice, bobID, "online")
	if got := e.statusOf(aliceTok, bobID); got != "online" {
		t.Fatalf("bob shows %q before expiry", got)
	}
	start := time.Now()
	expectPresence(t, alice, bobID, "offline")
	if since := time.Since(start); since > 2*time.Second {
		t.Fatalf("offline announced %v after the touch", since)
	}
	if got := e.statusOf(aliceTok, bobID); got != "offline" {
		t.Fatalf("bob shows %q after expiry", got)
	}
}

// Typing goes through the shared push stream: a member on another gateway hears it, the
// typist's own sockets on either gateway do not.
func TestTypingAcrossGateways(t *testing.T) {
	shared := newSharedRedis(t)
	gw1 := newRealtimeEnv(t, nil, nil, shared.wire(t))
	gw2 := newRealtimeEnv(t, gw1.w, nil, shared.wire(t))
	aliceTok, _ := gw1.user("alice")
	bobTok, bobID := gw1.user("bob")
	room := gw1.room(aliceTok, map[string]any{"name": "r"})
	gw1.mustDo(http.StatusOK, "POST", "/api/v1/rooms/"+room.String()+"/join", bobTok, nil)
	alice := gw1.dial(aliceTok)
	bobHere, bobThere := gw2.dial(bobTok), gw1.dial(bobTok)

	send(t, bobHere, map[string]any{"type": "typing", "id": "t1", "room_id": room})
	for {
		f := read(t, alice)
		if f.str("type") != "typing" {
			continue
		}
		if f.str("room_id") != room.String() || f.str("user_id") != bobID.String() || f["id"] != nil {
			t.Fatalf("typing frame %v", f)
		}
		break
	}
	for name, ws := range map[string]*websocket.Conn{"bob's socket": bobHere, "bob's other socket": bobThere} {
		for _, f := range drain(t, ws) {
			if f.str("type") == "typing" || f.str("type") == "error" || f.str("type") == "ack" {
				t.Fatalf("%s got %v", name, f)
			}
		}
	}
}
