package gateway

import (
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/gorilla/websocket"

	"github.com/chorus-chat/chorus/commands"
	"github.com/chorus-chat/chorus/domain"
)

// The organization frames: named as their commands, with the HTTP call's fields, answered
// with the HTTP call's answer (ack) or its code (error frame); a missing or malformed field is
// invalid_frame.

// wsCall sends a frame with id and returns the answer to it.
func wsCall(t *testing.T, ws *websocket.Conn, id string, f map[string]any) frame {
	t.Helper()
	f["id"] = id
	send(t, ws, f)
	for {
		got := read(t, ws)
		if got.str("id") == id {
			return got
		}
	}
}

// wantAck fails the test unless f is an ack, and returns its result.
func wantAck(t *testing.T, what string, f frame) frame {
	t.Helper()
	if f.str("type") != "ack" {
		t.Fatalf("%s: got %v, want an ack", what, f)
	}
	return f.obj("result")
}

// wantErrFrame fails the test unless f is an error frame with code.
func wantErrFrame(t *testing.T, what string, f frame, code string) {
	t.Helper()
	if f.str("type") != "error" || f.str("code") != code {
		t.Fatalf("%s: got %v, want error %s", what, f, code)
	}
}

func TestOrganizationFramesWS(t *testing.T) {
	o := newOrgEnv(t)
	ws := o.dial(o.owner)
	mws := o.dial(o.member)
	org := o.orgID.String()
	member := o.memberID.String()
	n := 0
	call := func(c *websocket.Conn, f map[string]any) frame {
		n++
		return wsCall(t, c, fmt.Sprint("f", n), f)
	}

	// Creating answers what POST /orgs answers.
	res := wantAck(t, "create_organization", call(ws, map[string]any{"type": "create_organization", "name": "Beta", "slug": "beta", "time_zone": "Asia/Tokyo"}))
	if res.obj("organization").str("id") != domain.OrgIDFor("beta").String() || res.obj("organization").str("time_zone") != "Asia/Tokyo" || res.str("position") == "" {
		t.Fatalf("create_organization ack: %v", res)
	}
	wantErrFrame(t, "a taken slug", call(ws, map[string]any{"type": "create_organization", "name": "Beta", "slug": "beta"}), domain.CodeSlugTaken)
	wantErrFrame(t, "no slug", call(ws, map[string]any{"type": "create_organization", "name": "Gamma"}), codeInvalidFrame)

	// Every other frame names its organization.
	wantErrFrame(t, "no org_id", call(ws, map[string]any{"type": "update_organization", "name": "x"}), codeInvalidFrame)
	wantErrFrame(t, "a malformed org_id", call(ws, map[string]any{"type": "update_organization", "org_id": "acme", "name": "x"}), codeInvalidFrame)
	wantErrFrame(t, "an unknown organization", call(ws, map[string]any{"type": "update_organization", "org_id": uuid.NewString(), "name": "x"}), domain.CodeOrgNotFound)
	wantErrFrame(t, "a field of the wrong type", call(ws, map[string]any{"type": "create_department", "org_id": org, "name": 5}), codeInvalidFrame)
	wantAck(t, "update_organization", call(ws, map[string]any{"type": "update_organization", "org_id": org, "description": "d"}))
	wantErrFrame(t, "a member updating", call(mws, map[string]any{"type": "update_organization", "org_id": org, "name": "x"}), domain.CodeForbidden)

	// The tree.
	res = wantAck(t, "create_department", call(ws, map[string]any{"type": "create_department", "org_id": org, "name": "Sales"}))
	sales := res.obj("department").str("id")
	res = wantAck(t, "create_department (child)", call(ws, map[string]any{"type": "create_department", "org_id": org, "name": "East", "parent_id": sales}))
	east := res.obj("department").str("id")
	if res.obj("department").str("parent_id") != sales {
		t.Fatalf("child department: %v", res)
	}
	wantErrFrame(t, "a malformed parent_id", call(ws, map[string]any{"type": "create_department", "org_id": org, "name": "x", "parent_id": "s"}), codeInvalidFrame)
	wantErrFrame(t, "rename without department_id", call(ws, map[string]any{"type": "rename_department", "org_id": org, "name": "x"}), codeInvalidFrame)
	wantAck(t, "rename_department", call(ws, map[string]any{"type": "rename_department", "org_id": org, "department_id": east, "name": "Eastern"}))
	wantErrFrame(t, "a cycle", call(ws, map[string]any{"type": "move_department", "org_id": org, "department_id": sales, "parent_id": east}), domain.CodeValidationFailed)
	wantAck(t, "move_department", call(ws, map[string]any{"type": "move_department", "org_id": org, "department_id": east, "sort_order": 1}))
	wantAck(t, "move_department back", call(ws, map[string]any{"type": "move_department", "org_id": org, "department_id": east, "parent_id": sales}))
	wantAck(t, "add_department_member", call(ws, map[string]any{"type": "add_department_member", "org_id": org, "department_id": sales, "user_id": member}))
	wantAck(t, "add_department_member (east)", call(ws, map[string]any{"type": "add_department_member", "org_id": org, "department_id": east, "user_id": member, "primary": true}))
	wantAck(t, "set_primary_department", call(mws, map[string]any{"type": "set_primary_department", "org_id": org, "department_id": sales, "user_id": member}))
	wantAck(t, "set_department_head", call(ws, map[string]any{"type": "set_department_head", "org_id": org, "department_id": sales, "user_id": member}))
	wantAck(t, "set_department_head (none)", call(ws, map[string]any{"type": "set_department_head", "org_id": org, "department_id": sales, "user_id": nil}))
	wantErrFrame(t, "a head nobody", call(ws, map[string]any{"type": "set_department_head", "org_id": org, "department_id": sales, "user_id": uuid.NewString()}), domain.CodeUserNotFound)
	res = wantAck(t, "create_department_room", call(ws, map[string]any{"type": "create_department_room", "org_id": org, "department_id": sales, "name": "sales"}))
	if res.obj("department_room").str("room_id") != domain.DepartmentRoomIDFor(o.orgID, uuid.MustParse(sales)).String() {
		t.Fatalf("create_department_room ack: %v", res)
	}

	// Positions.
	res = wantAck(t, "define_position", call(ws, map[string]any{"type": "define_position", "org_id": org, "name": "Lead", "rank": 5}))
	pos := res.obj("job_position").str("id")
	wantAck(t, "update_position", call(ws, map[string]any{"type": "update_position", "org_id": org, "position_id": pos, "name": "Team lead"}))
	wantErrFrame(t, "assign without position_id", call(ws, map[string]any{"type": "assign_position", "org_id": org, "department_id": sales, "user_id": member}), codeInvalidFrame)
	wantAck(t, "assign_position", call(ws, map[string]any{"type": "assign_position", "org_id": org, "department_id": sales, "user_id": member, "position_id": pos}))
	wantAck(t, "unassign_position", call(ws, map[string]any{"type": "unassign_position", "org_id": org, "department_id": sales, "user_id": member}))
	wantAck(t, "delete_position", call(ws, map[string]any{"type": "delete_position", "org_id": org, "position_id": pos}))
	wantErrFrame(t, "delete_position twice", call(ws, map[string]any{"type": "delete_position", "org_id": org, "position_id": pos}), domain.CodePositionNotFound)

	// Roles, scoped grants, and the department admin inside and outside his subtree.
	res = wantAck(t, "create_org_role", call(ws, map[string]any{"type": "create_org_role", "org_id": org, "name": "Dept admin", "permissions": []string{domain.PermManageDepartments}}))
	role := res.obj("role").str("id")
	wantAck(t, "update_org_role", call(ws, map[string]any{"type": "update_org_role", "org_id": org, "role_id": role, "permissions": []string{domain.PermManageDepartments, domain.PermManageMembers}}))
	wantAck(t, "grant_org_role", call(ws, map[string]any{"type": "grant_org_role", "org_id": org, "user_id": member, "role_id": role, "department_id": east}))
	wantAck(t, "inside the subtree", call(mws, map[string]any{"type": "create_department", "org_id": org, "name": "North", "parent_id": east}))
	wantErrFrame(t, "outside the subtree", call(mws, map[string]any{"type": "rename_department", "org_id": org, "department_id": sales, "name": "Mine"}), domain.CodeForbidden)
	wantAck(t, "revoke_org_role", call(ws, map[string]any{"type": "revoke_org_role", "org_id": org, "user_id": member, "role_id": role, "department_id": east}))
	wantAck(t, "delete_org_role", call(ws, map[string]any{"type": "delete_org_role", "org_id": org, "role_id": role}))
	wantErrFrame(t, "delete_department with children", call(ws, map[string]any{"type": "delete_department", "org_id": org, "department_id": sales}), domain.CodeDepartmentNotEmpty)
	wantAck(t, "remove_department_member", call(ws, map[string]any{"type": "remove_department_member", "org_id": org, "department_id": east, "user_id": member}))

	// Members, invitations, broadcasts, archiving.
	_, ivyID := o.user("ivy")
	ivy := o.dial(o.login("ivy"))
	wantAck(t, "invite_org_member", call(ws, map[string]any{"type": "invite_org_member", "org_id": org, "user_id": ivyID.String()}))
	wantAck(t, "decline_org_invitation", call(ivy, map[string]any{"type": "decline_org_invitation", "org_id": org}))
	wantAck(t, "invite_org_member again", call(ws, map[string]any{"type": "invite_org_member", "org_id": org, "user_id": ivyID.String()}))
	wantAck(t, "accept_org_invitation", call(ivy, map[string]any{"type": "accept_org_invitation", "org_id": org}))
	wantAck(t, "leave_organization", call(ivy, map[string]any{"type": "leave_organization", "org_id": org}))
	wantAck(t, "add_org_member", call(ws, map[string]any{"type": "add_org_member", "org_id": org, "user_id": ivyID.String()}))
	wantAck(t, "remove_org_member", call(ws, map[string]any{"type": "remove_org_member", "org_id": org, "user_id": ivyID.String()}))
	wantErrFrame(t, "the last owner leaving", call(ws, map[string]any{"type": "leave_organization", "org_id": org}), domain.CodeLastOwner)
	res = wantAck(t, "broadcast_to_organization", call(ws, map[string]any{"type": "broadcast_to_organization", "org_id": org, "title": "Hi", "body": "All hands"}))
	if res.obj("broadcast").str("title") != "Hi" {
		t.Fatalf("broadcast ack: %v", res)
	}
	wantErrFrame(t, "a broadcast without a title", call(ws, map[string]any{"type": "broadcast_to_organization", "org_id": org, "body": "x"}), codeInvalidFrame)
	wantAck(t, "archive_organization", call(ws, map[string]any{"type": "archive_organization", "org_id": org}))
	wantErrFrame(t, "archived", call(ws, map[string]any{"type": "create_department", "org_id": org, "name": "Late"}), domain.CodeOrgArchived)
	wantAck(t, "unarchive_organization", call(ws, map[string]any{"type": "unarchive_organization", "org_id": org}))
}

