package main_test

// Issue 8, defects 6 and 7 over the real multi-process stack: a user's email is seen only by its
// owner and the server's admins, and the room list pages so that a user beside more than 200
// rooms reaches every one of them, and all of their own with their unread counts.

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
)

// privUser is a user object as the privacy checks read it.
type privUser struct {
	ID       string  `json:"id"`
	Username string  `json:"username"`
	Email    *string `json:"email"`
}

func (u privUser) email() string {
	if u.Email == nil {
		return "-"
	}
	return *u.Email
}

// listedRoom is a GET /rooms entry.
type listedRoom struct {
	ID          string `json:"id"`
	Name        string `json:"name"`
	UnreadCount *int64 `json:"unread_count"`
	LastReadSeq *int64 `json:"last_read_seq"`
}

type roomPage struct {
	Rooms      []listedRoom `json:"rooms"`
	NextCursor *string      `json:"next_cursor"`
}

func TestE2EPrivateEmailsAndRoomPaging(t *testing.T) {
	skipShort(t)
	sfx := randomHex(3)
	rootName := "root_" + sfx
	c := startCluster(t, map[string]string{"CHORUS_ADMIN_USERS": strings.ToUpper(rootName)})
	c.warmUp()
	g1, g2 := c.gwURL(0), c.gwURL(1)

	withEmail := func(base, name string) account {
		call(t, base, "", "POST", "/api/v1/auth/register", map[string]any{
			"username": name, "password": testPassword, "email": name + "@mail.example",
		}, http.StatusCreated, nil)
		var out struct {
			Token string   `json:"token"`
			User  privUser `json:"user"`
		}
		call(t, base, "", "POST", "/api/v1/auth/login", map[string]any{"username": name, "password": testPassword}, http.StatusOK, &out)
		if out.User.email() != name+"@mail.example" {
			t.Fatalf("login of %s answered email %s, want their own", name, out.User.email())
		}
		return account{user: apiUser{ID: out.User.ID, Username: name}, token: out.Token, base: base}
	}
	alice := withEmail(g1, "alice_"+sfx)
	bob := withEmail(g2, "bob_"+sfx)
	root := withEmail(g2, rootName)

	// Emails: by id, in a search, in a member list.
	for _, tc := range []struct {
		who    string
		as     account
		of     account
		expect string
	}{
		{"alice herself", alice, alice, alice.user.Username + "@mail.example"},
		{"bob about alice", bob, alice, "-"},
		{"alice about bob", alice, bob, "-"},
		{"the admin about alice", root, alice, alice.user.Username + "@mail.example"},
	} {
		var u privUser
		call(t, tc.as.base, tc.as.token, "GET", "/api/v1/users/"+tc.of.user.ID, nil, http.StatusOK, &u)
		if u.email() != tc.expect {
			t.Errorf("%s: email %s, want %s", tc.who, u.email(), tc.expect)
		}
	}
	search := func(as account, q string) string {
		var out struct {
			Users []privUser `json:"users"`
		}
		call(t, as.base, as.token, "GET", "/api/v1/users?q="+url.QueryEscape(q), nil, http.StatusOK, &out)
		var s []string
		for _, u := range out.Users {
			s = append(s, u.Username+" "+u.email())
		}
		return strings.Join(s, ",")
	}
	if got := search(bob, "alice_"+sfx+"@"); got != "" {
		t.Errorf("bob found %q by alice's email, want nobody", got)
	}
	if got := search(bob, "mail.example"); got != "" {
		t.Errorf("bob found %q by an email domain, want nobody", got)
	}
	if got, want := search(bob, "alice_"+sfx), "alice_"+sfx+" -"; got != want {
		t.Errorf("bob searching alice's name found %q, want %q", got, want)
	}
	if got, want := search(root, "alice_"+sfx+"@"), "alice_"+sfx+" alice_"+sfx+"@mail.example"; got != want {
		t.Errorf("the admin searching alice's email found %q, want %q", got, want)
	}

	lobby, created := bob.createRoom(t, "lobby "+sfx)
	bob.waitPosition(t, lobby.ID, created)
	alice.waitPosition(t, lobby.ID, alice.join(t, lobby.ID))
	var members struct {
		Members []struct {
			User privUser `json:"user"`
		} `json:"members"`
	}
	call(t, g1, alice.token, "GET", "/api/v1/rooms/"+lobby.ID+"/members", nil, http.StatusOK, &members)
	for _, m := range members.Members {
		if own := m.User.ID == alice.user.ID; own != (m.User.Email != nil) {
			t.Errorf("alice's member list shows %s with email %s", m.User.Username, m.User.email())
		}
	}

	// Rooms: bob creates 230 public rooms; alice joins three of them (the first, one in the
	// middle, the last by name) and bob sends unread messages there.
	const many = 230
	rooms := make([]string, many)
	var wg sync.WaitGroup
	errs := make(chan error, many)
	for w := range 8 {
		wg.Go(func() {
			for i := w; i < many; i += 8 {
				var out struct {
					Room     apiRoom `json:"room"`
					Position string  `json:"position"`
				}
				res, err := doJSONTo(g1, bob.token, "POST", "/api/v1/rooms", map[string]any{"name": fmt.Sprintf("r%s %03d", sfx, i)}, &out)
				if err != nil || res.Status != http.StatusCreated {
					errs <- fmt.Errorf("create room %d: %v %w", i, res, err)
					continue
				}
				rooms[i] = out.Room.ID
				// Wait until the read model has it, through the room itself.
				if res, err := doJSONTo(g2, bob.token, "GET", "/api/v1/rooms/"+out.Room.ID+"?position="+url.QueryEscape(out.Position), nil, nil); err != nil || res.Status != http.StatusOK {
					errs <- fmt.Errorf("read room %d back: %v %w", i, res, err)
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	unread := map[string]int64{lobby.ID: 0}
	for n, i := range []int{0, many / 2, many - 1} {
		alice.waitPosition(t, rooms[i], alice.join(t, rooms[i]))
		for k := range n + 1 {
			var out messageAnswer
			call(t, g2, bob.token, "POST", "/api/v1/rooms/"+rooms[i]+"/messages", map[string]any{"content": fmt.Sprint("unread ", k)}, http.StatusCreated, &out)
			bob.waitPosition(t, rooms[i], out.Position)
		}
		unread[rooms[i]] = int64(n + 1)
	}

	// pages lists every page of query as alice on gateway 2, calling between after each page.
	pages := func(query url.Values, between func()) []listedRoom {
		var all []listedRoom
		for n := 0; ; n++ {
			if n > 50 {
				t.Fatal("more than 50 pages")
			}
			var p roomPage
			call(t, g2, alice.token, "GET", "/api/v1/rooms?"+query.Encode(), nil, http.StatusOK, &p)
			all = append(all, p.Rooms...)
			if p.NextCursor == nil {
				return all
			}
			query.Set("cursor", *p.NextCursor)
			if between != nil {
				between()
			}
		}
	}
	checkUnread := func(listed []listedRoom) {
		for _, r := range listed {
			want, own := unread[r.ID]
			if own != (r.UnreadCount != nil) || (own && *r.UnreadCount != want) {
				t.Errorf("room %s: unread_count %v, want %d (own: %v)", r.Name, r.UnreadCount, want, own)
			}
		}
	}

	// Before paging, the answer held 200 rooms and no way to the rest: the default page is
	// still 200, now with a cursor.
	var first roomPage
	call(t, g2, alice.token, "GET", "/api/v1/rooms", nil, http.StatusOK, &first)
	if len(first.Rooms) != 200 || first.NextCursor == nil {
		t.Fatalf("GET /rooms: %d rooms, next_cursor %v; want 200 and a cursor", len(first.Rooms), first.NextCursor)
	}

	// Every room exactly once in pages of 64, while bob keeps creating rooms between pages.
	added := 0
	all := pages(url.Values{"limit": {"64"}}, func() {
		bob.createRoom(t, fmt.Sprintf("r%s added %d", sfx, added))
		added++
	})
	seen := map[string]int{}
	for _, r := range all {
		seen[r.ID]++
	}
	for _, id := range append(slices.Clone(rooms), lobby.ID) {
		if seen[id] != 1 {
			t.Errorf("room %s listed %d times, want once", id, seen[id])
		}
	}
	for id, n := range seen {
		if n > 1 {
			t.Errorf("room %s listed %d times", id, n)
		}
	}
	if added < 3 {
		t.Errorf("only %d pages: the listing did not page", added+1)
	}
	checkUnread(all)

	// Alice's own rooms, and only those, on their own.
	mine := pages(url.Values{"mine": {"true"}, "limit": {"2"}}, nil)
	var got, want []string
	for _, r := range mine {
		got = append(got, r.ID)
	}
	for id := range unread {
		want = append(want, id)
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("mine=true listed %d rooms, want alice's %d", len(got), len(want))
	}
	checkUnread(mine)

	expectError(t, g1, alice.token, "GET", "/api/v1/rooms?cursor=not-a-cursor", nil, http.StatusBadRequest, "validation_failed")
	expectError(t, g1, alice.token, "GET", "/api/v1/rooms?limit=201", nil, http.StatusBadRequest, "validation_failed")
}

// doJSONTo makes one call and decodes a 2xx answer into out (if not nil).
func doJSONTo(base, token, method, path string, body, out any) (result, error) {
	res, err := doJSON(context.Background(), base, token, method, path, body)
	if err != nil || out == nil || res.Status/100 != 2 {
		return res, err
	}
	return res, json.Unmarshal(res.Body, out)
}
