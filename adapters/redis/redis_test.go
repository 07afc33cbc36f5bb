package redis_test

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/chorus-chat/chorus/adapters/redis"
	"github.com/chorus-chat/chorus/commands"
	"github.com/chorus-chat/chorus/projections"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// dial connects to the machine's real Redis under a prefix of its own.
func dial(t *testing.T) *redis.Conn {
	t.Helper()
	ctx := context.Background()
	c, err := redis.Dial(ctx, "redis://127.0.0.1:6379", "chorus-test-"+uuid.NewString()[:8])
	if err != nil {
		t.Fatalf("the real Redis at 127.0.0.1:6379 is needed: %v", err)
	}
	t.Cleanup(func() {
		cl := c.Client()
		defer cl.Close()
		keys, _ := cl.Keys(ctx, c.Prefix+":*").Result()
		if len(keys) > 0 {
			cl.Del(ctx, keys...)
		}
	})
	return c
}

func TestRepliesReachTheGatewayThatListens(t *testing.T) {
	conn := dial(t)
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
	id := uuid.New()
	err := r.Reply(ctx, []commands.AddressedReply{
		{To: r.Channel("gw-a"), Reply: commands.Reply{CommandID: id, Accepted: true, Position: "chat-events:1:7"}},
		{To: r.Channel("gw-b"), Reply: commands.Reply{CommandID: uuid.New(), Code: "not_a_member", Message: "no"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case rep := <-got:
		if rep.CommandID != id || !rep.Accepted || rep.Position != "chat-events:1:7" {
			t.Fatalf("gw-a got %+v", rep)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("gw-a got no reply")
	}
	select {
	case rep := <-other:
		if rep.Accepted || rep.Code != "not_a_member" {
			t.Fatalf("gw-b got %+v", rep)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("gw-b got no reply")
	}
	select {
	case rep := <-got:
		t.Fatalf("gw-a got another gateway's reply %+v", rep)
	case <-time.After(100 * time.Millisecond):
	}
}

func TestEveryGatewayReadsEveryPushInOrder(t *testing.T) {
	conn := dial(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pushes := redis.NewPushes(conn, redis.PushStreamMaxLen, quiet)
	var gws [2]chan projections.Push
	for i := range gws {
		gws[i] = make(chan projections.Push, 100)
		ch := gws[i]
		if err := pushes.Subscribe(ctx, func(p projections.Push) { ch <- p }); err != nil {
			t.Fatal(err)
		}
	}
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
}

func TestSessionEndsReachEveryGateway(t *testing.T) {
	conn := dial(t)
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
}
