package gateway

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/chorus-chat/chorus/adapters/postgres/pgtest"
	"github.com/chorus-chat/chorus/domain"
	"github.com/chorus-chat/chorus/projections/directory"
	"github.com/chorus-chat/chorus/projections/onlinetime"
)

// The organizations' reads over HTTP: the world decides the commands with the real
// organization aggregate, and its accepted events also feed the real organization directory
// (directory.Store on a fresh Postgres database) before the command is answered, so that
// every read is answered by the real queries from the real projection.

// orgReadEnv is an orgEnv whose gateway reads the directory.
type orgReadEnv struct {
	*orgEnv
	pool *pgxpool.Pool
	feed *directoryFeed
}

// directoryFeed applies the world's accepted events to the directory before the command is
// answered, or, while held, keeps them back (a directory projector running behind) until
// released.
type directoryFeed struct {
	t     *testing.T
	store *directory.Store
	mu    sync.Mutex
	held  bool
	queue []directory.Record
}

func (f *directoryFeed) hold() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.held = true
}

func (f *directoryFeed) release() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.held = false
	f.flush()
}

// flush applies the queue (f.mu held).
func (f *directoryFeed) flush() {
	if f.held || len(f.queue) == 0 {
		return
	}
	if err := f.store.ApplyBatch(context.Background(), f.queue); err != nil {
		f.t.Errorf("apply to the directory: %v", err)
	}
	f.queue = nil
}

func newOrgReadEnv(t *testing.T) *orgReadEnv { return newOrgReadEnvWith(t, nil) }

func newOrgReadEnvWith(t *testing.T, tune func(*Config)) *orgReadEnv {
	t.Helper()
	pool := pgtest.New(t)
	// The world answers positions on chat-events partition 0; the directory's records get the
	// same offsets, so ?position= waits for exactly what the command caused.
	feed := &directoryFeed{t: t, store: directory.NewStore(pool, "chat-events")}
	e := newEnvWith(t, func(c *Config) {
		c.FrameRate = -1
		if tune != nil {
			tune(c)
		}
	}, func(d *Deps) { d.Directory, d.OnlineTime = feed.store, onlinetime.NewStore(pool) })
	e.w.set(func(w *world) {
		w.afterDeliver = func(cmd domain.Command) {
			w.mu.Lock()
			reply := w.replies[cmd.ID]
			w.mu.Unlock()
			if !reply.Accepted || len(reply.Events) == 0 {
				return
			}
			pos, err := domain.ParsePosition(reply.Position)
			if err != nil {
				t.Errorf("position %q: %v", reply.Position, err)
				return
			}
			feed.mu.Lock()
			defer feed.mu.Unlock()
			n := int64(len(reply.Events))
			for i, ev := range reply.Events {
				feed.queue = append(feed.queue, directory.Record{Topic: pos.Topic, Partition: pos.Partition, Offset: pos.Offset - n + 1 + int64(i), Event: ev})
			}
			feed.flush()
		}
	})
	return &orgReadEnv{orgEnv: orgEnvOn(e), pool: pool, feed: feed}
}

// list is the array under key of a read's answer, each element an object.
func list(t *testing.T, r response, key string) []frame {
	t.Helper()
	raw, ok := r.body[key].([]any)
	if !ok {
		t.Fatalf("no %s list: %s", key, r.raw)
	}
	out := make([]frame, len(raw))
	for i, v := range raw {
		out[i] = v.(map[string]any)
	}
	return out
}

// names are the values of field k of each element.
func names(fs []frame, k string) []string {
	out := make([]string, len(fs))
	for i, f := range fs {
		out[i] = f.str(k)
	}
	return out
}

