package main_test

// The organization commands' authorization matrix over the real multi-process stack: every
// organization command, made by each kind of user of an organization, answers what
// docs/protocol.md ("Organizations") says, over HTTP and, for a sample, as WebSocket frames.
// Its delegate column (users acting for the owner under a proxy grant) is in
// e2e_org_delegate_test.go.

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/chorus-chat/chorus/domain"
)

// The kinds of user the organization matrix asks as. The department admin holds a custom role
// over Engineering's subtree; "inside" rows aim at a department there, "outside" at one under
// Sales (the same user, the same command).
const (
	oactOwner    = "owner"
	oactAdmin    = "org admin"
	oactDeptIn   = "department admin inside"
	oactDeptOut  = "department admin outside"
	oactMember   = "member"
	oactStranger = "non-member"
	oactInvitee  = "invitee" // holds an open invitation
)

var orgActors = []string{oactOwner, oactAdmin, oactDeptIn, oactDeptOut, oactMember, oactStranger, oactInvitee}

// userOf is the account kind an actor kind asks as.
var userOf = map[string]string{
	oactOwner: "owner", oactAdmin: "admin", oactDeptIn: "dept", oactDeptOut: "dept",
	oactMember: "member", oactStranger: "stranger", oactInvitee: "invitee",
	oactDelegateRooms: "drooms", oactDelegateMessages: "dmessages", oactDelegateOrg: "dorg",
}

var (
	orgNotFound    = outcome{http.StatusNotFound, domain.CodeOrgNotFound}
	orgArchived    = outcome{http.StatusConflict, domain.CodeOrgArchived}
	orgLastOwner   = outcome{http.StatusConflict, domain.CodeLastOwner}
	orgSlugTaken   = outcome{http.StatusConflict, domain.CodeSlugTaken}
	orgNotEmpty    = outcome{http.StatusConflict, domain.CodeDepartmentNotEmpty}
	orgInvalid     = outcome{http.StatusBadRequest, domain.CodeValidationFailed}
	orgAlreadyIn   = outcome{http.StatusConflict, domain.CodeAlreadyMember}
	orgNotVisible  = map[string]outcome{oactStranger: orgNotFound, oactInvitee: orgNotFound}
	orgEveryoneGot = func(o outcome) map[string]outcome {
		m := map[string]outcome{}
		for _, a := range orgActors {
			m[a] = o
		}
		return m
	}
)

// orgWants is the row of answers: the members' (owner, org admin, department admin inside and
// outside, member) and, for those who do not see the organization, org_not_found.
func orgWants(owner, admin, deptIn, deptOut, member outcome) map[string]outcome {
	m := map[string]outcome{oactOwner: owner, oactAdmin: admin, oactDeptIn: deptIn, oactDeptOut: deptOut, oactMember: member}
	for a, o := range orgNotVisible {
		m[a] = o
	}
	return m
}

// orgWide: a command that needs its permission over the whole organization (owner and org
// admin hold every one; a department admin's grant is over one subtree).
func orgWide(ok outcome) map[string]outcome { return orgWants(ok, ok, forbidden, forbidden, forbidden) }

// inSubtree: a command on a department, which a department admin may give inside his subtree.
func inSubtree(ok outcome) map[string]outcome { return orgWants(ok, ok, ok, forbidden, forbidden) }

// ownersOnly: what only owners do (archive, unarchive, granting owner).
func ownersOnly(ok outcome) map[string]outcome {
	return orgWants(ok, forbidden, forbidden, forbidden, forbidden)
}

// orgWorld is one organization of the matrix: Engineering (with Backend under it) and Sales
// (with Team under it); the admin holds admin, the department admin a custom role over
// Engineering with manage_departments, manage_members, manage_roles, manage_positions and
// create_department_rooms, and is in Engineering; the member and peerIn are in Backend, peerOut
// in Team; the invitee is invited; a job position is defined.
type orgWorld struct {
	id, slug              string
	eng, backend          string
	sales, team           string
	position, deptAdmRole string
}

func (o orgWorld) path(p string) string { return "/api/v1/orgs/" + o.id + p }

// roleID is a built-in role's id in o.
func (o orgWorld) roleID(name string) string {
	return domain.OrgRoleIDFor(uuid.MustParse(o.id), name).String()
}

// orgSide is where a cell aims: a department with a department under it and a member of the
// latter, inside the department admin's subtree or outside it.
type orgSide struct {
	parent, leaf string
	peer         account
}

type orgMatrix struct {
	users   map[string]account // by kind, on gateway 1
	sockets map[string]*answers
	spares  chan account // users no organization has heard of, for successes that add one
	shared  orgWorld
	frozen  orgWorld      // archived
	rooms   delegateRooms // where the delegates' room cells aim
	n       atomic.Int64
}

// orgCell is one cell: who asks, where it aims, and whether it is expected to succeed (then it
// may have a target of its own prepared).
type orgCell struct {
	actor string
	side  orgSide
	ok    bool
}

// orgRow is one command. fresh: a success gets an organization of its own (archived, if the row
// runs on the archived one), because it changes what every later cell would be answered.
type orgRow struct {
	name     string
	cmd      string // its command type (a frame of the row is of this type)
	archived bool
	fresh    bool
	ws       bool // sampled as a frame too
	want     map[string]outcome
	req      func(t *testing.T, m *orgMatrix, o orgWorld, c orgCell) request
}

