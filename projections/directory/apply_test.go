package directory_test

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/chorus-chat/chorus/domain"
	"github.com/chorus-chat/chorus/projections/directory"
)

// An organization as created, changed, archived: its settings, its built-in roles, its owner.
func TestOrganizationLifecycle(t *testing.T) {
	w := newWorld(t)
	o, err := w.store.OrganizationBySlug(w.ctx, "ACME")
	if err != nil {
		t.Fatal(err)
	}
	if o.ID != w.org || o.Name != "Acme" || o.Slug != "acme" || o.TimeZone != "Europe/Berlin" || o.MemberCount != 4 || o.Archived {
		t.Fatalf("organization: %+v", o)
	}
	roles, err := w.store.Roles(w.ctx, w.org)
	if err != nil {
		t.Fatal(err)
	}
	if len(roles) != 3 || roles[0].Name != domain.RoleOwner || roles[1].Name != domain.RoleAdmin || roles[2].Name != domain.RoleMember {
		t.Fatalf("built-in roles: %+v", roles)
	}
	if roles[0].ID != domain.OrgRoleIDFor(w.org, domain.RoleOwner) || !slices.Equal(roles[0].Permissions, domain.Permissions) ||
		!slices.Equal(roles[1].Permissions, domain.Permissions) || len(roles[2].Permissions) != 0 || !roles[2].Builtin {
		t.Fatalf("built-in roles' permissions: %+v", roles)
	}
	grants, err := w.store.Grants(w.ctx, w.org, directory.GrantQuery{})
	if err != nil || len(grants) != 1 || grants[0].UserID != w.alice || grants[0].RoleName != domain.RoleOwner || grants[0].DepartmentID != nil {
		t.Fatalf("grants after creation: %+v, %v", grants, err)
	}

	name, tz := "Acme Corp", ""
	w.emit(w.org, w.alice, domain.OrganizationUpdated{OrgID: w.org, Name: &name, TimeZone: &tz, UpdatedBy: w.alice})
	w.emit(w.org, w.alice, domain.OrganizationArchived{OrgID: w.org, ArchivedBy: w.alice, ArchivedAt: w.log.now})
	o, err = w.store.Organization(w.ctx, w.org)
	if err != nil || o.Name != "Acme Corp" || o.Description != "Anvils" || o.TimeZone != "UTC" || !o.Archived || o.ArchivedAt == nil {
		t.Fatalf("after update and archive: %+v, %v", o, err)
	}
	w.emit(w.org, w.alice, domain.OrganizationUnarchived{OrgID: w.org, UnarchivedBy: w.alice, UnarchivedAt: w.log.now})
	if o, _ = w.store.Organization(w.ctx, w.org); o.Archived || o.ArchivedAt != nil {
		t.Fatalf("after unarchive: %+v", o)
	}
	if _, err := w.store.Organization(w.ctx, uuid.New()); !errors.Is(err, directory.ErrNotFound) {
		t.Fatalf("an unknown organization: %v", err)
	}
	if _, err := w.store.OrganizationBySlug(w.ctx, "a\x00b"); !errors.Is(err, directory.ErrNotFound) {
		t.Fatalf("a slug with NUL: %v", err)
	}
	stranger := uuid.New()
	for u, want := range map[uuid.UUID]bool{w.bob: true, stranger: false} {
		if ok, err := w.store.IsMember(w.ctx, w.org, u); err != nil || ok != want {
			t.Fatalf("IsMember(%s) = %v, %v; want %v", u, ok, err, want)
		}
	}
}

// Invitations open, are declined or consumed by the join; a user sees theirs.
func TestInvitations(t *testing.T) {
	w := newWorld(t)
	erin := domain.UserIDFor("erin")
	w.names[erin] = "erin"
	w.emit(w.org, w.alice, domain.OrgMemberInvited{OrgID: w.org, UserID: erin, Username: "erin", InvitedBy: w.alice, InvitedAt: w.log.now})
	inv, err := w.store.UserInvitations(w.ctx, erin)
	if err != nil || len(inv) != 1 || inv[0].OrgID != w.org {
		t.Fatalf("erin's invitations: %+v, %v", inv, err)
	}
	w.emit(w.org, erin, domain.OrgInvitationDeclined{OrgID: w.org, UserID: erin})
	if inv, _ = w.store.Invitations(w.ctx, w.org); len(inv) != 0 {
		t.Fatalf("invitations after decline: %+v", inv)
	}
	w.emit(w.org, w.alice, domain.OrgMemberInvited{OrgID: w.org, UserID: erin, Username: "erin", InvitedBy: w.alice, InvitedAt: w.log.now})
	w.emit(w.org, erin, domain.OrgMemberJoined{OrgID: w.org, UserID: erin, Username: "erin", Via: domain.JoinedByInvitation, JoinedAt: w.log.now})
	if inv, _ = w.store.Invitations(w.ctx, w.org); len(inv) != 0 {
		t.Fatalf("invitations after the join: %+v", inv)
	}
	if o, _ := w.store.Organization(w.ctx, w.org); o.MemberCount != 5 {
		t.Fatalf("member count %d, want 5", o.MemberCount)
	}
}

