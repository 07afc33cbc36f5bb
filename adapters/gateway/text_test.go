package gateway

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/chorus-chat/chorus/domain"
)

// A NUL in any text field is validation_failed, over HTTP: before the text rule the command was
// accepted and its event could not be stored by the projections.
func TestHTTPRefusesNULInText(t *testing.T) {
	e := newEnv(t, nil)
	token, _ := e.user("nora")
	room := e.room(token, map[string]any{"name": "r"})
	sent := e.mustDo(http.StatusCreated, "POST", "/api/v1/rooms/"+room.String()+"/messages", token, map[string]any{"content": "hi"})
	msgID := sent.body["message"].(map[string]any)["id"].(string)
	for _, tc := range []struct {
		what, method, path, token string
		body                      any
	}{
		{"room name", "POST", "/api/v1/rooms", token, map[string]any{"name": "nul\x00room"}},
		{"room description", "POST", "/api/v1/rooms", token, map[string]any{"name": "ok", "description": "a\x00"}},
		{"room rename", "PATCH", "/api/v1/rooms/" + room.String(), token, map[string]any{"name": "x\x00"}},
		{"message", "POST", "/api/v1/rooms/" + room.String() + "/messages", token, map[string]any{"content": "hi\x00there"}},
		{"edit", "PATCH", "/api/v1/rooms/" + room.String() + "/messages/" + msgID, token, map[string]any{"content": "edit\x00"}},
		{"display name at register", "POST", "/api/v1/auth/register", "", map[string]any{"username": "nul_user", "password": "password-x", "display_name": "N\x00"}},
		{"display name", "PATCH", "/api/v1/users/me", token, map[string]any{"display_name": "N\x00"}},
		{"invisible room name", "POST", "/api/v1/rooms", token, map[string]any{"name": "\u200b\u200d"}},
		{"bidi override in a display name", "PATCH", "/api/v1/users/me", token, map[string]any{"display_name": "\u202enimda"}},
		{"a username of dots", "POST", "/api/v1/auth/register", "", map[string]any{"username": "...", "password": "password-x"}},
	} {
		r := e.do(tc.method, tc.path, tc.token, tc.body)
		wantErr(t, tc.what, r, http.StatusBadRequest, domain.CodeValidationFailed)
	}
	// The name of the refused registration is not taken.
	e.mustDo(http.StatusCreated, "POST", "/api/v1/auth/register", "", map[string]any{"username": "nul_user", "password": "password-x"})
	e.mustDo(http.StatusOK, "POST", "/api/v1/auth/login", "", map[string]any{"username": "nul_user", "password": "password-x"})
}

// Invalid UTF-8 in a body is 400, not stored with U+FFFD in place of the bad bytes.
func TestHTTPRefusesInvalidUTF8(t *testing.T) {
	e := newEnv(t, nil)
	token, _ := e.user("olga")
	r := e.do("POST", "/api/v1/rooms", token, "{\"name\":\"caf\xe9\"}")
	wantErr(t, "Latin-1 room name", r, http.StatusBadRequest, domain.CodeValidationFailed)
	if msg := r.body["error"].(map[string]any)["message"].(string); !strings.Contains(msg, "UTF-8") {
		t.Fatalf("message %q does not say what is wrong", msg)
	}
	if rooms := e.mustDo(http.StatusOK, "GET", "/api/v1/rooms", token, nil); strings.Contains(rooms.raw, "caf") {
		t.Fatalf("the room was created: %s", rooms.raw)
	}
	// Query text goes to Postgres, which refuses NUL and invalid UTF-8: 400, not a 500.
	for _, path := range []string{"/api/v1/rooms?q=a%00", "/api/v1/users?q=%FF", "/api/v1/search/messages?q=a%00b"} {
		wantErr(t, path, e.do("GET", path, token, nil), http.StatusBadRequest, domain.CodeValidationFailed)
	}
	// A username with NUL names no one.
	wantErr(t, "login with NUL", e.do("POST", "/api/v1/auth/login", "", map[string]any{"username": "olga\x00", "password": "password-olga"}),
		http.StatusUnauthorized, codeInvalidCredentials)
	// A wrong type is named by its JSON field, in JSON's words.
	r = e.do("POST", "/api/v1/rooms", token, `{"name": 5}`)
	wantErr(t, "wrong type", r, http.StatusBadRequest, domain.CodeValidationFailed)
	if msg := r.body["error"].(map[string]any)["message"].(string); !strings.Contains(msg, `"name": expected a string, got number`) {
		t.Fatalf("message %q", msg)
	}
}

// A text frame that is not UTF-8 fails the connection with 1007 (RFC 6455 8.1), after an
// invalid_frame error saying why.
func TestWSInvalidUTF8Closes1007(t *testing.T) {
	e := newEnv(t, nil)
	token, _ := e.user("pavel")
	room := e.room(token, map[string]any{"name": "r"})
	ws := e.dial(token)
	send(t, ws, "{\"type\":\"send_message\",\"id\":\"u1\",\"room_id\":\""+room.String()+"\",\"content\":\"caf\xe9\"}")
	f := expect(t, ws, "error", "")
	if f.str("code") != codeInvalidFrame || !strings.Contains(f.str("message"), "UTF-8") {
		t.Fatalf("got %v", f)
	}
	_ = ws.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, _, err := ws.ReadMessage()
	var ce *websocket.CloseError
	if !errors.As(err, &ce) || ce.Code != websocket.CloseInvalidFramePayloadData {
		t.Fatalf("after invalid UTF-8: %v, want close 1007", err)
	}
	if msgs := e.mustDo(http.StatusOK, "GET", "/api/v1/rooms/"+room.String()+"/messages", token, nil); strings.Contains(msgs.raw, "caf") {
		t.Fatalf("the message was stored: %s", msgs.raw)
	}
}

// A frame field of the wrong type is named as the client wrote it, in JSON's words, and a NUL
// in a frame's text is validation_failed as over HTTP.
func TestWSErrorsNameTheField(t *testing.T) {
	e := newEnv(t, nil)
	token, _ := e.user("quinn")
	room := e.room(token, map[string]any{"name": "r"})
	ws := e.dial(token)
	for _, tc := range []struct {
		frame map[string]any
		code  string
		want  string
	}{
		{map[string]any{"type": "send_message", "room_id": room.String(), "content": 5}, codeInvalidFrame, `"content": expected a string, got number`},
		{map[string]any{"type": "mark_read", "room_id": room.String(), "seq": "7"}, codeInvalidFrame, `"seq": expected an integer, got string`},
		{map[string]any{"type": "create_room", "name": "r2", "is_private": "yes"}, codeInvalidFrame, `"is_private": expected true or false, got string`},
		{map[string]any{"type": "send_message", "room_id": room.String(), "content": "a\x00b"}, domain.CodeValidationFailed, "NUL"},
		{map[string]any{"type": "create_room", "name": "\u2066\u2069"}, domain.CodeValidationFailed, "bidirectional"},
	} {
		tc.frame["id"] = "t"
		send(t, ws, tc.frame)
		f := expect(t, ws, "error", "t")
		msg := f.str("message")
		if f.str("code") != tc.code || !strings.Contains(msg, tc.want) || strings.Contains(msg, "Go struct") || strings.Contains(msg, "unmarshal") {
			t.Errorf("%v: got %v, want %s saying %q", tc.frame, f, tc.code, tc.want)
		}
	}
}
