package gateway

import (
	"net/http"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/chorus-chat/chorus/domain"
)

// The organization commands over HTTP, decided by the real organization aggregate: each
// command's success and answer, and its main refusals with their codes and statuses.

// orgEnv is a gateway with an organization owned by olga, and the users around it.
type orgEnv struct {
	*env
	owner, member, stranger string // tokens
	ownerID, memberID       uuid.UUID
	strangerID              uuid.UUID
	org                     string // /api/v1/orgs/{id}
	orgID                   uuid.UUID
}

func newOrgEnv(t *testing.T) *orgEnv {
	t.Helper()
	// The frame tests send more frames than a socket's default rate allows.
	return orgEnvOn(newEnv(t, func(c *Config) { c.FrameRate = -1 }))
}

// orgEnvOn creates the organization and its users on e.
func orgEnvOn(e *env) *orgEnv {
	e.t.Helper()
	o := &orgEnv{env: e}
	o.owner, o.ownerID = e.user("olga")
	o.member, o.memberID = e.user("mark")
	o.stranger, o.strangerID = e.user("stan")
	r := e.mustDo(http.StatusCreated, "POST", "/api/v1/orgs", o.owner, map[string]any{"name": "Acme", "slug": "acme", "time_zone": "Europe/Berlin"})
	o.orgID = uuid.MustParse(r.body["organization"].(map[string]any)["id"].(string))
	o.org = "/api/v1/orgs/" + o.orgID.String()
	e.mustDo(http.StatusCreated, "POST", o.org+"/members", o.owner, map[string]any{"user_id": o.memberID.String()})
	return o
}

// dept creates a department (under parent, "" for the top) as token's user and returns its id.
func (o *orgEnv) dept(token, name, parent string) string {
	o.t.Helper()
	body := map[string]any{"name": name}
	if parent != "" {
		body["parent_id"] = parent
	}
	r := o.mustDo(http.StatusCreated, "POST", o.org+"/departments", token, body)
	return r.body["department"].(map[string]any)["id"].(string)
}

func TestCreateOrganizationHTTP(t *testing.T) {
	e := newEnv(t, nil)
	token, _ := e.user("olga")
	other, _ := e.user("otto")

	r := e.mustDo(http.StatusCreated, "POST", "/api/v1/orgs", token,
		map[string]any{"name": " Acme Inc. ", "slug": "acme", "description": "Widgets", "time_zone": "Europe/Berlin"})
	wantPosition(t, "create", r, http.StatusCreated)
	org := r.body["organization"].(map[string]any)
	if org["id"] != domain.OrgIDFor("acme").String() || org["name"] != "Acme Inc." || org["slug"] != "acme" ||
		org["description"] != "Widgets" || org["time_zone"] != "Europe/Berlin" || org["member_count"] != float64(1) ||
		org["archived"] != false || org["created_at"] == nil {
		t.Fatalf("created organization: %s", r.raw)
	}
	if r := e.mustDo(http.StatusCreated, "POST", "/api/v1/orgs", token, map[string]any{"name": "Beta", "slug": "beta"}); r.body["organization"].(map[string]any)["time_zone"] != "UTC" {
		t.Fatalf("an organization without a time zone counts in UTC: %s", r.raw)
	}

	// The slug is the server's: anyone else's creation of it, in any case, is slug_taken.
	wantErr(t, "a taken slug", e.do("POST", "/api/v1/orgs", other, map[string]any{"name": "Acme 2", "slug": "acme"}),
		http.StatusConflict, domain.CodeSlugTaken)
	wantErr(t, "the owner's second creation without a key", e.do("POST", "/api/v1/orgs", token, map[string]any{"name": "Acme", "slug": "acme"}),
		http.StatusConflict, domain.CodeSlugTaken)

	bad := []struct {
		what string
		body any
	}{
		{"no slug", map[string]any{"name": "x"}},
		{"no name", map[string]any{"slug": "xyz"}},
		{"an upper-case slug", map[string]any{"name": "x", "slug": "ACME-2"}},
		{"a short slug", map[string]any{"name": "x", "slug": "ab"}},
		{"an unknown time zone", map[string]any{"name": "x", "slug": "tz-org", "time_zone": "Mars/Olympus"}},
		{"a 10,000-character name", map[string]any{"name": strings.Repeat("n", 10_000), "slug": "long-org"}},
		{"a NUL in the name", map[string]any{"name": "a\x00b", "slug": "nul-org"}},
		{"an empty name", map[string]any{"name": "   ", "slug": "empty-org"}},
		{"a slug of the wrong type", map[string]any{"name": "x", "slug": 7}},
	}
	for _, b := range bad {
		wantErr(t, b.what, e.do("POST", "/api/v1/orgs", token, b.body), http.StatusBadRequest, domain.CodeValidationFailed)
	}
	wantErr(t, "no token", e.do("POST", "/api/v1/orgs", "", map[string]any{"name": "x", "slug": "xyz"}), http.StatusUnauthorized, codeUnauthorized)
}