// Member counts and head counts: a member of two departments of one subtree counts once above
// them; the chart's tree and order.
func TestOrgChartCounts(t *testing.T) {
	w := newWorld(t)
	eng := w.dept(nil, "Engineering")
	backend := w.dept(&eng, "Backend")
	frontend := w.dept(&eng, "Frontend")
	sales := w.dept(nil, "Sales")
	w.addTo(eng, w.alice, false)
	w.addTo(backend, w.bob, false)
	w.addTo(frontend, w.bob, false)
	w.addTo(frontend, w.carol, false)
	w.addTo(sales, w.dave, false)
	w.addTo(sales, w.carol, false)
	w.emit(w.org, w.alice, domain.DepartmentHeadSet{OrgID: w.org, DepartmentID: eng, UserID: &w.alice, SetBy: w.alice})

	c := w.chart(nil)
	want := map[string][2]int{"Engineering": {1, 3}, "Backend": {1, 1}, "Frontend": {2, 2}, "Sales": {2, 2}}
	for name, n := range want {
		if d := c[name]; d == nil || d.DirectCount != n[0] || d.HeadCount != n[1] {
			t.Errorf("%s: %+v, want direct %d, head count %d", name, d, n[0], n[1])
		}
	}
	if c["Engineering"].HeadUsername != "alice" || c["Backend"].Depth != 1 || len(c["Engineering"].Children) != 2 {
		t.Fatalf("engineering: %+v", c["Engineering"])
	}
	sub := w.chart(&frontend)
	if len(sub) != 1 || sub["Frontend"] == nil {
		t.Fatalf("frontend's subtree: %v", sub)
	}
	if _, err := w.store.OrgChart(w.ctx, w.org, ptr(uuid.New())); !errors.Is(err, directory.ErrNotFound) {
		t.Fatalf("the chart of an unknown department: %v", err)
	}

	// Leaving one of two departments of a subtree keeps the head count above.
	w.emit(w.org, w.alice, domain.DepartmentMemberRemoved{OrgID: w.org, DepartmentID: backend, UserID: w.bob, RemovedBy: w.alice})
	c = w.chart(nil)
	if c["Engineering"].HeadCount != 3 || c["Backend"].HeadCount != 0 || c["Frontend"].HeadCount != 2 {
		t.Fatalf("after bob left backend: eng %d, backend %d, frontend %d", c["Engineering"].HeadCount, c["Backend"].HeadCount, c["Frontend"].HeadCount)
	}
	// Leaving the organization takes them out of everything.
	w.emit(w.org, w.alice, domain.OrgMemberRemoved{OrgID: w.org, UserID: w.carol, Username: "carol", RemovedBy: w.alice})
	c = w.chart(nil)
	if c["Engineering"].HeadCount != 2 || c["Frontend"].DirectCount != 1 || c["Sales"].HeadCount != 1 || c["Sales"].DirectCount != 1 {
		t.Fatalf("after carol was removed: %+v %+v %+v", c["Engineering"], c["Frontend"], c["Sales"])
	}
}

