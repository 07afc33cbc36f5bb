package main_test

// Sessions over the real multi-process stack: a logout on one gateway closes the token's sockets
// on another, a socket ends with its token, and a refresh keeps a socket open past it.

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// closeSessionEnded is the close code of docs/protocol.md for a socket whose session ended.
const closeSessionEnded = 4001

// startGatewayLike starts one more gateway in the cluster, configured as gateway 1 plus vars.
func startGatewayLike(c *cluster, name string, vars map[string]string) *proc {
	t := c.h.t
	t.Helper()
	v := map[string]string{}
	for _, kv := range c.gw[0].env {
		k, val, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "CHORUS_") {
			v[k] = val
		}
	}
	v["CHORUS_HTTP_ADDR"] = freeAddr(t)
	v["CHORUS_INSTANCE_ID"] = name + "-" + randomHex(3)
	v["CHORUS_DATA_DIR"] = c.h.dir + "/" + name + "-data"
	for k, val := range vars {
		v[k] = val
	}
	p := c.h.start(name, v, "--roles", "gateway")
	c.h.waitReady(p)
	return p
}

// loginUntil logs in and returns the token and its expiry.
func loginUntil(t *testing.T, base, username string) (string, time.Time) {
	t.Helper()
	var out struct {
		Token     string    `json:"token"`
		ExpiresAt time.Time `json:"expires_at"`
	}
	call(t, base, "", "POST", "/api/v1/auth/login", map[string]any{"username": username, "password": testPassword}, http.StatusOK, &out)
	return out.Token, out.ExpiresAt
}

// expectSessionEnded waits for ws to be closed with closeSessionEnded and reason.
func expectSessionEnded(t *testing.T, ws *wsClient, reason string, within time.Duration) {
	t.Helper()
	done, err := ws.closeError(within)
	if !done {
		t.Fatalf("%s: still open after %v, want close %d %q", ws.name, within, closeSessionEnded, reason)
	}
	var ce *websocket.CloseError
	if !errors.As(err, &ce) || ce.Code != closeSessionEnded || ce.Text != reason {
		t.Fatalf("%s: ended with %v, want close %d %q", ws.name, err, closeSessionEnded, reason)
	}
}

func pingPong(t *testing.T, ws *wsClient, id string) {
	t.Helper()
	if err := ws.sendJSON(map[string]any{"type": "ping", "id": id}); err != nil {
		t.Fatalf("%s: ping: %v", ws.name, err)
	}
	if f, _, err := ws.waitFor(5*time.Second, answerTo(id)); err != nil || f.Type != "pong" {
		t.Fatalf("%s: ping %s answered %v, %v", ws.name, id, f, err)
	}
}

