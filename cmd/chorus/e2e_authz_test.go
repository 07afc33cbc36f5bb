package main_test

// The authorization matrix over the real multi-process stack: every room call and frame, made by
// each kind of user of a private, password-protected room, answers what docs/protocol.md says.

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// The kinds of user the matrix asks as.
const (
	actStranger = "stranger" // registered, never had anything to do with the room
	actInvited  = "invited"  // holds an open invitation
	actMember   = "member"
	actAdmin    = "admin"
	actOwner    = "owner"
	actBanned   = "banned" // was a member, then banned
)

var authzActors = []string{actStranger, actInvited, actMember, actAdmin, actOwner, actBanned}

const authzPassword = "open sesame"

// outcome is an expected answer: an error code with its HTTP status, or success (code "") with
// the HTTP status of success. Over WebSocket success is an ack, an error an error frame.
type outcome struct {
	status int
	code   string
}

var (
	ok200        = outcome{http.StatusOK, ""}
	ok201        = outcome{http.StatusCreated, ""}
	notFound     = outcome{http.StatusNotFound, "room_not_found"}
	notAMember   = outcome{http.StatusForbidden, "not_a_member"}
	forbidden    = outcome{http.StatusForbidden, "forbidden"}
	alreadyIn    = outcome{http.StatusConflict, "already_member"}
	wrongPasswd  = outcome{http.StatusForbidden, "wrong_password"}
	readers      = map[string]outcome{actOwner: ok200, actAdmin: ok200, actMember: ok200, actInvited: ok200, actBanned: notFound, actStranger: notFound}
	moderatorsOK = func(ok outcome) map[string]outcome {
		return map[string]outcome{actOwner: ok, actAdmin: ok, actMember: forbidden, actInvited: forbidden, actBanned: forbidden, actStranger: forbidden}
	}
)

// authzRoom is one private room with one user of each kind.
type authzRoom struct {
	id        string
	memberMsg string // a message by the member (what edits aim at)
}

// authzWorld is the users (the same in every room) and the shared room.
type authzWorld struct {
	c        *cluster
	users    map[string]account // by kind, on gateway 1
	sockets  map[string]*answers
	outsider account // whom invitations name
	shared   authzRoom
	n        atomic.Int64
}

// request is one call of a row: its HTTP form and its frame (nil: no frame).
type request struct {
	method, path string
	body         any
	frame        map[string]any
}

// authzRow is one call. fresh: an actor expected to succeed gets a room of its own, because its
// success changes what the next actor would be answered (an actor expected to fail changes
// nothing, so the failures share one room).
type authzRow struct {
	name     string
	fresh    bool
	httpOnly bool // a read: no frame
	want     map[string]outcome
	req      func(t *testing.T, w *authzWorld, room authzRoom, actor string) request
}