// A moved subtree: every path below it, the head counts of the branches it left and entered,
// the directory's subtree filter.
func TestMoveDepartment(t *testing.T) {
	w := newWorld(t)
	eng := w.dept(nil, "Engineering")
	platform := w.dept(&eng, "Platform")
	storage := w.dept(&platform, "Storage")
	ops := w.dept(nil, "Operations")
	sre := w.dept(&ops, "SRE")
	w.addTo(storage, w.bob, false)
	w.addTo(platform, w.carol, false)
	w.addTo(sre, w.dave, false)
	w.addTo(sre, w.bob, false) // bob is under both branches

	w.emit(w.org, w.alice, domain.DepartmentMoved{OrgID: w.org, DepartmentID: platform, FromParentID: &eng, ParentID: &sre, SortOrder: 1, MovedBy: w.alice})
	c := w.chart(nil)
	for name, n := range map[string][2]int{"Engineering": {0, 0}, "Operations": {0, 3}, "SRE": {2, 3}, "Platform": {1, 2}, "Storage": {1, 1}} {
		if d := c[name]; d.DirectCount != n[0] || d.HeadCount != n[1] {
			t.Errorf("after the move, %s: direct %d, head count %d; want %v", name, d.DirectCount, d.HeadCount, n)
		}
	}
	if c["Storage"].Depth != 3 || *c["Platform"].ParentID != sre || c["Platform"].SortOrder != 1 {
		t.Fatalf("moved subtree: storage depth %d, platform %+v", c["Storage"].Depth, c["Platform"])
	}
	if got := w.members(directory.MemberQuery{DepartmentID: &ops}); !slices.Equal(got, []string{"bob", "carol", "dave"}) {
		t.Fatalf("members under operations: %v", got)
	}
	if got := w.members(directory.MemberQuery{DepartmentID: &eng}); len(got) != 0 {
		t.Fatalf("members under engineering: %v", got)
	}
	if sub := w.chart(&ops); len(sub) != 4 || sub["Storage"] == nil {
		t.Fatalf("operations' subtree: %v", sub)
	}

	// To the top, and back where it was.
	w.emit(w.org, w.alice, domain.DepartmentMoved{OrgID: w.org, DepartmentID: platform, FromParentID: &sre, ParentID: nil, MovedBy: w.alice})
	c = w.chart(nil)
	if c["Platform"].Depth != 0 || c["Storage"].Depth != 1 || c["Operations"].HeadCount != 2 || c["Platform"].HeadCount != 2 {
		t.Fatalf("at the top: %+v %+v %+v", c["Platform"], c["Storage"], c["Operations"])
	}
	w.emit(w.org, w.alice, domain.DepartmentMoved{OrgID: w.org, DepartmentID: platform, FromParentID: nil, ParentID: &eng, MovedBy: w.alice})
	c = w.chart(nil)
	if c["Engineering"].HeadCount != 2 || c["Operations"].HeadCount != 2 || c["Storage"].Depth != 2 {
		t.Fatalf("back under engineering: %+v %+v", c["Engineering"], c["Operations"])
	}
}

// A deleted department's members fall back to its parent (the primary flag with them), their
// positions there end, and so do the grants scoped to it and its room's link.
func TestDeleteDepartment(t *testing.T) {
	w := newWorld(t)
	eng := w.dept(nil, "Engineering")
	backend := w.dept(&eng, "Backend")
	w.addTo(backend, w.bob, true)
	w.addTo(eng, w.carol, false)
	w.addTo(backend, w.carol, true)
	w.addTo(eng, w.dave, false)
	w.addTo(backend, w.dave, false)
	pos := uuid.New()
	w.emit(w.org, w.alice, domain.PositionDefined{OrgID: w.org, PositionID: pos, Name: "Engineer", Rank: 1})
	w.emit(w.org, w.alice, domain.PositionAssigned{OrgID: w.org, UserID: w.bob, DepartmentID: backend, PositionID: pos})
	w.emit(w.org, w.alice, domain.PositionAssigned{OrgID: w.org, UserID: w.dave, DepartmentID: eng, PositionID: pos})
	admin := domain.OrgRoleIDFor(w.org, domain.RoleAdmin)
	w.emit(w.org, w.alice, domain.OrgRoleGranted{OrgID: w.org, UserID: w.bob, RoleID: admin, DepartmentID: &backend, GrantedBy: w.alice})
	w.emit(w.org, w.alice, domain.OrgRoleGranted{OrgID: w.org, UserID: w.dave, RoleID: admin, DepartmentID: &eng, GrantedBy: w.alice})
	w.emit(w.org, w.alice, domain.DepartmentRoomCreated{OrgID: w.org, DepartmentID: backend, RoomID: uuid.New(), Name: "backend", CreatedBy: w.alice})

	w.emit(w.org, w.alice, domain.DepartmentDeleted{OrgID: w.org, DepartmentID: backend, ParentID: &eng, DeletedBy: w.alice, DeletedAt: w.log.now})
	c := w.chart(nil)
	if len(c) != 1 || c["Engineering"].DirectCount != 3 || c["Engineering"].HeadCount != 3 {
		t.Fatalf("after deleting backend: %+v", c)
	}
	prof := w.profile(w.bob)
	if len(prof) != 1 || prof[0].DepartmentID != eng || !prof[0].Primary || prof[0].Position != nil {
		t.Fatalf("bob's departments: %+v", prof)
	}
	prof = w.profile(w.carol) // already in engineering: the primary flag came with backend's
	if len(prof) != 1 || !prof[0].Primary {
		t.Fatalf("carol's departments: %+v", prof)
	}
	prof = w.profile(w.dave) // kept what he had in engineering
	if len(prof) != 1 || prof[0].Primary != true || prof[0].Position == nil || prof[0].Position.ID != pos {
		t.Fatalf("dave's departments: %+v", prof)
	}
	grants, _ := w.store.Grants(w.ctx, w.org, directory.GrantQuery{RoleID: &admin})
	if len(grants) != 1 || grants[0].UserID != w.dave {
		t.Fatalf("admin grants after the deletion: %+v", grants)
	}
	if rooms, _ := w.store.DepartmentRooms(w.ctx, w.org); len(rooms) != 0 {
		t.Fatalf("department rooms after the deletion: %+v", rooms)
	}
}