func TestE2EOrgAuthorizationMatrix(t *testing.T) {
	skipShort(t)
	// The matrix asks about rights, not budgets: its owner prepares hundreds of commands. The
	// admin reads the log at the end (what the delegates' cells made).
	opsName := "omx_ops_" + randomHex(3)
	c := startCluster(t, map[string]string{
		"CHORUS_USER_COMMAND_RATE": "10000", "CHORUS_USER_COMMAND_BURST": "10000",
		"CHORUS_HTTP_RATE": "10000", "CHORUS_HTTP_BURST": "10000",
		"CHORUS_WS_FRAME_RATE": "10000", "CHORUS_WS_FRAME_BURST": "10000",
		"CHORUS_ADMIN_USERS": opsName,
	})
	c.warmUp()
	start := time.Now()
	m := newOrgMatrix(t, c)
	m.addDelegates(t, c, opsName)
	t.Logf("users and organizations set up in %v", time.Since(start).Round(time.Millisecond))

	rows := orgMatrixRows()
	checkOrgRowsCover(t, rows)
	sem := make(chan struct{}, 12)
	var wg sync.WaitGroup
	cells := 0
	// applied counts, per user, the cells that succeed on the shared organization: the events
	// each user caused there, which the audit log must show (and no more: a refusal applies
	// nothing).
	applied := map[string]int{}
	for _, row := range rows {
		for _, actor := range append(orgActors[:len(orgActors):len(orgActors)], orgDelegates...) {
			want, ok := orgWant(row, actor)
			if !ok {
				t.Fatalf("row %q has no expectation for %s", row.name, actor)
			}
			for _, transport := range []string{"http", "ws"} {
				if transport == "ws" && !row.ws {
					continue
				}
				if want.code == "" && !row.fresh && !row.archived && row.cmd != domain.CmdCreateOrganization {
					applied[userOf[actor]]++
				}
				cells++
				wg.Add(1)
				go func() {
					defer wg.Done()
					sem <- struct{}{}
					defer func() { <-sem }()
					t.Run(fmt.Sprintf("%s/%s/%s", row.name, actor, transport), func(t *testing.T) {
						o := m.shared
						if row.archived {
							o = m.frozen
						}
						if row.fresh && want.code == "" {
							o = m.build(t, row.archived)
						}
						req := row.req(t, m, o, orgCell{actor: actor, side: m.side(o, actor), ok: want.code == ""})
						switch {
						case transport == "http":
							m.checkHTTP(t, actor, req, want)
						case req.frame["type"] != row.cmd:
							t.Fatalf("the row's frame is %v, not %s", req.frame["type"], row.cmd)
						default:
							m.checkWS(t, actor, req.frame, want)
						}
					})
				}()
			}
		}
	}
	made := &delegateEvents{counts: map[string]int{}, atMost: map[string]bool{}}
	roomCells := m.startDelegateRoomCells(t, sem, &wg, made)
	wg.Wait()
	t.Logf("%d cells (%d rows × %d actors and %d delegates, over HTTP and, for a sample, WebSocket) and %d delegates' room cells in %v",
		cells, len(rows), len(orgActors), len(orgDelegates), roomCells, time.Since(start).Round(time.Millisecond))
	if !t.Failed() {
		m.checkApplied(t, applied)
		m.checkDelegatesApplied(t, made)
	}
}

// checkOrgRowsCover fails unless every organization command has a row.
func checkOrgRowsCover(t *testing.T, rows []orgRow) {
	t.Helper()
	seen := map[string]bool{}
	for _, row := range rows {
		seen[row.cmd] = true
	}
	for _, k := range domain.Kinds() {
		if k.Name != domain.AggregateOrganization {
			continue
		}
		for _, c := range k.Commands {
			if !seen[c.Type] && c.Type != domain.CmdRecordProxyRefusal { // the server's: no client sends it
				t.Errorf("organization command %s has no row in the matrix", c.Type)
			}
		}
	}
	if t.Failed() {
		t.FailNow()
	}
}

// checkApplied reads the shared organization's audit log, as of the end of the matrix, and
// finds exactly one event caused by each user for each of their cells that succeeded there
// (the owner's are mixed with the preparations, which are its own).
func (m *orgMatrix) checkApplied(t *testing.T, applied map[string]int) {
	t.Helper()
	owner := m.users["owner"]
	var last orgAnswer
	call(t, owner.base, owner.token, "PATCH", m.shared.path(""), map[string]any{"description": "the matrix is done"}, http.StatusOK, &last)
	for _, kind := range []string{"admin", "dept", "member", "stranger", "invitee"} {
		var audit struct {
			Entries []struct {
				Type string `json:"type"`
			} `json:"entries"`
			NextCursor *string `json:"next_cursor"`
		}
		q := url.Values{"actor_id": {m.users[kind].user.ID}, "limit": {"200"}, "position": {last.Position}}
		call(t, owner.base, owner.token, "GET", m.shared.path("/audit?"+q.Encode()), nil, http.StatusOK, &audit)
		if len(audit.Entries) != applied[kind] || audit.NextCursor != nil {
			t.Errorf("the audit log shows %d events caused by the %s, who succeeded %d times: %+v",
				len(audit.Entries), kind, applied[kind], audit.Entries)
		}
	}
	delete(applied, "owner")
	t.Logf("the audit log shows each success once and no refusal: %v", applied)
}

