package main_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/google/uuid"
)

// roomWithDepartment is a Room as far as its department goes.
type roomWithDepartment struct {
	ID         string `json:"id"`
	Department *struct {
		OrgID        string `json:"org_id"`
		DepartmentID string `json:"department_id"`
		Name         string `json:"name"`
	} `json:"department"`
}

// TestE2EDepartmentRoomView: a department room shows its department (organization, department
// and its name) in GET /rooms/{id} and in the room list, which ?org= narrows to that
// organization's department rooms; an ordinary room shows none. When the department is
// deleted the room is released and shows none either.
func TestE2EDepartmentRoomView(t *testing.T) {
	skipShort(t)
	c := startCluster(t, nil)
	c.warmUp()
	sfx := randomHex(3)
	gw1, gw2 := c.gwURL(0), c.gwURL(1)
	olga := newAccount(t, gw1, "olga_"+sfx)
	mark := newAccount(t, gw2, "mark_"+sfx)
	waitUserKnown(t, olga, mark.user.ID)

	var created orgAnswer
	call(t, gw1, olga.token, "POST", "/api/v1/orgs", map[string]any{"name": "Acme", "slug": "acme-" + sfx}, http.StatusCreated, &created)
	org := created.Organization.ID
	base := "/api/v1/orgs/" + org
	call(t, gw1, olga.token, "POST", base+"/members", map[string]any{"user_id": mark.user.ID}, http.StatusCreated, nil)
	var dept orgAnswer
	call(t, gw1, olga.token, "POST", base+"/departments", map[string]any{"name": "Backend"}, http.StatusCreated, &dept)
	backend := dept.Department.ID
	call(t, gw1, olga.token, "PUT", base+"/departments/"+backend+"/members/"+mark.user.ID, nil, http.StatusOK, nil)
	var droom struct {
		DepartmentRoom struct {
			RoomID string `json:"room_id"`
		} `json:"department_room"`
	}
	call(t, gw1, olga.token, "POST", base+"/departments/"+backend+"/room", map[string]any{"name": "backend " + sfx}, http.StatusCreated, &droom)
	room := droom.DepartmentRoom.RoomID
	waitMember(t, mark, room)
	plain, plainCreated := mark.createRoom(t, "plain "+sfx)

	// The room, through the other gateway; the name comes from the directory, which may be a
	// moment behind the read model.
	var got roomWithDepartment
	waitUntil(t, "the department room shows its department's name", func() bool {
		got = roomWithDepartment{}
		res := call(t, gw2, mark.token, "GET", "/api/v1/rooms/"+room, nil, http.StatusOK, &got)
		if got.Department == nil || got.Department.OrgID != org || got.Department.DepartmentID != backend {
			t.Fatalf("GET the department room: %s", res.Body)
		}
		return got.Department.Name == "Backend"
	})
	var raw map[string]json.RawMessage
	call(t, gw1, mark.token, "GET", "/api/v1/rooms/"+plain.ID+"?position="+url.QueryEscape(plainCreated), nil, http.StatusOK, &raw)
	if _, ok := raw["department"]; ok || raw["id"] == nil {
		t.Fatalf("GET an ordinary room: %v", raw)
	}

	// The list shows it too, and ?org= lists the organization's department rooms only.
	list := func(q url.Values) []roomWithDepartment {
		t.Helper()
		var out struct {
			Rooms []roomWithDepartment `json:"rooms"`
		}
		call(t, gw1, mark.token, "GET", "/api/v1/rooms?"+q.Encode(), nil, http.StatusOK, &out)
		return out.Rooms
	}
	seen := 0
	for _, r := range list(url.Values{"mine": {"true"}}) {
		switch {
		case r.ID == room && r.Department != nil && r.Department.Name == "Backend":
			seen++
		case r.ID == plain.ID && r.Department == nil:
			seen++
		default:
			t.Errorf("listed %+v", r)
		}
	}
	if seen != 2 {
		t.Fatalf("the list shows %d of the two rooms", seen)
	}
	if rs := list(url.Values{"org": {org}}); len(rs) != 1 || rs[0].ID != room {
		t.Fatalf("?org=: %+v", rs)
	}
	if rs := list(url.Values{"org": {uuid.NewString()}}); len(rs) != 0 {
		t.Fatalf("?org= of no organization: %+v", rs)
	}
	expectError(t, gw1, mark.token, "GET", "/api/v1/rooms?org=acme", nil, http.StatusBadRequest, "validation_failed")

	// Renamed, the department's new name shows; deleted, the room is released and is no
	// department's any more.
	call(t, gw1, olga.token, "PATCH", base+"/departments/"+backend, map[string]any{"name": "Platform"}, http.StatusOK, nil)
	waitUntil(t, "the new name shows", func() bool {
		got = roomWithDepartment{}
		call(t, gw2, mark.token, "GET", "/api/v1/rooms/"+room, nil, http.StatusOK, &got)
		return got.Department != nil && got.Department.Name == "Platform"
	})
	call(t, gw1, olga.token, "DELETE", base+"/departments/"+backend, nil, http.StatusOK, nil)
	waitUntil(t, "the released room shows no department", func() bool {
		got = roomWithDepartment{}
		call(t, gw2, mark.token, "GET", "/api/v1/rooms/"+room, nil, http.StatusOK, &got)
		return got.Department == nil
	})
	if rs := list(url.Values{"org": {org}}); len(rs) != 0 {
		t.Fatalf("?org= after the release: %+v", rs)
	}
}

// waitUntil polls cond for 15 s.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 15 s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