func TestE2EAuthorizationMatrix(t *testing.T) {
	skipShort(t)
	c := startCluster(t, nil)
	c.warmUp()
	start := time.Now()
	w := newAuthzWorld(t, c)
	t.Logf("users and shared room set up in %v", time.Since(start).Round(time.Millisecond))

	pathOf := func(room authzRoom, p string) string { return "/api/v1/rooms/" + room.id + p }
	target := func(w *authzWorld, actor string) string { return w.users[actor].user.ID }
	rows := []authzRow{
		{name: "get room", httpOnly: true, want: readers, req: func(_ *testing.T, _ *authzWorld, r authzRoom, _ string) request {
			return request{method: "GET", path: pathOf(r, "")}
		}},
		{name: "get members", httpOnly: true, want: readers, req: func(_ *testing.T, _ *authzWorld, r authzRoom, _ string) request {
			return request{method: "GET", path: pathOf(r, "/members")}
		}},
		{name: "get history", httpOnly: true, want: map[string]outcome{actOwner: ok200, actAdmin: ok200, actMember: ok200,
			actInvited: notFound, actBanned: notFound, actStranger: notFound},
			req: func(_ *testing.T, _ *authzWorld, r authzRoom, _ string) request {
				return request{method: "GET", path: pathOf(r, "/messages")}
			}},
		{name: "post message", want: map[string]outcome{actOwner: ok201, actAdmin: ok201, actMember: ok201,
			actInvited: notAMember, actBanned: notAMember, actStranger: notAMember},
			req: func(_ *testing.T, _ *authzWorld, r authzRoom, _ string) request {
				return request{method: "POST", path: pathOf(r, "/messages"), body: map[string]any{"content": "hello"},
					frame: map[string]any{"type": "send_message", "room_id": r.id, "content": "hello"}}
			}},
		{name: "edit the member's message", want: map[string]outcome{actMember: ok200, actOwner: forbidden, actAdmin: forbidden,
			actInvited: notAMember, actBanned: notAMember, actStranger: notAMember},
			req: func(_ *testing.T, _ *authzWorld, r authzRoom, _ string) request {
				return request{method: "PATCH", path: pathOf(r, "/messages/"+r.memberMsg), body: map[string]any{"content": "edited"},
					frame: map[string]any{"type": "edit_message", "room_id": r.id, "message_id": r.memberMsg, "content": "edited"}}
			}},
		// Every call deletes a message of its own (posted by the admin), so a success takes
		// nothing from the next call.
		{name: "delete the admin's message", want: map[string]outcome{actOwner: ok200, actAdmin: ok200, actMember: forbidden,
			actInvited: notAMember, actBanned: notAMember, actStranger: notAMember},
			req: func(t *testing.T, w *authzWorld, r authzRoom, _ string) request {
				var out messageAnswer
				call(t, w.users[actAdmin].base, w.users[actAdmin].token, "POST", pathOf(r, "/messages"),
					map[string]any{"content": "to delete"}, http.StatusCreated, &out)
				return request{method: "DELETE", path: pathOf(r, "/messages/"+out.Message.ID),
					frame: map[string]any{"type": "delete_message", "room_id": r.id, "message_id": out.Message.ID}}
			}},
		{name: "update room", want: moderatorsOK(ok200), req: func(_ *testing.T, _ *authzWorld, r authzRoom, _ string) request {
			return request{method: "PATCH", path: pathOf(r, ""), body: map[string]any{"description": "updated"},
				frame: map[string]any{"type": "update_room", "room_id": r.id, "description": "updated"}}
		}},
		{name: "delete room", fresh: true, want: map[string]outcome{actOwner: ok200, actAdmin: forbidden, actMember: forbidden,
			actInvited: forbidden, actBanned: forbidden, actStranger: forbidden},
			req: func(_ *testing.T, _ *authzWorld, r authzRoom, _ string) request {
				return request{method: "DELETE", path: pathOf(r, ""), frame: map[string]any{"type": "delete_room", "room_id": r.id}}
			}},
		{name: "join with the password", fresh: true, want: map[string]outcome{actOwner: alreadyIn, actAdmin: alreadyIn, actMember: alreadyIn,
			actInvited: ok200, actBanned: forbidden, actStranger: ok200},
			req: func(_ *testing.T, _ *authzWorld, r authzRoom, _ string) request {
				return request{method: "POST", path: pathOf(r, "/join"), body: map[string]any{"password": authzPassword},
					frame: map[string]any{"type": "join_room", "room_id": r.id, "password": authzPassword}}
			}},
		// An invitation lets its holder in whatever the password.
		{name: "join with a wrong password", fresh: true, want: map[string]outcome{actOwner: alreadyIn, actAdmin: alreadyIn, actMember: alreadyIn,
			actInvited: ok200, actBanned: forbidden, actStranger: wrongPasswd},
			req: func(_ *testing.T, _ *authzWorld, r authzRoom, _ string) request {
				return request{method: "POST", path: pathOf(r, "/join"), body: map[string]any{"password": "not it"},
					frame: map[string]any{"type": "join_room", "room_id": r.id, "password": "not it"}}
			}},
		{name: "leave", fresh: true, want: map[string]outcome{actOwner: forbidden, actAdmin: ok200, actMember: ok200,
			actInvited: notAMember, actBanned: notAMember, actStranger: notAMember},
			req: func(_ *testing.T, _ *authzWorld, r authzRoom, _ string) request {
				return request{method: "POST", path: pathOf(r, "/leave"), frame: map[string]any{"type": "leave_room", "room_id": r.id}}
			}},
		{name: "make the member an admin", fresh: true, want: map[string]outcome{actOwner: ok200, actAdmin: forbidden, actMember: forbidden,
			actInvited: forbidden, actBanned: forbidden, actStranger: forbidden},
			req: func(_ *testing.T, w *authzWorld, r authzRoom, _ string) request {
				u := target(w, actMember)
				return request{method: "PUT", path: pathOf(r, "/members/"+u+"/role"), body: map[string]any{"role": "admin"},
					frame: map[string]any{"type": "set_role", "room_id": r.id, "user_id": u, "role": "admin"}}
			}},
		{name: "kick the member", fresh: true, want: moderatorsOK(ok200), req: func(_ *testing.T, w *authzWorld, r authzRoom, _ string) request {
			u := target(w, actMember)
			return request{method: "DELETE", path: pathOf(r, "/members/"+u),
				frame: map[string]any{"type": "kick_member", "room_id": r.id, "user_id": u}}
		}},
		{name: "ban the member", fresh: true, want: moderatorsOK(ok200), req: func(_ *testing.T, w *authzWorld, r authzRoom, _ string) request {
			u := target(w, actMember)
			return request{method: "PUT", path: pathOf(r, "/bans/"+u), body: map[string]any{"reason": "matrix"},
				frame: map[string]any{"type": "ban_member", "room_id": r.id, "user_id": u, "reason": "matrix"}}
		}},
		{name: "unban the banned", fresh: true, want: moderatorsOK(ok200), req: func(_ *testing.T, w *authzWorld, r authzRoom, _ string) request {
			u := target(w, actBanned)
			return request{method: "DELETE", path: pathOf(r, "/bans/"+u),
				frame: map[string]any{"type": "unban_member", "room_id": r.id, "user_id": u}}
		}},
		{name: "invite an outsider", fresh: true, want: moderatorsOK(ok201), req: func(_ *testing.T, w *authzWorld, r authzRoom, _ string) request {
			u := w.outsider.user.ID
			return request{method: "POST", path: pathOf(r, "/invitations"), body: map[string]any{"user_id": u},
				frame: map[string]any{"type": "invite_user", "room_id": r.id, "user_id": u}}
		}},
		{name: "mark read", want: map[string]outcome{actOwner: ok200, actAdmin: ok200, actMember: ok200,
			actInvited: notAMember, actBanned: notAMember, actStranger: notAMember},
			req: func(_ *testing.T, _ *authzWorld, r authzRoom, _ string) request {
				return request{method: "POST", path: pathOf(r, "/read"), body: map[string]any{"seq": 1},
					frame: map[string]any{"type": "mark_read", "room_id": r.id, "seq": 1}}
			}},
	}

	// Every cell runs concurrently (t.Run may be called from several goroutines), bounded so
	// that the cluster on a small machine answers within its command timeout.
	sem := make(chan struct{}, 12)
	var wg sync.WaitGroup
	cells := 0
	for _, row := range rows {
		for _, actor := range authzActors {
			want, ok := row.want[actor]
			if !ok {
				t.Fatalf("row %q has no expectation for %s", row.name, actor)
			}
			for _, transport := range []string{"http", "ws"} {
				if transport == "ws" && row.httpOnly {
					continue
				}
				cells++
				wg.Add(1)
				go func() {
					defer wg.Done()
					sem <- struct{}{}
					defer func() { <-sem }()
					t.Run(fmt.Sprintf("%s/%s/%s", row.name, actor, transport), func(t *testing.T) {
						room := w.shared
						if row.fresh && want.code == "" {
							room = w.newRoom(t, fmt.Sprintf("fresh %s %s %s", row.name, actor, transport))
						}
						req := row.req(t, w, room, actor)
						if transport == "http" {
							w.checkHTTP(t, actor, req, want)
						} else {
							w.checkWS(t, actor, req.frame, want)
						}
					})
				}()
			}
		}
	}
	wg.Wait()
	t.Logf("%d cells (%d rows × %d actors, over HTTP and, for commands, WebSocket) in %v",
		cells, len(rows), len(authzActors), time.Since(start).Round(time.Millisecond))
}