func newOrgMatrix(t *testing.T, c *cluster) *orgMatrix {
	t.Helper()
	sfx := randomHex(3)
	m := &orgMatrix{users: map[string]account{}, sockets: map[string]*answers{}, spares: make(chan account, 24)}
	kinds := []string{"owner", "admin", "dept", "member", "stranger", "invitee", "peerIn", "peerOut", "outsider"}
	var mu sync.Mutex
	var fs []func(t *testing.T)
	for _, kind := range kinds {
		fs = append(fs, func(t *testing.T) {
			a := newAccount(t, c.gwURL(0), "o"+kind+"_"+sfx)
			mu.Lock()
			defer mu.Unlock()
			m.users[kind] = a
		})
	}
	for i := range cap(m.spares) {
		fs = append(fs, func(t *testing.T) { m.spares <- newAccount(t, c.gwURL(0), fmt.Sprintf("ospare%d_%s", i, sfx)) })
	}
	inParallel(t, fs)
	// Adding a user asks the read model for their name: wait until it has every one.
	owner := m.users["owner"]
	for _, a := range m.users {
		waitUserKnown(t, owner, a.user.ID)
	}
	for range cap(m.spares) {
		a := <-m.spares
		waitUserKnown(t, owner, a.user.ID)
		m.spares <- a
	}
	// The sockets are on the other gateway: both gateways serve the matrix.
	for _, kind := range []string{"owner", "admin", "dept", "member", "stranger", "invitee"} {
		m.sockets[kind] = newAnswers(dialWS(t, kind+"@gateway2", c.gwURL(1), m.users[kind].token))
	}
	inParallel(t, []func(t *testing.T){
		func(t *testing.T) { m.shared = m.build(t, false) },
		func(t *testing.T) { m.frozen = m.build(t, true) },
	})
	return m
}

