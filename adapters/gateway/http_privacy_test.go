package gateway

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/chorus-chat/chorus/domain"
)

// registerWithEmail registers and logs in a user with an email, returning the token and id.
func (e *env) registerWithEmail(name, email string) (string, uuid.UUID) {
	e.t.Helper()
	e.mustDo(http.StatusCreated, "POST", "/api/v1/auth/register", "", map[string]any{"username": name, "password": "password-" + name, "email": email})
	r := e.mustDo(http.StatusOK, "POST", "/api/v1/auth/login", "", map[string]any{"username": name, "password": "password-" + name})
	if got := r.body["user"].(map[string]any)["email"]; got != email {
		e.t.Fatalf("login of %s answered email %v, want their own %q", name, got, email)
	}
	return r.body["token"].(string), uuid.MustParse(r.body["user"].(map[string]any)["id"].(string))
}

// An email is shown to its owner and to the server's admins, to nobody else, wherever a user
// appears; only admins find users by email.
func TestEmailsArePrivate(t *testing.T) {
	e := newEnvWith(t, nil, func(d *Deps) { d.Admins = []string{"Root"} })
	alice, aliceID := e.registerWithEmail("alice", "alice@mail.example")
	bob, bobID := e.registerWithEmail("bob", "bob@mail.example")
	root, _ := e.registerWithEmail("root", "root@ops.example")
	room := e.room(bob, map[string]any{"name": "lobby"})
	e.mustDo(http.StatusOK, "POST", "/api/v1/rooms/"+room.String()+"/join", alice, nil)

	// emailOf is the email a user object shows, "" when it has none.
	emailOf := func(u any) string {
		s, _ := u.(map[string]any)["email"].(string)
		return s
	}
	for _, tc := range []struct {
		who, token string
		user       uuid.UUID
		want       string
	}{
		{"alice herself", alice, aliceID, "alice@mail.example"},
		{"bob about alice", bob, aliceID, ""},
		{"alice about bob", alice, bobID, ""},
		{"an admin about alice", root, aliceID, "alice@mail.example"},
	} {
		r := e.mustDo(http.StatusOK, "GET", "/api/v1/users/"+tc.user.String(), tc.token, nil)
		if got := emailOf(r.body); got != tc.want {
			t.Errorf("%s: GET /users/{id} email %q, want %q", tc.who, got, tc.want)
		}
		if tc.want == "" && strings.Contains(r.raw, "@mail.example") {
			t.Errorf("%s: the answer carries an email: %s", tc.who, r.raw)
		}
	}
	if r := e.mustDo(http.StatusOK, "GET", "/api/v1/users/me", bob, nil); emailOf(r.body) != "bob@mail.example" {
		t.Errorf("GET /users/me of bob = %s, want his email", r.raw)
	}

	// The member list: each sees their own email, an admin everyone's.
	members := func(token string) map[string]string {
		r := e.mustDo(http.StatusOK, "GET", "/api/v1/rooms/"+room.String()+"/members", token, nil)
		out := map[string]string{}
		for _, m := range r.body["members"].([]any) {
			u := m.(map[string]any)["user"].(map[string]any)
			out[u["username"].(string)] = emailOf(u)
		}
		return out
	}
	for token, want := range map[string]map[string]string{
		alice: {"alice": "alice@mail.example", "bob": ""},
		bob:   {"alice": "", "bob": "bob@mail.example"},
		root:  {"alice": "alice@mail.example", "bob": "bob@mail.example"},
	} {
		if got := members(token); got["alice"] != want["alice"] || got["bob"] != want["bob"] || len(got) != 2 {
			t.Errorf("members as seen by one caller = %v, want %v", got, want)
		}
	}

	// Search: nobody but an admin finds a user by (part of) an email, and the answer hides it.
	search := func(token, q string) []string {
		r := e.mustDo(http.StatusOK, "GET", "/api/v1/users?q="+url.QueryEscape(q), token, nil)
		var out []string
		for _, u := range r.body["users"].([]any) {
			out = append(out, u.(map[string]any)["username"].(string)+" <"+emailOf(u)+">")
		}
		return out
	}
	for _, tc := range []struct {
		who, token, q, want string
	}{
		{"bob", bob, "alice@mail", ""},
		{"bob", bob, "mail.example", ""}, // not even himself: no one is found by email but by an admin
		{"bob", bob, "@", ""},
		{"bob", bob, "ali", "alice <>"},
		{"alice", alice, "", "alice <alice@mail.example>,bob <>,root <>"},
		{"an admin", root, "alice@mail", "alice <alice@mail.example>"},
		{"an admin", root, "mail.example", "alice <alice@mail.example>,bob <bob@mail.example>"},
	} {
		if got := strings.Join(search(tc.token, tc.q), ","); got != tc.want {
			t.Errorf("%s searching %q found %q, want %q", tc.who, tc.q, got, tc.want)
		}
	}

	// The profile update answers with the caller's own email.
	r := e.mustDo(http.StatusOK, "PATCH", "/api/v1/users/me", bob, map[string]any{"email": "bob@new.example"})
	if got := emailOf(r.body["user"]); got != "bob@new.example" {
		t.Errorf("profile update answered email %q, want the new one", got)
	}
}

