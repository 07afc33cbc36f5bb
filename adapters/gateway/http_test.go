package gateway

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
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

// doKey is do with an Idempotency-Key header.
func (e *env) doKey(method, path, token, key string, body any) response {
	e.t.Helper()
	buf, err := json.Marshal(body)
	if err != nil {
		e.t.Fatal(err)
	}
	req, err := http.NewRequest(method, e.srv.URL+path, bytes.NewReader(buf))
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Idempotency-Key", key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	r := response{status: resp.StatusCode, raw: string(raw)}
	_ = json.Unmarshal(raw, &r.body)
	return r
}

// wantErr fails the test unless r is the error status and code.
func wantErr(t *testing.T, what string, r response, status int, code string) {
	t.Helper()
	if r.status != status || r.errCode() != code {
		t.Fatalf("%s: got %d %s, want %d %s", what, r.status, r.raw, status, code)
	}
}

// wantPosition fails the test unless r is status with a non-empty position.
func wantPosition(t *testing.T, what string, r response, status int) {
	t.Helper()
	if r.status != status || r.body["position"] == "" || r.body["position"] == nil {
		t.Fatalf("%s: got %d %s, want %d with a position", what, r.status, r.raw, status)
	}
}

func TestUpdateAndDeleteRoomHTTP(t *testing.T) {
	e := newEnv(t, nil)
	owner, _ := e.user("olga")
	admin, adminID := e.user("adam")
	member, _ := e.user("mike")
	stranger, _ := e.user("stan")
	room := e.room(owner, map[string]any{"name": "before", "description": "old"})
	path := "/api/v1/rooms/" + room.String()
	e.mustDo(http.StatusOK, "POST", path+"/join", admin, nil)
	e.mustDo(http.StatusOK, "POST", path+"/join", member, nil)
	e.mustDo(http.StatusOK, "PUT", path+"/members/"+adminID.String()+"/role", owner, map[string]any{"role": "admin"})

	r := e.mustDo(http.StatusOK, "PATCH", path, owner, map[string]any{"name": " after "})
	got := r.body["room"].(map[string]any)
	if got["name"] != "after" || got["description"] != "old" || got["id"] != room.String() || got["member_count"] != float64(3) || r.body["position"] == "" {
		t.Fatalf("patch by owner: %s", r.raw)
	}
	r = e.mustDo(http.StatusOK, "PATCH", path, admin, map[string]any{"description": ""})
	if got := r.body["room"].(map[string]any); got["name"] != "after" || got["description"] != "" {
		t.Fatalf("patch by admin: %s", r.raw)
	}
	if r := e.mustDo(http.StatusOK, "GET", path, stranger, nil); r.body["name"] != "after" {
		t.Fatalf("room after updates: %s", r.raw)
	}
	wantErr(t, "patch by a member", e.do("PATCH", path, member, map[string]any{"name": "x"}), 403, domain.CodeForbidden)
	wantErr(t, "patch by a stranger", e.do("PATCH", path, stranger, map[string]any{"name": "x"}), 403, domain.CodeForbidden)
	wantErr(t, "patch with nothing", e.do("PATCH", path, owner, map[string]any{}), 400, domain.CodeValidationFailed)
	wantErr(t, "patch without a body", e.do("PATCH", path, owner, nil), 400, domain.CodeValidationFailed)
	wantErr(t, "patch with a long name", e.do("PATCH", path, owner, map[string]any{"name": strings.Repeat("n", 101)}), 400, domain.CodeValidationFailed)
	wantErr(t, "patch an unknown room", e.do("PATCH", "/api/v1/rooms/"+uuid.NewString(), owner, map[string]any{"name": "x"}), 404, domain.CodeRoomNotFound)

	wantErr(t, "delete by an admin", e.do("DELETE", path, admin, nil), 403, domain.CodeForbidden)
	wantErr(t, "delete by a member", e.do("DELETE", path, member, nil), 403, domain.CodeForbidden)
	r = e.mustDo(http.StatusOK, "DELETE", path, owner, nil)
	if len(r.body) != 1 || r.body["position"] == "" {
		t.Fatalf("delete: %s", r.raw)
	}
	// Reads: room_deleted to its members, room_not_found to others; commands: 409 room_deleted.
	for _, p := range []string{"", "/members", "/messages"} {
		wantErr(t, "member reads deleted room"+p, e.do("GET", path+p, member, nil), 404, domain.CodeRoomDeleted)
		wantErr(t, "stranger reads deleted room"+p, e.do("GET", path+p, stranger, nil), 404, domain.CodeRoomNotFound)
	}
	wantErr(t, "delete again", e.do("DELETE", path, owner, nil), 409, domain.CodeRoomDeleted)
	wantErr(t, "patch deleted", e.do("PATCH", path, owner, map[string]any{"name": "x"}), 409, domain.CodeRoomDeleted)
	wantErr(t, "post to deleted", e.do("POST", path+"/messages", member, map[string]any{"content": "x"}), 409, domain.CodeRoomDeleted)
	wantErr(t, "join deleted", e.do("POST", path+"/join", stranger, nil), 409, domain.CodeRoomDeleted)
	if r := e.mustDo(http.StatusOK, "GET", "/api/v1/rooms", owner, nil); len(r.body["rooms"].([]any)) != 0 {
		t.Fatalf("deleted room still listed: %s", r.raw)
	}
}

