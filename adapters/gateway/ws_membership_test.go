package gateway

import (
	"encoding/json"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/chorus-chat/chorus/domain"
	"github.com/chorus-chat/chorus/projections"
)

// In these tests the read model lags behind the pushes (world.lagging), as when the read-model
// projector is slower than the push projector: a join's user_joined has reached the gateway
// before the read model lists the new member.

type dialResult struct {
	ws     *websocket.Conn
	status int
	body   string
	err    error
}

// dialAsync opens a socket in the background: its upgrade may wait for the read model.
func (e *env) dialAsync(token string) <-chan dialResult {
	out := make(chan dialResult, 1)
	go func() {
		ws, resp, err := websocket.DefaultDialer.Dial(e.wsURL("?token="+token), nil)
		r := dialResult{ws: ws, err: err}
		if resp != nil {
			r.status = resp.StatusCode
			if resp.Body != nil {
				b, _ := io.ReadAll(resp.Body)
				r.body = string(b)
			}
		}
		out <- r
	}()
	return out
}

func (e *env) dialed(ch <-chan dialResult) *websocket.Conn {
	e.t.Helper()
	select {
	case r := <-ch:
		if r.err != nil {
			e.t.Fatalf("dial: %v (status %d %s)", r.err, r.status, r.body)
		}
		e.t.Cleanup(func() { r.ws.Close() })
		return r.ws
	case <-time.After(10 * time.Second):
		e.t.Fatal("dial did not finish")
		return nil
	}
}

// until reads frames until one of type typ, failing on a message frame of another content.
func until(t *testing.T, ws *websocket.Conn, typ string) frame {
	t.Helper()
	for {
		if f := read(t, ws); f.str("type") == typ {
			return f
		}
	}
}

// noMessageBefore checks that nothing of type message is queued on ws: a ping's pong comes
// first (the fake world delivers pushes before the command's reply).
func noMessageBefore(t *testing.T, ws *websocket.Conn, what string) {
	t.Helper()
	send(t, ws, `{"type":"ping","id":"probe"}`)
	for {
		f := read(t, ws)
		switch f.str("type") {
		case "message":
			t.Fatalf("%s: the socket got %v", what, f)
		case "pong":
			return
		}
	}
}

func (e *env) loadingSockets() int {
	e.gw.hub.mu.RLock()
	defer e.gw.hub.mu.RUnlock()
	return len(e.gw.hub.loading)
}

// The issue: alice creates a room and bob joins it; both open a socket once answered, while
// the read model has applied neither. The sockets must still get the room's later messages.
func TestWSSocketAfterJoinGetsTheRoomWhileTheReadModelLags(t *testing.T) {
	e := newEnv(t, nil)
	alice, _ := e.user("alice")
	bob, _ := e.user("bob")
	e.w.set(func(w *world) { w.lagging = true })
	room := e.room(alice, map[string]any{"name": "r"})
	e.mustDo(http.StatusOK, "POST", "/api/v1/rooms/"+room.String()+"/join", bob, nil)

	aliceDial, bobDial := e.dialAsync(alice), e.dialAsync(bob)
	time.Sleep(100 * time.Millisecond) // the upgrades wait for the read model meanwhile
	e.w.catchUp()
	aws, bws := e.dialed(aliceDial), e.dialed(bobDial)

	e.mustDo(http.StatusCreated, "POST", "/api/v1/rooms/"+room.String()+"/messages", alice, map[string]any{"content": "hello"})
	for name, ws := range map[string]*websocket.Conn{"alice": aws, "bob": bws} {
		if f := until(t, ws, "message"); f.obj("message").str("content") != "hello" {
			t.Fatalf("%s got %v", name, f)
		}
	}
}

