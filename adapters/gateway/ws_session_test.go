package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/chorus-chat/chorus/domain"
)

// expectSessionClose reads until the socket closes and checks that it closed with
// CloseSessionEnded and reason. Frames before the close are returned.
func expectSessionClose(t *testing.T, ws *websocket.Conn, reason string, within time.Duration) []frame {
	t.Helper()
	var got []frame
	_ = ws.SetReadDeadline(time.Now().Add(within))
	for {
		_, data, err := ws.ReadMessage()
		if err != nil {
			var ce *websocket.CloseError
			if !errors.As(err, &ce) || ce.Code != CloseSessionEnded || ce.Text != reason {
				t.Fatalf("socket ended with %v (frames before: %v), want close %d %q", err, got, CloseSessionEnded, reason)
			}
			return got
		}
		var f frame
		_ = json.Unmarshal(data, &f)
		if f.str("type") != "ping" {
			got = append(got, f)
		}
	}
}

func TestWSClosedAtSessionExpiryAndLaterFramesNotRun(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.SessionTTL = time.Second })
	e.user("selma")
	r := e.mustDo(http.StatusOK, "POST", "/api/v1/auth/login", "", map[string]any{"username": "selma", "password": "password-selma"})
	token := r.body["token"].(string)
	expires, err := time.Parse(time.RFC3339Nano, r.body["expires_at"].(string))
	if err != nil {
		t.Fatal(err)
	}
	room := e.room(token, map[string]any{"name": "lobby"})
	ws := e.dial(token)
	send(t, ws, `{"type":"ping","id":"p1"}`)
	expect(t, ws, "pong", "p1")

	// Right at the end of the session, a message: it must not be sent.
	time.Sleep(time.Until(expires))
	send(t, ws, map[string]any{"type": "send_message", "id": "late", "room_id": room.String(), "content": "after the end"})
	frames := expectSessionClose(t, ws, reasonSessionExpired, 3*time.Second)
	if len(frames) != 0 {
		t.Errorf("frames after the session ended: %v", frames)
	}
	if time.Since(expires) > 2*time.Second {
		t.Errorf("closed %v after the session ended", time.Since(expires))
	}
	e.w.set(func(w *world) {
		for _, cmd := range w.dispatched {
			if _, ok := cmd.Payload.(domain.SendMessage); ok {
				t.Errorf("a frame sent after the session ended was dispatched: %+v", cmd)
			}
		}
	})
	eventually(t, "socket released", func() bool { return e.gw.Connections() == 0 })
	// And the token is refused everywhere else too.
	if r := e.do("GET", "/api/v1/users/me", token, nil); r.status != http.StatusUnauthorized {
		t.Errorf("GET /users/me after expiry: %d", r.status)
	}
}

func TestWSQuietSocketClosedAtSessionExpiry(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.SessionTTL = 500 * time.Millisecond })
	token, _ := e.user("quinn")
	ws := e.dial(token)
	start := time.Now()
	expectSessionClose(t, ws, reasonSessionExpired, 3*time.Second)
	if d := time.Since(start); d > 2500*time.Millisecond {
		t.Errorf("closed after %v; the session lasted 500ms", d)
	}
}

func TestLogoutRevokesTokenAndClosesItsSockets(t *testing.T) {
	e := newEnv(t, nil)
	token, _ := e.user("lou")
	r := e.mustDo(http.StatusOK, "POST", "/api/v1/auth/login", "", map[string]any{"username": "lou", "password": "password-lou"})
	other := r.body["token"].(string) // the same user on another device
	a, b := e.dial(token), e.dial(token)
	c := e.dial(other)

	start := time.Now()
	e.mustDo(http.StatusNoContent, "POST", "/api/v1/auth/logout", token, nil)
	for _, ws := range []*websocket.Conn{a, b} {
		expectSessionClose(t, ws, reasonSessionRevoked, 2*time.Second)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("sockets closed %v after the logout", d)
	}
	// The other session and its socket are untouched.
	send(t, c, `{"type":"ping","id":"still"}`)
	expect(t, c, "pong", "still")
	e.mustDo(http.StatusOK, "GET", "/api/v1/users/me", other, nil)

	for _, path := range []string{"/api/v1/users/me"} {
		if r := e.do("GET", path, token, nil); r.status != http.StatusUnauthorized || r.errCode() != codeUnauthorized {
			t.Errorf("GET %s with a logged-out token: %d %s", path, r.status, r.raw)
		}
	}
	if r := e.do("POST", "/api/v1/auth/logout", token, nil); r.status != http.StatusUnauthorized || r.errCode() != codeUnauthorized {
		t.Errorf("second logout: %d %s", r.status, r.raw)
	}
	if r := e.do("POST", "/api/v1/auth/logout", "", nil); r.status != http.StatusUnauthorized {
		t.Errorf("logout without a token: %d %s", r.status, r.raw)
	}
	if _, resp, err := websocket.DefaultDialer.Dial(e.wsURL("?token="+token), nil); err == nil || resp == nil || resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("new socket with a logged-out token: %v %v", err, resp)
	}
}

