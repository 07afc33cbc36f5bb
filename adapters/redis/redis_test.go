package redis_test

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/chorus-chat/chorus/adapters/redis"
	"github.com/chorus-chat/chorus/adapters/redis/redistest"
	"github.com/chorus-chat/chorus/commands"
	"github.com/chorus-chat/chorus/projections"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func TestMain(m *testing.M) {
	code := m.Run()
	redistest.StopShared()
	os.Exit(code)
}

// backends runs a test against the machine's real Redis, the embedded one (miniredis, which
// the all-in-one process uses) and a real Redis Cluster of three masters (redistest): the
// commands and Lua scripts must behave the same on all three, and on a cluster every script's
// keys must share a slot.
func backends(t *testing.T, test func(t *testing.T, conn *redis.Conn)) {
	t.Run("redis", func(t *testing.T) { test(t, redistest.Dial(t, "redis://127.0.0.1:6379")) })
	t.Run("embedded", func(t *testing.T) {
		e, err := redis.StartEmbedded("127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(e.Close)
		test(t, redistest.Dial(t, e.URL()))
	})
	t.Run("cluster", func(t *testing.T) { test(t, redistest.Dial(t, redistest.SharedCluster(t).URL())) })
}

// subscribeReaders starts n push readers (gateways) until ctx ends, each delivering into a
// channel of its own with room for buf pushes.
func subscribeReaders(t *testing.T, ctx context.Context, pushes *redis.Pushes, n, buf int) []chan projections.Push {
	t.Helper()
	out := make([]chan projections.Push, n)
	for i := range out {
		ch := make(chan projections.Push, buf)
		out[i] = ch
		if err := pushes.Subscribe(ctx, func(p projections.Push) { ch <- p }); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

func TestRepliesReachTheGatewayThatListens(t *testing.T) {
	backends(t, func(t *testing.T, conn *redis.Conn) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		r := redis.NewReplies(conn, quiet)
		defer r.Close()
		got := make(chan commands.Reply, 4)
		if err := r.Listen(ctx, r.Channel("gw-a"), func(rep commands.Reply) { got <- rep }); err != nil {
			t.Fatal(err)
		}
		other := make(chan commands.Reply, 4)
		if err := r.Listen(ctx, r.Channel("gw-b"), func(rep commands.Reply) { other <- rep }); err != nil {
			t.Fatal(err)
		}
		// The command processor of another process: its replies go through Redis.
		proc := redis.NewReplies(conn, quiet)
		defer proc.Close()
		id := uuid.New()
		err := proc.Reply(ctx, []commands.AddressedReply{
			{To: r.Channel("gw-a"), Reply: commands.Reply{CommandID: id, Accepted: true, Position: "chat-events:1:7"}},
			{To: r.Channel("gw-b"), Reply: commands.Reply{CommandID: uuid.New(), Code: "not_a_member", Message: "no"}},
		})
		if err != nil {
			t.Fatal(err)
		}
		if rep, ok := receiveReply(got, 5*time.Second); !ok {
			t.Fatal("gw-a got no reply")
		} else if rep.CommandID != id || !rep.Accepted || rep.Position != "chat-events:1:7" {
			t.Fatalf("gw-a got %+v", rep)
		}
		if rep, ok := receiveReply(other, 5*time.Second); !ok {
			t.Fatal("gw-b got no reply")
		} else if rep.Accepted || rep.Code != "not_a_member" {
			t.Fatalf("gw-b got %+v", rep)
		}
		if rep, ok := receiveReply(got, 100*time.Millisecond); ok {
			t.Fatalf("gw-a got another gateway's reply %+v", rep)
		}
	})
}

// A process running a gateway and command processors hands its own gateway's replies over in
// memory, exactly once, and still publishes the replies for other processes' gateways.
func TestRepliesToThisProcessSkipRedis(t *testing.T) {
	backends(t, func(t *testing.T, conn *redis.Conn) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		r := redis.NewReplies(conn, quiet) // this process: its gateway listens, its processors reply
		defer r.Close()
		elsewhere := redis.NewReplies(conn, quiet) // another process's gateway
		defer elsewhere.Close()
		mine, theirs := make(chan commands.Reply, 4), make(chan commands.Reply, 4)
		localCtx, stopLocal := context.WithCancel(ctx)
		if err := r.Listen(localCtx, r.Channel("gw-local"), func(rep commands.Reply) { mine <- rep }); err != nil {
			t.Fatal(err)
		}
		if err := elsewhere.Listen(ctx, r.Channel("gw-remote"), func(rep commands.Reply) { theirs <- rep }); err != nil {
			t.Fatal(err)
		}
		// Watch the local channel on Redis itself: a reply handed over in memory is not published.
		watch := conn.Client()
		defer watch.Close()
		sub := watch.Subscribe(ctx, r.Channel("gw-local"))
		defer sub.Close()
		if _, err := sub.Receive(ctx); err != nil {
			t.Fatal(err)
		}
		local, remote := uuid.New(), uuid.New()
		if err := r.Reply(ctx, []commands.AddressedReply{
			{To: r.Channel("gw-local"), Reply: commands.Reply{CommandID: local, Accepted: true}},
			{To: r.Channel("gw-remote"), Reply: commands.Reply{CommandID: remote, Accepted: true}},
		}); err != nil {
			t.Fatal(err)
		}
		for name, want := range map[string]struct {
			ch chan commands.Reply
			id uuid.UUID
		}{"local": {mine, local}, "remote": {theirs, remote}} {
			select {
			case rep := <-want.ch:
				if rep.CommandID != want.id {
					t.Fatalf("%s gateway got %+v", name, rep)
				}
			case <-time.After(5 * time.Second):
				t.Fatalf("%s gateway got no reply", name)
			}
		}
		select {
		case rep := <-mine:
			t.Fatalf("the local gateway got its reply twice: %+v", rep)
		case m := <-sub.Channel():
			t.Fatalf("a reply for this process's gateway was published: %s", m.Payload)
		case <-time.After(200 * time.Millisecond):
		}
		// Once the gateway stops listening, a late reply is published (and nobody here hears it).
		stopLocal()
		late := uuid.New()
		deadline := time.Now().Add(5 * time.Second)
		for {
			if err := r.Reply(ctx, []commands.AddressedReply{{To: r.Channel("gw-local"), Reply: commands.Reply{CommandID: late}}}); err != nil {
				t.Fatal(err)
			}
			select {
			case m := <-sub.Channel():
				if !strings.Contains(m.Payload, late.String()) {
					t.Fatalf("published %s", m.Payload)
				}
			case rep := <-mine:
				t.Fatalf("a stopped listener got %+v", rep)
			case <-time.After(50 * time.Millisecond):
				if time.Now().After(deadline) {
					t.Fatal("a reply after the listener stopped was neither published nor dropped")
				}
				continue
			}
			break
		}
	})
}

func TestEveryGatewayReadsEveryPushInOrder(t *testing.T) {
	backends(t, func(t *testing.T, conn *redis.Conn) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		pushes := redis.NewPushes(conn, redis.PushStreamMaxLen, quiet)
		gws := subscribeReaders(t, ctx, pushes, 2, 100)
		pub, err := pushes.Publisher()
		if err != nil {
			t.Fatal(err)
		}
		defer pub.Close()
		room := uuid.New()
		var sent []projections.Push
		for i := 0; i < 20; i++ {
			frame, _ := json.Marshal(map[string]any{"type": "message", "n": i})
			sent = append(sent, projections.Push{RoomID: room, Kind: projections.PushMessage, CommandID: uuid.New(), Frame: frame})
		}
		if err := pub.Publish(sent); err != nil {
			t.Fatal(err)
		}
		for g, ch := range gws {
			for i, want := range sent {
				select {
				case p := <-ch:
					if p.CommandID != want.CommandID || string(p.Frame) != string(want.Frame) {
						t.Fatalf("gateway %d push %d: got %+v want %+v", g, i, p, want)
					}
				case <-time.After(5 * time.Second):
					t.Fatalf("gateway %d got %d of %d pushes", g, i, len(sent))
				}
			}
		}
	})
}

