package gateway

import (
	"net/http"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/gorilla/websocket"

	"github.com/chorus-chat/chorus/domain"
)

// typingFrames reads a socket's frames up to a barrier and returns the typing frames among them.
func typingFrames(t *testing.T, ws *websocket.Conn) []frame {
	t.Helper()
	var out []frame
	for _, f := range drain(t, ws) {
		if f.str("type") == "typing" {
			out = append(out, f)
		}
	}
	return out
}

func TestTypingReachesOtherMembersOnly(t *testing.T) {
	e := newEnv(t, nil)
	ownerTok, ownerID := e.user("olga")
	bobTok, bobID := e.user("bob")
	outTok, _ := e.user("outsider")
	room := e.room(ownerTok, map[string]any{"name": "r"})
	e.mustDo(http.StatusOK, "POST", "/api/v1/rooms/"+room.String()+"/join", bobTok, nil)
	owner, bob, bob2, outsider := e.dial(ownerTok), e.dial(bobTok), e.dial(bobTok), e.dial(outTok)

	send(t, bob, map[string]any{"type": "typing", "id": "t", "room_id": room})
	// Once bob's socket answered a later frame, his typing was relayed: it is not answered.
	if fs := drain(t, bob); len(fs) != 0 {
		t.Fatalf("bob got %v", fs)
	}
	got := typingFrames(t, owner)
	if len(got) != 1 || got[0].str("room_id") != room.String() || got[0].str("user_id") != bobID.String() {
		t.Fatalf("owner got typing frames %v", got)
	}
	if got[0]["id"] != nil || len(got[0]) != 3 {
		t.Fatalf("typing frame carries more than type, room_id and user_id: %v", got[0])
	}
	// Not echoed to the typist's other socket, and not heard outside the room.
	for name, ws := range map[string]*websocket.Conn{"bob's other socket": bob2, "outsider": outsider} {
		if fs := drain(t, ws); len(fs) != 0 {
			t.Fatalf("%s got %v", name, fs)
		}
	}

	// The owner types back: bob's both sockets hear it.
	send(t, owner, map[string]any{"type": "typing", "room_id": room})
	drain(t, owner)
	for _, ws := range []*websocket.Conn{bob, bob2} {
		if got := typingFrames(t, ws); len(got) != 1 || got[0].str("user_id") != ownerID.String() {
			t.Fatalf("bob got %v", got)
		}
	}
}

func TestTypingFromNonMemberIsRefused(t *testing.T) {
	e := newEnv(t, nil)
	ownerTok, _ := e.user("olga")
	outTok, _ := e.user("outsider")
	room := e.room(ownerTok, map[string]any{"name": "r"})
	owner, outsider := e.dial(ownerTok), e.dial(outTok)

	send(t, outsider, map[string]any{"type": "typing", "id": "t1", "room_id": room})
	if f := expect(t, outsider, "error", "t1"); f.str("code") != domain.CodeNotAMember {
		t.Fatalf("got %v", f)
	}
	send(t, outsider, map[string]any{"type": "typing", "id": "t2", "room_id": "not-a-room"})
	if f := expect(t, outsider, "error", "t2"); f.str("code") != codeInvalidFrame {
		t.Fatalf("got %v", f)
	}
	send(t, outsider, map[string]any{"type": "typing", "id": "t3"})
	if f := expect(t, outsider, "error", "t3"); f.str("code") != codeInvalidFrame {
		t.Fatalf("got %v", f)
	}
	if got := typingFrames(t, owner); len(got) != 0 {
		t.Fatalf("owner heard a non-member type: %v", got)
	}
	// After joining, the same socket may.
	e.mustDo(http.StatusOK, "POST", "/api/v1/rooms/"+room.String()+"/join", outTok, nil)
	drain(t, outsider) // its user_joined: subscribed now
	send(t, outsider, map[string]any{"type": "typing", "room_id": room})
	drain(t, outsider)
	if got := typingFrames(t, owner); len(got) != 1 {
		t.Fatalf("owner got %v after the join", got)
	}
}

// Typing is relayed at most once per interval for a user and room; the rest is dropped
// silently, other rooms and other users having their own allowance.
func TestTypingIsThrottledPerUserAndRoom(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.TypingInterval = 300 * time.Millisecond })
	ownerTok, _ := e.user("olga")
	bobTok, bobID := e.user("bob")
	r1 := e.room(ownerTok, map[string]any{"name": "one"})
	r2 := e.room(ownerTok, map[string]any{"name": "two"})
	for _, r := range []uuid.UUID{r1, r2} {
		e.mustDo(http.StatusOK, "POST", "/api/v1/rooms/"+r.String()+"/join", bobTok, nil)
	}
	owner, bob, bob2 := e.dial(ownerTok), e.dial(bobTok), e.dial(bobTok)

	start := time.Now()
	for range 5 {
		send(t, bob, map[string]any{"type": "typing", "id": "x", "room_id": r1})
		send(t, bob2, map[string]any{"type": "typing", "room_id": r1})
	}
	send(t, bob, map[string]any{"type": "typing", "room_id": r2})
	// Dropped typing frames are not answered.
	for _, ws := range []*websocket.Conn{bob, bob2} {
		if fs := drain(t, ws); len(fs) != 0 {
			t.Fatalf("bob got %v", fs)
		}
	}
	if time.Since(start) >= 300*time.Millisecond {
		t.Skip("the machine is too slow to send the burst within the interval")
	}
	got := typingFrames(t, owner)
	rooms := map[string]int{}
	for _, f := range got {
		rooms[f.str("room_id")]++
	}
	if len(got) != 2 || rooms[r1.String()] != 1 || rooms[r2.String()] != 1 {
		t.Fatalf("owner got %v, want one typing per room", got)
	}

	// Someone else's allowance is their own.
	send(t, owner, map[string]any{"type": "typing", "room_id": r1})
	drain(t, owner)
	if fs := typingFrames(t, bob); len(fs) != 1 || fs[0].str("user_id") == bobID.String() {
		t.Fatalf("bob got %v", fs)
	}

	time.Sleep(300 * time.Millisecond)
	send(t, bob2, map[string]any{"type": "typing", "room_id": r1})
	drain(t, bob2)
	if got := typingFrames(t, owner); len(got) != 1 {
		t.Fatalf("after the interval the owner got %v", got)
	}
}
