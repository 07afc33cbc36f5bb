package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/gorilla/websocket"

	"github.com/chorus-chat/chorus/domain"
	"github.com/chorus-chat/chorus/projections"
)

func TestWSRefusesMissingOrBadToken(t *testing.T) {
	e := newEnv(t, nil)
	for _, q := range []string{"", "?token=forged"} {
		ws, resp, err := websocket.DefaultDialer.Dial(e.wsURL(q), nil)
		if err == nil {
			ws.Close()
			t.Fatalf("%q: dial succeeded", q)
		}
		if resp == nil || resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("%q: response %v, want 401", q, resp)
		}
		var body errBody
		if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || body.Error.Code != codeUnauthorized {
			t.Fatalf("%q: body %+v (%v)", q, body, err)
		}
		resp.Body.Close()
	}
	// The header works as well as the query.
	token, _ := e.user("lena")
	ws, _, err := websocket.DefaultDialer.Dial(e.wsURL(""), http.Header{"Authorization": {"Bearer " + token}})
	if err != nil {
		t.Fatalf("dial with header: %v", err)
	}
	ws.Close()
	// A plain GET (no upgrade) is refused in the contract's error shape too.
	if r := e.do("GET", "/ws?token="+token, "", nil); r.status != http.StatusBadRequest || r.errCode() == "" {
		t.Fatalf("plain GET /ws: %d %s", r.status, r.raw)
	}
}

func TestWSMaxConnections(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.MaxConnections = 1 })
	token, _ := e.user("mona")
	e.dial(token)
	_, resp, err := websocket.DefaultDialer.Dial(e.wsURL("?token="+token), nil)
	if err == nil || resp == nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("second socket: %v %v, want 503", err, resp)
	}
}

func TestWSInvalidFramesKeepSocketOpen(t *testing.T) {
	e := newEnv(t, nil)
	token, _ := e.user("nina")
	ws := e.dial(token)
	room := uuid.NewString()
	cases := []struct {
		frame string
		id    string
		code  string
	}{
		{`not json`, "", codeInvalidFrame},
		{`[1,2,3]`, "", codeInvalidFrame},
		{`{"id":"a"}`, "a", codeInvalidFrame},
		{`{"type":"dance","id":"b"}`, "b", codeInvalidFrame},
		{`{"type":"ping","id":7}`, "", codeInvalidFrame},
		{`{"type":"send_message","id":"c","content":"x"}`, "c", codeInvalidFrame},
		{`{"type":"send_message","id":"d","room_id":"nope","content":"x"}`, "d", codeInvalidFrame},
		{`{"type":"send_message","id":"e","room_id":"` + room + `"}`, "e", codeInvalidFrame},
		{`{"type":"send_message","id":"f","room_id":"` + room + `","content":5}`, "f", codeInvalidFrame},
		{`{"type":"create_room","id":"g"}`, "g", codeInvalidFrame},
		{`{"type":"join_room","id":"h","room_id":42}`, "h", codeInvalidFrame},
		{`{"type":"typing","id":"i","room_id":"` + room + `"}`, "i", domain.CodeNotAMember},
		{`{"type":"resume","id":"j","rooms":[]}`, "j", codeInvalidFrame},
		{`{"type":"create_room","id":"k","name":""}`, "k", domain.CodeValidationFailed},
		{`{"type":"join_room","id":"l","room_id":"` + room + `"}`, "l", domain.CodeRoomNotFound},
	}
	for _, tc := range cases {
		send(t, ws, tc.frame)
		f := expect(t, ws, "error", tc.id)
		if f.str("code") != tc.code || f.str("message") == "" {
			t.Errorf("%s: got %v, want code %s", tc.frame, f, tc.code)
		}
	}
	// Still open, and ids are echoed.
	send(t, ws, `{"type":"ping","id":"x1"}`)
	expect(t, ws, "pong", "x1")
	send(t, ws, `{"type":"heartbeat","id":"x2"}`)
	if f := expect(t, ws, "ack", "x2"); len(f.obj("result")) != 0 || f["result"] == nil {
		t.Fatalf("heartbeat ack %v", f)
	}
	// A client's pong (its answer to our ping) is no error: the next frame is the pong below.
	send(t, ws, `{"type":"pong"}`)
	send(t, ws, `{"type":"ping"}`)
	if f := expect(t, ws, "pong", ""); f["id"] != nil {
		t.Fatalf("pong without id got %v", f)
	}
}