// A creation retried with its Idempotency-Key (its reply was lost) answers the first result,
// not slug_taken; another user's same key is another command (and finds the slug taken).
func TestCreateOrganizationIdempotencyHTTP(t *testing.T) {
	e := newEnv(t, nil)
	token, _ := e.user("olga")
	other, _ := e.user("otto")
	body := map[string]any{"name": "Acme", "slug": "acme"}
	a := e.doKey("POST", "/api/v1/orgs", token, "org-1", body)
	b := e.doKey("POST", "/api/v1/orgs", token, "org-1", body)
	if a.status != http.StatusCreated || a.raw != b.raw {
		t.Fatalf("retried create answered differently:\n%s\n%s", a.raw, b.raw)
	}
	wantErr(t, "another user's key", e.doKey("POST", "/api/v1/orgs", other, "org-1", body), http.StatusConflict, domain.CodeSlugTaken)
	wantErr(t, "a key too long", e.doKey("POST", "/api/v1/orgs", token, strings.Repeat("k", 129), map[string]any{"name": "B", "slug": "beta"}),
		http.StatusBadRequest, domain.CodeValidationFailed)

	// A department created under a key is named by it: the retry answers the same department.
	org := "/api/v1/orgs/" + a.body["organization"].(map[string]any)["id"].(string)
	d1 := e.doKey("POST", org+"/departments", token, "dept-1", map[string]any{"name": "Sales"})
	d2 := e.doKey("POST", org+"/departments", token, "dept-1", map[string]any{"name": "Sales"})
	if d1.status != http.StatusCreated || d1.raw != d2.raw {
		t.Fatalf("retried department creation:\n%s\n%s", d1.raw, d2.raw)
	}
	wantErr(t, "the same department without the key", e.do("POST", org+"/departments", token, map[string]any{"name": "Sales"}),
		http.StatusConflict, domain.CodeNameTaken)
}