func newAuthzWorld(t *testing.T, c *cluster) *authzWorld {
	t.Helper()
	sfx := randomHex(3)
	w := &authzWorld{c: c, users: map[string]account{}, sockets: map[string]*answers{}}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, kind := range append([]string{"outsider"}, authzActors...) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			a := newAccount(t, c.gwURL(0), kind+"_"+sfx)
			mu.Lock()
			defer mu.Unlock()
			if kind == "outsider" {
				w.outsider = a
			} else {
				w.users[kind] = a
			}
		}()
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	// The sockets are on the other gateway: both gateways serve the matrix.
	for _, kind := range authzActors {
		w.sockets[kind] = newAnswers(dialWS(t, kind+"@gateway2", c.gwURL(1), w.users[kind].token))
	}
	w.shared = w.newRoom(t, "shared "+sfx)
	var out messageAnswer
	member := w.users[actMember]
	call(t, member.base, member.token, "POST", "/api/v1/rooms/"+w.shared.id+"/messages", map[string]any{"content": "edit me"}, http.StatusCreated, &out)
	w.shared.memberMsg = out.Message.ID
	// The reads of the matrix need the read model to show the whole setup.
	owner := w.users[actOwner]
	call(t, owner.base, owner.token, "GET", "/api/v1/rooms/"+w.shared.id+"/messages?position="+url.QueryEscape(out.Position), nil, http.StatusOK, nil)
	return w
}