// profile returns user's departments in w's organization.
func (w *world) profile(user uuid.UUID) []directory.MemberDepartment {
	w.t.Helper()
	ms, err := w.store.UserOrganizations(w.ctx, user)
	if err != nil {
		w.t.Fatal(err)
	}
	for _, m := range ms {
		if m.Organization.ID == w.org {
			return m.Departments
		}
	}
	w.t.Fatalf("%s is in no organization", w.names[user])
	return nil
}

// A member's primary department: the first one, one the event names, one set later; when a
// top-level department is deleted, their earliest remaining one.
func TestPrimaryDepartment(t *testing.T) {
	w := newWorld(t)
	a, b, c := w.dept(nil, "A"), w.dept(nil, "B"), w.dept(nil, "C")
	primary := func(u uuid.UUID) string {
		t.Helper()
		for _, d := range w.profile(u) {
			if d.Primary {
				return d.Name
			}
		}
		return ""
	}
	w.addTo(c, w.bob, false) // the first is primary whatever the event says
	w.addTo(a, w.bob, false)
	w.addTo(b, w.bob, false)
	if p := primary(w.bob); p != "C" {
		t.Fatalf("primary after the first join: %q", p)
	}
	w.addTo(b, w.carol, false)
	w.addTo(a, w.carol, true)
	if p := primary(w.carol); p != "A" {
		t.Fatalf("carol's primary: %q", p)
	}
	w.emit(w.org, w.alice, domain.PrimaryDepartmentSet{OrgID: w.org, DepartmentID: b, UserID: w.carol})
	if p := primary(w.carol); p != "B" {
		t.Fatalf("carol's primary after setting it: %q", p)
	}
	w.emit(w.org, w.alice, domain.DepartmentMemberRemoved{OrgID: w.org, DepartmentID: b, UserID: w.carol, NewPrimaryID: &a})
	if p := primary(w.carol); p != "A" {
		t.Fatalf("carol's primary after leaving B: %q", p)
	}
	// C goes: bob's earliest remaining department (A, added before B) becomes primary.
	w.emit(w.org, w.alice, domain.DepartmentDeleted{OrgID: w.org, DepartmentID: c, DeletedBy: w.alice, DeletedAt: w.log.now})
	if p := primary(w.bob); p != "A" {
		t.Fatalf("bob's primary after C was deleted: %q", p)
	}
	if ds := w.profile(w.bob); len(ds) != 2 || ds[0].Name != "A" {
		t.Fatalf("bob's departments, primary first: %+v", ds)
	}
}