func TestEditAndDeleteMessageHTTP(t *testing.T) {
	e := newEnv(t, nil)
	owner, _ := e.user("oona")
	author, authorID := e.user("abel")
	other, _ := e.user("otto")
	room := e.room(owner, map[string]any{"name": "r"})
	base := "/api/v1/rooms/" + room.String()
	e.mustDo(http.StatusOK, "POST", base+"/join", author, nil)
	e.mustDo(http.StatusOK, "POST", base+"/join", other, nil)
	sent := e.mustDo(http.StatusCreated, "POST", base+"/messages", author, map[string]any{"content": "frist"}).body["message"].(map[string]any)
	msg := base + "/messages/" + sent["id"].(string)

	r := e.mustDo(http.StatusOK, "PATCH", msg, author, map[string]any{"content": " first "})
	m := r.body["message"].(map[string]any)
	if m["id"] != sent["id"] || m["content"] != "first" || m["seq"] != sent["seq"] || m["sender_id"] != authorID.String() ||
		m["edited_at"] == nil || m["deleted"] != false || m["created_at"] != sent["created_at"] || r.body["position"] == "" {
		t.Fatalf("edit: %s", r.raw)
	}
	wantErr(t, "edit by another member", e.do("PATCH", msg, other, map[string]any{"content": "x"}), 403, domain.CodeForbidden)
	wantErr(t, "edit by the owner", e.do("PATCH", msg, owner, map[string]any{"content": "x"}), 403, domain.CodeForbidden)
	wantErr(t, "edit without content", e.do("PATCH", msg, author, map[string]any{}), 400, domain.CodeValidationFailed)
	wantErr(t, "edit to blank", e.do("PATCH", msg, author, map[string]any{"content": "  "}), 400, domain.CodeValidationFailed)
	wantErr(t, "edit an unknown message", e.do("PATCH", base+"/messages/"+uuid.NewString(), author, map[string]any{"content": "x"}), 404, domain.CodeMessageNotFound)
	wantErr(t, "edit a malformed id", e.do("PATCH", base+"/messages/nope", author, map[string]any{"content": "x"}), 404, domain.CodeMessageNotFound)
	wantErr(t, "delete by another member", e.do("DELETE", msg, other, nil), 403, domain.CodeForbidden)

	// The owner (a moderator) deletes another's message; it stays in history, emptied.
	wantPosition(t, "delete by the owner", e.do("DELETE", msg, owner, nil), 200)
	h := e.mustDo(http.StatusOK, "GET", base+"/messages", other, nil).body["messages"].([]any)
	if len(h) != 1 || h[0].(map[string]any)["deleted"] != true || h[0].(map[string]any)["content"] != "" {
		t.Fatalf("history after delete: %v", h)
	}
	wantErr(t, "delete again", e.do("DELETE", msg, author, nil), 404, domain.CodeMessageNotFound)
	wantErr(t, "edit deleted", e.do("PATCH", msg, author, map[string]any{"content": "x"}), 404, domain.CodeMessageNotFound)

	// The author deletes their own.
	own := e.mustDo(http.StatusCreated, "POST", base+"/messages", author, map[string]any{"content": "mine"}).body["message"].(map[string]any)
	wantPosition(t, "delete own", e.do("DELETE", base+"/messages/"+own["id"].(string), author, nil), 200)
	e.mustDo(http.StatusOK, "POST", base+"/leave", other, nil)
	wantErr(t, "delete after leaving", e.do("DELETE", msg, other, nil), 403, domain.CodeNotAMember)
}