func TestWSFrameTooLarge(t *testing.T) {
	e := newEnv(t, nil)
	token, _ := e.user("omar")
	ws := e.dial(token)
	send(t, ws, `{"type":"ping","pad":"`+strings.Repeat("x", 70<<10)+`"}`)
	f := expect(t, ws, "error", "")
	if f.str("code") != codeFrameTooLarge {
		t.Fatalf("got %v", f)
	}
	_ = ws.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, _, err := ws.ReadMessage()
	var ce *websocket.CloseError
	if !errors.As(err, &ce) || ce.Code != websocket.CloseMessageTooBig {
		t.Fatalf("after frame_too_large: %v, want close 1009", err)
	}
	eventually(t, "socket released", func() bool { return e.gw.Connections() == 0 })
}

func TestWSSendMessageAckBeforeOwnMessage(t *testing.T) {
	e := newEnv(t, nil)
	token, _ := e.user("paul")
	room := e.room(token, map[string]any{"name": "r"})
	ws := e.dial(token)
	// The push is delivered before the dispatcher returns, and the reply then lags: without
	// holding the push back the message frame would overtake the ack.
	var delayed atomic.Int32
	e.w.set(func(w *world) {
		w.afterDeliver = func(domain.Command) { delayed.Add(1); time.Sleep(100 * time.Millisecond) }
	})

	send(t, ws, map[string]any{"type": "send_message", "id": "m1", "room_id": room, "content": "hello", "client_msg_id": "k1"})
	ack := expect(t, ws, "ack", "m1")
	msg := ack.obj("result").obj("message")
	if msg.str("content") != "hello" || ack.obj("result").str("position") == "" {
		t.Fatalf("ack %v", ack)
	}
	push := expect(t, ws, "message", "")
	if push.obj("message").str("id") != msg.str("id") {
		t.Fatalf("pushed %v, acked %v", push, msg)
	}
	if delayed.Load() != 1 {
		t.Fatal("the dispatcher did not deliver before replying")
	}

	// A retry with the same client_msg_id answers the original message and pushes nothing.
	send(t, ws, map[string]any{"type": "send_message", "id": "m2", "room_id": room, "content": "hello", "client_msg_id": "k1"})
	again := expect(t, ws, "ack", "m2").obj("result").obj("message")
	if again.str("id") != msg.str("id") || again["seq"] != msg["seq"] {
		t.Fatalf("retry acked %v, first %v", again, msg)
	}
	send(t, ws, `{"type":"ping","id":"p"}`)
	expect(t, ws, "pong", "p")
}

func TestWSCommandsAreConcurrent(t *testing.T) {
	e := newEnv(t, nil)
	token, _ := e.user("quinn")
	room := e.room(token, map[string]any{"name": "r"})
	ws := e.dial(token)
	// The first send blocks in the dispatcher until the second one has been answered.
	release := make(chan struct{})
	e.w.set(func(w *world) {
		w.afterDeliver = func(cmd domain.Command) {
			if p, ok := cmd.Payload.(domain.SendMessage); ok && p.Content == "slow" {
				<-release
			}
		}
	})
	send(t, ws, map[string]any{"type": "send_message", "id": "slow", "room_id": room, "content": "slow"})
	send(t, ws, map[string]any{"type": "send_message", "id": "fast", "room_id": room, "content": "fast"})
	// fast's message and ack may come in either order relative to each other's pushes, but
	// slow's ack cannot come before it is released.
	seen := map[string]bool{}
	for !seen["ack fast"] {
		f := read(t, ws)
		if f.str("id") == "slow" {
			t.Fatalf("slow acked before release: %v", f)
		}
		seen[f.str("type")+" "+f.str("id")] = true
	}
	close(release)
	// slow's own message is held back until its ack.
	for {
		f := read(t, ws)
		if f.str("type") == "message" && f.obj("message").str("content") == "slow" {
			t.Fatalf("slow's message before its ack")
		}
		if f.str("type") == "ack" && f.str("id") == "slow" {
			break
		}
	}
	if f := expect(t, ws, "message", ""); f.obj("message").str("content") != "slow" {
		t.Fatalf("after slow's ack: %v", f)
	}
}