// Removing a member ends everything they had: departments, positions, grants, headships.
func TestRemoveMemberCascades(t *testing.T) {
	w := newWorld(t)
	eng := w.dept(nil, "Engineering")
	w.addTo(eng, w.bob, true)
	pos := uuid.New()
	w.emit(w.org, w.alice, domain.PositionDefined{OrgID: w.org, PositionID: pos, Name: "Lead", Rank: 5})
	w.emit(w.org, w.alice, domain.PositionAssigned{OrgID: w.org, UserID: w.bob, DepartmentID: eng, PositionID: pos})
	w.emit(w.org, w.alice, domain.OrgRoleGranted{OrgID: w.org, UserID: w.bob, RoleID: domain.OrgRoleIDFor(w.org, domain.RoleAdmin), GrantedBy: w.alice})
	w.emit(w.org, w.alice, domain.DepartmentHeadSet{OrgID: w.org, DepartmentID: eng, UserID: &w.bob})
	w.emit(w.org, w.bob, domain.OrgMemberRemoved{OrgID: w.org, UserID: w.bob, Username: "bob", Left: true, RemovedBy: w.bob})

	if ms, _ := w.store.UserOrganizations(w.ctx, w.bob); len(ms) != 0 {
		t.Fatalf("bob's organizations after leaving: %+v", ms)
	}
	c := w.chart(nil)["Engineering"]
	if c.HeadID != nil || c.DirectCount != 0 || c.HeadCount != 0 {
		t.Fatalf("engineering after bob left: %+v", c)
	}
	if got := w.members(directory.MemberQuery{PositionID: &pos}); len(got) != 0 {
		t.Fatalf("holders of the position: %v", got)
	}
	if g, _ := w.store.Grants(w.ctx, w.org, directory.GrantQuery{UserID: &w.bob}); len(g) != 0 {
		t.Fatalf("bob's grants: %+v", g)
	}
	if o, _ := w.store.Organization(w.ctx, w.org); o.MemberCount != 3 {
		t.Fatalf("member count %d, want 3", o.MemberCount)
	}
	// Removing them again (a replayed event) changes nothing.
	w.emit(w.org, w.alice, domain.OrgMemberRemoved{OrgID: w.org, UserID: w.bob, Username: "bob", RemovedBy: w.alice})
	if o, _ := w.store.Organization(w.ctx, w.org); o.MemberCount != 3 {
		t.Fatalf("member count after a second removal %d, want 3", o.MemberCount)
	}
}