func TestUpdateProfileHTTP(t *testing.T) {
	e := newEnv(t, nil)
	token, id := e.user("pia")
	r := e.mustDo(http.StatusOK, "PATCH", "/api/v1/users/me", token,
		map[string]any{"display_name": "Pia P.", "avatar_url": "https://example.com/p.png", "email": "pia@example.com"})
	u := r.body["user"].(map[string]any)
	if u["id"] != id.String() || u["username"] != "pia" || u["display_name"] != "Pia P." || u["avatar_url"] != "https://example.com/p.png" ||
		u["email"] != "pia@example.com" || r.body["position"] == "" {
		t.Fatalf("patch me: %s", r.raw)
	}
	// Only the given fields change; "" resets the display name and clears the others.
	r = e.mustDo(http.StatusOK, "PATCH", "/api/v1/users/me", token, map[string]any{"display_name": "", "email": ""})
	u = r.body["user"].(map[string]any)
	if u["display_name"] != "pia" || u["email"] != nil || u["avatar_url"] != "https://example.com/p.png" {
		t.Fatalf("second patch: %s", r.raw)
	}
	if me := e.mustDo(http.StatusOK, "GET", "/api/v1/users/me", token, nil); me.body["display_name"] != "pia" {
		t.Fatalf("me after patches: %s", me.raw)
	}
	for name, body := range map[string]any{
		"nothing":     map[string]any{},
		"bad email":   map[string]any{"email": "not an email"},
		"bad avatar":  map[string]any{"avatar_url": "ftp://x"},
		"long name":   map[string]any{"display_name": strings.Repeat("d", 65)},
		"wrong type":  `{"display_name": 5}`,
		"not a body":  nil,
		"null fields": map[string]any{"display_name": nil},
	} {
		wantErr(t, name, e.do("PATCH", "/api/v1/users/me", token, body), 400, domain.CodeValidationFailed)
	}
	wantErr(t, "no token", e.do("PATCH", "/api/v1/users/me", "", map[string]any{"display_name": "x"}), 401, codeUnauthorized)
}

