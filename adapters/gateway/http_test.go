package gateway

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/chorus-chat/chorus/commands"
	"github.com/chorus-chat/chorus/domain"
	"github.com/chorus-chat/chorus/projections/readmodel"
)

func TestRegisterLoginMe(t *testing.T) {
	e := newEnv(t, nil)
	r := e.mustDo(http.StatusCreated, "POST", "/api/v1/auth/register", "",
		map[string]any{"username": "Alice", "password": "correct horse", "display_name": "Alice A."})
	u := r.body["user"].(map[string]any)
	if u["username"] != "Alice" || u["display_name"] != "Alice A." || u["id"] != domain.UserIDFor("alice").String() {
		t.Fatalf("register answered %v", u)
	}
	// The hash travels outside the command: nothing secret in the dispatched command.
	for _, cmd := range e.w.dispatched {
		if strings.Contains(fmt.Sprintf("%+v", cmd), "correct horse") {
			t.Fatalf("password in command %+v", cmd)
		}
	}

	r = e.mustDo(http.StatusConflict, "POST", "/api/v1/auth/register", "", map[string]any{"username": "alice", "password": "whatever1"})
	if r.errCode() != domain.CodeUsernameTaken {
		t.Fatalf("duplicate register: %s", r.raw)
	}

	r = e.mustDo(http.StatusOK, "POST", "/api/v1/auth/login", "", map[string]any{"username": "Alice", "password": "correct horse"})
	token, _ := r.body["token"].(string)
	if token == "" || r.body["expires_at"] == nil || r.body["user"].(map[string]any)["username"] != "Alice" {
		t.Fatalf("login answered %s", r.raw)
	}
	r = e.mustDo(http.StatusOK, "GET", "/api/v1/users/me", token, nil)
	if r.body["username"] != "Alice" {
		t.Fatalf("me: %s", r.raw)
	}
	r = e.mustDo(http.StatusOK, "GET", "/api/v1/users/"+domain.UserIDFor("alice").String(), token, nil)
	if r.body["username"] != "Alice" {
		t.Fatalf("user by id: %s", r.raw)
	}
	r = e.mustDo(http.StatusOK, "GET", "/api/v1/users?q=ali&limit=10", token, nil)
	if users := r.body["users"].([]any); len(users) != 1 {
		t.Fatalf("search: %s", r.raw)
	}
	e.mustDo(http.StatusNotFound, "GET", "/api/v1/users/not-a-uuid", token, nil)
	e.mustDo(http.StatusNotFound, "GET", "/api/v1/users/"+uuid.NewString(), token, nil)
	e.mustDo(http.StatusBadRequest, "GET", "/api/v1/users?limit=0", token, nil)
}

func TestRegisterValidation(t *testing.T) {
	e := newEnv(t, nil)
	for _, body := range []map[string]any{
		{"username": "al", "password": "long enough"},
		{"username": "bad name!", "password": "long enough"},
		{"username": "bob", "password": "short"},
		{"username": "bob", "password": strings.Repeat("x", 73)},
		{"username": "bob", "password": "long enough", "email": "not an email"},
	} {
		r := e.mustDo(http.StatusBadRequest, "POST", "/api/v1/auth/register", "", body)
		if r.errCode() != domain.CodeValidationFailed {
			t.Errorf("%v: %s", body, r.raw)
		}
	}
}

func TestLoginFailures(t *testing.T) {
	e := newEnv(t, nil)
	e.user("carol")
	for _, body := range []map[string]any{
		{"username": "carol", "password": "wrong password"},
		{"username": "nobody", "password": "any password"},
	} {
		r := e.mustDo(http.StatusUnauthorized, "POST", "/api/v1/auth/login", "", body)
		if r.errCode() != codeInvalidCredentials {
			t.Errorf("%v: %s", body, r.raw)
		}
	}
}