// waitUserKnown waits until the read model knows the user.
func waitUserKnown(t *testing.T, asker account, id string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		res, err := doJSON(context.Background(), asker.base, asker.token, "GET", "/api/v1/users/"+id, nil)
		if err == nil && res.Status == http.StatusOK {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("user %s unknown to the read model after 15 s: %v %v", id, res, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// build creates an organization as orgWorld describes, archived if asked.
func (m *orgMatrix) build(t *testing.T, archived bool) orgWorld {
	t.Helper()
	owner := m.users["owner"]
	o := orgWorld{slug: "mx-" + randomHex(5)}
	var created orgAnswer
	call(t, owner.base, owner.token, "POST", "/api/v1/orgs", map[string]any{"name": "Matrix " + o.slug, "slug": o.slug}, http.StatusCreated, &created)
	o.id = created.Organization.ID
	// The calls of a parallel step read base, a copy of o taken before it, and leave their
	// results in variables copied into o after it: o itself is never read while written.
	base := o
	add := func(kind string) func(t *testing.T) {
		return func(t *testing.T) {
			call(t, owner.base, owner.token, "POST", base.path("/members"), map[string]any{"user_id": m.users[kind].user.ID}, http.StatusCreated, nil)
		}
	}
	var eng, sales, position, deptAdmRole string
	inParallel(t, []func(t *testing.T){
		add("admin"), add("dept"), add("member"), add("peerIn"), add("peerOut"),
		func(t *testing.T) {
			call(t, owner.base, owner.token, "POST", base.path("/invitations"), map[string]any{"user_id": m.users["invitee"].user.ID}, http.StatusCreated, nil)
		},
		func(t *testing.T) { eng = m.newDept(t, base, "", "Engineering") },
		func(t *testing.T) { sales = m.newDept(t, base, "", "Sales") },
		func(t *testing.T) { position = m.newPosition(t, base) },
		func(t *testing.T) {
			deptAdmRole = m.newRole(t, base, []string{domain.PermManageDepartments, domain.PermManageMembers,
				domain.PermManageRoles, domain.PermManagePositions, domain.PermCreateDepartmentRooms})
		},
	})
	o.eng, o.sales, o.position, o.deptAdmRole = eng, sales, position, deptAdmRole
	base = o
	var backend, team string
	inParallel(t, []func(t *testing.T){
		func(t *testing.T) { m.grant(t, base, "admin", base.roleID(domain.RoleAdmin), "") },
		func(t *testing.T) { m.grant(t, base, "dept", base.deptAdmRole, base.eng) },
		func(t *testing.T) { backend = m.newDept(t, base, base.eng, "Backend") },
		func(t *testing.T) { team = m.newDept(t, base, base.sales, "Team") },
		func(t *testing.T) { m.addTo(t, base, base.eng, m.users["dept"].user.ID) },
	})
	o.backend, o.team = backend, team
	base = o
	inParallel(t, []func(t *testing.T){
		func(t *testing.T) { m.addTo(t, base, base.backend, m.users["member"].user.ID) },
		func(t *testing.T) { m.addTo(t, base, base.backend, m.users["peerIn"].user.ID) },
		func(t *testing.T) { m.addTo(t, base, base.team, m.users["peerOut"].user.ID) },
	})
	if archived {
		call(t, owner.base, owner.token, "POST", o.path("/archive"), nil, http.StatusOK, nil)
	}
	return o
}

// side is where actor's cells aim in o.
func (m *orgMatrix) side(o orgWorld, actor string) orgSide {
	if actor == oactDeptOut {
		return orgSide{parent: o.sales, leaf: o.team, peer: m.users["peerOut"]}
	}
	return orgSide{parent: o.eng, leaf: o.backend, peer: m.users["peerIn"]}
}

// fresh is a name no cell has used.
func (m *orgMatrix) fresh(prefix string) string { return fmt.Sprint(prefix, " ", m.n.Add(1)) }

// The owner's preparations.

func (m *orgMatrix) newDept(t *testing.T, o orgWorld, parent, name string) string {
	t.Helper()
	owner := m.users["owner"]
	body := map[string]any{"name": name}
	if parent != "" {
		body["parent_id"] = parent
	}
	var out orgAnswer
	call(t, owner.base, owner.token, "POST", o.path("/departments"), body, http.StatusCreated, &out)
	return out.Department.ID
}

func (m *orgMatrix) addTo(t *testing.T, o orgWorld, dept, user string) {
	t.Helper()
	owner := m.users["owner"]
	call(t, owner.base, owner.token, "PUT", o.path("/departments/"+dept+"/members/"+user), nil, http.StatusOK, nil)
}

func (m *orgMatrix) newPosition(t *testing.T, o orgWorld) string {
	t.Helper()
	owner := m.users["owner"]
	var out struct {
		JobPosition struct {
			ID string `json:"id"`
		} `json:"job_position"`
	}
	call(t, owner.base, owner.token, "POST", o.path("/positions"), map[string]any{"name": m.fresh("Position"), "rank": 3}, http.StatusCreated, &out)
	return out.JobPosition.ID
}

func (m *orgMatrix) newRole(t *testing.T, o orgWorld, perms []string) string {
	t.Helper()
	owner := m.users["owner"]
	var out orgAnswer
	call(t, owner.base, owner.token, "POST", o.path("/roles"), map[string]any{"name": m.fresh("Role"), "permissions": perms}, http.StatusCreated, &out)
	return out.Role.ID
}

func (m *orgMatrix) grant(t *testing.T, o orgWorld, kind, role, dept string) {
	t.Helper()
	m.grantTo(t, o, m.users[kind].user.ID, role, dept)
}

func (m *orgMatrix) grantTo(t *testing.T, o orgWorld, user, role, dept string) {
	t.Helper()
	owner := m.users["owner"]
	call(t, owner.base, owner.token, "PUT", grantPath(o, user, role, dept), nil, http.StatusOK, nil)
}

func grantPath(o orgWorld, user, role, dept string) string {
	p := o.path("/members/" + user + "/roles/" + role)
	if dept != "" {
		p += "?department_id=" + url.QueryEscape(dept)
	}
	return p
}

// spare is a user no organization has heard of; member: added to o first.
func (m *orgMatrix) spare(t *testing.T, o orgWorld, member bool) account {
	t.Helper()
	var a account
	select {
	case a = <-m.spares:
	default:
		t.Fatal("the matrix ran out of spare users: make the pool larger")
	}
	if member {
		owner := m.users["owner"]
		call(t, owner.base, owner.token, "POST", o.path("/members"), map[string]any{"user_id": a.user.ID}, http.StatusCreated, nil)
	}
	return a
}

// checkHTTP makes the call as actor and checks the answer.
func (m *orgMatrix) checkHTTP(t *testing.T, actor string, req request, want outcome) {
	t.Helper()
	a := m.users[userOf[actor]]
	res, err := doJSONWith(context.Background(), a.base, a.token, req.method, req.path, req.body, m.principalHeader(actor))
	if err != nil {
		t.Fatalf("%s %s: %v", req.method, req.path, err)
	}
	if res.Status != want.status || res.errCode() != want.code {
		t.Fatalf("%s %s as %s: got %v, want %d %q", req.method, req.path, actor, res, want.status, want.code)
	}
	if want.code == "" {
		checkSuccessBody(t, req.method, req.path, res.Body)
	}
}

// checkWS sends the frame on actor's socket and checks its answer.
func (m *orgMatrix) checkWS(t *testing.T, actor string, frame map[string]any, want outcome) {
	t.Helper()
	if frame == nil {
		t.Fatal("the row is sampled over WebSocket but builds no frame")
	}
	id := fmt.Sprint("orgauthz-", m.n.Add(1))
	f := map[string]any{"id": id}
	for k, v := range frame {
		f[k] = v
	}
	if p := orgPrincipals[actor]; p != "" {
		f["on_behalf_of"] = m.users[p].user.ID
	}
	ans := m.sockets[userOf[actor]].send(t, id, f)
	switch {
	case want.code == "" && ans.Type != "ack":
		t.Fatalf("%s as %s: got %s, want an ack", frame["type"], actor, ans.raw)
	case want.code != "" && (ans.Type != "error" || ans.Code != want.code):
		t.Fatalf("%s as %s: got %s, want error %q", frame["type"], actor, ans.raw, want.code)
	case want.code == "":
		checkSuccessBody(t, "WS", fmt.Sprint(frame["type"]), ans.Result)
	}
}

// orgFrame is a frame of type on o with the given fields.
func orgFrame(typ string, o orgWorld, fields map[string]any) map[string]any {
	f := map[string]any{"type": typ, "org_id": o.id}
	for k, v := range fields {
		f[k] = v
	}
	return f
}

// orgMatrixRows are the matrix's rows: every organization command at least once, from
// docs/protocol.md's rules. A cell expected to fail aims at a target it would change if it
// were allowed, so a refusal is the rule's and no other's.
func orgMatrixRows() []orgRow {
	type rq = request
	type row = orgRow
	memberOK := func(ok outcome) map[string]outcome { return orgWants(ok, ok, ok, ok, ok) }
	return []row{
		// The organization.
		{name: "create organization", cmd: domain.CmdCreateOrganization, ws: true, want: orgEveryoneGot(ok201), req: func(_ *testing.T, _ *orgMatrix, _ orgWorld, _ orgCell) rq {
			slug := "mx-new-" + randomHex(5)
			body := map[string]any{"name": "New " + slug, "slug": slug}
			return rq{method: "POST", path: "/api/v1/orgs", body: body, frame: map[string]any{"type": "create_organization", "name": "New " + slug, "slug": slug}}
		}},
		{name: "create organization with a taken slug", cmd: domain.CmdCreateOrganization, want: orgEveryoneGot(orgSlugTaken), req: func(_ *testing.T, _ *orgMatrix, o orgWorld, _ orgCell) rq {
			return rq{method: "POST", path: "/api/v1/orgs", body: map[string]any{"name": "Again", "slug": o.slug}}
		}},
		{name: "update organization", cmd: domain.CmdUpdateOrganization, ws: true, want: orgWide(ok200), req: func(_ *testing.T, m *orgMatrix, o orgWorld, _ orgCell) rq {
			d := m.fresh("about")
			return rq{method: "PATCH", path: o.path(""), body: map[string]any{"description": d},
				frame: orgFrame("update_organization", o, map[string]any{"description": d})}
		}},
		{name: "archive organization", cmd: domain.CmdArchiveOrganization, fresh: true, ws: true, want: ownersOnly(ok200), req: func(_ *testing.T, _ *orgMatrix, o orgWorld, _ orgCell) rq {
			return rq{method: "POST", path: o.path("/archive"), frame: orgFrame("archive_organization", o, nil)}
		}},
		{name: "unarchive organization", cmd: domain.CmdUnarchiveOrganization, archived: true, fresh: true, want: ownersOnly(ok200), req: func(_ *testing.T, _ *orgMatrix, o orgWorld, _ orgCell) rq {
			return rq{method: "POST", path: o.path("/unarchive")}
		}},
		// An archived organization is read only, to everyone who can see it.
		{name: "update an archived organization", cmd: domain.CmdUpdateOrganization, archived: true, want: orgWants(orgArchived, orgArchived, orgArchived, orgArchived, orgArchived),
			req: func(_ *testing.T, m *orgMatrix, o orgWorld, _ orgCell) rq {
				return rq{method: "PATCH", path: o.path(""), body: map[string]any{"description": m.fresh("frozen")}}
			}},
		// The invitee still sees it, to be told so.
		{name: "accept an invitation to an archived organization", cmd: domain.CmdAcceptOrgInvitation, archived: true,
			want: map[string]outcome{oactOwner: orgArchived, oactAdmin: orgArchived, oactDeptIn: orgArchived, oactDeptOut: orgArchived,
				oactMember: orgArchived, oactStranger: orgNotFound, oactInvitee: orgArchived},
			req: func(_ *testing.T, _ *orgMatrix, o orgWorld, _ orgCell) rq {
				return rq{method: "POST", path: o.path("/invitation/accept")}
			}},
		{name: "broadcast", cmd: domain.CmdBroadcastToOrganization, ws: true, want: orgWide(ok201), req: func(_ *testing.T, _ *orgMatrix, o orgWorld, _ orgCell) rq {
			return rq{method: "POST", path: o.path("/broadcasts"), body: map[string]any{"title": "All hands", "body": "Friday"},
				frame: orgFrame("broadcast_to_organization", o, map[string]any{"title": "All hands", "body": "Friday"})}
		}},
		// The department admin's role holds no grant_proxies (domain tests cover a scoped one);
		// each success gets a window of its own, so that no grant overlaps another.
		{name: "grant a proxy for a member", cmd: domain.CmdAuthorizeProxy, ws: true, want: orgWide(ok201), req: func(_ *testing.T, m *orgMatrix, o orgWorld, c orgCell) rq {
			start := time.Now().UTC().Add(time.Duration(m.n.Add(1)) * 24 * time.Hour)
			f := map[string]any{"principal_id": c.side.peer.user.ID, "delegate_id": m.users["member"].user.ID, "scope": "messages",
				"starts_at": start.Format(time.RFC3339), "ends_at": start.Add(time.Hour).Format(time.RFC3339)}
			return rq{method: "POST", path: o.path("/proxies"), body: f, frame: orgFrame("authorize_proxy", o, f)}
		}},
		// A grant the read model does not hold for the organization is not found before anything
		// is decided, for anyone (the manager's tests revoke real ones).
		// The grant is looked up before anything else, as a named user is (docs/protocol.md, User
		// proxies): an unknown one is 404 for delegates too.
		{name: "revoke an unknown proxy", cmd: domain.CmdRevokeOrgProxy, want: withDelegates(orgEveryoneGot(outcome{http.StatusNotFound, domain.CodeProxyNotFound})),
			req: func(_ *testing.T, _ *orgMatrix, o orgWorld, _ orgCell) rq {
				return rq{method: "DELETE", path: o.path("/proxies/" + uuid.NewString())}
			}},

		// Members.
		{name: "add member", cmd: domain.CmdAddOrgMember, ws: true, want: orgWide(ok201), req: func(t *testing.T, m *orgMatrix, o orgWorld, c orgCell) rq {
			u := m.users["outsider"].user.ID
			if c.ok {
				u = m.spare(t, o, false).user.ID
			}
			return rq{method: "POST", path: o.path("/members"), body: map[string]any{"user_id": u},
				frame: orgFrame("add_org_member", o, map[string]any{"user_id": u})}
		}},
		{name: "invite member", cmd: domain.CmdInviteOrgMember, want: orgWide(ok201), req: func(t *testing.T, m *orgMatrix, o orgWorld, c orgCell) rq {
			u := m.users["outsider"].user.ID
			if c.ok {
				u = m.spare(t, o, false).user.ID
			}
			return rq{method: "POST", path: o.path("/invitations"), body: map[string]any{"user_id": u}}
		}},
		{name: "accept invitation", cmd: domain.CmdAcceptOrgInvitation, fresh: true, ws: true, want: map[string]outcome{oactOwner: orgAlreadyIn, oactAdmin: orgAlreadyIn,
			oactDeptIn: orgAlreadyIn, oactDeptOut: orgAlreadyIn, oactMember: orgAlreadyIn, oactStranger: orgNotFound, oactInvitee: ok200},
			req: func(_ *testing.T, _ *orgMatrix, o orgWorld, _ orgCell) rq {
				return rq{method: "POST", path: o.path("/invitation/accept"), frame: orgFrame("accept_org_invitation", o, nil)}
			}},
		{name: "decline invitation", cmd: domain.CmdDeclineOrgInvitation, fresh: true, want: map[string]outcome{oactOwner: orgInvalid, oactAdmin: orgInvalid,
			oactDeptIn: orgInvalid, oactDeptOut: orgInvalid, oactMember: orgInvalid, oactStranger: orgNotFound, oactInvitee: ok200},
			req: func(_ *testing.T, _ *orgMatrix, o orgWorld, _ orgCell) rq {
				return rq{method: "POST", path: o.path("/invitation/decline")}
			}},
		{name: "remove member", cmd: domain.CmdRemoveOrgMember, want: orgWide(ok200), req: func(t *testing.T, m *orgMatrix, o orgWorld, c orgCell) rq {
			u := m.users["peerIn"].user.ID
			if c.ok {
				u = m.spare(t, o, true).user.ID
			}
			return rq{method: "DELETE", path: o.path("/members/" + u)}
		}},
		// Removing ends the member's grants, so it needs what they hold: an owner is removed by
		// owners only. Fresh: a second owner would let the last one go in the rows below.
		{name: "remove an owner", cmd: domain.CmdRemoveOrgMember, fresh: true, want: ownersOnly(ok200), req: func(t *testing.T, m *orgMatrix, o orgWorld, c orgCell) rq {
			u := m.users["owner"].user.ID
			if c.ok {
				u = m.spare(t, o, true).user.ID
				m.grantTo(t, o, u, o.roleID(domain.RoleOwner), "")
			}
			return rq{method: "DELETE", path: o.path("/members/" + u)}
		}},
		{name: "leave", cmd: domain.CmdLeaveOrganization, fresh: true, ws: true, want: orgWants(orgLastOwner, ok200, ok200, ok200, ok200), req: func(_ *testing.T, _ *orgMatrix, o orgWorld, _ orgCell) rq {
			return rq{method: "POST", path: o.path("/leave"), frame: orgFrame("leave_organization", o, nil)}
		}},

		// Departments: inside the department admin's subtree he may, beside or above it not.
		{name: "create department", cmd: domain.CmdCreateDepartment, ws: true, want: inSubtree(ok201), req: func(_ *testing.T, m *orgMatrix, o orgWorld, c orgCell) rq {
			n := m.fresh("Dept")
			return rq{method: "POST", path: o.path("/departments"), body: map[string]any{"name": n, "parent_id": c.side.parent},
				frame: orgFrame("create_department", o, map[string]any{"name": n, "parent_id": c.side.parent})}
		}},
		{name: "create department at the top", cmd: domain.CmdCreateDepartment, want: orgWide(ok201), req: func(_ *testing.T, m *orgMatrix, o orgWorld, _ orgCell) rq {
			return rq{method: "POST", path: o.path("/departments"), body: map[string]any{"name": m.fresh("Top")}}
		}},
		{name: "rename department", cmd: domain.CmdRenameDepartment, ws: true, want: inSubtree(ok200), req: func(t *testing.T, m *orgMatrix, o orgWorld, c orgCell) rq {
			d, n := m.newDept(t, o, c.side.parent, m.fresh("Old")), m.fresh("New")
			return rq{method: "PATCH", path: o.path("/departments/" + d), body: map[string]any{"name": n},
				frame: orgFrame("rename_department", o, map[string]any{"department_id": d, "name": n})}
		}},
		// A grant over a department counts there too, not only below it.
		{name: "rename the department a grant is over", cmd: domain.CmdRenameDepartment, want: inSubtree(ok200), req: func(_ *testing.T, m *orgMatrix, o orgWorld, c orgCell) rq {
			return rq{method: "PATCH", path: o.path("/departments/" + c.side.parent), body: map[string]any{"name": m.fresh("Top renamed")}}
		}},
		{name: "move department within the subtree", cmd: domain.CmdMoveDepartment, want: inSubtree(ok200), req: func(t *testing.T, m *orgMatrix, o orgWorld, c orgCell) rq {
			d := m.newDept(t, o, c.side.parent, m.fresh("Moving"))
			return rq{method: "POST", path: o.path("/departments/" + d + "/move"), body: map[string]any{"parent_id": c.side.leaf}}
		}},
		// A move needs the right over the department and over its new parent.
		{name: "move department out of the subtree", cmd: domain.CmdMoveDepartment, ws: true, want: orgWide(ok200), req: func(t *testing.T, m *orgMatrix, o orgWorld, _ orgCell) rq {
			d := m.newDept(t, o, o.backend, m.fresh("Leaving"))
			return rq{method: "POST", path: o.path("/departments/" + d + "/move"), body: map[string]any{"parent_id": o.team},
				frame: orgFrame("move_department", o, map[string]any{"department_id": d, "parent_id": o.team})}
		}},
		{name: "delete department", cmd: domain.CmdDeleteDepartment, ws: true, want: inSubtree(ok200), req: func(t *testing.T, m *orgMatrix, o orgWorld, c orgCell) rq {
			d := m.newDept(t, o, c.side.parent, m.fresh("Doomed"))
			return rq{method: "DELETE", path: o.path("/departments/" + d), frame: orgFrame("delete_department", o, map[string]any{"department_id": d})}
		}},
		// Engineering is at the top: deleting it needs the right over the organization.
		{name: "delete a department with sub-departments", cmd: domain.CmdDeleteDepartment, want: orgWants(orgNotEmpty, orgNotEmpty, forbidden, forbidden, forbidden),
			req: func(_ *testing.T, _ *orgMatrix, o orgWorld, _ orgCell) rq {
				return rq{method: "DELETE", path: o.path("/departments/" + o.eng)}
			}},
		{name: "set department head", cmd: domain.CmdSetDepartmentHead, want: inSubtree(ok200), req: func(t *testing.T, m *orgMatrix, o orgWorld, c orgCell) rq {
			d := m.newDept(t, o, c.side.parent, m.fresh("Headed"))
			m.addTo(t, o, d, c.side.peer.user.ID)
			return rq{method: "PUT", path: o.path("/departments/" + d + "/head"), body: map[string]any{"user_id": c.side.peer.user.ID}}
		}},
		{name: "create department room", cmd: domain.CmdCreateDepartmentRoom, want: inSubtree(ok201), req: func(t *testing.T, m *orgMatrix, o orgWorld, c orgCell) rq {
			d := m.newDept(t, o, c.side.parent, m.fresh("Roomed"))
			return rq{method: "POST", path: o.path("/departments/" + d + "/room"), body: map[string]any{"name": "room " + d[:8]}}
		}},

		// Department memberships and positions: over the department.
		{name: "add department member", cmd: domain.CmdAddDepartmentMember, ws: true, want: inSubtree(ok200), req: func(t *testing.T, m *orgMatrix, o orgWorld, c orgCell) rq {
			d, u := m.newDept(t, o, c.side.parent, m.fresh("Joined")), c.side.peer.user.ID
			return rq{method: "PUT", path: o.path("/departments/" + d + "/members/" + u),
				frame: orgFrame("add_department_member", o, map[string]any{"department_id": d, "user_id": u})}
		}},
		{name: "remove department member", cmd: domain.CmdRemoveDepartmentMember, want: inSubtree(ok200), req: func(t *testing.T, m *orgMatrix, o orgWorld, c orgCell) rq {
			d, u := m.newDept(t, o, c.side.parent, m.fresh("Left")), c.side.peer.user.ID
			m.addTo(t, o, d, u)
			return rq{method: "DELETE", path: o.path("/departments/" + d + "/members/" + u)}
		}},
		{name: "set primary department", cmd: domain.CmdSetPrimaryDepartment, want: inSubtree(ok200), req: func(t *testing.T, m *orgMatrix, o orgWorld, c orgCell) rq {
			d, u := m.newDept(t, o, c.side.parent, m.fresh("Primary")), c.side.peer.user.ID
			m.addTo(t, o, d, u)
			return rq{method: "POST", path: o.path("/departments/" + d + "/members/" + u + "/primary")}
		}},
		// A member chooses their own primary department, wherever it is.
		{name: "set one's own primary department", cmd: domain.CmdSetPrimaryDepartment, want: memberOK(ok200), req: func(t *testing.T, m *orgMatrix, o orgWorld, c orgCell) rq {
			u := m.users[userOf[c.actor]].user.ID
			d := c.side.leaf
			if c.ok {
				first := m.newDept(t, o, c.side.parent, m.fresh("First"))
				d = m.newDept(t, o, c.side.parent, m.fresh("Second"))
				m.addTo(t, o, first, u)
				m.addTo(t, o, d, u)
			}
			return rq{method: "POST", path: o.path("/departments/" + d + "/members/" + u + "/primary")}
		}},
		{name: "assign position", cmd: domain.CmdAssignPosition, ws: true, want: inSubtree(ok200), req: func(t *testing.T, m *orgMatrix, o orgWorld, c orgCell) rq {
			d, u := m.newDept(t, o, c.side.parent, m.fresh("Staffed")), c.side.peer.user.ID
			m.addTo(t, o, d, u)
			return rq{method: "PUT", path: o.path("/departments/" + d + "/members/" + u + "/position"), body: map[string]any{"position_id": o.position},
				frame: orgFrame("assign_position", o, map[string]any{"department_id": d, "user_id": u, "position_id": o.position})}
		}},
		{name: "unassign position", cmd: domain.CmdUnassignPosition, want: inSubtree(ok200), req: func(t *testing.T, m *orgMatrix, o orgWorld, c orgCell) rq {
			d, u := m.newDept(t, o, c.side.parent, m.fresh("Unstaffed")), c.side.peer.user.ID
			m.addTo(t, o, d, u)
			owner := m.users["owner"]
			call(t, owner.base, owner.token, "PUT", o.path("/departments/"+d+"/members/"+u+"/position"), map[string]any{"position_id": o.position}, http.StatusOK, nil)
			return rq{method: "DELETE", path: o.path("/departments/" + d + "/members/" + u + "/position")}
		}},

		// Job positions: the organization's.
		{name: "define position", cmd: domain.CmdDefinePosition, want: orgWide(ok201), req: func(_ *testing.T, m *orgMatrix, o orgWorld, _ orgCell) rq {
			return rq{method: "POST", path: o.path("/positions"), body: map[string]any{"name": m.fresh("Title"), "rank": 2}}
		}},
		{name: "update position", cmd: domain.CmdUpdatePosition, ws: true, want: orgWide(ok200), req: func(t *testing.T, m *orgMatrix, o orgWorld, _ orgCell) rq {
			p := m.newPosition(t, o)
			return rq{method: "PATCH", path: o.path("/positions/" + p), body: map[string]any{"rank": 9},
				frame: orgFrame("update_position", o, map[string]any{"position_id": p, "rank": 9})}
		}},
		{name: "delete position", cmd: domain.CmdDeletePosition, want: orgWide(ok200), req: func(t *testing.T, m *orgMatrix, o orgWorld, _ orgCell) rq {
			return rq{method: "DELETE", path: o.path("/positions/" + m.newPosition(t, o))}
		}},

		// Roles: the organization's; grants over the grant's scope, of what the granter holds.
		{name: "create role", cmd: domain.CmdCreateOrgRole, want: orgWide(ok201), req: func(_ *testing.T, m *orgMatrix, o orgWorld, _ orgCell) rq {
			return rq{method: "POST", path: o.path("/roles"), body: map[string]any{"name": m.fresh("Auditor"), "permissions": []string{domain.PermReadAuditLog}}}
		}},
		{name: "update role", cmd: domain.CmdUpdateOrgRole, want: orgWide(ok200), req: func(t *testing.T, m *orgMatrix, o orgWorld, _ orgCell) rq {
			r := m.newRole(t, o, []string{domain.PermBroadcast})
			return rq{method: "PATCH", path: o.path("/roles/" + r), body: map[string]any{"name": m.fresh("Renamed")}}
		}},
		{name: "delete role", cmd: domain.CmdDeleteOrgRole, want: orgWide(ok200), req: func(t *testing.T, m *orgMatrix, o orgWorld, _ orgCell) rq {
			return rq{method: "DELETE", path: o.path("/roles/" + m.newRole(t, o, []string{domain.PermBroadcast}))}
		}},
		{name: "grant the department admin role over a department", cmd: domain.CmdGrantOrgRole, ws: true, want: inSubtree(ok200), req: func(t *testing.T, m *orgMatrix, o orgWorld, c orgCell) rq {
			d, u := m.newDept(t, o, c.side.parent, m.fresh("Granted")), c.side.peer.user.ID
			return rq{method: "PUT", path: grantPath(o, u, o.deptAdmRole, d),
				frame: orgFrame("grant_org_role", o, map[string]any{"user_id": u, "role_id": o.deptAdmRole, "department_id": d})}
		}},
		// Nobody hands out what they do not hold: the department admin has no broadcast.
		{name: "grant a role with a permission the granter lacks", cmd: domain.CmdGrantOrgRole, want: orgWants(ok200, ok200, forbidden, forbidden, forbidden),
			req: func(t *testing.T, m *orgMatrix, o orgWorld, c orgCell) rq {
				d, r := m.newDept(t, o, c.side.parent, m.fresh("Announcing")), m.newRole(t, o, []string{domain.PermManageMembers, domain.PermBroadcast})
				return rq{method: "PUT", path: grantPath(o, c.side.peer.user.ID, r, d)}
			}},
		{name: "revoke the department admin role over a department", cmd: domain.CmdRevokeOrgRole, want: inSubtree(ok200), req: func(t *testing.T, m *orgMatrix, o orgWorld, c orgCell) rq {
			d, u := m.newDept(t, o, c.side.parent, m.fresh("Revoked")), c.side.peer.user.ID
			m.grantTo(t, o, u, o.deptAdmRole, d)
			return rq{method: "DELETE", path: grantPath(o, u, o.deptAdmRole, d)}
		}},
		// The department admin holds manage_roles, but over his subtree only: admin is granted
		// over the whole organization.
		{name: "grant admin", cmd: domain.CmdGrantOrgRole, want: orgWide(ok200), req: func(t *testing.T, m *orgMatrix, o orgWorld, c orgCell) rq {
			u := m.users["peerIn"].user.ID
			if c.ok {
				u = m.spare(t, o, true).user.ID
			}
			return rq{method: "PUT", path: grantPath(o, u, o.roleID(domain.RoleAdmin), "")}
		}},
		// Fresh: a second owner would make the last owner's revocation below succeed.
		{name: "grant owner", cmd: domain.CmdGrantOrgRole, fresh: true, want: ownersOnly(ok200), req: func(t *testing.T, m *orgMatrix, o orgWorld, c orgCell) rq {
			u := m.users["peerIn"].user.ID
			if c.ok {
				u = m.spare(t, o, true).user.ID
			}
			return rq{method: "PUT", path: grantPath(o, u, o.roleID(domain.RoleOwner), "")}
		}},
		{name: "revoke the last owner's owner", cmd: domain.CmdRevokeOrgRole, want: orgWants(orgLastOwner, forbidden, forbidden, forbidden, forbidden), req: func(_ *testing.T, m *orgMatrix, o orgWorld, _ orgCell) rq {
			return rq{method: "DELETE", path: grantPath(o, m.users["owner"].user.ID, o.roleID(domain.RoleOwner), "")}
		}},
	}
}