func TestModerationHTTP(t *testing.T) {
	e := newEnv(t, nil)
	owner, _ := e.user("ophelia")
	admin, adminID := e.user("aaron")
	member, memberID := e.user("mia")
	guest, guestID := e.user("gus")
	room := e.room(owner, map[string]any{"name": "club", "is_private": true, "password": "sesame"})
	base := "/api/v1/rooms/" + room.String()
	e.mustDo(http.StatusOK, "POST", base+"/join", admin, map[string]any{"password": "sesame"})
	e.mustDo(http.StatusOK, "POST", base+"/join", member, map[string]any{"password": "sesame"})

	// Roles: owner only; admin or member; the target must be a member.
	role := func(token string, user uuid.UUID, r string) response {
		return e.do("PUT", base+"/members/"+user.String()+"/role", token, map[string]any{"role": r})
	}
	wantErr(t, "role by a member", role(member, adminID, "admin"), 403, domain.CodeForbidden)
	wantPosition(t, "role by the owner", role(owner, adminID, "admin"), 200)
	wantErr(t, "role by an admin", role(admin, memberID, "admin"), 403, domain.CodeForbidden)
	wantErr(t, "bad role", role(owner, memberID, "king"), 400, domain.CodeValidationFailed)
	wantErr(t, "role without a body", e.do("PUT", base+"/members/"+memberID.String()+"/role", owner, map[string]any{}), 400, domain.CodeValidationFailed)
	wantErr(t, "role of a non-member", role(owner, guestID, "admin"), 403, domain.CodeNotAMember)
	wantErr(t, "role of a malformed user", e.do("PUT", base+"/members/nope/role", owner, map[string]any{"role": "admin"}), 404, codeUserNotFound)
	members := e.mustDo(http.StatusOK, "GET", base+"/members", member, nil).body["members"].([]any)
	roles := map[string]string{}
	for _, m := range members {
		mm := m.(map[string]any)
		roles[mm["user"].(map[string]any)["username"].(string)] = mm["role"].(string)
	}
	if fmt.Sprint(roles) != "map[aaron:admin mia:member ophelia:owner]" {
		t.Fatalf("roles %v", roles)
	}

	// Invitations: owner/admin of a private room; the invitee must exist.
	invite := func(token string, body any) response { return e.do("POST", base+"/invitations", token, body) }
	wantErr(t, "invite by a member", invite(member, map[string]any{"user_id": guestID}), 403, domain.CodeForbidden)
	wantErr(t, "invite an unknown user", invite(admin, map[string]any{"user_id": uuid.New()}), 404, codeUserNotFound)
	wantErr(t, "invite without user_id", invite(admin, map[string]any{}), 400, domain.CodeValidationFailed)
	wantErr(t, "invite a malformed id", invite(admin, map[string]any{"user_id": "x"}), 400, domain.CodeValidationFailed)
	wantErr(t, "invite a member", invite(admin, map[string]any{"user_id": memberID}), 409, domain.CodeAlreadyMember)
	wantPosition(t, "invite by an admin", invite(admin, map[string]any{"user_id": guestID}), 201)
	wantErr(t, "invite twice", invite(owner, map[string]any{"user_id": guestID}), 400, domain.CodeValidationFailed)
	// The invitee sees the room (its history is for members only) and joins without the password.
	e.mustDo(http.StatusOK, "GET", base, guest, nil)
	e.mustDo(http.StatusOK, "GET", base+"/members", guest, nil)
	wantErr(t, "invitee reads history", e.do("GET", base+"/messages", guest, nil), 404, domain.CodeRoomNotFound)
	if r := e.mustDo(http.StatusOK, "GET", "/api/v1/rooms", guest, nil); len(r.body["rooms"].([]any)) != 1 {
		t.Fatalf("invitee's room list: %s", r.raw)
	}
	wantPosition(t, "invitee joins", e.do("POST", base+"/join", guest, nil), 200)

	// Kick: owner or admin; an admin cannot kick an admin or the owner.
	kick := func(token string, user uuid.UUID) response {
		return e.do("DELETE", base+"/members/"+user.String(), token, nil)
	}
	wantErr(t, "kick by a member", kick(member, guestID), 403, domain.CodeForbidden)
	wantErr(t, "admin kicks the owner", kick(admin, domain.UserIDFor("ophelia")), 403, domain.CodeForbidden)
	wantPosition(t, "admin kicks a member", kick(admin, guestID), 200)
	wantErr(t, "kick a non-member", kick(admin, guestID), 403, domain.CodeNotAMember)
	wantErr(t, "kicked reads the room", e.do("GET", base, guest, nil), 404, domain.CodeRoomNotFound)

	// Ban: owner or admin; ends the membership and keeps the user out; unban lets them back.
	ban := func(token string, user uuid.UUID, body any) response {
		return e.do("PUT", base+"/bans/"+user.String(), token, body)
	}
	wantErr(t, "ban by a member", ban(member, guestID, nil), 403, domain.CodeForbidden)
	wantErr(t, "ban an unknown user", ban(owner, uuid.New(), nil), 404, codeUserNotFound)
	wantErr(t, "ban with a long reason", ban(owner, memberID, map[string]any{"reason": strings.Repeat("r", 501)}), 400, domain.CodeValidationFailed)
	wantPosition(t, "admin bans a member", ban(admin, memberID, map[string]any{"reason": "spam"}), 200)
	wantErr(t, "ban twice", ban(admin, memberID, nil), 400, domain.CodeValidationFailed)
	for _, p := range []string{"", "/members", "/messages"} {
		wantErr(t, "banned reads"+p, e.do("GET", base+p, member, nil), 404, domain.CodeRoomNotFound)
	}
	wantErr(t, "banned joins", e.do("POST", base+"/join", member, map[string]any{"password": "sesame"}), 403, domain.CodeForbidden)
	wantErr(t, "banned is not invited", invite(owner, map[string]any{"user_id": memberID}), 403, domain.CodeForbidden)
	wantErr(t, "unban by a member", e.do("DELETE", base+"/bans/"+memberID.String(), guest, nil), 403, domain.CodeForbidden)
	wantPosition(t, "unban", e.do("DELETE", base+"/bans/"+memberID.String(), owner, nil), 200)
	wantErr(t, "unban twice", e.do("DELETE", base+"/bans/"+memberID.String(), owner, nil), 400, domain.CodeValidationFailed)
	wantPosition(t, "unbanned joins", e.do("POST", base+"/join", member, map[string]any{"password": "sesame"}), 200)
	wantErr(t, "kick in an unknown room", e.do("DELETE", "/api/v1/rooms/"+uuid.NewString()+"/members/"+memberID.String(), owner, nil),
		404, domain.CodeRoomNotFound)
}

