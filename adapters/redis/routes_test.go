package redis_test

import (
	"context"
	"encoding/json"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/chorus-chat/chorus/adapters/redis"
	"github.com/chorus-chat/chorus/adapters/redis/redistest"
	"github.com/chorus-chat/chorus/domain"
	"github.com/chorus-chat/chorus/projections"
)

// Routed pushes: a gateway reads the shards of its sockets' rooms and users, and a join reaches
// the joining user's gateway whichever shards it read.

// sink is a gateway as the feed sees it: the rooms and users it holds, and what reached it.
type sink struct {
	mu       sync.Mutex
	rooms    map[uuid.UUID]bool
	users    map[uuid.UUID]bool
	hasUser  chan struct{} // when set, HasUser waits for it to close
	got      chan projections.Push
	unread   chan []projections.Push
	interest int
}

func newSink() *sink {
	return &sink{rooms: map[uuid.UUID]bool{}, users: map[uuid.UUID]bool{}, got: make(chan projections.Push, 1000), unread: make(chan []projections.Push, 10)}
}

func (s *sink) Deliver(p projections.Push) { s.got <- p }

func (s *sink) HasUser(u uuid.UUID) bool {
	s.mu.Lock()
	wait := s.hasUser
	s.mu.Unlock()
	if wait != nil {
		<-wait
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.users[u]
}

func (s *sink) JoinedUnread(_, _ uuid.UUID, pushes []projections.Push) { s.unread <- pushes }

func (s *sink) Interest(room, user func(uuid.UUID)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.interest++
	for r := range s.rooms {
		room(r)
	}
	for u := range s.users {
		user(u)
	}
}

// roomPush is a push of kind to room, numbered n in its frame.
func roomPush(room uuid.UUID, kind string, user uuid.UUID, n int) projections.Push {
	frame, _ := json.Marshal(map[string]any{"type": kind, "n": n})
	return projections.Push{RoomID: room, Kind: kind, UserID: user, CommandID: uuid.New(), Frame: frame}
}

// inOtherShards returns n ids whose streams (by stream) differ from each other's.
func inOtherShards(stream func(uuid.UUID) string, n int) []uuid.UUID {
	taken := map[string]bool{}
	var out []uuid.UUID
	for len(out) < n {
		id := uuid.New()
		if s := stream(id); !taken[s] {
			taken[s] = true
			out = append(out, id)
		}
	}
	return out
}

// inShardOf returns a new id whose stream (by stream) is of's.
func inShardOf(stream func(uuid.UUID) string, of uuid.UUID) uuid.UUID {
	for {
		if id := uuid.New(); stream(id) == stream(of) {
			return id
		}
	}
}

// noMorePushes checks that nothing else reaches a sink for a moment.
func noMorePushes(t *testing.T, s *sink) {
	t.Helper()
	select {
	case p := <-s.got:
		t.Fatalf("unexpected push %s %s for room %s", p.Kind, p.Frame, p.RoomID)
	case <-time.After(300 * time.Millisecond):
	}
}

// routedPushes routes over 16 shards of conn, and a publisher to them.
func routedPushes(t *testing.T, conn *redis.Conn) (*redis.Pushes, *redis.PushPublisher) {
	t.Helper()
	pushes := redis.NewPushes(conn, redis.PushStreamMaxLen, quiet).Shards(16)
	pub, err := pushes.Publisher()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pub.Close() })
	return pushes, pub
}