func TestOrganizationReadsHTTP(t *testing.T) {
	o := newOrgReadEnv(t)
	created := o.mustDo(http.StatusOK, "GET", o.org, o.owner, nil).body["organization"].(map[string]any)
	if created["name"] != "Acme" || created["slug"] != "acme" || created["member_count"] != float64(2) || created["time_zone"] != "Europe/Berlin" {
		t.Fatalf("organization: %v", created)
	}
	// By slug, in any case; what cannot be a slug names nothing.
	if r := o.mustDo(http.StatusOK, "GET", "/api/v1/orgs/by-slug/ACME", o.member, nil); r.body["organization"].(map[string]any)["id"] != o.orgID.String() {
		t.Fatalf("by slug: %s", r.raw)
	}
	wantErr(t, "a slug that is none", o.do("GET", "/api/v1/orgs/by-slug/"+url.PathEscape("a b"), o.member, nil), http.StatusNotFound, domain.CodeOrgNotFound)
	wantErr(t, "an unknown slug", o.do("GET", "/api/v1/orgs/by-slug/nothing-here", o.member, nil), http.StatusNotFound, domain.CodeOrgNotFound)

	// A non-member does not see the organization or anything in it, by id or slug.
	for _, path := range []string{"", "/members", "/departments", "/positions", "/roles", "/grants", "/invitations", "/department-rooms", "/broadcasts", "/audit"} {
		wantErr(t, "a stranger reading "+path, o.do("GET", o.org+path, o.stranger, nil), http.StatusNotFound, domain.CodeOrgNotFound)
	}
	wantErr(t, "a stranger by slug", o.do("GET", "/api/v1/orgs/by-slug/acme", o.stranger, nil), http.StatusNotFound, domain.CodeOrgNotFound)
	wantErr(t, "a malformed id", o.do("GET", "/api/v1/orgs/acme/members", o.owner, nil), http.StatusNotFound, domain.CodeOrgNotFound)

	// Invited, the stranger reads the organization (to accept) and their invitation, nothing else.
	o.mustDo(http.StatusCreated, "POST", o.org+"/invitations", o.owner, map[string]any{"user_id": o.strangerID.String()})
	o.mustDo(http.StatusOK, "GET", o.org, o.stranger, nil)
	wantErr(t, "an invitee reading the members", o.do("GET", o.org+"/members", o.stranger, nil), http.StatusNotFound, domain.CodeOrgNotFound)
	mine := list(t, o.mustDo(http.StatusOK, "GET", "/api/v1/users/me/org-invitations", o.stranger, nil), "invitations")
	if len(mine) != 1 || mine[0].obj("organization").str("name") != "Acme" || mine[0].str("invited_by") != o.ownerID.String() {
		t.Fatalf("the invitee's invitations: %v", mine)
	}
	if inv := list(t, o.mustDo(http.StatusOK, "GET", o.org+"/invitations", o.member, nil), "invitations"); len(inv) != 1 || inv[0].str("username") != "stan" {
		t.Fatalf("the organization's invitations: %v", inv)
	}
	if none := list(t, o.mustDo(http.StatusOK, "GET", "/api/v1/users/me/org-invitations", o.member, nil), "invitations"); len(none) != 0 {
		t.Fatalf("a member without invitations: %v", none)
	}

	// A tree, a job position, a custom role granted over one department.
	sales := o.dept(o.owner, "Sales", "")
	east := o.dept(o.owner, "East", sales)
	o.dept(o.owner, "Ops", "")
	o.mustDo(http.StatusOK, "PUT", o.org+"/departments/"+east+"/members/"+o.memberID.String(), o.owner, nil)
	o.mustDo(http.StatusOK, "PUT", o.org+"/departments/"+east+"/head", o.owner, map[string]any{"user_id": o.memberID.String()})
	jp := o.mustDo(http.StatusCreated, "POST", o.org+"/positions", o.owner, map[string]any{"name": "Engineer", "rank": 3}).body["job_position"].(map[string]any)["id"].(string)
	o.mustDo(http.StatusOK, "PUT", o.org+"/departments/"+east+"/members/"+o.memberID.String()+"/position", o.owner, map[string]any{"position_id": jp})
	role := o.mustDo(http.StatusCreated, "POST", o.org+"/roles", o.owner, map[string]any{"name": "Clerk", "permissions": []string{domain.PermManageMembers}}).body["role"].(map[string]any)["id"].(string)
	last := o.mustDo(http.StatusOK, "PUT", o.org+"/members/"+o.memberID.String()+"/roles/"+role+"?department_id="+sales, o.owner, nil)

	// The org chart at the grant's position: Sales (one head below it) over East (headed by mark).
	chart := list(t, o.mustDo(http.StatusOK, "GET", o.org+"/departments?position="+url.QueryEscape(last.body["position"].(string)), o.member, nil), "departments")
	if got := names(chart, "name"); strings.Join(got, ",") != "Ops,Sales" {
		t.Fatalf("top departments %v", got)
	}
	s := chart[1]
	if s["head_username"] != nil || s["head_count"] != float64(1) || s["direct_count"] != float64(0) || s["depth"] != float64(0) {
		t.Fatalf("Sales in the chart: %v", s)
	}
	if kids := s["children"].([]any); len(kids) != 1 || kids[0].(map[string]any)["name"] != "East" || kids[0].(map[string]any)["parent_id"] != sales {
		t.Fatalf("Sales' children: %v", s["children"])
	}
	d := o.mustDo(http.StatusOK, "GET", o.org+"/departments/"+east, o.member, nil).body["department"].(map[string]any)
	if d["name"] != "East" || d["depth"] != float64(1) || d["direct_count"] != float64(1) || d["head_username"] != "mark" || d["head_id"] != o.memberID.String() {
		t.Fatalf("East: %v", d)
	}
	wantErr(t, "an unknown department", o.do("GET", o.org+"/departments/"+uuid.NewString(), o.member, nil), http.StatusNotFound, domain.CodeDepartmentNotFound)
	wantErr(t, "a malformed department", o.do("GET", o.org+"/departments/east", o.member, nil), http.StatusNotFound, domain.CodeDepartmentNotFound)

	// The directory and its filters.
	if all := list(t, o.mustDo(http.StatusOK, "GET", o.org+"/members", o.member, nil), "members"); strings.Join(names(all, "username"), ",") != "mark,olga" {
		t.Fatalf("members: %v", all)
	}
	for query, want := range map[string]string{
		"?department_id=" + sales: "mark", "?department_id=" + east: "mark", "?position_id=" + jp: "mark",
		"?role_id=" + role: "mark", "?q=OLG": "olga", "?q=nobody": "",
		"?role_id=" + domain.OrgRoleIDFor(o.orgID, domain.RoleOwner).String():  "olga",
		"?role_id=" + domain.OrgRoleIDFor(o.orgID, domain.RoleMember).String(): "mark,olga",
	} {
		if got := list(t, o.mustDo(http.StatusOK, "GET", o.org+"/members"+query, o.member, nil), "members"); strings.Join(names(got, "username"), ",") != want {
			t.Errorf("members%s: %v, want %s", query, names(got, "username"), want)
		}
	}
	page := o.mustDo(http.StatusOK, "GET", o.org+"/members?limit=1", o.member, nil)
	next, _ := page.body["next_cursor"].(string)
	if got := list(t, page, "members"); len(got) != 1 || got[0].str("username") != "mark" || next == "" {
		t.Fatalf("first page: %s", page.raw)
	}
	page = o.mustDo(http.StatusOK, "GET", o.org+"/members?limit=1&cursor="+url.QueryEscape(next), o.member, nil)
	if got := list(t, page, "members"); len(got) != 1 || got[0].str("username") != "olga" || page.body["next_cursor"] != nil {
		t.Fatalf("last page: %s", page.raw)
	}
	for what, query := range map[string]string{
		"a malformed cursor": "?cursor=nope", "a malformed department_id": "?department_id=sales", "a limit of 0": "?limit=0",
		"a limit too large": "?limit=201", "a 101-character q": "?q=" + strings.Repeat("n", 101), "a NUL": "?q=a%00b",
		"a malformed position": "?position=nowhere",
	} {
		wantErr(t, what, o.do("GET", o.org+"/members"+query, o.member, nil), http.StatusBadRequest, domain.CodeValidationFailed)
	}
	wantErr(t, "an unknown department filter", o.do("GET", o.org+"/members?department_id="+uuid.NewString(), o.member, nil), http.StatusNotFound, domain.CodeDepartmentNotFound)
	wantErr(t, "an unknown role filter", o.do("GET", o.org+"/members?role_id="+uuid.NewString(), o.member, nil), http.StatusNotFound, domain.CodeRoleNotFound)

	// Job positions, roles, grants.
	if jps := list(t, o.mustDo(http.StatusOK, "GET", o.org+"/positions", o.member, nil), "job_positions"); len(jps) != 1 || jps[0]["rank"] != float64(3) {
		t.Fatalf("job positions: %v", jps)
	}
	if roles := list(t, o.mustDo(http.StatusOK, "GET", o.org+"/roles", o.member, nil), "roles"); strings.Join(names(roles, "name"), ",") != "owner,admin,member,Clerk" {
		t.Fatalf("roles: %v", names(roles, "name"))
	}
	grants := list(t, o.mustDo(http.StatusOK, "GET", o.org+"/grants?user_id="+o.memberID.String(), o.member, nil), "grants")
	if len(grants) != 1 || grants[0].str("role_name") != "Clerk" || grants[0].str("department_id") != sales {
		t.Fatalf("mark's grants: %v", grants)
	}
	if all := list(t, o.mustDo(http.StatusOK, "GET", o.org+"/grants", o.member, nil), "grants"); len(all) != 2 {
		t.Fatalf("every grant: %v", all)
	}

	// The profile: the member's organization with their department, job position and role.
	me := o.mustDo(http.StatusOK, "GET", "/api/v1/users/me", o.member, nil)
	orgs, _ := me.body["organizations"].([]any)
	if len(orgs) != 1 {
		t.Fatalf("profile: %s", me.raw)
	}
	m := frame(orgs[0].(map[string]any))
	depts, _ := m["departments"].([]any)
	if m.obj("organization").str("slug") != "acme" || len(depts) != 1 ||
		depts[0].(map[string]any)["job_position"].(map[string]any)["name"] != "Engineer" || len(m["roles"].([]any)) != 1 {
		t.Fatalf("profile's organization: %v", m)
	}
	if mine := list(t, o.mustDo(http.StatusOK, "GET", "/api/v1/orgs", o.member, nil), "organizations"); len(mine) != 1 {
		t.Fatalf("GET /orgs: %v", mine)
	}
	// Another user's profile shows only the organizations the caller shares with them.
	if r := o.mustDo(http.StatusOK, "GET", "/api/v1/users/"+o.memberID.String(), o.owner, nil); len(r.body["organizations"].([]any)) != 1 {
		t.Fatalf("a fellow member's profile: %s", r.raw)
	}
	if r := o.mustDo(http.StatusOK, "GET", "/api/v1/users/"+o.memberID.String(), o.stranger, nil); r.body["organizations"] != nil {
		t.Fatalf("a stranger sees the member's organizations: %s", r.raw)
	}
}