// newRoom creates a private room with a password and gives every kind of user its place in it:
// the admin and the member joined with the password (the admin then promoted), the invited
// user invited, the banned user joined and then banned.
func (w *authzWorld) newRoom(t *testing.T, name string) authzRoom {
	t.Helper()
	owner := w.users[actOwner]
	var created struct {
		Room     apiRoom `json:"room"`
		Position string  `json:"position"`
	}
	call(t, owner.base, owner.token, "POST", "/api/v1/rooms",
		map[string]any{"name": name, "is_private": true, "password": authzPassword}, http.StatusCreated, &created)
	room := created.Room.ID
	// A join's password is checked against the read model's copy of the room's hash.
	call(t, owner.base, owner.token, "GET", "/api/v1/rooms/"+room+"?position="+url.QueryEscape(created.Position), nil, http.StatusOK, nil)

	inParallel(t, []func(t *testing.T){
		func(t *testing.T) { w.join(t, actAdmin, room) },
		func(t *testing.T) { w.join(t, actMember, room) },
		func(t *testing.T) { w.join(t, actBanned, room) },
		func(t *testing.T) {
			call(t, owner.base, owner.token, "POST", "/api/v1/rooms/"+room+"/invitations",
				map[string]any{"user_id": w.users[actInvited].user.ID}, http.StatusCreated, nil)
		},
	})
	inParallel(t, []func(t *testing.T){
		func(t *testing.T) {
			call(t, owner.base, owner.token, "PUT", "/api/v1/rooms/"+room+"/members/"+w.users[actAdmin].user.ID+"/role",
				map[string]any{"role": "admin"}, http.StatusOK, nil)
		},
		func(t *testing.T) {
			call(t, owner.base, owner.token, "PUT", "/api/v1/rooms/"+room+"/bans/"+w.users[actBanned].user.ID,
				map[string]any{"reason": "setup"}, http.StatusOK, nil)
		},
	})
	return authzRoom{id: room}
}

func (w *authzWorld) join(t *testing.T, kind, room string) {
	a := w.users[kind]
	call(t, a.base, a.token, "POST", "/api/v1/rooms/"+room+"/join", map[string]any{"password": authzPassword}, http.StatusOK, nil)
}

// inParallel runs fs concurrently and fails t if any of them failed.
func inParallel(t *testing.T, fs []func(t *testing.T)) {
	t.Helper()
	var wg sync.WaitGroup
	failed := atomic.Bool{}
	for i, f := range fs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if !t.Run(fmt.Sprint("setup", i), f) {
				failed.Store(true)
			}
		}()
	}
	wg.Wait()
	if failed.Load() {
		t.FailNow()
	}
}