// A socket opened after a leave, kick or ban, while the read model still lists the user as a
// member, must not get the room.
func TestWSSocketAfterLeaveLosesTheRoomWhileTheReadModelLags(t *testing.T) {
	for _, how := range []string{"leave", "kick", "ban"} {
		t.Run(how, func(t *testing.T) {
			e := newEnv(t, nil)
			alice, _ := e.user("alice")
			bob, bobID := e.user("bob")
			room := e.room(alice, map[string]any{"name": "r"})
			base := "/api/v1/rooms/" + room.String()
			e.mustDo(http.StatusOK, "POST", base+"/join", bob, nil)
			aws := e.dial(alice)

			e.w.set(func(w *world) { w.lagging = true })
			switch how {
			case "leave":
				e.mustDo(http.StatusOK, "POST", base+"/leave", bob, nil)
			case "kick":
				e.mustDo(http.StatusOK, "DELETE", base+"/members/"+bobID.String(), alice, nil)
			case "ban":
				e.mustDo(http.StatusOK, "PUT", base+"/bans/"+bobID.String(), alice, map[string]any{"reason": "x"})
			}
			bobDial := e.dialAsync(bob)
			time.Sleep(100 * time.Millisecond)
			e.w.catchUp()
			bws := e.dialed(bobDial)

			e.mustDo(http.StatusCreated, "POST", base+"/messages", alice, map[string]any{"content": "after"})
			until(t, aws, "message")
			noMessageBefore(t, bws, "after the "+how)
		})
	}
}

// A room deleted before the read model knows it is left out of a new socket's rooms, without
// waiting: the socket is no member (typing to it is refused).
func TestWSSocketLeavesOutARoomDeletedWhileTheReadModelLags(t *testing.T) {
	e := newEnv(t, nil)
	alice, _ := e.user("alice")
	bob, _ := e.user("bob")
	room := e.room(alice, map[string]any{"name": "r"})
	e.mustDo(http.StatusOK, "POST", "/api/v1/rooms/"+room.String()+"/join", bob, nil)
	e.w.set(func(w *world) { w.lagging = true })
	e.mustDo(http.StatusOK, "DELETE", "/api/v1/rooms/"+room.String(), alice, nil)

	bws := e.dial(bob) // the read model still lists the room
	send(t, bws, map[string]any{"type": "typing", "id": "t", "room_id": room})
	if f := expect(t, bws, "error", "t"); f.str("code") != domain.CodeNotAMember {
		t.Fatalf("typing to a deleted room: %v", f)
	}
}

// A leave that arrives while a socket waits for the read model is applied after the socket's
// rooms are read, even when that read still shows the user as a member.
func TestWSLeaveDuringSocketSetupIsApplied(t *testing.T) {
	e := newEnv(t, nil)
	alice, _ := e.user("alice")
	bob, _ := e.user("bob")
	room := e.room(alice, map[string]any{"name": "r"})
	base := "/api/v1/rooms/" + room.String()
	aws := e.dial(alice)

	e.w.set(func(w *world) { w.lagging = true })
	joined := e.mustDo(http.StatusOK, "POST", base+"/join", bob, nil)
	pos, err := domain.ParsePosition(joined.body["position"].(string))
	if err != nil {
		t.Fatal(err)
	}
	bobDial := e.dialAsync(bob)
	eventually(t, "bob's socket waiting for the read model", func() bool { return e.loadingSockets() == 1 })
	e.mustDo(http.StatusOK, "POST", base+"/leave", bob, nil)
	e.w.catchUpTo(pos.Offset + 1) // the read shows the join, not yet the leave
	bws := e.dialed(bobDial)
	e.w.catchUp()

	e.mustDo(http.StatusCreated, "POST", base+"/messages", alice, map[string]any{"content": "after"})
	until(t, aws, "message")
	noMessageBefore(t, bws, "after a leave during the socket's setup")
}

// An upgrade that cannot see the user's latest membership change in time is refused with
// not_caught_up (the client reconnects), rather than opened without the room.
func TestWSRefusedWhileTheReadModelDoesNotCatchUp(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.PositionWait = 200 * time.Millisecond })
	alice, _ := e.user("alice")
	bob, _ := e.user("bob")
	room := e.room(alice, map[string]any{"name": "r"})
	e.w.set(func(w *world) { w.lagging = true })
	e.mustDo(http.StatusOK, "POST", "/api/v1/rooms/"+room.String()+"/join", bob, nil)

	r := <-e.dialAsync(bob)
	if r.err == nil {
		r.ws.Close()
		t.Fatal("the upgrade succeeded though the read model does not have the join")
	}
	var body struct {
		Error struct{ Code string } `json:"error"`
	}
	if r.status != http.StatusServiceUnavailable || json.Unmarshal([]byte(r.body), &body) != nil || body.Error.Code != codeNotCaughtUp {
		t.Fatalf("refused upgrade: status %d body %s", r.status, r.body)
	}
	if n := e.gw.Connections(); n != 0 {
		t.Fatalf("%d connections counted after a refused upgrade", n)
	}

	e.w.catchUp()
	bws := e.dial(bob)
	e.mustDo(http.StatusCreated, "POST", "/api/v1/rooms/"+room.String()+"/messages", alice, map[string]any{"content": "now"})
	until(t, bws, "message")
}