func TestMarkReadAndUnreadHTTP(t *testing.T) {
	e := newEnv(t, nil)
	owner, _ := e.user("rhea")
	reader, _ := e.user("ron")
	stranger, _ := e.user("sid")
	room := e.room(owner, map[string]any{"name": "r"})
	base := "/api/v1/rooms/" + room.String()
	e.mustDo(http.StatusOK, "POST", base+"/join", reader, nil)
	for i := 1; i <= 3; i++ {
		e.mustDo(http.StatusCreated, "POST", base+"/messages", owner, map[string]any{"content": fmt.Sprint("m", i)})
	}
	listed := func(token string) map[string]any {
		rooms := e.mustDo(http.StatusOK, "GET", "/api/v1/rooms", token, nil).body["rooms"].([]any)
		if len(rooms) != 1 {
			t.Fatalf("rooms %v", rooms)
		}
		return rooms[0].(map[string]any)
	}
	if r := listed(reader); r["unread_count"] != float64(3) || r["last_read_seq"] != float64(0) {
		t.Fatalf("before reading: %v", r)
	}
	if r := listed(stranger); r["unread_count"] != nil || r["last_read_seq"] != nil {
		t.Fatalf("a non-member has no read state: %v", r)
	}
	wantPosition(t, "mark read", e.do("POST", base+"/read", reader, map[string]any{"seq": 2}), 200)
	if r := listed(reader); r["unread_count"] != float64(1) || r["last_read_seq"] != float64(2) {
		t.Fatalf("after reading to 2: %v", r)
	}
	// Going back changes nothing: accepted, without a position.
	r := e.mustDo(http.StatusOK, "POST", base+"/read", reader, map[string]any{"seq": 1})
	if _, has := r.body["position"]; has || len(r.body) != 0 {
		t.Fatalf("mark read backwards: %s", r.raw)
	}
	wantErr(t, "past the last message", e.do("POST", base+"/read", reader, map[string]any{"seq": 4}), 400, domain.CodeValidationFailed)
	wantErr(t, "seq 0", e.do("POST", base+"/read", reader, map[string]any{"seq": 0}), 400, domain.CodeValidationFailed)
	wantErr(t, "no seq", e.do("POST", base+"/read", reader, map[string]any{}), 400, domain.CodeValidationFailed)
	wantErr(t, "fractional seq", e.do("POST", base+"/read", reader, `{"seq": 1.5}`), 400, domain.CodeValidationFailed)
	wantErr(t, "a non-member", e.do("POST", base+"/read", stranger, map[string]any{"seq": 1}), 403, domain.CodeNotAMember)
	wantErr(t, "an unknown room", e.do("POST", "/api/v1/rooms/"+uuid.NewString()+"/read", reader, map[string]any{"seq": 1}), 404, domain.CodeRoomNotFound)
}