// A user without organizations gets the profile they always got, byte for byte: the field is
// absent, not empty.
func TestProfileWithoutOrganizationsIsTheUserHTTP(t *testing.T) {
	bare := newEnv(t, nil)
	token, _ := bare.user("zoe")
	withDir := newOrgReadEnv(t)
	token2, _ := withDir.user("zoe")
	a := bare.mustDo(http.StatusOK, "GET", "/api/v1/users/me", token, nil)
	b := withDir.mustDo(http.StatusOK, "GET", "/api/v1/users/me", token2, nil)
	var ua, ub map[string]any
	if err := json.Unmarshal([]byte(a.raw), &ua); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(b.raw), &ub); err != nil {
		t.Fatal(err)
	}
	if len(ua) != len(ub) || strings.Contains(b.raw, "organizations") {
		t.Fatalf("a profile without organizations changed:\n%s\n%s", a.raw, b.raw)
	}
}

// The audit log: forbidden to a member without read_audit_log over the whole organization
// (a grant over one department does not do), newest first with it, filtered by actor and type.
func TestOrganizationAuditHTTP(t *testing.T) {
	o := newOrgReadEnv(t)
	sales := o.dept(o.owner, "Sales", "")
	auditor := o.mustDo(http.StatusCreated, "POST", o.org+"/roles", o.owner, map[string]any{"name": "Auditor", "permissions": []string{domain.PermReadAuditLog}}).body["role"].(map[string]any)["id"].(string)
	wantErr(t, "a member", o.do("GET", o.org+"/audit", o.member, nil), http.StatusForbidden, domain.CodeForbidden)
	o.mustDo(http.StatusOK, "PUT", o.org+"/members/"+o.memberID.String()+"/roles/"+auditor+"?department_id="+sales, o.owner, nil)
	wantErr(t, "an auditor of one department", o.do("GET", o.org+"/audit", o.member, nil), http.StatusForbidden, domain.CodeForbidden)
	granted := o.mustDo(http.StatusOK, "PUT", o.org+"/members/"+o.memberID.String()+"/roles/"+auditor, o.owner, nil)

	page := o.mustDo(http.StatusOK, "GET", o.org+"/audit?position="+url.QueryEscape(granted.body["position"].(string)), o.member, nil)
	entries := list(t, page, "entries")
	types := names(entries, "type")
	if len(types) < 6 || types[0] != domain.TypeOrgRoleGranted || types[len(types)-1] != domain.TypeOrganizationCreated {
		t.Fatalf("audit, newest first: %v", types)
	}
	if entries[0].str("actor_id") != o.ownerID.String() || entries[0].obj("data").str("role_id") != auditor || entries[0].str("position") != granted.body["position"] {
		t.Fatalf("the newest entry: %v", entries[0])
	}
	byType := list(t, o.mustDo(http.StatusOK, "GET", o.org+"/audit?type=OrgMemberJoined,DepartmentCreated", o.member, nil), "entries")
	if got := strings.Join(names(byType, "type"), ","); got != "DepartmentCreated,OrgMemberJoined,OrgMemberJoined" {
		t.Fatalf("by type: %s", got)
	}
	if byActor := list(t, o.mustDo(http.StatusOK, "GET", o.org+"/audit?actor_id="+o.memberID.String(), o.member, nil), "entries"); len(byActor) != 0 {
		t.Fatalf("the member caused nothing: %v", byActor)
	}
	first := o.mustDo(http.StatusOK, "GET", o.org+"/audit?limit=2", o.member, nil)
	next, _ := first.body["next_cursor"].(string)
	second := list(t, o.mustDo(http.StatusOK, "GET", o.org+"/audit?limit=2&cursor="+url.QueryEscape(next), o.member, nil), "entries")
	if len(second) != 2 || second[0]["version"].(float64) >= list(t, first, "entries")[1]["version"].(float64) {
		t.Fatalf("the second page: %v", second)
	}
	for what, query := range map[string]string{
		"an unknown type": "?type=MessageSent", "a malformed actor": "?actor_id=olga", "a corrupted cursor": "?cursor=" + next + "x",
	} {
		wantErr(t, what, o.do("GET", o.org+"/audit"+query, o.owner, nil), http.StatusBadRequest, domain.CodeValidationFailed)
	}
}