func TestHTTPErrorShapes(t *testing.T) {
	e := newEnv(t, nil)
	token, _ := e.user("dave")
	cases := []struct {
		name, method, path, token string
		body                      any
		status                    int
		code                      string
	}{
		{"bad JSON", "POST", "/api/v1/auth/register", "", `{"username": "x",`, 400, domain.CodeValidationFailed},
		{"JSON of the wrong type", "POST", "/api/v1/rooms", token, `{"name": 5}`, 400, domain.CodeValidationFailed},
		{"not an object", "POST", "/api/v1/rooms", token, `[1,2]`, 400, domain.CodeValidationFailed},
		{"missing body", "POST", "/api/v1/auth/login", "", nil, 400, domain.CodeValidationFailed},
		{"unknown route", "GET", "/api/v1/nope", token, nil, 404, codeNotFound},
		{"unknown route outside the API", "GET", "/nope", "", nil, 404, codeNotFound},
		{"method not allowed", "DELETE", "/api/v1/rooms", token, nil, 405, codeMethodNotAllowed},
		{"no token", "GET", "/api/v1/users/me", "", nil, 401, codeUnauthorized},
		{"bad token", "GET", "/api/v1/rooms", "forged", nil, 401, codeUnauthorized},
		{"body too large", "POST", "/api/v1/rooms", token, `{"name":"` + strings.Repeat("x", 70<<10) + `"}`, 413, codePayloadTooLarge},
		{"malformed room id", "GET", "/api/v1/rooms/xyz", token, nil, 404, domain.CodeRoomNotFound},
		{"unknown room", "POST", "/api/v1/rooms/" + uuid.NewString() + "/join", token, nil, 404, domain.CodeRoomNotFound},
		{"bad position", "GET", "/api/v1/rooms?position=garbage", token, nil, 400, domain.CodeValidationFailed},
		{"domain validation", "POST", "/api/v1/rooms", token, map[string]any{"name": "  "}, 400, domain.CodeValidationFailed},
		{"password on a public room", "POST", "/api/v1/rooms", token, map[string]any{"name": "r", "password": "pw"}, 400, domain.CodeValidationFailed},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := e.do(tc.method, tc.path, tc.token, tc.body)
			if r.status != tc.status || r.errCode() != tc.code {
				t.Fatalf("got %d %s, want %d %s", r.status, r.raw, tc.status, tc.code)
			}
			if msg, _ := r.body["error"].(map[string]any)["message"].(string); msg == "" {
				t.Fatalf("no message: %s", r.raw)
			}
		})
	}
}

func TestDispatchFailures(t *testing.T) {
	e := newEnv(t, nil)
	token, _ := e.user("erin")
	room := e.room(token, map[string]any{"name": "general"})
	path := "/api/v1/rooms/" + room.String() + "/messages"

	e.w.set(func(w *world) { w.dispatchErr = commands.ErrTimeout })
	r := e.mustDo(http.StatusGatewayTimeout, "POST", path, token, map[string]any{"content": "hi", "client_msg_id": "c1"})
	if r.errCode() != codeTimeout || !strings.Contains(r.raw, "same client_msg_id is safe") {
		t.Fatalf("timeout: %s", r.raw)
	}
	e.w.set(func(w *world) { w.dispatchErr = commands.ErrUnavailable })
	r = e.mustDo(http.StatusServiceUnavailable, "POST", path, token, map[string]any{"content": "hi"})
	if r.errCode() != codeUnavailable {
		t.Fatalf("unavailable: %s", r.raw)
	}
	e.w.set(func(w *world) { w.dispatchErr = nil })

	// The retry after the timeout is the same command: one message, answered twice alike.
	a := e.mustDo(http.StatusCreated, "POST", path, token, map[string]any{"content": "hi", "client_msg_id": "c1"})
	b := e.mustDo(http.StatusCreated, "POST", path, token, map[string]any{"content": "hi", "client_msg_id": "c1"})
	ma, mb := a.body["message"].(map[string]any), b.body["message"].(map[string]any)
	if ma["id"] != mb["id"] || ma["seq"] != mb["seq"] || a.body["position"] == "" {
		t.Fatalf("retry answered differently: %s / %s", a.raw, b.raw)
	}
	r = e.mustDo(http.StatusOK, "GET", path, token, nil)
	if n := len(r.body["messages"].([]any)); n != 1 {
		t.Fatalf("%d messages after a retried send", n)
	}
}