// A private room is visible to its members and invitees only; history is for members.
func TestPrivateRoomVisibility(t *testing.T) {
	e := newEnv(t, nil)
	owner, _ := e.user("vic")
	member, _ := e.user("val")
	invited, invitedID := e.user("ivy")
	banned, bannedID := e.user("ben")
	stranger, _ := e.user("sue")
	room := e.room(owner, map[string]any{"name": "hidden", "is_private": true, "password": "pw"})
	base := "/api/v1/rooms/" + room.String()
	for _, tok := range []string{member, banned} {
		e.mustDo(http.StatusOK, "POST", base+"/join", tok, map[string]any{"password": "pw"})
	}
	e.mustDo(http.StatusCreated, "POST", base+"/invitations", owner, map[string]any{"user_id": invitedID})
	e.mustDo(http.StatusOK, "PUT", base+"/bans/"+bannedID.String(), owner, nil)

	type want struct{ room, members, history string } // "" = 200, else the code
	nf := domain.CodeRoomNotFound
	for name, c := range map[string]struct {
		token string
		want  want
	}{
		"owner":    {owner, want{}},
		"member":   {member, want{}},
		"invited":  {invited, want{"", "", nf}},
		"banned":   {banned, want{nf, nf, nf}},
		"stranger": {stranger, want{nf, nf, nf}},
	} {
		for p, code := range map[string]string{"": c.want.room, "/members": c.want.members, "/messages": c.want.history} {
			r := e.do("GET", base+p, c.token, nil)
			if code == "" && r.status != 200 || code != "" && r.errCode() != code {
				t.Errorf("%s GET room%s: %d %s, want %q", name, p, r.status, r.raw, code)
			}
		}
	}
}