func TestOrganizationSettingsHTTP(t *testing.T) {
	o := newOrgEnv(t)
	wantPosition(t, "update", o.mustDo(http.StatusOK, "PATCH", o.org, o.owner, map[string]any{"name": "Acme GmbH", "time_zone": "UTC"}), http.StatusOK)
	wantErr(t, "an unknown time zone", o.do("PATCH", o.org, o.owner, map[string]any{"time_zone": "Nowhere/Land"}), http.StatusBadRequest, domain.CodeValidationFailed)
	wantErr(t, "nothing to update", o.do("PATCH", o.org, o.owner, map[string]any{}), http.StatusBadRequest, domain.CodeValidationFailed)
	wantErr(t, "a member without manage_organization", o.do("PATCH", o.org, o.member, map[string]any{"name": "Mine"}), http.StatusForbidden, domain.CodeForbidden)
	// An organization one is not in does not exist for them, nor does one that never was.
	wantErr(t, "a stranger", o.do("PATCH", o.org, o.stranger, map[string]any{"name": "Mine"}), http.StatusNotFound, domain.CodeOrgNotFound)
	wantErr(t, "an unknown organization", o.do("PATCH", "/api/v1/orgs/"+uuid.NewString(), o.owner, map[string]any{"name": "x"}), http.StatusNotFound, domain.CodeOrgNotFound)
	wantErr(t, "a malformed id", o.do("PATCH", "/api/v1/orgs/acme", o.owner, map[string]any{"name": "x"}), http.StatusNotFound, domain.CodeOrgNotFound)

	// Archived, it is read only: everything but unarchive is org_archived.
	wantErr(t, "a member archiving", o.do("POST", o.org+"/archive", o.member, nil), http.StatusForbidden, domain.CodeForbidden)
	wantPosition(t, "archive", o.mustDo(http.StatusOK, "POST", o.org+"/archive", o.owner, nil), http.StatusOK)
	wantErr(t, "an update of an archived organization", o.do("PATCH", o.org, o.owner, map[string]any{"name": "x"}), http.StatusConflict, domain.CodeOrgArchived)
	wantErr(t, "a department in an archived organization", o.do("POST", o.org+"/departments", o.owner, map[string]any{"name": "x"}), http.StatusConflict, domain.CodeOrgArchived)
	wantPosition(t, "unarchive", o.mustDo(http.StatusOK, "POST", o.org+"/unarchive", o.owner, nil), http.StatusOK)
	wantErr(t, "unarchiving twice", o.do("POST", o.org+"/unarchive", o.owner, nil), http.StatusBadRequest, domain.CodeValidationFailed)
	o.mustDo(http.StatusOK, "PATCH", o.org, o.owner, map[string]any{"description": "thawed"})
}

