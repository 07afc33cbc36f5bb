package main_test

import (
	"net/http"
	"net/url"
	"slices"
	"testing"
)

// searchResultsAnswer is the body of GET /search/messages.
type searchResultsAnswer struct {
	Results []apiMessage `json:"results"`
}

// searchMessages runs GET /search/messages with the given parameters, which must answer 200.
func (a account) searchMessages(t testing.TB, params url.Values) []apiMessage {
	t.Helper()
	var out searchResultsAnswer
	res := call(t, a.base, a.token, "GET", "/api/v1/search/messages?"+params.Encode(), nil, http.StatusOK, &out)
	if out.Results == nil {
		t.Fatalf("search %v: no results array in %v", params, res)
	}
	return out.Results
}

// postForSearch sends a message over HTTP and returns it with its position.
func (a account) postForSearch(t testing.TB, roomID, content string) messageAnswer {
	t.Helper()
	var out messageAnswer
	call(t, a.base, a.token, "POST", "/api/v1/rooms/"+roomID+"/messages", map[string]any{"content": content}, http.StatusCreated, &out)
	if out.Message.ID == "" || out.Position == "" {
		t.Fatalf("post: unexpected answer %+v", out)
	}
	return out
}

func searchedContents(ms []apiMessage) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.Content
	}
	slices.Sort(out)
	return out
}

// TestE2ESearch: messages posted in English and Chinese through both gateways are found by
// search on either gateway as soon as it is given the position of the last post (the search
// projector runs in the projectors process, its own consumer group); edits and deletes show;
// a private room's messages stay hidden from non-members.
func TestE2ESearch(t *testing.T) {
	skipShort(t)
	c := startCluster(t, nil)
	c.warmUp()
	sfx := randomHex(3)

	alice := newAccount(t, c.gwURL(0), "search_alice_"+sfx)
	bob := newAccount(t, c.gwURL(1), "search_bob_"+sfx)
	carol := newAccount(t, c.gwURL(0), "search_carol_"+sfx)
	room, created := alice.createRoom(t, "search-"+sfx)
	alice.waitPosition(t, room.ID, created)
	bob.waitPosition(t, room.ID, bob.join(t, room.ID))

	english := alice.postForSearch(t, room.ID, "Quarterly planning meeting at noon")
	chinese := bob.postForSearch(t, room.ID, "你好世界，今天下午开会")
	last := chinese.Position

	at := func(q string, extra ...string) url.Values {
		v := url.Values{"q": {q}, "position": {last}}
		for i := 0; i+1 < len(extra); i += 2 {
			v.Set(extra[i], extra[i+1])
		}
		return v
	}
	// Each searches on the other gateway than the one they posted through.
	if got := searchedContents(alice.viaGateway(c.gwURL(1)).searchMessages(t, at("世界"))); !slices.Equal(got, []string{chinese.Message.Content}) {
		t.Fatalf("alice searching 世界: %q, want bob's message", got)
	}
	if got := searchedContents(bob.viaGateway(c.gwURL(0)).searchMessages(t, at("MEETING planning"))); !slices.Equal(got, []string{english.Message.Content}) {
		t.Fatalf("bob searching MEETING planning: %q, want alice's message", got)
	}
	res := alice.searchMessages(t, at("下午开会", "room_id", room.ID))
	if len(res) != 1 || res[0].ID != chinese.Message.ID || res[0].SenderID != bob.user.ID || res[0].RoomID != room.ID || res[0].Seq != chinese.Message.Seq {
		t.Fatalf("alice searching 下午开会 in the room: %+v, want bob's message %+v", res, chinese.Message)
	}

	// An edit re-indexes; a delete removes.
	var edited messageAnswer
	call(t, alice.base, alice.token, "PATCH", "/api/v1/rooms/"+room.ID+"/messages/"+english.Message.ID,
		map[string]any{"content": "Planning moved to Friday"}, http.StatusOK, &edited)
	last = edited.Position
	if got := searchedContents(bob.searchMessages(t, at("noon"))); len(got) != 0 {
		t.Fatalf("after the edit, noon still finds %q", got)
	}
	if got := searchedContents(bob.searchMessages(t, at("friday"))); !slices.Equal(got, []string{"Planning moved to Friday"}) {
		t.Fatalf("after the edit, friday finds %q", got)
	}
	var deleted struct {
		Position string `json:"position"`
	}
	call(t, bob.base, bob.token, "DELETE", "/api/v1/rooms/"+room.ID+"/messages/"+chinese.Message.ID, nil, http.StatusOK, &deleted)
	last = deleted.Position
	if got := searchedContents(alice.searchMessages(t, at("世界"))); len(got) != 0 {
		t.Fatalf("after the delete, 世界 finds %q", got)
	}

	// A private room: its messages are found by its members only.
	var priv struct {
		Room     apiRoom `json:"room"`
		Position string  `json:"position"`
	}
	call(t, alice.base, alice.token, "POST", "/api/v1/rooms", map[string]any{"name": "secret-" + sfx, "is_private": true}, http.StatusCreated, &priv)
	alice.waitPosition(t, priv.Room.ID, priv.Position)
	secret := alice.postForSearch(t, priv.Room.ID, "秘密计划 secret plan")
	last = secret.Position
	if got := searchedContents(alice.searchMessages(t, at("秘密"))); !slices.Equal(got, []string{secret.Message.Content}) {
		t.Fatalf("alice searching her private room: %q", got)
	}
	for _, who := range []account{carol, bob} {
		if got := searchedContents(who.searchMessages(t, at("秘密"))); len(got) != 0 {
			t.Fatalf("%s, not a member, finds %q in a private room", who.user.Username, got)
		}
		if got := searchedContents(who.searchMessages(t, at("secret plan"))); len(got) != 0 {
			t.Fatalf("%s, not a member, finds %q in a private room", who.user.Username, got)
		}
	}
	expectError(t, carol.base, carol.token, "GET", "/api/v1/search/messages?"+at("秘密", "room_id", priv.Room.ID).Encode(), nil, http.StatusNotFound, "room_not_found")
	expectError(t, carol.base, carol.token, "GET", "/api/v1/search/messages?"+at("friday", "room_id", room.ID).Encode(), nil, http.StatusForbidden, "not_a_member")
	expectError(t, carol.base, carol.token, "GET", "/api/v1/search/messages?q=", nil, http.StatusBadRequest, "validation_failed")
}

// viaGateway is the same account talking to another gateway.
func (a account) viaGateway(base string) account {
	a.base = base
	return a
}