func TestE2ESessions(t *testing.T) {
	skipShort(t)
	c := startCluster(t, nil)
	const ttl = 3 * time.Second
	short := startGatewayLike(c, "gateway3", map[string]string{
		"CHORUS_SESSION_TTL": ttl.String(), "CHORUS_SESSION_REFRESH_GRACE": "1s",
	})
	gw1, gw2, gw3 := c.gwURL(0), c.gwURL(1), "http://"+short.httpAddr
	c.warmUp()
	warmUpGateway(t, gw3)

	t.Run("logout on one gateway closes the token's sockets on another", func(t *testing.T) {
		alice := newAccount(t, gw1, "sess_alice")
		other := login(t, gw2, "sess_alice") // the same user on another device
		ws := dialWS(t, "alice@gw2", gw2, alice.token)
		kept := dialWS(t, "alice-other@gw2", gw2, other)
		pingPong(t, ws, "before")
		// Gateway 2 has the token in its cache now.
		call(t, gw2, alice.token, "GET", "/api/v1/users/me", nil, http.StatusOK, nil)

		start := time.Now()
		call(t, gw1, alice.token, "POST", "/api/v1/auth/logout", nil, http.StatusNoContent, nil)
		expectSessionEnded(t, ws, "session_revoked", 3*time.Second)
		d := time.Since(start)
		if d > 1500*time.Millisecond {
			t.Errorf("the socket on gateway 2 closed %v after the logout on gateway 1", d)
		}
		t.Logf("logout on gateway 1 answered and closed the socket on gateway 2 in %v", d)
		// Refused on gateway 2 at once, not when its 30 s cache runs out.
		expectError(t, gw2, alice.token, "GET", "/api/v1/users/me", nil, http.StatusUnauthorized, "unauthorized")
		expectError(t, gw2, alice.token, "POST", "/api/v1/auth/logout", nil, http.StatusUnauthorized, "unauthorized")
		// The user's other session goes on.
		pingPong(t, kept, "after")
		call(t, gw1, other, "GET", "/api/v1/users/me", nil, http.StatusOK, nil)
	})

	t.Run("a socket is closed when its token expires and runs nothing after", func(t *testing.T) {
		bob := newAccount(t, gw3, "sess_bob")
		token, expires := loginUntil(t, gw3, "sess_bob")
		room, _ := account{user: bob.user, token: token, base: gw3}.createRoom(t, "sess-room")
		ws := dialWS(t, "bob@gw3", gw3, token)
		if err := ws.sendJSON(map[string]any{"type": "send_message", "id": "early", "room_id": room.ID, "content": "before the end"}); err != nil {
			t.Fatal(err)
		}
		if f, _, err := ws.waitFor(5*time.Second, answerTo("early")); err != nil || f.Type != "ack" {
			t.Fatalf("message before the end: %v %v", f, err)
		}
		time.Sleep(time.Until(expires))
		// Sent at the end: the server may have closed already (then the write fails), but it
		// must not run it either way.
		_ = ws.sendJSON(map[string]any{"type": "send_message", "id": "late", "room_id": room.ID, "content": "after the end"})
		expectSessionEnded(t, ws, "session_expired", 3*time.Second)
		if d := time.Since(expires); d > 1500*time.Millisecond {
			t.Errorf("closed %v after the token expired", d)
		}
		for {
			f, err := ws.next(0)
			if err != nil {
				break
			}
			if f.ID == "late" {
				t.Errorf("the frame sent after the end was answered: %s", f.raw)
			}
		}
		expectError(t, gw3, token, "GET", "/api/v1/users/me", nil, http.StatusUnauthorized, "unauthorized")

		// A message sent later, with a new login, is projected after the late one would have been.
		bob.token = login(t, gw1, "sess_bob")
		var sent messageAnswer
		call(t, gw1, bob.token, "POST", "/api/v1/rooms/"+room.ID+"/messages", map[string]any{"content": "with a new token"}, http.StatusCreated, &sent)
		var contents []string
		for _, m := range bob.fullHistory(t, room.ID, sent.Position) {
			contents = append(contents, m.Content)
		}
		if fmt.Sprint(contents) != "[before the end with a new token]" {
			t.Errorf("room history %q, want the messages before the end and with the new token only", contents)
		}
	})

	t.Run("a refreshed socket stays open past the token's end", func(t *testing.T) {
		register(t, gw3, "sess_carol")
		token, expires := loginUntil(t, gw3, "sess_carol")
		ws := dialWS(t, "carol@gw3", gw3, token)
		stale := dialWS(t, "carol-stale@gw2", gw2, token) // never told the new token
		time.Sleep(500 * time.Millisecond)

		var out struct {
			Token     string    `json:"token"`
			ExpiresAt time.Time `json:"expires_at"`
		}
		call(t, gw3, token, "POST", "/api/v1/auth/refresh", nil, http.StatusOK, &out)
		if out.Token == "" || out.Token == token || !out.ExpiresAt.After(expires) {
			t.Fatalf("refresh answered %+v; the old token ended %v", out, expires)
		}
		if err := ws.sendJSON(map[string]any{"type": "reauth", "id": "re", "token": out.Token}); err != nil {
			t.Fatal(err)
		}
		if f, _, err := ws.waitFor(5*time.Second, answerTo("re")); err != nil || f.Type != "ack" {
			t.Fatalf("reauth answered %v, %v", f, err)
		}
		// The socket on gateway 2 still runs on the old token, which now ends with the 1 s grace,
		// before its own expiry.
		expectSessionEnded(t, stale, "session_expired", 3*time.Second)
		if time.Now().After(expires) {
			t.Errorf("the stale socket closed only at the token's expiry, not at the end of the grace")
		}
		time.Sleep(time.Until(expires) + 500*time.Millisecond)
		pingPong(t, ws, "past-the-end")
		call(t, gw3, out.Token, "GET", "/api/v1/users/me", nil, http.StatusOK, nil)
		expectError(t, gw3, token, "GET", "/api/v1/users/me", nil, http.StatusUnauthorized, "unauthorized")
	})
}
