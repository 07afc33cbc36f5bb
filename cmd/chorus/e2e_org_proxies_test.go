package main_test

// A proxy an organization's admin grants, over the real multi-process stack: the organization
// decides it (command processors, org-events), the proxies' manager in the projectors process
// relays it to the principal's proxies, the read model holds the grant, and every gateway
// checks a delegate's command against it.

import (
	"encoding/json"
	"net/http"
	"net/url"
	"testing"
	"time"
)

// orgProxyAnswer is what POST and DELETE /orgs/{id}/proxies answer, as far as the test reads it.
type orgProxyAnswer struct {
	Authorization orgProxyAuthorization `json:"authorization"`
	Grant         *struct {
		ID          string `json:"id"`
		PrincipalID string `json:"principal_id"`
		DelegateID  string `json:"delegate_id"`
		OrgID       string `json:"org_id"`
	} `json:"grant"`
	Position string `json:"position"`
}

type orgProxyAuthorization struct {
	ID          string `json:"id"`
	Kind        string `json:"kind"`
	GrantID     string `json:"grant_id"`
	PrincipalID string `json:"principal_id"`
	Status      string `json:"status"`
	RevokedBy   string `json:"revoked_by"`
}

func TestE2EOrgProxies(t *testing.T) {
	skipShort(t)
	c := startCluster(t, nil)
	c.warmUp()
	sfx := randomHex(3)
	gw1, gw2 := c.gwURL(0), c.gwURL(1)
	olga := newAccount(t, gw1, "olga_"+sfx)
	amy := newAccount(t, gw1, "amy_"+sfx)
	ben := newAccount(t, gw2, "ben_"+sfx)

	// The organization, Sales with amy and ben in it, and Sales' room.
	var created orgAnswer
	call(t, gw1, olga.token, "POST", "/api/v1/orgs", map[string]any{"name": "Acme", "slug": "acme-" + sfx}, http.StatusCreated, &created)
	orgID := created.Organization.ID
	org := "/api/v1/orgs/" + orgID
	var sales orgAnswer
	call(t, gw1, olga.token, "POST", org+"/departments", map[string]any{"name": "Sales"}, http.StatusCreated, &sales)
	for _, u := range []account{amy, ben} {
		call(t, gw1, olga.token, "POST", org+"/members", map[string]any{"user_id": u.user.ID}, http.StatusCreated, nil)
		call(t, gw1, olga.token, "PUT", org+"/departments/"+sales.Department.ID+"/members/"+u.user.ID, nil, http.StatusOK, nil)
	}
	var room struct {
		DepartmentRoom struct {
			RoomID string `json:"room_id"`
		} `json:"department_room"`
	}
	call(t, gw1, olga.token, "POST", org+"/departments/"+sales.Department.ID+"/room", map[string]any{"name": "Sales room"}, http.StatusCreated, &room)
	salesRoom := room.DepartmentRoom.RoomID
	// A room of amy's outside the organization.
	outside, _ := amy.createRoom(t, "amy outside "+sfx)

	forAmy := http.Header{"On-Behalf-Of": {amy.user.ID}}
	post := func(base, roomID, key, content string) result {
		t.Helper()
		res, err := doKeyed(base, ben.token, key, "POST", "/api/v1/rooms/"+roomID+"/messages", map[string]any{"content": content}, forAmy)
		if err != nil {
			t.Fatalf("post %s: %v", key, err)
		}
		return res
	}
	if res := post(gw2, salesRoom, "before-"+sfx, "before the grant"); res.Status != http.StatusForbidden || res.errCode() != "forbidden" {
		t.Fatalf("ben for amy before the grant: %v, want 403 forbidden", res)
	}

	// Olga grants amy's proxy to ben, limited to the organization: answered once in force.
	var granted orgProxyAnswer
	call(t, gw1, olga.token, "POST", org+"/proxies", map[string]any{"principal_id": amy.user.ID, "delegate_id": ben.user.ID,
		"scope": "messages", "ends_at": time.Now().Add(24 * time.Hour).UTC().Format(time.RFC3339)}, http.StatusCreated, &granted)
	if granted.Authorization.Status != "granted" || granted.Grant == nil || granted.Grant.ID != granted.Authorization.GrantID ||
		granted.Grant.OrgID != orgID || granted.Grant.PrincipalID != amy.user.ID || granted.Grant.DelegateID != ben.user.ID {
		t.Fatalf("the admin's grant: %+v", granted)
	}

	// Ben posts for amy in Sales' room. The grant is in force; the room and amy's and ben's
	// memberships reach the read model a little after the department room's manager made them,
	// so until then the post is refused (decided afresh on each retry of the same key).
	var sent messageAnswer
	deadline := time.Now().Add(60 * time.Second)
	for {
		res := post(gw2, salesRoom, "obo-"+sfx, "for amy "+sfx)
		if res.Status == http.StatusCreated {
			if err := json.Unmarshal(res.Body, &sent); err != nil {
				t.Fatal(err)
			}
			break
		}
		code := res.errCode()
		if time.Now().After(deadline) || (code != "not_a_member" && code != "room_not_found" && code != "forbidden") {
			t.Fatalf("ben for amy in Sales' room: %v", res)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if sent.Message.SenderID != amy.user.ID {
		t.Fatalf("the message is %+v, want amy's", sent.Message)
	}
	var page struct {
		Messages []struct {
			ID       string `json:"id"`
			SenderID string `json:"sender_id"`
			SentBy   string `json:"sent_by"`
			Content  string `json:"content"`
		} `json:"messages"`
	}
	call(t, gw1, amy.token, "GET", "/api/v1/rooms/"+salesRoom+"/messages?after_seq=0&limit=200&position="+url.QueryEscape(sent.Position), nil, http.StatusOK, &page)
	found := false
	for _, m := range page.Messages {
		if m.ID == sent.Message.ID {
			found = true
			if m.SenderID != amy.user.ID || m.SentBy != ben.user.ID || m.Content != "for amy "+sfx {
				t.Fatalf("the history shows %+v, want from amy, sent by ben", m)
			}
		}
	}
	if !found {
		t.Fatalf("message %s not in Sales' room's history: %+v", sent.Message.ID, page.Messages)
	}

	// Outside the organization the grant does not reach, through either gateway.
	for i, base := range []string{gw1, gw2} {
		if res := post(base, outside.ID, "outside-"+sfx+"-"+string(rune('1'+i)), "outside"); res.Status != http.StatusForbidden || res.errCode() != "forbidden" {
			t.Fatalf("ben for amy outside the organization via gateway %d: %v, want 403 forbidden", i+1, res)
		}
	}

	// The organization's list shows the grant in force.
	var list struct {
		Authorizations []orgProxyAuthorization `json:"authorizations"`
	}
	call(t, gw2, olga.token, "GET", org+"/proxies", nil, http.StatusOK, &list)
	if len(list.Authorizations) != 1 || list.Authorizations[0].ID != granted.Authorization.ID || list.Authorizations[0].Status != "granted" {
		t.Fatalf("the organization's grants: %+v", list)
	}
	expectError(t, gw2, ben.token, "GET", org+"/proxies", nil, http.StatusForbidden, "forbidden")

	// Olga revokes: from the answer on, every gateway refuses ben.
	var revoked orgProxyAnswer
	call(t, gw1, olga.token, "DELETE", org+"/proxies/"+granted.Grant.ID, nil, http.StatusOK, &revoked)
	if revoked.Authorization.Status != "revoked" || revoked.Authorization.Kind != "revoke" || revoked.Authorization.GrantID != granted.Grant.ID {
		t.Fatalf("the revocation: %+v", revoked)
	}
	for i, base := range []string{gw2, gw1} {
		if res := post(base, salesRoom, "after-"+sfx+"-"+string(rune('1'+i)), "after the revocation"); res.Status != http.StatusForbidden || res.errCode() != "forbidden" {
			t.Fatalf("ben for amy after the revocation via gateway %d: %v, want 403 forbidden", 2-i, res)
		}
	}
	call(t, gw2, olga.token, "GET", org+"/proxies", nil, http.StatusOK, &list)
	if len(list.Authorizations) != 1 || list.Authorizations[0].Status != "revoked" || list.Authorizations[0].RevokedBy != olga.user.ID {
		t.Fatalf("the organization's grants after the revocation: %+v", list)
	}
}