func TestIdempotencyKeyHTTP(t *testing.T) {
	e := newEnv(t, nil)
	token, _ := e.user("ida")
	other, _ := e.user("ike")

	// A create that timed out is retried with the same key: the same room, created once.
	e.w.set(func(w *world) { w.dispatchErr = commands.ErrTimeout })
	r := e.doKey("POST", "/api/v1/rooms", token, "create-1", map[string]any{"name": "once"})
	if r.status != http.StatusGatewayTimeout || !strings.Contains(r.raw, "same idempotency key is safe") {
		t.Fatalf("timed out create: %s", r.raw)
	}
	if r := e.mustDo(http.StatusGatewayTimeout, "PATCH", "/api/v1/users/me", token, map[string]any{"display_name": "x"}); !strings.Contains(r.raw, "Idempotency-Key") {
		t.Fatalf("a timeout without a key tells how to retry safely: %s", r.raw)
	}
	e.w.set(func(w *world) { w.dispatchErr = nil })
	a := e.doKey("POST", "/api/v1/rooms", token, "create-1", map[string]any{"name": "once"})
	b := e.doKey("POST", "/api/v1/rooms", token, "create-1", map[string]any{"name": "once"})
	if a.status != 201 || b.status != 201 || a.raw != b.raw {
		t.Fatalf("retried create answered differently:\n%s\n%s", a.raw, b.raw)
	}
	// Another user's identical key is another command.
	c := e.doKey("POST", "/api/v1/rooms", other, "create-1", map[string]any{"name": "once"})
	if c.status != 201 || c.body["room"].(map[string]any)["id"] == a.body["room"].(map[string]any)["id"] {
		t.Fatalf("another user's key: %s", c.raw)
	}
	if n := len(e.mustDo(http.StatusOK, "GET", "/api/v1/rooms", token, nil).body["rooms"].([]any)); n != 2 {
		t.Fatalf("%d rooms after a retried create, want 2", n)
	}
	room := a.body["room"].(map[string]any)["id"].(string)
	base := "/api/v1/rooms/" + room

	// Every command takes a key: a retried send, join, edit, delete answers its first result.
	m1 := e.doKey("POST", base+"/messages", token, "send-1", map[string]any{"content": "hi"})
	m2 := e.doKey("POST", base+"/messages", token, "send-1", map[string]any{"content": "hi"})
	if m1.status != 201 || m1.raw != m2.raw {
		t.Fatalf("retried send:\n%s\n%s", m1.raw, m2.raw)
	}
	msg := base + "/messages/" + m1.body["message"].(map[string]any)["id"].(string)
	j1 := e.doKey("POST", base+"/join", other, "join-1", nil)
	j2 := e.doKey("POST", base+"/join", other, "join-1", nil)
	if j1.status != 200 || j1.raw != j2.raw {
		t.Fatalf("retried join:\n%s\n%s", j1.raw, j2.raw)
	}
	wantErr(t, "a join without the key is a new command", e.do("POST", base+"/join", other, nil), 409, domain.CodeAlreadyMember)
	e1 := e.doKey("PATCH", msg, token, "edit-1", map[string]any{"content": "hello"})
	e2 := e.doKey("PATCH", msg, token, "edit-1", map[string]any{"content": "hello"})
	if e1.status != 200 || e1.raw != e2.raw {
		t.Fatalf("retried edit:\n%s\n%s", e1.raw, e2.raw)
	}
	d1 := e.doKey("DELETE", msg, token, "del-1", nil)
	d2 := e.doKey("DELETE", msg, token, "del-1", nil)
	if d1.status != 200 || d1.raw != d2.raw {
		t.Fatalf("retried delete:\n%s\n%s", d1.raw, d2.raw)
	}
	wantErr(t, "a delete with another key", e.doKey("DELETE", msg, token, "del-2", nil), 404, domain.CodeMessageNotFound)
	if h := e.mustDo(http.StatusOK, "GET", base+"/messages", token, nil).body["messages"].([]any); len(h) != 1 {
		t.Fatalf("history after retries: %v", h)
	}
	wantErr(t, "a key too long", e.doKey("POST", base+"/messages", token, strings.Repeat("k", 129), map[string]any{"content": "x"}),
		400, domain.CodeValidationFailed)
}

// A register retried with its Idempotency-Key (its reply was lost, say) is answered like the
// first, not username_taken; the password is the first attempt's.
func TestRegisterIdempotencyKey(t *testing.T) {
	e := newEnv(t, nil)
	body := map[string]any{"username": "yuri", "password": "first password"}
	a := e.doKey("POST", "/api/v1/auth/register", "", "reg-1", body)
	b := e.doKey("POST", "/api/v1/auth/register", "", "reg-1", body)
	if a.status != http.StatusCreated || a.raw != b.raw {
		t.Fatalf("retried register:\n%d %s\n%d %s", a.status, a.raw, b.status, b.raw)
	}
	wantErr(t, "register without the key", e.do("POST", "/api/v1/auth/register", "", body), 409, domain.CodeUsernameTaken)
	wantErr(t, "register with another key", e.doKey("POST", "/api/v1/auth/register", "", "reg-2", body), 409, domain.CodeUsernameTaken)
	e.mustDo(http.StatusOK, "POST", "/api/v1/auth/login", "", body)
}