func route(t *testing.T, p *redis.Pushes, s *sink) *redis.Feed {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	f, err := p.Route(ctx, s)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func read(t *testing.T, f *redis.Feed, rooms, users []uuid.UUID) {
	t.Helper()
	release, err := f.Read(context.Background(), rooms, users)
	if err != nil {
		t.Fatal(err)
	}
	release()
}

func publish(t *testing.T, pub *redis.PushPublisher, pushes ...projections.Push) {
	t.Helper()
	if err := pub.Publish(pushes); err != nil {
		t.Fatal(err)
	}
}

func TestRoutedPushesReachOnlyTheGatewaysReadingTheirShards(t *testing.T) {
	backends(t, func(t *testing.T, conn *redis.Conn) {
		pushes, pub := routedPushes(t, conn)
		rooms, users := inOtherShards(pushes.RoomStream, 2), inOtherShards(pushes.UserStream, 3)
		roomA, roomB, userA, userB, elsewhere := rooms[0], rooms[1], users[0], users[1], users[2]
		a, b := newSink(), newSink()
		fa, fb := route(t, pushes, a), route(t, pushes, b)
		read(t, fa, []uuid.UUID{roomA}, []uuid.UUID{userA})
		read(t, fb, []uuid.UUID{roomB}, []uuid.UUID{userB})

		frame := json.RawMessage(`{"type":"system_event"}`)
		publish(t, pub,
			roomPush(roomA, projections.PushMessage, uuid.Nil, 1),
			roomPush(roomB, projections.PushMessage, uuid.Nil, 2),
			projections.Push{Target: projections.TargetUser, UserID: userB, Kind: projections.PushReadMarker, Frame: frame},
			projections.Push{Target: projections.TargetUsers, UserIDs: []uuid.UUID{userA, userB, elsewhere}, Kind: "system_event", Frame: frame},
			projections.Push{Target: projections.TargetAll, Kind: "system_event", Frame: frame},
			roomPush(roomA, projections.PushMessage, uuid.Nil, 3),
		)
		// Per stream in order; across streams in any order.
		var gotA, gotB []string
		for range 4 {
			p := nextPush(t, a.got)
			gotA = append(gotA, p.Target+"/"+string(p.Frame))
			if p.Target == projections.TargetUsers && !slices.Equal(p.UserIDs, []uuid.UUID{userA}) {
				t.Errorf("gateway A got the broadcast for users %v, want only its user's", p.UserIDs)
			}
		}
		for range 4 {
			p := nextPush(t, b.got)
			gotB = append(gotB, p.Target+"/"+string(p.Frame))
			if p.Target == projections.TargetUsers && !slices.Equal(p.UserIDs, []uuid.UUID{userB}) {
				t.Errorf("gateway B got the broadcast for users %v, want only its user's", p.UserIDs)
			}
		}
		noMorePushes(t, a)
		noMorePushes(t, b)
		msgA1, msgA3 := `/{"n":1,"type":"message"}`, `/{"n":3,"type":"message"}`
		if i, j := slices.Index(gotA, msgA1), slices.Index(gotA, msgA3); i < 0 || j < i {
			t.Errorf("gateway A got %v: want its room's two messages, in order", gotA)
		}
		if !slices.Contains(gotB, `/{"n":2,"type":"message"}`) || !slices.Contains(gotB, "user/"+string(frame)) || !slices.Contains(gotB, "all/"+string(frame)) {
			t.Errorf("gateway B got %v: want its room's message, its user's read marker and the system event", gotB)
		}
		if !slices.Contains(gotA, "all/"+string(frame)) || !slices.Contains(gotA, "users/"+string(frame)) {
			t.Errorf("gateway A got %v: want the system event and its user's part of the broadcast", gotA)
		}
	})
}

// A join reaches the joining user's gateway, which did not read the room's shard: it reads it
// from the user_joined on, so the user's sockets get the join and everything after it, in order.
func TestRoutedJoinIsReadFromTheJoinByTheJoiningUsersGateway(t *testing.T) {
	backends(t, func(t *testing.T, conn *redis.Conn) {
		pushes, pub := routedPushes(t, conn)
		room, user := uuid.New(), uuid.New()
		g := newSink()
		g.users[user] = true
		f := route(t, pushes, g)
		read(t, f, nil, []uuid.UUID{user})

		publish(t, pub, roomPush(room, projections.PushMessage, uuid.Nil, 0)) // before the join
		join := roomPush(room, projections.PushUserJoined, user, 1)
		join.Position = "chat-events:3:42"
		publish(t, pub, roomPush(room, projections.PushMessage, uuid.Nil, 0), join, roomPush(room, projections.PushMessage, uuid.Nil, 2))
		publish(t, pub, roomPush(room, projections.PushMessage, uuid.Nil, 3))
		// The join's entry is read whole: what it holds before the join (0) reaches no socket, as
		// none here is subscribed to the room before the join.
		for want := 1; want <= 3; want++ {
			p := nextPush(t, g.got)
			for pushNumber(t, p) == 0 && want == 1 {
				p = nextPush(t, g.got)
			}
			if n := pushNumber(t, p); n != want {
				t.Fatalf("push %d: got %s %s, want the join's and then the messages after it in order", want, p.Kind, p.Frame)
			}
		}
		noMorePushes(t, g)
		if !slices.Contains(f.Streams(), pushes.RoomStream(room)) {
			t.Errorf("the gateway reads %v, not the room's shard", f.Streams())
		}
		pos, err := f.MembershipPositions(context.Background(), user)
		if err != nil {
			t.Fatal(err)
		}
		if want := (domain.Position{Topic: "chat-events", Partition: 3, Offset: 42}); !slices.Equal(pos, []domain.Position{want}) {
			t.Errorf("membership positions %v, want %v", pos, want)
		}
	})
}

// A gateway that started reading the room's shard after the join's entry (for another room of
// the shard) gets the entries it skipped, from the join on, once, for the user's sockets; the
// reader goes on after them.
func TestRoutedJoinReadAfterItsEntryIsCaughtUp(t *testing.T) {
	backends(t, func(t *testing.T, conn *redis.Conn) {
		pushes, pub := routedPushes(t, conn)
		room, user := uuid.New(), uuid.New()
		other := inShardOf(pushes.RoomStream, room)
		g := newSink()
		g.users[user] = true
		hold := make(chan struct{})
		g.hasUser = hold
		f := route(t, pushes, g)
		read(t, f, nil, []uuid.UUID{user})

		join := roomPush(room, projections.PushUserJoined, user, 1)
		join.Position = "chat-events:0:7"
		publish(t, pub, roomPush(other, projections.PushMessage, uuid.Nil, 0), join, roomPush(room, projections.PushMessage, uuid.Nil, 2))
		publish(t, pub, roomPush(room, projections.PushMessage, uuid.Nil, 3))
		// The join's signal waits in HasUser; meanwhile another socket needs the shard.
		read(t, f, []uuid.UUID{other}, nil)
		close(hold)
		var caught []projections.Push
		select {
		case caught = <-g.unread:
		case <-time.After(30 * time.Second):
			t.Fatal("no catch-up")
		}
		var nums []int
		for _, p := range caught {
			nums = append(nums, pushNumber(t, p))
		}
		if !slices.Equal(nums, []int{1, 2, 3}) || caught[0].Kind != projections.PushUserJoined {
			t.Fatalf("caught up %v, want the join, then the room's two messages", nums)
		}
		publish(t, pub, roomPush(room, projections.PushMessage, uuid.Nil, 4))
		if p := nextPush(t, g.got); pushNumber(t, p) != 4 {
			t.Fatalf("after the catch-up got %s, want the next message", p.Frame)
		}
		noMorePushes(t, g)
	})
}

// A gateway without a socket of the joining user leaves the room's shard alone.
func TestRoutedJoinOfAUserNotHereIsIgnored(t *testing.T) {
	backends(t, func(t *testing.T, conn *redis.Conn) {
		pushes, pub := routedPushes(t, conn)
		room, user := uuid.New(), uuid.New()
		neighbour := inShardOf(pushes.UserStream, user) // reads the user's shard, but the user is not here
		g := newSink()
		g.users[neighbour] = true
		f := route(t, pushes, g)
		read(t, f, nil, []uuid.UUID{neighbour})
		publish(t, pub, roomPush(room, projections.PushUserJoined, user, 1), roomPush(room, projections.PushMessage, uuid.Nil, 2))
		noMorePushes(t, g)
		if slices.Contains(f.Streams(), pushes.RoomStream(room)) {
			t.Errorf("the gateway reads the room's shard for a user it does not hold")
		}
	})
}

// A shard no socket needs any more is no longer read, and its reader's group is removed.
func TestRoutedShardNoLongerNeededIsNoLongerRead(t *testing.T) {
	pushes := redis.NewPushes(redistest.Dial(t, "redis://127.0.0.1:6379"), redis.PushStreamMaxLen, quiet).Shards(16).
		FeedTimings(200*time.Millisecond, 50*time.Millisecond)
	room := uuid.New()
	g := newSink()
	g.rooms[room] = true
	f := route(t, pushes, g)
	read(t, f, []uuid.UUID{room}, nil)
	time.Sleep(500 * time.Millisecond)
	if !slices.Contains(f.Streams(), pushes.RoomStream(room)) {
		t.Fatalf("a shard still needed was stopped: reading %v", f.Streams())
	}
	g.mu.Lock()
	delete(g.rooms, room)
	g.mu.Unlock()
	deadline := time.Now().Add(10 * time.Second)
	for slices.Contains(f.Streams(), pushes.RoomStream(room)) {
		if time.Now().After(deadline) {
			t.Fatalf("the shard of a room no socket needs is still read")
		}
		time.Sleep(50 * time.Millisecond)
	}
}