// A frame's client_command_id is its Idempotency-Key: the retry is acked with the first
// answer, and it is the same command as the HTTP call with that key.
func TestOrganizationFrameIdempotencyWS(t *testing.T) {
	o := newOrgEnv(t)
	ws := o.dial(o.owner)
	f := map[string]any{"type": "create_department", "org_id": o.orgID.String(), "name": "Sales", "client_command_id": "d-1"}
	a := wantAck(t, "first", wsCall(t, ws, "a", f))
	b := wantAck(t, "retry", wsCall(t, ws, "b", f))
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	if string(ja) != string(jb) {
		t.Fatalf("retried frame answered differently:\n%s\n%s", ja, jb)
	}
	r := o.doKey("POST", o.org+"/departments", o.owner, "d-1", map[string]any{"name": "Sales"})
	if r.status != http.StatusCreated || r.body["department"].(map[string]any)["id"] != a.obj("department").str("id") {
		t.Fatalf("the HTTP call with the frame's key: %s (frame: %s)", r.raw, ja)
	}
	c := wsCall(t, ws, "c", map[string]any{"type": "create_department", "org_id": o.orgID.String(), "name": "Sales"})
	wantErrFrame(t, "without the key", c, domain.CodeNameTaken)
}

// The organization commands spend the user's command budget like every command, over HTTP
// and frames of any gateway: past it they are refused rate_limited, and do nothing.
func TestOrganizationCommandsSpendTheBudget(t *testing.T) {
	w, gws := budgetGateways(t, 2, func(c *Config) {
		c.Budgets = commands.Budgets{CommandRate: 1, CommandBurst: 3, CreateRoomRate: -1, CommandPeriod: time.Hour}
	})
	alice, _ := gws[0].user("alice")
	r := gws[0].mustDo(http.StatusCreated, "POST", "/api/v1/orgs", alice, map[string]any{"name": "Acme", "slug": "acme"}) // 1
	org := r.body["organization"].(map[string]any)["id"].(string)
	gws[1].mustDo(http.StatusCreated, "POST", "/api/v1/orgs/"+org+"/departments", alice, map[string]any{"name": "A"}) // 2
	ws := gws[1].dial(alice)
	wantAck(t, "3rd", wsCall(t, ws, "3", map[string]any{"type": "create_department", "org_id": org, "name": "B"}))
	wantErrFrame(t, "4th over a socket", wsCall(t, ws, "4", map[string]any{"type": "create_department", "org_id": org, "name": "C"}), codeRateLimited)
	resp, code := post(t, gws[0], "/api/v1/orgs/"+org+"/departments", alice, `{"name":"D"}`)
	if resp.StatusCode != http.StatusTooManyRequests || code != codeRateLimited || retryAfter(resp) < 1 {
		t.Fatalf("5th over HTTP: %d %s Retry-After %q", resp.StatusCode, code, resp.Header.Get("Retry-After"))
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if n := w.aggs[uuid.MustParse(org)].(*domain.Organization).DepartmentCount(); n != 2 {
		t.Fatalf("%d departments after refused creations, want 2", n)
	}
}