func TestInternalErrorIsGeneric(t *testing.T) {
	e := newEnv(t, nil)
	token, _ := e.user("frank")
	e.w.set(func(w *world) { w.listRoomsErr = errBoom })
	r := e.mustDo(http.StatusInternalServerError, "GET", "/api/v1/rooms", token, nil)
	if r.errCode() != codeInternal || strings.Contains(r.raw, "secret") {
		t.Fatalf("internal error answered %s", r.raw)
	}
}

func TestPositionNotCaughtUp(t *testing.T) {
	e := newEnv(t, nil)
	token, _ := e.user("gina")
	r := e.mustDo(http.StatusCreated, "POST", "/api/v1/rooms", token, map[string]any{"name": "r"})
	pos := r.body["position"].(string)
	e.mustDo(http.StatusOK, "GET", "/api/v1/rooms?position="+pos, token, nil)

	e.w.set(func(w *world) { w.waitErr = readmodel.ErrNotCaughtUp })
	r = e.mustDo(http.StatusServiceUnavailable, "GET", "/api/v1/rooms?position="+pos, token, nil)
	if r.errCode() != codeNotCaughtUp {
		t.Fatalf("not caught up: %s", r.raw)
	}
}

func TestRoomsAndVisibility(t *testing.T) {
	e := newEnv(t, nil)
	owner, ownerID := e.user("henry")
	other, _ := e.user("iris")

	r := e.mustDo(http.StatusCreated, "POST", "/api/v1/rooms", owner, map[string]any{"name": "public", "description": "d"})
	room := r.body["room"].(map[string]any)
	if room["name"] != "public" || room["owner_id"] != ownerID.String() || r.body["position"] == "" {
		t.Fatalf("create room: %s", r.raw)
	}
	pub := uuid.MustParse(room["id"].(string))
	priv := e.room(owner, map[string]any{"name": "secret", "is_private": true, "password": "letmein"})
	// A room password enters the command only as a bcrypt hash.
	last := e.w.dispatched[len(e.w.dispatched)-1].Payload.(domain.CreateRoom)
	if !strings.HasPrefix(last.PasswordHash, "$2") {
		t.Fatalf("room password hash %q", last.PasswordHash)
	}

	e.mustDo(http.StatusOK, "GET", "/api/v1/rooms/"+pub.String(), other, nil)
	e.mustDo(http.StatusOK, "GET", "/api/v1/rooms/"+pub.String()+"/members", other, nil)
	r = e.mustDo(http.StatusForbidden, "GET", "/api/v1/rooms/"+pub.String()+"/messages", other, nil)
	if r.errCode() != domain.CodeNotAMember {
		t.Fatalf("public history for a non-member: %s", r.raw)
	}
	for _, p := range []string{"", "/members", "/messages"} {
		r = e.mustDo(http.StatusNotFound, "GET", "/api/v1/rooms/"+priv.String()+p, other, nil)
		if r.errCode() != domain.CodeRoomNotFound {
			t.Fatalf("private room%s for a non-member: %s", p, r.raw)
		}
	}
	r = e.mustDo(http.StatusOK, "GET", "/api/v1/rooms", other, nil)
	if n := len(r.body["rooms"].([]any)); n != 1 {
		t.Fatalf("other sees %d rooms: %s", n, r.raw)
	}
	e.mustDo(http.StatusOK, "GET", "/api/v1/rooms/"+priv.String()+"/members", owner, nil)

	// Join (body optional, or with a password), reject a second join, leave.
	r = e.mustDo(http.StatusOK, "POST", "/api/v1/rooms/"+pub.String()+"/join", other, nil)
	if r.body["position"] == "" {
		t.Fatalf("join: %s", r.raw)
	}
	r = e.mustDo(http.StatusConflict, "POST", "/api/v1/rooms/"+pub.String()+"/join", other, map[string]any{"password": "x"})
	if r.errCode() != domain.CodeAlreadyMember {
		t.Fatalf("second join: %s", r.raw)
	}
	e.mustDo(http.StatusOK, "GET", "/api/v1/rooms/"+pub.String()+"/messages", other, nil)
	for _, body := range []map[string]any{nil, {"password": "wrong"}} {
		r = e.mustDo(http.StatusForbidden, "POST", "/api/v1/rooms/"+priv.String()+"/join", other, body)
		if r.errCode() != domain.CodeWrongPassword {
			t.Fatalf("join private with password %v: %s", body, r.raw)
		}
	}
	e.mustDo(http.StatusOK, "POST", "/api/v1/rooms/"+priv.String()+"/join", other, map[string]any{"password": "letmein"})
	if join := e.w.dispatched[len(e.w.dispatched)-1].Payload.(domain.JoinRoom); !strings.HasPrefix(join.PasswordHash, "$2") {
		t.Fatalf("a join carries the matched hash, never the password: %+v", join)
	}
	e.mustDo(http.StatusOK, "POST", "/api/v1/rooms/"+pub.String()+"/leave", other, nil)
	r = e.mustDo(http.StatusForbidden, "POST", "/api/v1/rooms/"+pub.String()+"/leave", other, nil)
	if r.errCode() != domain.CodeNotAMember {
		t.Fatalf("second leave: %s", r.raw)
	}
}