// The changes whose events carry only what changed answer the whole thing, read back from the
// directory, over HTTP and as frames.
func TestOrganizationChangesAnswerTheThingHTTP(t *testing.T) {
	o := newOrgReadEnv(t)
	r := o.mustDo(http.StatusOK, "PATCH", o.org, o.owner, map[string]any{"name": "Acme GmbH"})
	org := r.body["organization"].(map[string]any)
	if org["name"] != "Acme GmbH" || org["slug"] != "acme" || org["time_zone"] != "Europe/Berlin" || org["member_count"] != float64(2) || r.body["position"] == nil {
		t.Fatalf("update organization: %s", r.raw)
	}
	sales := o.dept(o.owner, "Sales", "")
	ops := o.dept(o.owner, "Ops", "")
	r = o.mustDo(http.StatusOK, "PATCH", o.org+"/departments/"+sales, o.owner, map[string]any{"name": "Sales & Marketing"})
	if d := r.body["department"].(map[string]any); d["name"] != "Sales & Marketing" || d["id"] != sales || d["parent_id"] != nil {
		t.Fatalf("rename: %s", r.raw)
	}
	r = o.mustDo(http.StatusOK, "POST", o.org+"/departments/"+sales+"/move", o.owner, map[string]any{"parent_id": ops, "sort_order": 4})
	if d := r.body["department"].(map[string]any); d["parent_id"] != ops || d["sort_order"] != float64(4) || d["name"] != "Sales & Marketing" {
		t.Fatalf("move: %s", r.raw)
	}
	jp := o.mustDo(http.StatusCreated, "POST", o.org+"/positions", o.owner, map[string]any{"name": "Engineer", "rank": 3}).body["job_position"].(map[string]any)["id"].(string)
	r = o.mustDo(http.StatusOK, "PATCH", o.org+"/positions/"+jp, o.owner, map[string]any{"rank": 5})
	if p := r.body["job_position"].(map[string]any); p["name"] != "Engineer" || p["rank"] != float64(5) {
		t.Fatalf("update position: %s", r.raw)
	}
	role := o.mustDo(http.StatusCreated, "POST", o.org+"/roles", o.owner, map[string]any{"name": "Clerk"}).body["role"].(map[string]any)["id"].(string)
	r = o.mustDo(http.StatusOK, "PATCH", o.org+"/roles/"+role, o.owner, map[string]any{"permissions": []string{domain.PermReadAuditLog, domain.PermManageMembers}})
	if ro := r.body["role"].(map[string]any); ro["name"] != "Clerk" || jsonOf(ro["permissions"]) != `["manage_members","read_audit_log"]` {
		t.Fatalf("update role: %s", r.raw)
	}

	ws := o.dial(o.owner)
	res := wantAck(t, "update_organization", wsCall(t, ws, "u1", map[string]any{"type": "update_organization", "org_id": o.orgID.String(), "description": "Widgets"}))
	if res.obj("organization").str("description") != "Widgets" || res.obj("organization").str("name") != "Acme GmbH" || res.str("position") == "" {
		t.Fatalf("update_organization ack: %v", res)
	}
}

