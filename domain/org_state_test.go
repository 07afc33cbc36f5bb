package domain_test

import (
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"testing"

	"github.com/google/uuid"

	"github.com/chorus-chat/chorus/domain"
)

// The derived effects Apply computes (and docs/events.md states for projections).
func TestOrgDerivedEffects(t *testing.T) {
	t.Run("a removed member loses departments, positions, grants and headships", func(t *testing.T) {
		o := orgOf(t, acme(
			domain.DepartmentHeadSet{OrgID: orgID, DepartmentID: deptBackend, UserID: &ted, SetBy: alice},
			granted(ted, roleDeptAdm, &deptBackend, alice),
			orgRemoved(ted, false, alice))...)
		b, _ := o.Department(deptBackend)
		p, _ := o.Position(posEngineer)
		r, _ := o.Role(roleDeptAdm)
		if o.IsMember(ted) || b.Members != 1 || b.HeadID != nil || p.Holders != 0 || r.Grants != 1 || o.MemberDepartments(ted) != nil {
			t.Errorf("after removing ted: member %v, backend %+v, engineer %+v, department admin %+v", o.IsMember(ted), b, p, r)
		}
	})
	t.Run("a deleted department's members fall back to its parent", func(t *testing.T) {
		o := orgOf(t, acme(
			domain.DepartmentHeadSet{OrgID: orgID, DepartmentID: deptBackend, UserID: &ted, SetBy: alice},
			granted(ted, roleDeptAdm, &deptBackend, alice),
			positionAssigned(bob, deptBackend, posEngineer, alice),
			deptDeleted(deptBackend, &deptEng, alice))...)
		if _, ok := o.Department(deptBackend); ok {
			t.Fatal("backend is still there")
		}
		if p, _ := o.PrimaryDepartment(ted); p != deptEng || !slices.Equal(o.MemberDepartments(ted), []uuid.UUID{deptEng}) {
			t.Errorf("ted: primary %s, departments %v; want eng", p, o.MemberDepartments(ted))
		}
		if p, _ := o.PrimaryDepartment(bob); p != deptEng || !slices.Equal(o.MemberDepartments(bob), []uuid.UUID{deptEng}) {
			t.Errorf("bob: primary %s, departments %v; want eng, as he was", p, o.MemberDepartments(bob))
		}
		if _, held := o.PositionIn(ted, deptEng); held {
			t.Error("ted's position in backend moved to eng")
		}
		if pos, _ := o.Position(posEngineer); pos.Holders != 0 {
			t.Errorf("engineer has %d holders, want 0", pos.Holders)
		}
		if len(o.Grants(ted)) != 0 || o.Holds(ted, domain.PermManageMembers, &deptEng) {
			t.Errorf("ted's grant over backend survived: %+v", o.Grants(ted))
		}
		if e, _ := o.Department(deptEng); e.Members != 2 || e.Children != 0 {
			t.Errorf("eng: %+v, want 2 members and no children", e)
		}
	})
	t.Run("at the top, the earliest remaining department becomes primary", func(t *testing.T) {
		o := orgOf(t, acme(deptAdded(deptEng, vic, false, alice), deptAdded(deptBackend, vic, false, alice),
			deptDeleted(deptSales, nil, alice))...)
		if p, _ := o.PrimaryDepartment(vic); p != deptEng || !slices.Equal(o.MemberDepartments(vic), []uuid.UUID{deptEng, deptBackend}) {
			t.Errorf("vic: primary %s, departments %v; want eng first", p, o.MemberDepartments(vic))
		}
		o = orgOf(t, acme(deptDeleted(deptSales, nil, alice))...)
		if p, ok := o.PrimaryDepartment(vic); ok || !o.IsMember(vic) {
			t.Errorf("vic: primary %s; want none, a member still", p)
		}
	})
	t.Run("deleting a position or a role ends its assignments and grants", func(t *testing.T) {
		o := orgOf(t, acme(domain.PositionDeleted{OrgID: orgID, PositionID: posEngineer, DeletedBy: alice},
			domain.OrgRoleDeleted{OrgID: orgID, RoleID: roleDeptAdm, DeletedBy: alice})...)
		if _, held := o.PositionIn(ted, deptBackend); held || o.Holds(bob, domain.PermManageDepartments, &deptEng) || len(o.Grants(bob)) != 0 {
			t.Errorf("ted holds a position, or bob a grant: %+v", o.Grants(bob))
		}
	})
	t.Run("a move carries the subtree and its admins' reach", func(t *testing.T) {
		o := orgOf(t, acme(domain.DepartmentMoved{OrgID: orgID, DepartmentID: deptBackend, FromParentID: &deptEng, ParentID: &deptSales})...)
		if b, _ := o.Department(deptBackend); b.ParentID == nil || *b.ParentID != deptSales || b.Depth != 1 {
			t.Errorf("backend: %+v, want under sales", b)
		}
		if o.Holds(bob, domain.PermManageMembers, &deptBackend) || !o.Holds(bob, domain.PermManageMembers, &deptEng) {
			t.Error("bob's reach did not follow the tree")
		}
	})
	t.Run("accessors", func(t *testing.T) {
		o := orgOf(t, acme()...)
		if !o.Exists() || o.IsArchived() || o.Name() != "Acme" || o.Slug() != "acme" || o.TimeZone() != "Europe/Berlin" ||
			o.MemberCount() != 5 || o.OwnerCount() != 1 || !o.IsOwner(alice) || o.IsOwner(dave) || !o.IsInvited(erin) ||
			o.DepartmentCount() != 3 || o.Username(bob) != "bob" || o.Version() != int64(len(acme())) {
			t.Errorf("acme reads wrong: %+v", o.Snapshot())
		}
		r, _ := o.Role(roleAdmin)
		if !r.Builtin || len(r.Permissions) != len(domain.Permissions) || r.Grants != 1 {
			t.Errorf("admin role: %+v", r)
		}
		if !o.Holds(dave, domain.PermBroadcast, nil) || o.Holds(bob, domain.PermBroadcast, &deptEng) || o.Holds(bob, domain.PermManageMembers, nil) {
			t.Error("permissions read wrong")
		}
	})
}