// Positions and roles: their changes, their deletion ending assignments and grants, the
// directory's filters on them, and what a profile shows.
func TestPositionsAndRoles(t *testing.T) {
	w := newWorld(t)
	eng := w.dept(nil, "Engineering")
	sales := w.dept(nil, "Sales")
	w.addTo(eng, w.bob, true)
	w.addTo(sales, w.bob, false)
	w.addTo(eng, w.carol, true)
	dev, mgr := uuid.New(), uuid.New()
	w.emit(w.org, w.alice, domain.PositionDefined{OrgID: w.org, PositionID: dev, Name: "Developer", Rank: 1})
	w.emit(w.org, w.alice, domain.PositionDefined{OrgID: w.org, PositionID: mgr, Name: "Manager", Rank: 3})
	w.emit(w.org, w.alice, domain.PositionAssigned{OrgID: w.org, UserID: w.bob, DepartmentID: eng, PositionID: dev})
	w.emit(w.org, w.alice, domain.PositionAssigned{OrgID: w.org, UserID: w.bob, DepartmentID: eng, PositionID: mgr}) // replaces
	w.emit(w.org, w.alice, domain.PositionAssigned{OrgID: w.org, UserID: w.carol, DepartmentID: eng, PositionID: dev})
	name, rank := "Engineering Manager", 4
	w.emit(w.org, w.alice, domain.PositionUpdated{OrgID: w.org, PositionID: mgr, Name: &name, Rank: &rank})
	ps, _ := w.store.Positions(w.ctx, w.org)
	if len(ps) != 2 || ps[0].Name != "Engineering Manager" || ps[0].Rank != 4 {
		t.Fatalf("positions: %+v", ps)
	}
	if got := w.members(directory.MemberQuery{PositionID: &mgr}); !slices.Equal(got, []string{"bob"}) {
		t.Fatalf("managers: %v", got)
	}

	auditor := uuid.New()
	w.emit(w.org, w.alice, domain.OrgRoleCreated{OrgID: w.org, RoleID: auditor, Name: "auditor",
		Permissions: []string{domain.PermReadAuditLog, domain.PermReadOnlineTime, domain.PermReadAuditLog}})
	w.emit(w.org, w.alice, domain.OrgRoleGranted{OrgID: w.org, UserID: w.carol, RoleID: auditor, DepartmentID: &eng})
	w.emit(w.org, w.alice, domain.OrgRoleGranted{OrgID: w.org, UserID: w.carol, RoleID: auditor})
	perms := []string{domain.PermReadAuditLog}
	w.emit(w.org, w.alice, domain.OrgRoleUpdated{OrgID: w.org, RoleID: auditor, Permissions: &perms})
	roles, _ := w.store.Roles(w.ctx, w.org)
	if len(roles) != 4 || roles[3].Name != "auditor" || !slices.Equal(roles[3].Permissions, perms) {
		t.Fatalf("roles: %+v", roles)
	}
	if got := w.members(directory.MemberQuery{RoleID: &auditor}); !slices.Equal(got, []string{"carol"}) {
		t.Fatalf("auditors: %v", got)
	}
	if got := w.members(directory.MemberQuery{RoleID: ptr(domain.OrgRoleIDFor(w.org, domain.RoleMember))}); len(got) != 4 {
		t.Fatalf("holders of the member role: %v", got)
	}
	ms, _ := w.store.UserOrganizations(w.ctx, w.carol)
	if len(ms) != 1 || len(ms[0].Roles) != 2 || ms[0].Departments[0].Position == nil || ms[0].Departments[0].Position.Name != "Developer" {
		t.Fatalf("carol's profile: %+v", ms)
	}
	w.emit(w.org, w.alice, domain.OrgRoleRevoked{OrgID: w.org, UserID: w.carol, RoleID: auditor, DepartmentID: &eng})
	if g, _ := w.store.Grants(w.ctx, w.org, directory.GrantQuery{RoleID: &auditor}); len(g) != 1 || g[0].DepartmentID != nil {
		t.Fatalf("auditor grants after revoking the scoped one: %+v", g)
	}

	w.emit(w.org, w.alice, domain.PositionDeleted{OrgID: w.org, PositionID: dev})
	w.emit(w.org, w.alice, domain.OrgRoleDeleted{OrgID: w.org, RoleID: auditor})
	if got := w.members(directory.MemberQuery{PositionID: &dev}); len(got) != 0 {
		t.Fatalf("holders of a deleted position: %v", got)
	}
	if g, _ := w.store.Grants(w.ctx, w.org, directory.GrantQuery{UserID: &w.carol}); len(g) != 0 {
		t.Fatalf("carol's grants after the role was deleted: %+v", g)
	}
	// The built-in roles cannot change or go, whatever an event says.
	owner := domain.OrgRoleIDFor(w.org, domain.RoleOwner)
	w.emit(w.org, w.alice, domain.OrgRoleDeleted{OrgID: w.org, RoleID: owner})
	if roles, _ = w.store.Roles(w.ctx, w.org); len(roles) != 3 {
		t.Fatalf("roles after deleting owner: %+v", roles)
	}
}