func TestWSUserJoinedSubscribesOtherSockets(t *testing.T) {
	e := newEnv(t, nil)
	owner, _ := e.user("rita")
	token, userID := e.user("sam")
	room := e.room(owner, map[string]any{"name": "r"})
	s1, s2 := e.dial(token), e.dial(token)

	send(t, s1, map[string]any{"type": "join_room", "id": "j", "room_id": room})
	if f := expect(t, s1, "ack", "j"); f.obj("result").str("position") == "" {
		t.Fatalf("join ack %v", f)
	}
	expect(t, s1, "user_joined", "")
	if f := expect(t, s2, "user_joined", ""); f.str("user_id") != userID.String() || f.str("username") != "sam" {
		t.Fatalf("user_joined %v", f)
	}

	e.mustDo(http.StatusCreated, "POST", "/api/v1/rooms/"+room.String()+"/messages", owner, map[string]any{"content": "welcome"})
	for _, ws := range []*websocket.Conn{s1, s2} {
		if f := expect(t, ws, "message", ""); f.obj("message").str("content") != "welcome" {
			t.Fatalf("message %v", f)
		}
	}

	// Leaving over HTTP: both sockets get user_left, then nothing more from the room.
	e.mustDo(http.StatusOK, "POST", "/api/v1/rooms/"+room.String()+"/leave", token, nil)
	expect(t, s1, "user_left", "")
	expect(t, s2, "user_left", "")
	e.mustDo(http.StatusCreated, "POST", "/api/v1/rooms/"+room.String()+"/messages", owner, map[string]any{"content": "gone"})
	send(t, s2, `{"type":"ping","id":"after"}`)
	expect(t, s2, "pong", "after")
}

func TestWSSubscribedOnConnect(t *testing.T) {
	e := newEnv(t, nil)
	token, _ := e.user("tara")
	room := e.room(token, map[string]any{"name": "r"})
	ws := e.dial(token)
	e.mustDo(http.StatusCreated, "POST", "/api/v1/rooms/"+room.String()+"/messages", token, map[string]any{"content": "hi"})
	expect(t, ws, "message", "")

	// create_room over the socket: ack with the room, then the owner's user_joined.
	send(t, ws, map[string]any{"type": "create_room", "id": "c", "name": "new room"})
	f := expect(t, ws, "ack", "c")
	if f.obj("result").obj("room").str("name") != "new room" {
		t.Fatalf("create ack %v", f)
	}
	expect(t, ws, "user_joined", "")
}

func TestWSSlowClientIsDisconnected(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.SendQueue = 4 })
	slowTok, _ := e.user("slow")
	fastTok, fastID := e.user("fast")
	room := e.room(slowTok, map[string]any{"name": "r"})
	e.mustDo(http.StatusOK, "POST", "/api/v1/rooms/"+room.String()+"/join", fastTok, nil)
	e.dial(slowTok) // never read
	fast := e.dial(fastTok)
	if e.gw.Connections() != 2 {
		t.Fatalf("%d connections", e.gw.Connections())
	}

	frame := func(i int) []byte {
		b, _ := json.Marshal(projections.MessageFrame{Type: "message", Message: projections.Message{
			ID: uuid.New(), RoomID: room, SenderID: fastID, Content: fmt.Sprint(i, strings.Repeat("x", 32<<10)), Seq: int64(i),
		}})
		return b
	}
	// Each push waits for the fast client to read it, so only the slow one falls behind: once
	// the kernel buffers toward it are full its queue fills and it is cut off.
	deadline := time.Now().Add(20 * time.Second)
	i := 0
	for ; e.gw.Connections() == 2; i++ {
		if time.Now().After(deadline) {
			t.Fatalf("slow client still connected after %d pushes", i)
		}
		e.gw.Deliver(projections.Push{RoomID: room, Kind: projections.PushMessage, CommandID: uuid.New(), Frame: frame(i)})
		if f := expect(t, fast, "message", ""); f.obj("message")["seq"] != float64(i) {
			t.Fatalf("fast got seq %v, want %d", f.obj("message")["seq"], i)
		}
	}
	// The fast one keeps receiving.
	for j := 0; j < 10; j++ {
		e.gw.Deliver(projections.Push{RoomID: room, Kind: projections.PushMessage, CommandID: uuid.New(), Frame: frame(i + j)})
		expect(t, fast, "message", "")
	}
	send(t, fast, `{"type":"ping","id":"still"}`)
	expect(t, fast, "pong", "still")
}