func TestOrganizationMembersHTTP(t *testing.T) {
	o := newOrgEnv(t)
	inv, invID := o.user("ivy")
	_, decID := o.user("dan")

	wantErr(t, "adding a member twice", o.do("POST", o.org+"/members", o.owner, map[string]any{"user_id": o.memberID.String()}), http.StatusConflict, domain.CodeAlreadyMember)
	wantErr(t, "adding nobody", o.do("POST", o.org+"/members", o.owner, map[string]any{"user_id": uuid.NewString()}), http.StatusNotFound, domain.CodeUserNotFound)
	wantErr(t, "adding without user_id", o.do("POST", o.org+"/members", o.owner, map[string]any{}), http.StatusBadRequest, domain.CodeValidationFailed)
	wantErr(t, "adding a malformed user_id", o.do("POST", o.org+"/members", o.owner, map[string]any{"user_id": "ivy"}), http.StatusBadRequest, domain.CodeValidationFailed)
	wantErr(t, "a member adding", o.do("POST", o.org+"/members", o.member, map[string]any{"user_id": invID.String()}), http.StatusForbidden, domain.CodeForbidden)

	// Invitations: the invited user alone sees the organization, to accept or decline.
	wantPosition(t, "invite", o.mustDo(http.StatusCreated, "POST", o.org+"/invitations", o.owner, map[string]any{"user_id": invID.String()}), http.StatusCreated)
	o.mustDo(http.StatusCreated, "POST", o.org+"/invitations", o.owner, map[string]any{"user_id": decID.String()})
	wantErr(t, "inviting nobody", o.do("POST", o.org+"/invitations", o.owner, map[string]any{"user_id": uuid.NewString()}), http.StatusNotFound, domain.CodeUserNotFound)
	wantErr(t, "a stranger accepting", o.do("POST", o.org+"/invitation/accept", o.stranger, nil), http.StatusNotFound, domain.CodeOrgNotFound)
	wantPosition(t, "accept", o.mustDo(http.StatusOK, "POST", o.org+"/invitation/accept", inv, nil), http.StatusOK)
	wantErr(t, "accepting twice", o.do("POST", o.org+"/invitation/accept", inv, nil), http.StatusConflict, domain.CodeAlreadyMember)
	dec := o.login("dan")
	wantPosition(t, "decline", o.mustDo(http.StatusOK, "POST", o.org+"/invitation/decline", dec, nil), http.StatusOK)
	wantErr(t, "accepting a declined invitation", o.do("POST", o.org+"/invitation/accept", dec, nil), http.StatusNotFound, domain.CodeOrgNotFound)

	// Leaving and removing; the last owner stays.
	wantPosition(t, "leave", o.mustDo(http.StatusOK, "POST", o.org+"/leave", inv, nil), http.StatusOK)
	wantErr(t, "the last owner leaving", o.do("POST", o.org+"/leave", o.owner, nil), http.StatusConflict, domain.CodeLastOwner)
	wantErr(t, "a member removing the owner", o.do("DELETE", o.org+"/members/"+o.ownerID.String(), o.member, nil), http.StatusForbidden, domain.CodeForbidden)
	wantErr(t, "removing a non-member", o.do("DELETE", o.org+"/members/"+o.strangerID.String(), o.owner, nil), http.StatusForbidden, domain.CodeNotAMember)
	wantErr(t, "removing a malformed user id", o.do("DELETE", o.org+"/members/mark", o.owner, nil), http.StatusNotFound, domain.CodeUserNotFound)
	wantPosition(t, "remove", o.mustDo(http.StatusOK, "DELETE", o.org+"/members/"+o.memberID.String(), o.owner, nil), http.StatusOK)
	wantErr(t, "a removed member", o.do("PATCH", o.org, o.member, map[string]any{"name": "x"}), http.StatusNotFound, domain.CodeOrgNotFound)

	// Broadcasts.
	r := o.mustDo(http.StatusCreated, "POST", o.org+"/broadcasts", o.owner, map[string]any{"title": "Holiday", "body": "Friday off."})
	b := r.body["broadcast"].(map[string]any)
	if b["title"] != "Holiday" || b["body"] != "Friday off." || b["sent_by"] != o.ownerID.String() || b["id"] == nil {
		t.Fatalf("broadcast answer: %s", r.raw)
	}
	wantErr(t, "a broadcast without a body", o.do("POST", o.org+"/broadcasts", o.owner, map[string]any{"title": "x"}), http.StatusBadRequest, domain.CodeValidationFailed)
	wantErr(t, "an empty broadcast", o.do("POST", o.org+"/broadcasts", o.owner, map[string]any{"title": "x", "body": " "}), http.StatusBadRequest, domain.CodeValidationFailed)
}

// login logs a registered user in again and returns the token.
func (e *env) login(name string) string {
	e.t.Helper()
	r := e.mustDo(http.StatusOK, "POST", "/api/v1/auth/login", "", map[string]any{"username": name, "password": "password-" + name})
	return r.body["token"].(string)
}