// richOrg is acme with a bit of everything on top, for the snapshot and replay tests.
func richOrg() []domain.EventData {
	return acme(
		domain.OrganizationUpdated{OrgID: orgID, Description: str("new"), UpdatedBy: alice},
		domain.DepartmentHeadSet{OrgID: orgID, DepartmentID: deptBackend, UserID: &ted, SetBy: alice},
		granted(ted, roleDeptAdm, &deptBackend, alice),
		granted(dave, roleOwner, nil, alice),
		domain.DepartmentRoomCreated{OrgID: orgID, DepartmentID: deptEng, RoomID: domain.DepartmentRoomIDFor(orgID, deptEng), Name: "eng"},
		domain.OrgBroadcastSent{OrgID: orgID, Title: "t", Body: "b"},
		deptAdded(deptSales, bob, false, alice),
		domain.OrganizationArchived{OrgID: orgID},
	)
}

// A snapshot holds the whole state: the restored organization is the one it was taken of, and
// it survives JSON (the form it is stored in).
func TestOrgSnapshotRoundTrip(t *testing.T) {
	for name, given := range map[string][]domain.EventData{"fresh": nil, "new": newOrg(), "acme": acme(), "rich": richOrg()} {
		o := orgOf(t, given...)
		s, err := domain.SnapshotAggregate(o)
		if err != nil || s.Type != domain.AggregateOrganization || s.State == nil {
			t.Fatalf("%s: snapshot %+v, %v", name, s, err)
		}
		b, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		var back domain.AggregateSnapshot
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatal(err)
		}
		restored, err := domain.RestoreAggregate(back)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !reflect.DeepEqual(restored, o) {
			t.Errorf("%s: restored\n%#v\nwant\n%#v", name, restored, o)
		}
	}
}