func TestWSHeartbeatAndIdleTimeout(t *testing.T) {
	e := newEnv(t, func(c *Config) {
		c.HeartbeatInterval = 30 * time.Millisecond
		c.ConnectionTimeout = 300 * time.Millisecond
	})
	token, _ := e.user("uma")
	ws := e.dial(token)
	_ = ws.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, data, err := ws.ReadMessage()
	if err != nil || string(data) != `{"type":"ping"}` {
		t.Fatalf("first frame %q %v, want a server ping", data, err)
	}
	// Activity keeps it open past the timeout...
	for range 5 {
		time.Sleep(100 * time.Millisecond)
		send(t, ws, `{"type":"heartbeat"}`)
	}
	// ...and silence closes it.
	start := time.Now()
	for {
		_ = ws.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, _, err := ws.ReadMessage()
		if err == nil {
			continue
		}
		var ce *websocket.CloseError
		if !errors.As(err, &ce) || ce.Code != websocket.CloseNormalClosure {
			t.Fatalf("idle socket ended with %v", err)
		}
		break
	}
	if time.Since(start) < 200*time.Millisecond {
		t.Fatal("closed before the timeout")
	}
	eventually(t, "socket released", func() bool { return e.gw.Connections() == 0 })
}

func TestShutdownClosesSockets(t *testing.T) {
	e := newEnv(t, nil)
	token, _ := e.user("vera")
	a, b := e.dial(token), e.dial(token)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	done := make(chan struct{})
	go func() { e.gw.Shutdown(ctx); close(done) }()
	for _, ws := range []*websocket.Conn{a, b} {
		_ = ws.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, _, err := ws.ReadMessage()
		var ce *websocket.CloseError
		if !errors.As(err, &ce) || ce.Code != websocket.CloseGoingAway {
			t.Fatalf("got %v, want close 1001", err)
		}
	}
	<-done
	if n := e.gw.Connections(); n != 0 {
		t.Fatalf("%d connections after shutdown", n)
	}
	_, resp, err := websocket.DefaultDialer.Dial(e.wsURL("?token="+token), nil)
	if err == nil || resp == nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("dial after shutdown: %v %v", err, resp)
	}
}

// Pushes reach exactly the sockets their target names: a user's sockets, every socket, the
// sockets of several rooms once each, never the excepted user.
func TestWSPushTargets(t *testing.T) {
	e := newEnv(t, nil)
	ownerTok, ownerID := e.user("ursula")
	bobTok, bobID := e.user("bob")
	r1 := e.room(ownerTok, map[string]any{"name": "one"})
	r2 := e.room(ownerTok, map[string]any{"name": "two"})
	owner1, owner2, bob := e.dial(ownerTok), e.dial(ownerTok), e.dial(bobTok)
	frame := func(n string) []byte { return []byte(`{"type":"probe","n":"` + n + `"}`) }
	// Each socket reads probes until a pong closes the batch; it reports the probes it saw.
	seen := func(ws *websocket.Conn) []string {
		t.Helper()
		send(t, ws, `{"type":"ping","id":"end"}`)
		var out []string
		for {
			f := read(t, ws)
			switch f.str("type") {
			case "probe":
				out = append(out, f.str("n"))
			case "pong":
				return out
			}
		}
	}
	e.gw.Deliver(projections.Push{Target: projections.TargetUser, UserID: bobID, Kind: "probe", Frame: frame("to-bob")})
	e.gw.Deliver(projections.Push{Target: projections.TargetAll, Kind: "probe", Frame: frame("to-all")})
	e.gw.Deliver(projections.Push{Target: projections.TargetRooms, RoomIDs: []uuid.UUID{r1, r2}, Kind: "probe", Frame: frame("to-rooms")})
	e.gw.Deliver(projections.Push{RoomID: r1, ExceptUserID: ownerID, Kind: "probe", Frame: frame("not-owner")})
	for name, c := range map[string]struct {
		ws   *websocket.Conn
		want string
	}{
		"owner socket 1": {owner1, "to-all,to-rooms"},
		"owner socket 2": {owner2, "to-all,to-rooms"},
		"bob":            {bob, "to-bob,to-all"},
	} {
		if got := strings.Join(seen(c.ws), ","); got != c.want {
			t.Errorf("%s saw %q, want %q", name, got, c.want)
		}
	}
}