func TestDepartmentsHTTP(t *testing.T) {
	o := newOrgEnv(t)
	r := o.mustDo(http.StatusCreated, "POST", o.org+"/departments", o.owner, map[string]any{"name": "Sales", "sort_order": 2})
	d := r.body["department"].(map[string]any)
	if d["name"] != "Sales" || d["sort_order"] != float64(2) || d["parent_id"] != nil || d["id"] == nil {
		t.Fatalf("created department: %s", r.raw)
	}
	sales := d["id"].(string)
	r = o.mustDo(http.StatusCreated, "POST", o.org+"/departments", o.owner, map[string]any{"name": "EMEA", "parent_id": sales})
	if r.body["department"].(map[string]any)["parent_id"] != sales {
		t.Fatalf("child department: %s", r.raw)
	}
	emea := r.body["department"].(map[string]any)["id"].(string)
	ops := o.dept(o.owner, "Ops", "")

	wantErr(t, "a duplicate sibling name", o.do("POST", o.org+"/departments", o.owner, map[string]any{"name": "sales"}), http.StatusConflict, domain.CodeNameTaken)
	wantErr(t, "an unknown parent", o.do("POST", o.org+"/departments", o.owner, map[string]any{"name": "x", "parent_id": uuid.NewString()}), http.StatusNotFound, domain.CodeDepartmentNotFound)
	wantErr(t, "a malformed parent", o.do("POST", o.org+"/departments", o.owner, map[string]any{"name": "x", "parent_id": "sales"}), http.StatusBadRequest, domain.CodeValidationFailed)
	wantErr(t, "no name", o.do("POST", o.org+"/departments", o.owner, map[string]any{}), http.StatusBadRequest, domain.CodeValidationFailed)
	wantErr(t, "a member creating", o.do("POST", o.org+"/departments", o.member, map[string]any{"name": "x"}), http.StatusForbidden, domain.CodeForbidden)

	dp := o.org + "/departments/"
	wantPosition(t, "rename", o.mustDo(http.StatusOK, "PATCH", dp+emea, o.owner, map[string]any{"name": "Europe"}), http.StatusOK)
	wantErr(t, "rename without a name", o.do("PATCH", dp+emea, o.owner, map[string]any{}), http.StatusBadRequest, domain.CodeValidationFailed)
	wantErr(t, "rename an unknown department", o.do("PATCH", dp+uuid.NewString(), o.owner, map[string]any{"name": "x"}), http.StatusNotFound, domain.CodeDepartmentNotFound)
	wantErr(t, "rename a malformed department", o.do("PATCH", dp+"sales", o.owner, map[string]any{"name": "x"}), http.StatusNotFound, domain.CodeDepartmentNotFound)

	wantErr(t, "a move into its own subtree", o.do("POST", dp+sales+"/move", o.owner, map[string]any{"parent_id": emea}), http.StatusBadRequest, domain.CodeValidationFailed)
	wantPosition(t, "move", o.mustDo(http.StatusOK, "POST", dp+emea+"/move", o.owner, map[string]any{"parent_id": ops}), http.StatusOK)
	wantPosition(t, "move to the top (no body)", o.mustDo(http.StatusOK, "POST", dp+emea+"/move", o.owner, nil), http.StatusOK)
	o.mustDo(http.StatusOK, "POST", dp+emea+"/move", o.owner, map[string]any{"parent_id": sales})

	// Members of departments, primary departments, heads.
	member := o.memberID.String()
	wantErr(t, "a stranger into a department", o.do("PUT", dp+sales+"/members/"+o.strangerID.String(), o.owner, nil), http.StatusForbidden, domain.CodeNotAMember)
	wantErr(t, "nobody into a department", o.do("PUT", dp+sales+"/members/"+uuid.NewString(), o.owner, nil), http.StatusNotFound, domain.CodeUserNotFound)
	wantPosition(t, "add to a department", o.mustDo(http.StatusOK, "PUT", dp+sales+"/members/"+member, o.owner, nil), http.StatusOK)
	wantErr(t, "twice into a department", o.do("PUT", dp+sales+"/members/"+member, o.owner, nil), http.StatusConflict, domain.CodeAlreadyMember)
	o.mustDo(http.StatusOK, "PUT", dp+ops+"/members/"+member, o.owner, map[string]any{"primary": false})
	wantPosition(t, "primary by the member", o.mustDo(http.StatusOK, "POST", dp+ops+"/members/"+member+"/primary", o.member, nil), http.StatusOK)
	wantErr(t, "primary twice", o.do("POST", dp+ops+"/members/"+member+"/primary", o.member, nil), http.StatusBadRequest, domain.CodeValidationFailed)
	wantErr(t, "a head outside the department", o.do("PUT", dp+emea+"/head", o.owner, map[string]any{"user_id": member}), http.StatusForbidden, domain.CodeNotAMember)
	wantErr(t, "a head nobody", o.do("PUT", dp+sales+"/head", o.owner, map[string]any{"user_id": uuid.NewString()}), http.StatusNotFound, domain.CodeUserNotFound)
	wantPosition(t, "head", o.mustDo(http.StatusOK, "PUT", dp+sales+"/head", o.owner, map[string]any{"user_id": member}), http.StatusOK)
	wantPosition(t, "no head", o.mustDo(http.StatusOK, "PUT", dp+sales+"/head", o.owner, map[string]any{"user_id": nil}), http.StatusOK)
	wantErr(t, "a member naming heads", o.do("PUT", dp+sales+"/head", o.member, map[string]any{"user_id": member}), http.StatusForbidden, domain.CodeForbidden)
	wantPosition(t, "out of a department", o.mustDo(http.StatusOK, "DELETE", dp+ops+"/members/"+member, o.owner, nil), http.StatusOK)
	wantErr(t, "out twice", o.do("DELETE", dp+ops+"/members/"+member, o.owner, nil), http.StatusForbidden, domain.CodeNotAMember)

	// A department's room, named by the department.
	r = o.mustDo(http.StatusCreated, "POST", dp+sales+"/room", o.owner, map[string]any{"name": "sales-room"})
	room := r.body["department_room"].(map[string]any)
	if room["room_id"] != domain.DepartmentRoomIDFor(o.orgID, uuid.MustParse(sales)).String() || room["name"] != "sales-room" || room["department_id"] != sales {
		t.Fatalf("department room: %s", r.raw)
	}
	wantErr(t, "a second room", o.do("POST", dp+sales+"/room", o.owner, map[string]any{"name": "again"}), http.StatusBadRequest, domain.CodeValidationFailed)
	wantErr(t, "a member opening a room", o.do("POST", dp+ops+"/room", o.member, map[string]any{"name": "mine"}), http.StatusForbidden, domain.CodeForbidden)

	// Deleting: only leaves.
	wantErr(t, "delete with children", o.do("DELETE", dp+sales, o.owner, nil), http.StatusConflict, domain.CodeDepartmentNotEmpty)
	wantPosition(t, "delete a leaf", o.mustDo(http.StatusOK, "DELETE", dp+emea, o.owner, nil), http.StatusOK)
	wantPosition(t, "delete the emptied parent", o.mustDo(http.StatusOK, "DELETE", dp+sales, o.owner, nil), http.StatusOK)
	wantErr(t, "delete twice", o.do("DELETE", dp+sales, o.owner, nil), http.StatusNotFound, domain.CodeDepartmentNotFound)
}