// checkHTTP makes the call as actor and checks the answer.
func (w *authzWorld) checkHTTP(t *testing.T, actor string, req request, want outcome) {
	t.Helper()
	a := w.users[actor]
	res, err := doJSON(context.Background(), a.base, a.token, req.method, req.path, req.body)
	if err != nil {
		t.Fatalf("%s %s: %v", req.method, req.path, err)
	}
	if res.Status != want.status || res.errCode() != want.code {
		t.Fatalf("%s %s as %s: got %v, want %d %q", req.method, req.path, actor, res, want.status, want.code)
	}
	if want.code == "" {
		checkSuccessBody(t, req.method, req.path, res.Body)
	}
}

// checkSuccessBody checks that a success carries what the protocol promises: a command's
// position (mark_read may have none), a read's object.
func checkSuccessBody(t *testing.T, method, path string, raw []byte) {
	t.Helper()
	var body map[string]any
	if err := json.Unmarshal(raw, &body); err != nil {
		t.Fatalf("%s %s: answer %q is not a JSON object: %v", method, path, raw, err)
	}
	switch {
	case method == "GET":
		if body["id"] == nil && body["members"] == nil && body["messages"] == nil {
			t.Fatalf("GET %s: answer %s has no room, members or messages", path, raw)
		}
	case len(path) > 5 && path[len(path)-5:] == "/read":
	default:
		if p, _ := body["position"].(string); p == "" {
			t.Fatalf("%s %s: answer %s has no position", method, path, raw)
		}
	}
}

// checkWS sends the frame on actor's socket and checks its answer.
func (w *authzWorld) checkWS(t *testing.T, actor string, frame map[string]any, want outcome) {
	t.Helper()
	id := fmt.Sprint("authz-", w.n.Add(1))
	f := map[string]any{"id": id}
	for k, v := range frame {
		f[k] = v
	}
	ans := w.sockets[actor].send(t, id, f)
	switch {
	case want.code == "" && ans.Type != "ack":
		t.Fatalf("%s as %s: got %s, want an ack", frame["type"], actor, ans.raw)
	case want.code != "" && (ans.Type != "error" || ans.Code != want.code):
		t.Fatalf("%s as %s: got %s, want error %q", frame["type"], actor, ans.raw, want.code)
	case want.code == "" && frame["type"] != "mark_read":
		var res struct {
			Position string `json:"position"`
		}
		if err := json.Unmarshal(ans.Result, &res); err != nil || res.Position == "" {
			t.Fatalf("%s as %s: ack %s has no position", frame["type"], actor, ans.raw)
		}
	}
}

// answers routes a socket's ack and error frames to the goroutines waiting for them by id, so
// that many frames can be in flight on one socket (wsClient.waitFor would take another's).
type answers struct {
	c       *wsClient
	mu      sync.Mutex
	waiting map[string]chan wsFrame
}

func newAnswers(c *wsClient) *answers {
	a := &answers{c: c, waiting: map[string]chan wsFrame{}}
	go func() {
		for {
			f, err := c.next(time.Hour)
			if err != nil {
				return // closed at the end of the test
			}
			if f.Type != "ack" && f.Type != "error" {
				continue // pushes
			}
			a.mu.Lock()
			ch := a.waiting[f.ID]
			delete(a.waiting, f.ID)
			a.mu.Unlock()
			if ch != nil {
				ch <- f
			}
		}
	}()
	return a
}

// send sends a frame with id and waits for its answer.
func (a *answers) send(t *testing.T, id string, frame map[string]any) wsFrame {
	t.Helper()
	ch := make(chan wsFrame, 1)
	a.mu.Lock()
	a.waiting[id] = ch
	a.mu.Unlock()
	if err := a.c.sendJSON(frame); err != nil {
		t.Fatalf("%s: send %v: %v", a.c.name, frame, err)
	}
	select {
	case f := <-ch:
		return f
	case <-time.After(15 * time.Second):
		t.Fatalf("%s: no answer to %v within 15 s", a.c.name, frame)
		return wsFrame{}
	}
}
