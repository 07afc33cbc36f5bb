package main_test

// The organization commands over the real multi-process stack: an organization, its department
// tree and a custom role granted over one department, through both gateways, HTTP and
// WebSocket, decided by the command processors from org-events.

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"testing"
	"time"
)

// callKey makes a call with an Idempotency-Key and returns its answer.
func callKey(t testing.TB, base, token, key, method, path string, body any) result {
	t.Helper()
	b, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequest(method, base+path, bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Idempotency-Key", key)
	resp, err := httpClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s%s: %v", method, base, path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return result{Status: resp.StatusCode, Body: raw}
}

// orgAnswer is what the organization calls answer, as far as the test reads it.
type orgAnswer struct {
	Organization struct {
		ID   string `json:"id"`
		Slug string `json:"slug"`
	} `json:"organization"`
	Department struct {
		ID       string `json:"id"`
		ParentID string `json:"parent_id"`
	} `json:"department"`
	Role struct {
		ID string `json:"id"`
	} `json:"role"`
	Position string `json:"position"`
}

func TestE2EOrganizations(t *testing.T) {
	skipShort(t)
	c := startCluster(t, nil)
	c.warmUp()
	sfx := randomHex(3)
	gw1, gw2 := c.gwURL(0), c.gwURL(1)
	olga := newAccount(t, gw1, "olga_"+sfx)
	dora := newAccount(t, gw2, "dora_"+sfx)
	stan := newAccount(t, gw2, "stan_"+sfx)
	slug := "acme-" + sfx

	// Created under a key: the retry (through the other gateway) answers the first result.
	body := map[string]any{"name": "Acme", "slug": slug, "time_zone": "Europe/Berlin"}
	first := callKey(t, gw1, olga.token, "create-acme", "POST", "/api/v1/orgs", body)
	if first.Status != http.StatusCreated {
		t.Fatalf("create: %v", first)
	}
	retry := callKey(t, gw2, olga.token, "create-acme", "POST", "/api/v1/orgs", body)
	if retry.Status != http.StatusCreated || !bytes.Equal(first.Body, retry.Body) {
		t.Fatalf("retried create answered differently:\n%v\n%v", first, retry)
	}
	var created orgAnswer
	if err := json.Unmarshal(first.Body, &created); err != nil || created.Organization.Slug != slug || created.Position == "" {
		t.Fatalf("create answer %v: %v", first, err)
	}
	org := "/api/v1/orgs/" + created.Organization.ID
	expectError(t, gw2, stan.token, "POST", "/api/v1/orgs", map[string]any{"name": "Not Acme", "slug": slug}, http.StatusConflict, "slug_taken")
	expectError(t, gw1, olga.token, "POST", "/api/v1/orgs", body, http.StatusConflict, "slug_taken")

	// The tree: Sales (with East under it) and Ops.
	dept := func(base, token, name, parent string) string {
		t.Helper()
		b := map[string]any{"name": name}
		if parent != "" {
			b["parent_id"] = parent
		}
		var out orgAnswer
		call(t, base, token, "POST", org+"/departments", b, http.StatusCreated, &out)
		if out.Department.ID == "" || out.Department.ParentID != parent {
			t.Fatalf("department %s: %+v", name, out)
		}
		return out.Department.ID
	}
	sales := dept(gw1, olga.token, "Sales", "")
	east := dept(gw2, olga.token, "East", sales)
	ops := dept(gw1, olga.token, "Ops", "")
	expectError(t, gw1, olga.token, "POST", org+"/departments", map[string]any{"name": "sales"}, http.StatusConflict, "name_taken")
	expectError(t, gw1, olga.token, "DELETE", org+"/departments/"+sales, nil, http.StatusConflict, "department_not_empty")

	// Dora joins and gets a custom role over Sales: a department admin of Sales' subtree.
	call(t, gw1, olga.token, "POST", org+"/members", map[string]any{"user_id": dora.user.ID}, http.StatusCreated, nil)
	var role orgAnswer
	call(t, gw1, olga.token, "POST", org+"/roles", map[string]any{"name": "Department admin",
		"permissions": []string{"manage_departments", "manage_members"}}, http.StatusCreated, &role)
	expectError(t, gw2, dora.token, "PATCH", org+"/departments/"+east, map[string]any{"name": "Eastern"}, http.StatusForbidden, "forbidden")
	call(t, gw1, olga.token, "PUT", org+"/members/"+dora.user.ID+"/roles/"+role.Role.ID+"?department_id="+sales, nil, http.StatusOK, nil)

	// Inside the subtree she is allowed, outside refused: over HTTP and over a socket.
	call(t, gw2, dora.token, "PATCH", org+"/departments/"+east, map[string]any{"name": "Eastern"}, http.StatusOK, nil)
	north := dept(gw2, dora.token, "North", east)
	call(t, gw2, dora.token, "PUT", org+"/departments/"+north+"/members/"+dora.user.ID, nil, http.StatusOK, nil)
	expectError(t, gw2, dora.token, "PATCH", org+"/departments/"+ops, map[string]any{"name": "Mine"}, http.StatusForbidden, "forbidden")
	expectError(t, gw2, dora.token, "POST", org+"/departments", map[string]any{"name": "Top"}, http.StatusForbidden, "forbidden")
	expectError(t, gw2, dora.token, "POST", org+"/departments/"+sales+"/move", map[string]any{"parent_id": ops}, http.StatusForbidden, "forbidden")
	// Nobody grants what they do not hold: she has no manage_roles.
	expectError(t, gw2, dora.token, "PUT", org+"/members/"+dora.user.ID+"/roles/"+role.Role.ID, nil, http.StatusForbidden, "forbidden")

	ws := dialWS(t, "dora@gateway2", gw2, dora.token)
	defer ws.close()
	frame := func(id string, f map[string]any) wsFrame {
		t.Helper()
		f["id"] = id
		if err := ws.sendJSON(f); err != nil {
			t.Fatal(err)
		}
		got, _, err := ws.waitFor(10*time.Second, answerTo(id))
		if err != nil {
			t.Fatalf("frame %s: %v", id, err)
		}
		return got
	}
	if f := frame("in", map[string]any{"type": "create_department", "org_id": created.Organization.ID, "name": "South", "parent_id": sales}); f.Type != "ack" {
		t.Fatalf("create_department inside the subtree over a socket: %s", f.raw)
	}
	if f := frame("out", map[string]any{"type": "rename_department", "org_id": created.Organization.ID, "department_id": ops, "name": "Mine"}); f.Type != "error" || f.Code != "forbidden" {
		t.Fatalf("rename_department outside the subtree over a socket: %s", f.raw)
	}

	// Revoked, she is refused inside too; a stranger does not see the organization at all.
	call(t, gw1, olga.token, "DELETE", org+"/members/"+dora.user.ID+"/roles/"+role.Role.ID+"?department_id="+sales, nil, http.StatusOK, nil)
	expectError(t, gw2, dora.token, "PATCH", org+"/departments/"+east, map[string]any{"name": "East"}, http.StatusForbidden, "forbidden")
	expectError(t, gw2, stan.token, "PATCH", org, map[string]any{"name": "Mine"}, http.StatusNotFound, "org_not_found")
	expectError(t, gw1, olga.token, "POST", org+"/leave", nil, http.StatusConflict, "last_owner")

	checkOrgReads(t, gw1, gw2, org, olga, dora, stan, sales, east)
}

// checkOrgReads reads back what TestE2EOrganizations did, from the directory of the projectors
// process, through both gateways: each read at the position a command answered shows it; a
// non-member finds nothing; the audit log is refused without read_audit_log and shows the
// events with it.
func checkOrgReads(t *testing.T, gw1, gw2, org string, olga, dora, stan account, sales, east string) {
	t.Helper()
	at := func(path, position string) string { return path + "?position=" + url.QueryEscape(position) }

	// A change answers the thing, read back; the other gateway reads it at its position.
	var renamed struct {
		Department struct {
			Name     string `json:"name"`
			ParentID string `json:"parent_id"`
		} `json:"department"`
		Position string `json:"position"`
	}
	call(t, gw1, olga.token, "PATCH", org+"/departments/"+east, map[string]any{"name": "East Region"}, http.StatusOK, &renamed)
	if renamed.Department.Name != "East Region" || renamed.Department.ParentID != sales || renamed.Position == "" {
		t.Fatalf("rename answered %+v", renamed)
	}
	var chart struct {
		Departments []struct {
			Name      string `json:"name"`
			HeadCount int    `json:"head_count"`
			Children  []struct {
				Name string `json:"name"`
			} `json:"children"`
		} `json:"departments"`
	}
	call(t, gw2, dora.token, "GET", at(org+"/departments", renamed.Position), nil, http.StatusOK, &chart)
	var sawSales bool
	for _, d := range chart.Departments {
		if d.Name == "Sales" {
			sawSales = true
			if d.HeadCount != 1 || len(d.Children) != 2 || (d.Children[0].Name != "East Region" && d.Children[1].Name != "East Region") {
				t.Fatalf("Sales in the org chart: %+v", d)
			}
		}
	}
	if !sawSales {
		t.Fatalf("org chart: %+v", chart)
	}

	// The directory: dora is in North, below Sales.
	var members struct {
		Members []struct {
			Username string `json:"username"`
		} `json:"members"`
	}
	call(t, gw1, olga.token, "GET", at(org+"/members", renamed.Position)+"&department_id="+sales, nil, http.StatusOK, &members)
	if len(members.Members) != 1 || members.Members[0].Username != dora.user.Username {
		t.Fatalf("Sales' subtree: %+v", members)
	}

	// A non-member finds nothing, by id or slug.
	expectError(t, gw2, stan.token, "GET", org, nil, http.StatusNotFound, "org_not_found")
	expectError(t, gw2, stan.token, "GET", org+"/members", nil, http.StatusNotFound, "org_not_found")

	// The audit log: refused to dora, shown to the owner, newest first, by type.
	expectError(t, gw2, dora.token, "GET", org+"/audit", nil, http.StatusForbidden, "forbidden")
	var audit struct {
		Entries []struct {
			Type    string `json:"type"`
			ActorID string `json:"actor_id"`
		} `json:"entries"`
	}
	call(t, gw1, olga.token, "GET", at(org+"/audit", renamed.Position), nil, http.StatusOK, &audit)
	if len(audit.Entries) < 10 || audit.Entries[0].Type != "DepartmentRenamed" || audit.Entries[len(audit.Entries)-1].Type != "OrganizationCreated" {
		t.Fatalf("audit: %+v", audit)
	}
	call(t, gw2, olga.token, "GET", org+"/audit?type=OrgRoleRevoked&actor_id="+olga.user.ID, nil, http.StatusOK, &audit)
	if len(audit.Entries) != 1 || audit.Entries[0].ActorID != olga.user.ID {
		t.Fatalf("audit by type and actor: %+v", audit)
	}

	// dora's profile shows the organization and her department there; stan's does not.
	var profile struct {
		Organizations []struct {
			Departments []struct {
				Name string `json:"name"`
			} `json:"departments"`
		} `json:"organizations"`
	}
	call(t, gw2, dora.token, "GET", at("/api/v1/users/me", renamed.Position), nil, http.StatusOK, &profile)
	if len(profile.Organizations) != 1 || len(profile.Organizations[0].Departments) != 1 || profile.Organizations[0].Departments[0].Name != "North" {
		t.Fatalf("dora's profile: %+v", profile)
	}
	profile.Organizations = nil
	call(t, gw1, stan.token, "GET", "/api/v1/users/"+dora.user.ID, nil, http.StatusOK, &profile)
	if len(profile.Organizations) != 0 {
		t.Fatalf("stan sees dora's organizations: %+v", profile)
	}
}