func TestPositionsHTTP(t *testing.T) {
	o := newOrgEnv(t)
	sales := o.dept(o.owner, "Sales", "")
	member := o.memberID.String()
	o.mustDo(http.StatusOK, "PUT", o.org+"/departments/"+sales+"/members/"+member, o.owner, nil)

	r := o.mustDo(http.StatusCreated, "POST", o.org+"/positions", o.owner, map[string]any{"name": "Engineer", "rank": 3})
	p := r.body["job_position"].(map[string]any)
	if p["name"] != "Engineer" || p["rank"] != float64(3) || p["id"] == nil || r.body["position"] == nil {
		t.Fatalf("defined position: %s", r.raw)
	}
	pos := p["id"].(string)
	wantErr(t, "a duplicate position", o.do("POST", o.org+"/positions", o.owner, map[string]any{"name": "engineer"}), http.StatusConflict, domain.CodeNameTaken)
	wantErr(t, "a position without a name", o.do("POST", o.org+"/positions", o.owner, map[string]any{"rank": 1}), http.StatusBadRequest, domain.CodeValidationFailed)
	wantErr(t, "a member defining", o.do("POST", o.org+"/positions", o.member, map[string]any{"name": "Boss"}), http.StatusForbidden, domain.CodeForbidden)
	wantPosition(t, "update", o.mustDo(http.StatusOK, "PATCH", o.org+"/positions/"+pos, o.owner, map[string]any{"rank": 4}), http.StatusOK)
	wantErr(t, "update an unknown position", o.do("PATCH", o.org+"/positions/"+uuid.NewString(), o.owner, map[string]any{"rank": 1}), http.StatusNotFound, domain.CodePositionNotFound)
	wantErr(t, "update a malformed position", o.do("PATCH", o.org+"/positions/eng", o.owner, map[string]any{"rank": 1}), http.StatusNotFound, domain.CodePositionNotFound)

	at := o.org + "/departments/" + sales + "/members/" + member + "/position"
	wantErr(t, "assign without position_id", o.do("PUT", at, o.owner, map[string]any{}), http.StatusBadRequest, domain.CodeValidationFailed)
	wantErr(t, "assign an unknown position", o.do("PUT", at, o.owner, map[string]any{"position_id": uuid.NewString()}), http.StatusNotFound, domain.CodePositionNotFound)
	wantPosition(t, "assign", o.mustDo(http.StatusOK, "PUT", at, o.owner, map[string]any{"position_id": pos}), http.StatusOK)
	wantErr(t, "assign outside the member's departments", o.do("PUT", o.org+"/departments/"+o.dept(o.owner, "Ops", "")+"/members/"+member+"/position",
		o.owner, map[string]any{"position_id": pos}), http.StatusForbidden, domain.CodeNotAMember)
	wantPosition(t, "unassign", o.mustDo(http.StatusOK, "DELETE", at, o.owner, nil), http.StatusOK)
	wantErr(t, "unassign twice", o.do("DELETE", at, o.owner, nil), http.StatusBadRequest, domain.CodeValidationFailed)
	wantPosition(t, "delete", o.mustDo(http.StatusOK, "DELETE", o.org+"/positions/"+pos, o.owner, nil), http.StatusOK)
	wantErr(t, "delete twice", o.do("DELETE", o.org+"/positions/"+pos, o.owner, nil), http.StatusNotFound, domain.CodePositionNotFound)
}