// The gateway forgets the membership changes the read model has caught up with.
func TestMembershipLedgerForgetsWhatTheReadModelHas(t *testing.T) {
	e := newEnv(t, nil)
	alice, _ := e.user("alice")
	bob, _ := e.user("bob")
	e.w.set(func(w *world) { w.lagging = true })
	room := e.room(alice, map[string]any{"name": "r"})
	e.mustDo(http.StatusOK, "POST", "/api/v1/rooms/"+room.String()+"/join", bob, nil)
	e.mustDo(http.StatusOK, "DELETE", "/api/v1/rooms/"+room.String(), alice, nil)

	e.gw.pruneLedger()
	if users, deleted := e.gw.hub.ledgerSize(); users != 2 || deleted != 1 {
		t.Fatalf("while the read model lags the ledger holds %d users and %d deleted rooms, want 2 and 1", users, deleted)
	}
	e.w.catchUp()
	e.gw.pruneLedger()
	if users, deleted := e.gw.hub.ledgerSize(); users != 0 || deleted != 0 {
		t.Fatalf("once the read model caught up the ledger holds %d users and %d deleted rooms", users, deleted)
	}
}

// Routed pushes: a join the gateway read only after the room's shard had gone past it
// (JoinedUnread, from adapters/redis's feed) subscribes the user's sockets that missed it and
// hands them the join and what followed; a socket already subscribed (set up from the read
// model after the join) gets none of it again. Later pushes reach each socket once.
func TestWSJoinReadLateReachesTheSocketsThatMissedIt(t *testing.T) {
	e := newEnv(t, nil)
	alice, _ := e.user("alice")
	bob, bobID := e.user("bob")
	room := e.room(alice, map[string]any{"name": "r"})
	base := "/api/v1/rooms/" + room.String()
	early := e.dial(bob) // open before the join
	aws := e.dial(alice)

	e.w.set(func(w *world) { w.routedAway = func(p projections.Push) bool { return p.RoomID == room } })
	e.mustDo(http.StatusOK, "POST", base+"/join", bob, nil)
	e.mustDo(http.StatusCreated, "POST", base+"/messages", alice, map[string]any{"content": "missed"})
	late := e.dial(bob) // set up from the read model, which has the join
	var missed []projections.Push
	e.w.set(func(w *world) { w.routedAway, missed = nil, w.heldPushes })
	if len(missed) != 2 || missed[0].Kind != projections.PushUserJoined {
		t.Fatalf("held back %d pushes, want the join and the message", len(missed))
	}
	e.gw.JoinedUnread(bobID, room, missed)

	if f := until(t, early, "user_joined"); f.str("user_id") != bobID.String() {
		t.Fatalf("the socket open before the join got %v", f)
	}
	if f := until(t, early, "message"); f.obj("message").str("content") != "missed" {
		t.Fatalf("the socket open before the join got %v, want the message it missed", f)
	}
	noMessageBefore(t, late, "a socket set up after the join, given the missed pushes again")
	e.mustDo(http.StatusCreated, "POST", base+"/messages", alice, map[string]any{"content": "after"})
	for name, ws := range map[string]*websocket.Conn{"early": early, "late": late, "alice": aws} {
		// alice's socket was routed away from the room too: "missed" never reached it.
		if c := until(t, ws, "message").obj("message").str("content"); c != "after" {
			t.Fatalf("%s got %q, want the next message once", name, c)
		}
	}
	noMessageBefore(t, early, "after the next message")
	noMessageBefore(t, late, "after the next message")
}