func TestSessionEndsReachEveryGateway(t *testing.T) {
	backends(t, func(t *testing.T, conn *redis.Conn) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		type end struct {
			user uuid.UUID
			hash [sha256.Size]byte
			at   time.Time
		}
		listen := func() chan end {
			s := redis.NewSessions(conn, quiet)
			t.Cleanup(func() { s.Close() })
			got := make(chan end, 4)
			if err := s.Listen(ctx, func(u uuid.UUID, h [sha256.Size]byte, at time.Time) { got <- end{u, h, at} }); err != nil {
				t.Fatal(err)
			}
			return got
		}
		gw1, gw2 := listen(), listen()
		pub := redis.NewSessions(conn, quiet)
		defer pub.Close()
		want := end{uuid.New(), sha256.Sum256([]byte("token")), time.Now().Add(time.Minute).UTC().Truncate(time.Microsecond)}
		if err := pub.EndSession(ctx, want.user, want.hash, want.at); err != nil {
			t.Fatal(err)
		}
		// A malformed message is skipped, not fatal to the listener.
		cl := conn.Client()
		defer cl.Close()
		if err := cl.Publish(ctx, conn.Key("sessions"), `{"token_hash":"abc"}`).Err(); err != nil {
			t.Fatal(err)
		}
		second := end{uuid.New(), sha256.Sum256([]byte("other")), time.Now().UTC().Truncate(time.Microsecond)}
		if err := pub.EndSession(ctx, second.user, second.hash, second.at); err != nil {
			t.Fatal(err)
		}
		for i, ch := range []chan end{gw1, gw2} {
			for _, w := range []end{want, second} {
				select {
				case got := <-ch:
					if got.user != w.user || got.hash != w.hash || !got.at.Equal(w.at) {
						t.Errorf("gateway %d got %+v, want %+v", i+1, got, w)
					}
				case <-time.After(5 * time.Second):
					t.Fatalf("gateway %d heard nothing", i+1)
				}
			}
		}
	})
}