// GET /rooms pages with an opaque cursor; the answer keeps its shape, plus next_cursor.
func TestRoomListPaging(t *testing.T) {
	e := newEnv(t, nil)
	alice, _ := e.user("alice")
	bob, _ := e.user("bob")
	var ids []uuid.UUID
	for _, name := range []string{"a", "b", "c", "d", "e"} {
		ids = append(ids, e.room(bob, map[string]any{"name": name}))
	}
	e.mustDo(http.StatusOK, "POST", "/api/v1/rooms/"+ids[1].String()+"/join", alice, nil)
	e.mustDo(http.StatusOK, "POST", "/api/v1/rooms/"+ids[3].String()+"/join", alice, nil)

	// page lists one page and returns its room names and next cursor ("" when null).
	page := func(query string) (string, string) {
		t.Helper()
		r := e.mustDo(http.StatusOK, "GET", "/api/v1/rooms?"+query, alice, nil)
		next, present := r.body["next_cursor"]
		if !present {
			t.Fatalf("answer without next_cursor: %s", r.raw)
		}
		var names []string
		for _, room := range r.body["rooms"].([]any) {
			m := room.(map[string]any)
			n := m["name"].(string)
			if _, own := m["unread_count"]; own {
				n += "*"
			}
			names = append(names, n)
		}
		s, _ := next.(string)
		return strings.Join(names, ","), s
	}
	if got, next := page(""); got != "a,b*,c,d*,e" || next != "" {
		t.Errorf("unpaged listing = %q, next %q; want every room and a null next_cursor", got, next)
	}
	var got []string
	next := ""
	for range 5 {
		q := url.Values{"limit": {"2"}}
		if next != "" {
			q.Set("cursor", next)
		}
		var names string
		names, next = page(q.Encode())
		got = append(got, names)
		if next == "" {
			break
		}
	}
	if strings.Join(got, "|") != "a,b*|c,d*|e" {
		t.Errorf("pages of 2 = %q, want a,b*|c,d*|e", strings.Join(got, "|"))
	}
	if got, next := page("mine=true&limit=1"); got != "b*" || next == "" {
		t.Errorf("mine, limit 1 = %q, next %q; want b* and a cursor", got, next)
	} else if got, next := page("mine=true&limit=1&cursor=" + url.QueryEscape(next)); got != "d*" || next != "" {
		t.Errorf("mine, second page = %q, next %q; want d* and the end", got, next)
	}

	for _, bad := range []string{
		"cursor=garbage", "cursor=" + url.QueryEscape("eyJ2IjoxfQ"), "limit=0", "limit=201", "limit=x", "mine=perhaps",
	} {
		r := e.mustDo(http.StatusBadRequest, "GET", "/api/v1/rooms?"+bad, alice, nil)
		if r.errCode() != domain.CodeValidationFailed {
			t.Errorf("GET /rooms?%s answered %s, want validation_failed", bad, r.raw)
		}
	}
}