func jsonOf(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// A change read back from a directory still behind answers the change all the same (laid over
// what the directory has); one whose thing the directory does not have yet is accepted but
// answered not_caught_up with its position, and its retry under the same key, once the
// directory has caught up, answers the thing without changing anything again.
func TestOrganizationChangesWithTheDirectoryBehindHTTP(t *testing.T) {
	o := newOrgReadEnvWith(t, func(c *Config) { c.PositionWait = 200 * time.Millisecond })
	o.feed.hold()
	r := o.mustDo(http.StatusOK, "PATCH", o.org, o.owner, map[string]any{"name": "Acme GmbH"})
	if org := r.body["organization"].(map[string]any); org["name"] != "Acme GmbH" || org["slug"] != "acme" {
		t.Fatalf("update organization behind: %s", r.raw)
	}
	sales := o.dept(o.owner, "Sales", "")
	r = o.doKey("PATCH", o.org+"/departments/"+sales, o.owner, "rename-1", map[string]any{"name": "Sales & Marketing"})
	wantErr(t, "a department the directory does not have yet", r, http.StatusServiceUnavailable, codeNotCaughtUp)
	if msg := r.body["error"].(map[string]any)["message"].(string); !strings.Contains(msg, "?position=chat-events:0:") {
		t.Fatalf("the refusal does not name the position: %s", msg)
	}
	o.feed.release()
	r = o.doKey("PATCH", o.org+"/departments/"+sales, o.owner, "rename-1", map[string]any{"name": "Sales & Marketing"})
	if r.status != http.StatusOK || r.body["department"].(map[string]any)["name"] != "Sales & Marketing" {
		t.Fatalf("the retry: %s", r.raw)
	}
	audit := list(t, o.mustDo(http.StatusOK, "GET", o.org+"/audit?type=DepartmentRenamed", o.owner, nil), "entries")
	if len(audit) != 1 {
		t.Fatalf("the rename applied %d times", len(audit))
	}
}