// The directory's name search (usernames and display names, any case, wildcards taken
// literally), its pages, and the queries it refuses.
func TestMemberSearchAndPages(t *testing.T) {
	w := newWorld(t)
	for _, p := range []struct {
		id      uuid.UUID
		display string
	}{{w.bob, "Robert Tables"}, {w.carol, "Carol 100%_sure"}} {
		if _, err := w.pool.Exec(w.ctx, `INSERT INTO users (id, username, username_lower, display_name, created_at, updated_at)
			VALUES ($1, $2, $2, $3, now(), now())`, p.id, w.names[p.id], p.display); err != nil {
			t.Fatal(err)
		}
	}
	for q, want := range map[string][]string{
		"":        {"alice", "bob", "carol", "dave"},
		"A":       {"alice", "bob", "carol", "dave"}, // bob: Robert Tables
		"tables":  {"bob"},
		"ROB":     {"bob"},
		"%_":      {"carol"},
		"_":       {"carol"},
		"nobody":  nil,
		"li":      {"alice"},
		"dave":    {"dave"},
		"bert ta": {"bob"},
	} {
		if got := w.members(directory.MemberQuery{Q: q, Limit: 1}); !slices.Equal(got, want) {
			t.Errorf("search %q: %v, want %v", q, got, want)
		}
	}
	page, next, err := w.store.Members(w.ctx, w.org, directory.MemberQuery{Limit: 3})
	if err != nil || len(page) != 3 || next == nil {
		t.Fatalf("first page: %v, %v, %v", page, next, err)
	}
	if page[1].DisplayName == nil || *page[1].DisplayName != "Robert Tables" {
		t.Fatalf("bob's display name: %+v", page[1])
	}
	cur, err := directory.ParseMemberCursor(next.String())
	if err != nil || cur != *next {
		t.Fatalf("cursor round trip: %+v, %v", cur, err)
	}
	// alice leaves between pages: the next page still starts after carol.
	w.emit(w.org, w.alice, domain.OrgMemberRemoved{OrgID: w.org, UserID: w.alice, Username: "alice"})
	page, next, err = w.store.Members(w.ctx, w.org, directory.MemberQuery{Limit: 3, After: &cur})
	if err != nil || len(page) != 1 || page[0].Username != "dave" || next != nil {
		t.Fatalf("second page: %+v, %v, %v", page, next, err)
	}

	for _, q := range []directory.MemberQuery{
		{Limit: -1}, {Limit: directory.MaxMemberLimit + 1}, {Q: "a\x00"}, {Q: strings.Repeat("x", 10000)}, {Q: "\xff"},
	} {
		if _, _, err := w.store.Members(w.ctx, w.org, q); !errors.Is(err, directory.ErrBadQuery) {
			t.Errorf("Members(%.40q, limit %d) = %v, want ErrBadQuery", q.Q, q.Limit, err)
		}
	}
	audit := directory.AuditCursor{Version: 3}.String()
	for _, s := range []string{"", "not base64!", audit, strings.Repeat("A", 2000), "eyJ2IjoxLCJrIjoibWVtYmVyIiwibiI6ImFcdTAwMDAiLCJpIjoiMDAwMDAwMDAtMDAwMC0wMDAwLTAwMDAtMDAwMDAwMDAwMDAxIn0"} {
		if _, err := directory.ParseMemberCursor(s); !errors.Is(err, directory.ErrBadQuery) {
			t.Errorf("ParseMemberCursor(%.30q) = %v, want ErrBadQuery", s, err)
		}
	}
}

// The audit log: every event, newest first, filtered by actor and type, in pages.
func TestAudit(t *testing.T) {
	w := newWorld(t) // 6 events: created, alice joined, 3 joins by alice
	w.emit(w.org, w.bob, domain.OrgMemberRemoved{OrgID: w.org, UserID: w.bob, Username: "bob", Left: true, RemovedBy: w.bob})
	w.dept(nil, "Engineering")

	all, next, err := w.store.Audit(w.ctx, w.org, directory.AuditQuery{})
	if err != nil || len(all) != 7 || next != nil {
		t.Fatalf("audit: %d entries, %v, %v", len(all), next, err)
	}
	if all[0].Type != domain.TypeDepartmentCreated || all[0].Version != 7 || all[6].Type != domain.TypeOrganizationCreated ||
		all[0].Position != "org-events:0:6" || !strings.Contains(string(all[0].Data), `"Engineering"`) {
		t.Fatalf("newest and oldest: %+v / %+v", all[0], all[6])
	}
	byBob, _, _ := w.store.Audit(w.ctx, w.org, directory.AuditQuery{ActorID: &w.bob})
	if len(byBob) != 1 || byBob[0].Type != domain.TypeOrgMemberRemoved {
		t.Fatalf("bob's events: %+v", byBob)
	}
	joins, _, _ := w.store.Audit(w.ctx, w.org, directory.AuditQuery{Types: []string{domain.TypeOrgMemberJoined}, ActorID: &w.alice})
	if len(joins) != 4 {
		t.Fatalf("joins by alice: %d", len(joins))
	}
	page, next, _ := w.store.Audit(w.ctx, w.org, directory.AuditQuery{Limit: 4})
	c, err := directory.ParseAuditCursor(next.String())
	if len(page) != 4 || err != nil {
		t.Fatalf("first page: %d, %v", len(page), err)
	}
	rest, next, _ := w.store.Audit(w.ctx, w.org, directory.AuditQuery{Limit: 4, Before: &c})
	if len(rest) != 3 || next != nil || rest[0].Version != 3 {
		t.Fatalf("second page: %+v, %v", rest, next)
	}
	for _, q := range []directory.AuditQuery{{Types: []string{"MessageSent"}}, {Limit: 1000}, {Before: &directory.AuditCursor{}}} {
		if _, _, err := w.store.Audit(w.ctx, w.org, q); !errors.Is(err, directory.ErrBadQuery) {
			t.Errorf("Audit(%+v) = %v, want ErrBadQuery", q, err)
		}
	}
}