// A reply published while its gateway is not subscribed, as when a failover moves the gateway's
// subscription to the new master, still reaches the gateway once it subscribes again within a
// few seconds, once. (On a Redis Cluster PUBLISH cannot tell whether anyone heard: not retried.)
func TestRepliesNobodyHeardArePublishedAgain(t *testing.T) {
	for name, url := range map[string]func(t *testing.T) string{
		"redis": func(*testing.T) string { return "redis://127.0.0.1:6379" },
		"embedded": func(t *testing.T) string {
			e, err := redis.StartEmbedded("127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(e.Close)
			return e.URL()
		},
	} {
		t.Run(name, func(t *testing.T) {
			conn := redistest.Dial(t, url(t))
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			proc := redis.NewReplies(conn, quiet)
			defer proc.Close()
			gw := redis.NewReplies(conn, quiet)
			defer gw.Close()
			channel := gw.Channel("gw-away-" + uuid.NewString()[:8])
			id := uuid.New()
			if err := proc.Reply(ctx, []commands.AddressedReply{{To: channel, Reply: commands.Reply{CommandID: id, Accepted: true}}}); err != nil {
				t.Fatal(err)
			}
			time.Sleep(300 * time.Millisecond) // the subscription is away
			got := make(chan commands.Reply, 4)
			if err := gw.Listen(ctx, channel, func(rep commands.Reply) { got <- rep }); err != nil {
				t.Fatal(err)
			}
			if rep, ok := receiveReply(got, 5*time.Second); !ok {
				t.Fatal("the reply published while nobody listened never arrived")
			} else if rep.CommandID != id || !rep.Accepted {
				t.Fatalf("got %+v", rep)
			}
			if rep, ok := receiveReply(got, 500*time.Millisecond); ok {
				t.Fatalf("the reply arrived again: %+v", rep)
			}
		})
	}
}

// receiveReply is the next reply on ch, if one comes within d.
func receiveReply(ch <-chan commands.Reply, d time.Duration) (commands.Reply, bool) {
	select {
	case rep := <-ch:
		return rep, true
	case <-time.After(d):
		return commands.Reply{}, false
	}
}