// Every command frame beyond send/create/join/leave answers what its HTTP call answers, as an
// ack result or an error code; missing or malformed fields are invalid_frame.
func TestWSCommandFrames(t *testing.T) {
	e := newEnv(t, nil)
	ownerTok, _ := e.user("wanda")
	memberTok, memberID := e.user("walt")
	_, guestID := e.user("wes")
	room := e.room(ownerTok, map[string]any{"name": "frames", "is_private": true, "password": "pw"})
	base := "/api/v1/rooms/" + room.String()
	e.mustDo(http.StatusOK, "POST", base+"/join", memberTok, map[string]any{"password": "pw"})
	msg := e.mustDo(http.StatusCreated, "POST", base+"/messages", memberTok, map[string]any{"content": "m1"}).body["message"].(map[string]any)
	msgID := msg["id"].(string)
	owner, member := e.dial(ownerTok), e.dial(memberTok)
	r, m, g := room.String(), memberID.String(), guestID.String()

	cases := []struct {
		name  string
		ws    *websocket.Conn
		frame map[string]any
		code  string             // "" = ack
		check func(result frame) // of the ack
	}{
		{"edit by another", owner, map[string]any{"type": "edit_message", "room_id": r, "message_id": msgID, "content": "x"}, domain.CodeForbidden, nil},
		{"edit without content", member, map[string]any{"type": "edit_message", "room_id": r, "message_id": msgID}, codeInvalidFrame, nil},
		{"edit a malformed id", member, map[string]any{"type": "edit_message", "room_id": r, "message_id": "x", "content": "x"}, codeInvalidFrame, nil},
		{"edit", member, map[string]any{"type": "edit_message", "room_id": r, "message_id": msgID, "content": "edited"}, "", func(res frame) {
			if res.obj("message").str("content") != "edited" || res.obj("message")["edited_at"] == nil || res.str("position") == "" {
				t.Errorf("edit ack %v", res)
			}
		}},
		{"update room by a member", member, map[string]any{"type": "update_room", "room_id": r, "name": "x"}, domain.CodeForbidden, nil},
		{"update room with nothing", owner, map[string]any{"type": "update_room", "room_id": r}, domain.CodeValidationFailed, nil},
		{"update room", owner, map[string]any{"type": "update_room", "room_id": r, "description": "new"}, "", func(res frame) {
			if res.obj("room").str("description") != "new" || res.obj("room").str("name") != "frames" || res.str("position") == "" {
				t.Errorf("update ack %v", res)
			}
		}},
		{"mark read", member, map[string]any{"type": "mark_read", "room_id": r, "seq": 1}, "", func(res frame) {
			if res.str("position") == "" {
				t.Errorf("mark read ack %v", res)
			}
		}},
		{"mark read again", member, map[string]any{"type": "mark_read", "room_id": r, "seq": 1}, "", func(res frame) {
			if len(res) != 0 {
				t.Errorf("mark read again: %v, want an empty result", res)
			}
		}},
		{"mark read without seq", member, map[string]any{"type": "mark_read", "room_id": r}, codeInvalidFrame, nil},
		{"mark read with a string seq", member, map[string]any{"type": "mark_read", "room_id": r, "seq": "1"}, codeInvalidFrame, nil},
		{"set role by a member", member, map[string]any{"type": "set_role", "room_id": r, "user_id": m, "role": "admin"}, domain.CodeForbidden, nil},
		{"set role without role", owner, map[string]any{"type": "set_role", "room_id": r, "user_id": m}, codeInvalidFrame, nil},
		{"set role", owner, map[string]any{"type": "set_role", "room_id": r, "user_id": m, "role": "admin"}, "", nil},
		{"invite an unknown user", member, map[string]any{"type": "invite_user", "room_id": r, "user_id": uuid.NewString()}, codeUserNotFound, nil},
		{"invite without user_id", member, map[string]any{"type": "invite_user", "room_id": r}, codeInvalidFrame, nil},
		{"invite", member, map[string]any{"type": "invite_user", "room_id": r, "user_id": g}, "", nil},
		{"ban", member, map[string]any{"type": "ban_member", "room_id": r, "user_id": g, "reason": "no"}, "", nil},
		{"unban", owner, map[string]any{"type": "unban_member", "room_id": r, "user_id": g}, "", nil},
		{"unban again", owner, map[string]any{"type": "unban_member", "room_id": r, "user_id": g}, domain.CodeValidationFailed, nil},
		{"kick the owner", member, map[string]any{"type": "kick_member", "room_id": r, "user_id": domain.UserIDFor("wanda").String()}, domain.CodeForbidden, nil},
		{"kick", owner, map[string]any{"type": "kick_member", "room_id": r, "user_id": m}, "", nil},
		{"delete by a non-member", member, map[string]any{"type": "delete_message", "room_id": r, "message_id": msgID}, domain.CodeNotAMember, nil},
		{"delete a message", owner, map[string]any{"type": "delete_message", "room_id": r, "message_id": msgID}, "", nil},
		{"delete without message_id", owner, map[string]any{"type": "delete_message", "room_id": r}, codeInvalidFrame, nil},
		{"update profile", member, map[string]any{"type": "update_profile", "display_name": "Walt W."}, "", func(res frame) {
			if res.obj("user").str("display_name") != "Walt W." || res.obj("user").str("username") != "walt" || res.str("position") == "" {
				t.Errorf("profile ack %v", res)
			}
		}},
		{"update profile badly", member, map[string]any{"type": "update_profile", "email": "nope"}, domain.CodeValidationFailed, nil},
		{"update profile with a wrong type", member, map[string]any{"type": "update_profile", "email": 5}, codeInvalidFrame, nil},
		{"delete the room by a non-owner", member, map[string]any{"type": "delete_room", "room_id": r}, domain.CodeForbidden, nil},
		{"delete the room without room_id", owner, map[string]any{"type": "delete_room"}, codeInvalidFrame, nil},
		{"delete the room", owner, map[string]any{"type": "delete_room", "room_id": r}, "", nil},
		{"update a deleted room", owner, map[string]any{"type": "update_room", "room_id": r, "name": "x"}, domain.CodeRoomDeleted, nil},
	}
	for i, tc := range cases {
		id := fmt.Sprint("f", i)
		tc.frame["id"] = id
		send(t, tc.ws, tc.frame)
		// Pushes of earlier commands may come first; the answer is the frame with our id.
		f := read(t, tc.ws)
		for f.str("id") != id {
			f = read(t, tc.ws)
		}
		switch {
		case tc.code == "" && f.str("type") != "ack":
			t.Fatalf("%s: got %v, want an ack", tc.name, f)
		case tc.code != "" && (f.str("type") != "error" || f.str("code") != tc.code || f.str("message") == ""):
			t.Fatalf("%s: got %v, want error %s", tc.name, f, tc.code)
		case tc.code == "" && tc.check != nil:
			tc.check(f.obj("result"))
		case tc.code == "" && tc.frame["type"] != "update_profile" && f.obj("result").str("position") == "":
			t.Fatalf("%s: ack %v without a position", tc.name, f)
		}
	}
}