func TestRolesAndGrantsHTTP(t *testing.T) {
	o := newOrgEnv(t)
	sales := o.dept(o.owner, "Sales", "")
	east := o.dept(o.owner, "East", sales)
	ops := o.dept(o.owner, "Ops", "")
	member := o.memberID.String()

	r := o.mustDo(http.StatusCreated, "POST", o.org+"/roles", o.owner,
		map[string]any{"name": "Dept admin", "permissions": []string{domain.PermManageMembers, domain.PermManageDepartments}})
	role := r.body["role"].(map[string]any)
	// The answer lists the permissions in the catalogue's order, whatever order was given.
	if role["name"] != "Dept admin" || role["builtin"] != false || strings.Join(toStrings(role["permissions"]), ",") != "manage_departments,manage_members" {
		t.Fatalf("created role: %s", r.raw)
	}
	roleID := role["id"].(string)
	if r := o.mustDo(http.StatusCreated, "POST", o.org+"/roles", o.owner, map[string]any{"name": "Nothing"}); len(toStrings(r.body["role"].(map[string]any)["permissions"])) != 0 {
		t.Fatalf("a role without permissions: %s", r.raw)
	}
	wantErr(t, "an unknown permission", o.do("POST", o.org+"/roles", o.owner, map[string]any{"name": "x", "permissions": []string{"fly"}}), http.StatusBadRequest, domain.CodeValidationFailed)
	wantErr(t, "a duplicate role", o.do("POST", o.org+"/roles", o.owner, map[string]any{"name": "dept admin"}), http.StatusConflict, domain.CodeNameTaken)
	wantErr(t, "permissions of the wrong type", o.do("POST", o.org+"/roles", o.owner, map[string]any{"name": "x", "permissions": "all"}), http.StatusBadRequest, domain.CodeValidationFailed)
	wantErr(t, "a member creating a role", o.do("POST", o.org+"/roles", o.member, map[string]any{"name": "Mine"}), http.StatusForbidden, domain.CodeForbidden)
	wantPosition(t, "update", o.mustDo(http.StatusOK, "PATCH", o.org+"/roles/"+roleID, o.owner, map[string]any{"name": "Department admin"}), http.StatusOK)
	builtin := domain.OrgRoleIDFor(o.orgID, domain.RoleAdmin).String()
	wantErr(t, "changing a built-in role", o.do("PATCH", o.org+"/roles/"+builtin, o.owner, map[string]any{"name": "x"}), http.StatusForbidden, domain.CodeForbidden)
	wantErr(t, "an unknown role", o.do("PATCH", o.org+"/roles/"+uuid.NewString(), o.owner, map[string]any{"name": "x"}), http.StatusNotFound, domain.CodeRoleNotFound)

	// The role granted over Sales: its holder manages Sales' subtree and nothing else.
	grant := o.org + "/members/" + member + "/roles/" + roleID
	wantErr(t, "a grant to nobody", o.do("PUT", o.org+"/members/"+uuid.NewString()+"/roles/"+roleID, o.owner, nil), http.StatusNotFound, domain.CodeUserNotFound)
	wantErr(t, "a grant over a malformed scope", o.do("PUT", grant+"?department_id=sales", o.owner, nil), http.StatusBadRequest, domain.CodeValidationFailed)
	wantErr(t, "a grant over an unknown scope", o.do("PUT", grant+"?department_id="+uuid.NewString(), o.owner, nil), http.StatusNotFound, domain.CodeDepartmentNotFound)
	wantPosition(t, "grant", o.mustDo(http.StatusOK, "PUT", grant+"?department_id="+sales, o.owner, nil), http.StatusOK)
	wantErr(t, "granting twice", o.do("PUT", grant+"?department_id="+sales, o.owner, nil), http.StatusBadRequest, domain.CodeValidationFailed)
	o.mustDo(http.StatusCreated, "POST", o.org+"/departments", o.member, map[string]any{"name": "West", "parent_id": sales})
	o.mustDo(http.StatusOK, "PATCH", o.org+"/departments/"+east, o.member, map[string]any{"name": "East Coast"})
	wantErr(t, "a department admin outside the subtree", o.do("PATCH", o.org+"/departments/"+ops, o.member, map[string]any{"name": "Mine"}), http.StatusForbidden, domain.CodeForbidden)
	wantErr(t, "a department admin at the top", o.do("POST", o.org+"/departments", o.member, map[string]any{"name": "Top"}), http.StatusForbidden, domain.CodeForbidden)
	// Nobody grants what they do not hold: the department admin holds no manage_roles.
	wantErr(t, "a department admin granting", o.do("PUT", o.org+"/members/"+o.ownerID.String()+"/roles/"+roleID+"?department_id="+east, o.member, nil),
		http.StatusForbidden, domain.CodeForbidden)

	// The last owner's grant stays.
	owner := domain.OrgRoleIDFor(o.orgID, domain.RoleOwner).String()
	wantErr(t, "revoking the last owner", o.do("DELETE", o.org+"/members/"+o.ownerID.String()+"/roles/"+owner, o.owner, nil), http.StatusConflict, domain.CodeLastOwner)
	wantPosition(t, "revoke", o.mustDo(http.StatusOK, "DELETE", grant+"?department_id="+sales, o.owner, nil), http.StatusOK)
	wantErr(t, "revoked: outside again", o.do("PATCH", o.org+"/departments/"+east, o.member, map[string]any{"name": "x"}), http.StatusForbidden, domain.CodeForbidden)
	wantErr(t, "revoking twice", o.do("DELETE", grant+"?department_id="+sales, o.owner, nil), http.StatusBadRequest, domain.CodeValidationFailed)
	wantPosition(t, "delete the role", o.mustDo(http.StatusOK, "DELETE", o.org+"/roles/"+roleID, o.owner, nil), http.StatusOK)
	wantErr(t, "delete twice", o.do("DELETE", o.org+"/roles/"+roleID, o.owner, nil), http.StatusNotFound, domain.CodeRoleNotFound)
	wantErr(t, "delete a malformed role", o.do("DELETE", o.org+"/roles/admin", o.owner, nil), http.StatusNotFound, domain.CodeRoleNotFound)
}

func toStrings(v any) []string {
	var out []string
	for _, x := range v.([]any) {
		out = append(out, x.(string))
	}
	return out
}