// Events applied give the state they were decided on: an organization built by deciding
// commands one after another equals the one that folds their events from the start.
func TestOrgReplayEqualsDecided(t *testing.T) {
	live := domain.NewOrganization(orgID)
	var log []domain.Event
	step := func(key string, actor uuid.UUID, p domain.CommandData) {
		t.Helper()
		evs, err := live.Decide(orgCmd(key, actor, p), now)
		if err != nil {
			t.Fatalf("%s: %v", key, err)
		}
		for _, e := range evs {
			live.Apply(e)
		}
		log = append(log, evs...)
	}
	eng, backend, sales := domain.DepartmentIDFor(cid("rp/eng")), domain.DepartmentIDFor(cid("rp/backend")), domain.DepartmentIDFor(cid("rp/sales"))
	pos, role := domain.PositionIDFor(cid("rp/pos")), domain.CustomOrgRoleIDFor(cid("rp/role"))
	step("rp/create", alice, domain.CreateOrganization{Name: "Acme", Slug: "acme"})
	for _, u := range []uuid.UUID{bob, ted, vic} {
		step(fmt.Sprint("rp/add/", u), alice, domain.AddOrgMember{UserID: u, Username: names[u]})
	}
	step("rp/invite", alice, domain.InviteOrgMember{UserID: erin, Username: "erin"})
	step("rp/accept", erin, domain.AcceptOrgInvitation{})
	step("rp/eng", alice, domain.CreateDepartment{Name: "Engineering"})
	step("rp/backend", alice, domain.CreateDepartment{ParentID: &eng, Name: "Backend"})
	step("rp/sales", alice, domain.CreateDepartment{Name: "Sales"})
	step("rp/role", alice, domain.CreateOrgRole{Name: "Lead", Permissions: []string{domain.PermManageMembers, domain.PermManageRoles, domain.PermManagePositions}})
	step("rp/grant", alice, domain.GrantOrgRole{UserID: bob, RoleID: role, DepartmentID: &eng})
	step("rp/pos", alice, domain.DefinePosition{Name: "Engineer", Rank: 2})
	step("rp/d1", bob, domain.AddDepartmentMember{DepartmentID: backend, UserID: ted})
	step("rp/d2", bob, domain.AddDepartmentMember{DepartmentID: eng, UserID: ted})
	step("rp/d3", alice, domain.AddDepartmentMember{DepartmentID: sales, UserID: vic})
	step("rp/d4", alice, domain.AddDepartmentMember{DepartmentID: eng, UserID: vic})
	step("rp/p1", bob, domain.AssignPosition{UserID: ted, DepartmentID: backend, PositionID: pos})
	step("rp/head", alice, domain.SetDepartmentHead{DepartmentID: backend, UserID: &ted})
	step("rp/room", alice, domain.CreateDepartmentRoom{DepartmentID: eng, Name: "eng"})
	step("rp/move", alice, domain.MoveDepartment{DepartmentID: backend, ParentID: &sales, SortOrder: 2})
	step("rp/rm1", alice, domain.RemoveDepartmentMember{DepartmentID: sales, UserID: vic})
	step("rp/del", alice, domain.DeleteDepartment{DepartmentID: backend})
	step("rp/bc", alice, domain.BroadcastToOrganization{Title: "Hi", Body: "all"})
	step("rp/owner", alice, domain.GrantOrgRole{UserID: erin, RoleID: domain.OrgRoleIDFor(orgID, domain.RoleOwner)})
	step("rp/leave", alice, domain.LeaveOrganization{})
	step("rp/upd", erin, domain.UpdateOrgRole{RoleID: role, Permissions: &[]string{domain.PermManageMembers}})
	step("rp/rmpos", erin, domain.DeletePosition{PositionID: pos})

	replayed := domain.NewOrganization(orgID)
	for _, e := range log {
		b, err := json.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		var back domain.Event
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatal(err)
		}
		replayed.Apply(back)
	}
	if !reflect.DeepEqual(replayed, live) {
		t.Errorf("replayed\n%#v\ndecided\n%#v", replayed.Snapshot(), live.Snapshot())
	}
	// What the steps did, as a member of the directory would see it.
	if p, _ := live.PrimaryDepartment(ted); p != sales || !live.IsOwner(erin) || live.IsMember(alice) || live.OwnerCount() != 1 {
		t.Errorf("ted's primary %s (want sales, backend's parent when it was deleted), erin owner %v, alice member %v",
			p, live.IsOwner(erin), live.IsMember(alice))
	}
	if p, _ := live.PrimaryDepartment(vic); p != eng {
		t.Errorf("vic's primary %s, want eng (sales removed)", p)
	}
}