// client_command_id makes any command frame safe to retry: the retry is acked with the first
// result and changes nothing.
func TestWSClientCommandID(t *testing.T) {
	e := newEnv(t, nil)
	token, _ := e.user("xena")
	ws := e.dial(token)
	create := map[string]any{"type": "create_room", "name": "keyed", "client_command_id": "c-1"}
	create["id"] = "a"
	send(t, ws, create)
	first := expect(t, ws, "ack", "a")
	create["id"] = "b"
	send(t, ws, create)
	again := read(t, ws)
	for again.str("id") != "b" {
		again = read(t, ws)
	}
	if again.str("type") != "ack" || fmt.Sprint(again.obj("result")) != fmt.Sprint(first.obj("result")) {
		t.Fatalf("retried create_room: %v, first %v", again, first)
	}
	room := first.obj("result").obj("room").str("id")
	if n := len(e.mustDo(http.StatusOK, "GET", "/api/v1/rooms", token, nil).body["rooms"].([]any)); n != 1 {
		t.Fatalf("%d rooms after a retried create_room", n)
	}
	// The same key over HTTP is the same command too.
	r := e.doKey("POST", "/api/v1/rooms", token, "c-1", map[string]any{"name": "keyed"})
	if r.status != http.StatusCreated || r.body["room"].(map[string]any)["id"] != room {
		t.Fatalf("HTTP retry of the socket's create: %s", r.raw)
	}
	send(t, ws, map[string]any{"type": "send_message", "id": "s1", "room_id": room, "content": "once", "client_command_id": "s"})
	sent := expect(t, ws, "ack", "s1").obj("result").obj("message")
	expect(t, ws, "message", "")
	send(t, ws, map[string]any{"type": "send_message", "id": "s2", "room_id": room, "content": "once", "client_command_id": "s"})
	if again := expect(t, ws, "ack", "s2").obj("result").obj("message"); again.str("id") != sent.str("id") {
		t.Fatalf("retried send %v, first %v", again, sent)
	}
	send(t, ws, map[string]any{"type": "send_message", "id": "s3", "room_id": room, "content": "x", "client_command_id": 7})
	if f := expect(t, ws, "error", "s3"); f.str("code") != codeInvalidFrame {
		t.Fatalf("a non-string client_command_id: %v", f)
	}
}