func TestRefreshAndReauthKeepSocketOpenPastExpiry(t *testing.T) {
	// The grace is long enough for a loaded machine to use the old token within it.
	e := newEnv(t, func(c *Config) { c.SessionTTL = 3 * time.Second; c.RefreshGrace = time.Second })
	_, user := e.user("ruth")
	r := e.mustDo(http.StatusOK, "POST", "/api/v1/auth/login", "", map[string]any{"username": "ruth", "password": "password-ruth"})
	token := r.body["token"].(string)
	firstEnds, _ := time.Parse(time.RFC3339Nano, r.body["expires_at"].(string))
	kept, left := e.dial(token), e.dial(token)

	time.Sleep(time.Second)
	r = e.mustDo(http.StatusOK, "POST", "/api/v1/auth/refresh", token, nil)
	fresh := r.body["token"].(string)
	ends, err := time.Parse(time.RFC3339Nano, r.body["expires_at"].(string))
	if err != nil || fresh == token || !ends.After(firstEnds) || r.body["user"].(map[string]any)["id"] != user.String() {
		t.Fatalf("refresh answered %s", r.raw)
	}
	send(t, kept, map[string]any{"type": "reauth", "id": "ra", "token": fresh})
	ack := expect(t, kept, "ack", "ra")
	if got, err := time.Parse(time.RFC3339Nano, ack.obj("result").str("expires_at")); err != nil || !got.Equal(ends) {
		t.Fatalf("reauth ack %v, want expires_at %v", ack, ends)
	}
	// The old token works for the grace (a request in flight), then not.
	e.mustDo(http.StatusOK, "GET", "/api/v1/users/me", token, nil)
	// The socket that was not told the new token closes when the grace ends.
	expectSessionClose(t, left, reasonSessionExpired, 3*time.Second)
	if !time.Now().Before(firstEnds) {
		t.Errorf("the socket left on the old token closed only at its expiry, not at the end of the grace")
	}
	if r := e.do("GET", "/api/v1/users/me", token, nil); r.status != http.StatusUnauthorized {
		t.Errorf("old token after the grace: %d", r.status)
	}
	// Past the first token's end, the reauthenticated socket still works.
	time.Sleep(time.Until(firstEnds) + 200*time.Millisecond)
	send(t, kept, `{"type":"ping","id":"later"}`)
	expect(t, kept, "pong", "later")
	e.mustDo(http.StatusOK, "GET", "/api/v1/users/me", fresh, nil)
	// And it ends with the new token.
	expectSessionClose(t, kept, reasonSessionExpired, time.Until(ends)+2*time.Second)
}

func TestReauthRefusesBadTokens(t *testing.T) {
	e := newEnv(t, nil)
	token, _ := e.user("vera")
	otherToken, _ := e.user("walt")
	ws := e.dial(token)
	cases := []struct{ frame, id, code string }{
		{`{"type":"reauth","id":"a"}`, "a", codeInvalidFrame},
		{`{"type":"reauth","id":"b","token":""}`, "b", codeInvalidFrame},
		{`{"type":"reauth","id":"c","token":5}`, "c", codeInvalidFrame},
		{`{"type":"reauth","id":"d","token":"forged"}`, "d", codeUnauthorized},
		{`{"type":"reauth","id":"e","token":"` + otherToken + `"}`, "e", domain.CodeForbidden},
	}
	for _, tc := range cases {
		send(t, ws, tc.frame)
		if f := expect(t, ws, "error", tc.id); f.str("code") != tc.code {
			t.Errorf("%s: got %v, want %s", tc.frame, f, tc.code)
		}
	}
	// The socket keeps its own session: logging that out still closes it.
	e.mustDo(http.StatusNoContent, "POST", "/api/v1/auth/logout", token, nil)
	expectSessionClose(t, ws, reasonSessionRevoked, 2*time.Second)
}

func TestRecheckClosesSocketsOfSessionsEndedUnannounced(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.SessionRecheck = 100 * time.Millisecond })
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.gw.RunSessionRecheck(ctx) }()
	defer func() { cancel(); <-done }()

	token, _ := e.user("xena")
	kept, _ := e.user("yuri")
	ws, other := e.dial(token), e.dial(kept)
	// Another gateway logged the token out, and this one never heard of it.
	e.w.set(func(w *world) { delete(w.sessions, token) })
	start := time.Now()
	expectSessionClose(t, ws, reasonSessionRevoked, 3*time.Second)
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("closed %v after the session was deleted; the recheck runs every 100ms", d)
	}
	send(t, other, `{"type":"ping","id":"ok"}`)
	expect(t, other, "pong", "ok")
	var checks int
	e.w.set(func(w *world) { checks = w.sessionChecks })
	if checks == 0 {
		t.Error("no recheck ran")
	}
}

func TestLogoutDuringUpgradeIsNotMissed(t *testing.T) {
	e := newEnv(t, nil)
	token, user := e.user("zora")
	// The logout lands right after the upgrade checked the token, before the socket is in the
	// hub where EndSession looks for it.
	var once sync.Once
	e.w.set(func(w *world) {
		w.afterSession = func(tok string) {
			if tok != token {
				return
			}
			once.Do(func() {
				e.w.set(func(w *world) { delete(w.sessions, token) })
				e.gw.EndSession(user, tokenHash(token), time.Now())
			})
		}
	})
	ws, resp, err := websocket.DefaultDialer.Dial(e.wsURL("?token="+token), nil)
	if err == nil {
		defer ws.Close()
		expectSessionClose(t, ws, reasonSessionRevoked, 2*time.Second)
		return
	}
	if resp == nil || resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("dial: %v %v, want 401 or a socket closed with 4001", err, resp)
	}
}