func TestSendMessageHTTP(t *testing.T) {
	e := newEnv(t, nil)
	token, userID := e.user("jack")
	room := e.room(token, map[string]any{"name": "r"})
	path := "/api/v1/rooms/" + room.String() + "/messages"
	r := e.mustDo(http.StatusCreated, "POST", path, token, map[string]any{"content": " hello ", "message_type": "text"})
	m := r.body["message"].(map[string]any)
	if m["content"] != "hello" || m["sender_id"] != userID.String() || m["seq"] != float64(1) || r.body["position"] == "" {
		t.Fatalf("send: %s", r.raw)
	}
	r = e.mustDo(http.StatusCreated, "POST", path, token, map[string]any{"content": "re", "reply_to_message_id": m["id"]})
	if r.body["message"].(map[string]any)["reply_to_message_id"] != m["id"] {
		t.Fatalf("reply: %s", r.raw)
	}
	for body, code := range map[string]string{
		`{"content":"x","reply_to_message_id":"` + uuid.NewString() + `"}`: domain.CodeMessageNotFound,
		`{"content":"x","reply_to_message_id":"nope"}`:                     domain.CodeValidationFailed,
		`{"content":""}`: domain.CodeValidationFailed,
		`{"content":"x","message_type":"system"}`: domain.CodeValidationFailed,
	} {
		if r := e.do("POST", path, token, body); r.errCode() != code {
			t.Errorf("%s: %s, want %s", body, r.raw, code)
		}
	}
}

func TestHistoryParams(t *testing.T) {
	e := newEnv(t, nil)
	token, _ := e.user("kate")
	room := e.room(token, map[string]any{"name": "r"})
	path := "/api/v1/rooms/" + room.String() + "/messages"
	for i := 1; i <= 5; i++ {
		e.mustDo(http.StatusCreated, "POST", path, token, map[string]any{"content": fmt.Sprint("m", i)})
	}
	for _, q := range []string{"limit=0", "limit=201", "limit=abc", "limit=-1", "before_seq=-1", "after_seq=x", "before_seq=3&after_seq=1", "before_seq=1.5"} {
		r := e.do("GET", path+"?"+q, token, nil)
		if r.status != http.StatusBadRequest || r.errCode() != domain.CodeValidationFailed {
			t.Errorf("?%s: %d %s", q, r.status, r.raw)
		}
	}
	seqs := func(q string) ([]float64, bool) {
		r := e.mustDo(http.StatusOK, "GET", path+"?"+q, token, nil)
		var out []float64
		for _, m := range r.body["messages"].([]any) {
			out = append(out, m.(map[string]any)["seq"].(float64))
		}
		return out, r.body["has_more"].(bool)
	}
	for q, want := range map[string]string{
		"":                     "[1 2 3 4 5] false",
		"limit=2":              "[4 5] true",
		"limit=2&after_seq=1":  "[2 3] true",
		"limit=2&before_seq=3": "[1 2] false",
		"limit=200":            "[1 2 3 4 5] false",
	} {
		got, more := seqs(q)
		if s := fmt.Sprint(got, " ", more); s != want {
			t.Errorf("?%s: %s, want %s", q, s, want)
		}
	}
}
