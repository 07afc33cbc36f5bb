package domain_test

import (
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/chorus-chat/chorus/domain"
)

var (
	longName = strings.Repeat("n", 10000)
	withNUL  = "Eng\x00ineering"
)

func TestOrgCreate(t *testing.T) {
	create := func(key string, c domain.CreateOrganization) domain.Command { return orgCmd(key, alice, c) }
	ok := domain.CreateOrganization{Name: "  Acme  ", Slug: "acme", Description: " we make things\r\n", TimeZone: "Europe/Berlin"}
	runScenarios(t, domain.AggregateOrganization, orgID, []scenario{
		{name: "created, its creator the first member and owner", when: create("c1", ok), then: evs(
			domain.OrganizationCreated{OrgID: orgID, Name: "Acme", Slug: "acme", Description: "we make things",
				TimeZone: "Europe/Berlin", OwnerID: alice, OwnerUsername: "alice", CreatedAt: nowUTC},
			orgJoined(alice, domain.JoinedAsCreator, alice), granted(alice, roleOwner, nil, alice))},
		{name: "no time zone is UTC", when: create("c2", domain.CreateOrganization{Name: "Acme", Slug: "acme"}), then: evs(
			domain.OrganizationCreated{OrgID: orgID, Name: "Acme", Slug: "acme", TimeZone: "UTC", OwnerID: alice,
				OwnerUsername: "alice", CreatedAt: nowUTC},
			orgJoined(alice, domain.JoinedAsCreator, alice), granted(alice, roleOwner, nil, alice))},
		{name: "slug taken", given: newOrg(), when: orgCmd("c3", bob, ok), code: domain.CodeSlugTaken},
		{name: "slug taken, archived", given: newOrg(domain.OrganizationArchived{OrgID: orgID}), when: create("c4", ok), code: domain.CodeSlugTaken},
		{name: "slug of another aggregate", when: create("c5", domain.CreateOrganization{Name: "A", Slug: "acme2"}), code: domain.CodeValidationFailed},
		{name: "unknown time zone", when: create("c6", domain.CreateOrganization{Name: "A", Slug: "acme", TimeZone: "Mars/Olympus"}), code: domain.CodeValidationFailed},
		{name: "the machine's zone", when: create("c7", domain.CreateOrganization{Name: "A", Slug: "acme", TimeZone: "Local"}), code: domain.CodeValidationFailed},
		{name: "time zone with NUL", when: create("c8", domain.CreateOrganization{Name: "A", Slug: "acme", TimeZone: "UTC\x00"}), code: domain.CodeValidationFailed},
		{name: "time zone path", when: create("c9", domain.CreateOrganization{Name: "A", Slug: "acme", TimeZone: "../../etc/passwd"}), code: domain.CodeValidationFailed},
		{name: "10,000-character name", when: create("c10", domain.CreateOrganization{Name: longName, Slug: "acme"}), code: domain.CodeValidationFailed},
		{name: "name with NUL", when: create("c11", domain.CreateOrganization{Name: withNUL, Slug: "acme"}), code: domain.CodeValidationFailed},
		{name: "blank name", when: create("c12", domain.CreateOrganization{Name: " \u200b ", Slug: "acme"}), code: domain.CodeValidationFailed},
		{name: "description with NUL", when: create("c13", domain.CreateOrganization{Name: "A", Slug: "acme", Description: "a\x00"}), code: domain.CodeValidationFailed},
		{name: "no creator", when: orgCmd("c14", uuid.Nil, ok), code: domain.CodeForbidden},
	})
	for _, slug := range []string{"ab", "Acme", "-acme", "acme-", "ac me", "acmé", strings.Repeat("a", 41), "acme\x00"} {
		o := domain.NewOrganization(domain.OrgIDFor(slug))
		cmd := domain.NewCommand(cid("slug"), domain.OrgIDFor(slug), alice, "alice", now, domain.CreateOrganization{Name: "A", Slug: slug})
		if _, err := o.Decide(cmd, now); domain.CodeOf(err) != domain.CodeValidationFailed {
			t.Errorf("slug %q: %v, want validation_failed", slug, err)
		}
	}
}

func TestOrgRules(t *testing.T) {
	manager := domain.CustomOrgRoleIDFor(cid("role:manager"))
	// uma holds "Manager" over the whole organization: members and roles, nothing else.
	withManager := func(more ...domain.EventData) []domain.EventData {
		return acme(append([]domain.EventData{orgJoined(uma, domain.JoinedByAdding, alice),
			roleCreated(manager, "Manager", []string{domain.PermManageMembers, domain.PermManageRoles}, alice),
			granted(uma, manager, nil, alice)}, more...)...)
	}
	invalid, notMember := domain.CodeValidationFailed, domain.CodeNotAMember
	unknown := uuid.MustParse("0d000000-0000-4000-8000-00000000000d")
	runScenarios(t, domain.AggregateOrganization, orgID, []scenario{
		// the organization
		{name: "update nothing", given: acme(), when: orgCmd("u1", alice, domain.UpdateOrganization{}), code: invalid},
		{name: "update to what it is", given: acme(), when: orgCmd("u2", alice, domain.UpdateOrganization{Name: str("Acme"), TimeZone: str("Europe/Berlin")}), code: invalid},
		{name: "update only what changes", given: acme(), when: orgCmd("u3", alice, domain.UpdateOrganization{Name: str("Acme"), TimeZone: str("")}),
			then: evs(domain.OrganizationUpdated{OrgID: orgID, TimeZone: str("UTC"), UpdatedBy: alice, UpdatedAt: nowUTC})},
		{name: "update to an unknown zone", given: acme(), when: orgCmd("u4", alice, domain.UpdateOrganization{TimeZone: str("Europe/Atlantis")}), code: invalid},
		{name: "update to a 10,000-character name", given: acme(), when: orgCmd("u5", alice, domain.UpdateOrganization{Name: &longName}), code: invalid},
		// members
		{name: "add a member twice", given: acme(), when: orgCmd("m1", alice, domain.AddOrgMember{UserID: bob, Username: "bob"}), code: domain.CodeAlreadyMember},
		{name: "add without a username", given: acme(), when: orgCmd("m2", alice, domain.AddOrgMember{UserID: uma}), code: invalid},
		{name: "add nobody", given: acme(), when: orgCmd("m3", alice, domain.AddOrgMember{Username: "x"}), code: invalid},
		{name: "add the invited", given: acme(), when: orgCmd("m4", alice, domain.AddOrgMember{UserID: erin, Username: "erin"}),
			then: evs(orgJoined(erin, domain.JoinedByAdding, alice))},
		{name: "invite twice", given: acme(), when: orgCmd("m5", alice, domain.InviteOrgMember{UserID: erin, Username: "erin"}), code: invalid},
		{name: "invite a member", given: acme(), when: orgCmd("m6", alice, domain.InviteOrgMember{UserID: ted, Username: "ted"}), code: domain.CodeAlreadyMember},
		{name: "remove oneself", given: acme(), when: orgCmd("m7", dave, domain.RemoveOrgMember{UserID: dave}), code: invalid},
		{name: "remove a stranger", given: acme(), when: orgCmd("m8", alice, domain.RemoveOrgMember{UserID: carol}), code: notMember},
		{name: "an admin removes the owner", given: acme(), when: orgCmd("m9", dave, domain.RemoveOrgMember{UserID: alice}), code: domain.CodeForbidden},
		{name: "an owner removes another owner", given: acme(granted(dave, roleOwner, nil, alice)), when: orgCmd("m10", dave, domain.RemoveOrgMember{UserID: alice}),
			then: evs(orgRemoved(alice, false, dave))},
		{name: "a manager removes a plain member", given: withManager(), when: orgCmd("m11", uma, domain.RemoveOrgMember{UserID: ted}),
			then: evs(orgRemoved(ted, false, uma))},
		{name: "a manager removes who holds more than he does", given: withManager(), when: orgCmd("m12", uma, domain.RemoveOrgMember{UserID: bob}), code: domain.CodeForbidden},
		{name: "the last owner leaves", given: acme(), when: orgCmd("m13", alice, domain.LeaveOrganization{}), code: domain.CodeLastOwner},
		{name: "one of two owners leaves", given: acme(granted(dave, roleOwner, nil, alice)), when: orgCmd("m14", alice, domain.LeaveOrganization{}),
			then: evs(orgRemoved(alice, true, alice))},
		// the tree
		{name: "create under an unknown parent", given: acme(), when: orgCmd("d1", alice, domain.CreateDepartment{ParentID: &unknown, Name: "X"}), code: domain.CodeDepartmentNotFound},
		{name: "a sibling's name in other case", given: acme(), when: orgCmd("d2", alice, domain.CreateDepartment{Name: "engineering"}), code: domain.CodeNameTaken},
		{name: "a name used elsewhere in the tree", given: acme(), when: orgCmd("d3", alice, domain.CreateDepartment{ParentID: &deptSales, Name: "Backend"}),
			then: evs(deptCreated(domain.DepartmentIDFor(cid("d3")), &deptSales, "Backend", 0, alice))},
		{name: "a 10,000-character name", given: acme(), when: orgCmd("d4", alice, domain.CreateDepartment{Name: longName}), code: invalid},
		{name: "a name with NUL", given: acme(), when: orgCmd("d5", alice, domain.CreateDepartment{Name: withNUL}), code: invalid},
		{name: "rename to a sibling's name", given: acme(), when: orgCmd("d6", alice, domain.RenameDepartment{DepartmentID: deptSales, Name: "ENGINEERING"}), code: domain.CodeNameTaken},
		{name: "rename to its own name", given: acme(), when: orgCmd("d7", alice, domain.RenameDepartment{DepartmentID: deptSales, Name: "Sales"}), code: invalid},
		{name: "rename to its own name in other case", given: acme(), when: orgCmd("d8", alice, domain.RenameDepartment{DepartmentID: deptSales, Name: "SALES"}),
			then: evs(domain.DepartmentRenamed{OrgID: orgID, DepartmentID: deptSales, Name: "SALES", RenamedBy: alice})},
		{name: "rename an unknown one", given: acme(), when: orgCmd("d9", alice, domain.RenameDepartment{DepartmentID: unknown, Name: "X"}), code: domain.CodeDepartmentNotFound},
		{name: "move into its own child (a cycle)", given: acme(), when: orgCmd("d10", alice, domain.MoveDepartment{DepartmentID: deptEng, ParentID: &deptBackend}), code: invalid},
		{name: "move under itself", given: acme(), when: orgCmd("d11", alice, domain.MoveDepartment{DepartmentID: deptEng, ParentID: &deptEng}), code: invalid},
		{name: "move where it is", given: acme(), when: orgCmd("d12", alice, domain.MoveDepartment{DepartmentID: deptSales, SortOrder: 2}), code: invalid},
		{name: "move next to a namesake", given: acme(deptCreated(deptOther, nil, "backend", 4, alice)),
			when: orgCmd("d13", alice, domain.MoveDepartment{DepartmentID: deptBackend}), code: domain.CodeNameTaken},
		{name: "move under an unknown parent", given: acme(), when: orgCmd("d14", alice, domain.MoveDepartment{DepartmentID: deptBackend, ParentID: &unknown}), code: domain.CodeDepartmentNotFound},
		{name: "delete with children", given: acme(), when: orgCmd("d15", alice, domain.DeleteDepartment{DepartmentID: deptEng}), code: domain.CodeDepartmentNotEmpty},
		{name: "delete an unknown one", given: acme(), when: orgCmd("d16", alice, domain.DeleteDepartment{DepartmentID: unknown}), code: domain.CodeDepartmentNotFound},
		{name: "head from outside the department", given: acme(), when: orgCmd("d17", alice, domain.SetDepartmentHead{DepartmentID: deptBackend, UserID: &vic}), code: notMember},
		{name: "no head, and none was", given: acme(), when: orgCmd("d18", alice, domain.SetDepartmentHead{DepartmentID: deptBackend}), code: invalid},
		{name: "add a stranger to a department", given: acme(), when: orgCmd("d19", alice, domain.AddDepartmentMember{DepartmentID: deptSales, UserID: carol}), code: notMember},
		{name: "add twice to a department", given: acme(), when: orgCmd("d20", alice, domain.AddDepartmentMember{DepartmentID: deptBackend, UserID: ted}), code: domain.CodeAlreadyMember},
		{name: "add as primary", given: acme(), when: orgCmd("d21", alice, domain.AddDepartmentMember{DepartmentID: deptSales, UserID: ted, Primary: true}),
			then: evs(deptAdded(deptSales, ted, true, alice))},
		{name: "remove the primary: the earliest left is next", given: acme(), when: orgCmd("d22", alice, domain.RemoveDepartmentMember{DepartmentID: deptEng, UserID: bob}),
			then: evs(deptRemoved(deptEng, bob, &deptBackend, alice))},
		{name: "remove from a department one is not in", given: acme(), when: orgCmd("d23", alice, domain.RemoveDepartmentMember{DepartmentID: deptSales, UserID: ted}), code: notMember},
		{name: "one's own primary", given: acme(), when: orgCmd("d24", bob, domain.SetPrimaryDepartment{DepartmentID: deptBackend, UserID: bob}),
			then: evs(domain.PrimaryDepartmentSet{OrgID: orgID, DepartmentID: deptBackend, UserID: bob, SetBy: bob})},
		{name: "a plain member's own primary", given: acme(deptAdded(deptSales, ted, false, alice)), when: orgCmd("d25", ted, domain.SetPrimaryDepartment{DepartmentID: deptSales, UserID: ted}),
			then: evs(domain.PrimaryDepartmentSet{OrgID: orgID, DepartmentID: deptSales, UserID: ted, SetBy: ted})},
		{name: "primary already", given: acme(), when: orgCmd("d26", alice, domain.SetPrimaryDepartment{DepartmentID: deptBackend, UserID: ted}), code: invalid},
		{name: "a second room", given: acme(domain.DepartmentRoomCreated{OrgID: orgID, DepartmentID: deptSales, RoomID: domain.DepartmentRoomIDFor(orgID, deptSales), Name: "s"}),
			when: orgCmd("d27", alice, domain.CreateDepartmentRoom{DepartmentID: deptSales, Name: "again"}), code: invalid},
		{name: "a room with a NUL name", given: acme(), when: orgCmd("d28", alice, domain.CreateDepartmentRoom{DepartmentID: deptSales, Name: withNUL}), code: invalid},
		// positions
		{name: "a position's name in other case", given: acme(), when: orgCmd("p1", alice, domain.DefinePosition{Name: "ENGINEER"}), code: domain.CodeNameTaken},
		{name: "a 10,000-character position", given: acme(), when: orgCmd("p2", alice, domain.DefinePosition{Name: longName}), code: invalid},
		{name: "update an unknown position", given: acme(), when: orgCmd("p3", alice, domain.UpdatePosition{PositionID: unknown, Rank: intp(1)}), code: domain.CodePositionNotFound},
		{name: "update to what it is", given: acme(), when: orgCmd("p4", alice, domain.UpdatePosition{PositionID: posEngineer, Name: str("Engineer"), Rank: intp(3)}), code: invalid},
		{name: "assign an unknown position", given: acme(), when: orgCmd("p5", alice, domain.AssignPosition{UserID: bob, DepartmentID: deptEng, PositionID: unknown}), code: domain.CodePositionNotFound},
		{name: "assign outside one's department", given: acme(), when: orgCmd("p6", alice, domain.AssignPosition{UserID: vic, DepartmentID: deptEng, PositionID: posEngineer}), code: notMember},
		{name: "assign what is held", given: acme(), when: orgCmd("p7", alice, domain.AssignPosition{UserID: ted, DepartmentID: deptBackend, PositionID: posEngineer}), code: invalid},
		{name: "unassign what is not held", given: acme(), when: orgCmd("p8", alice, domain.UnassignPosition{UserID: bob, DepartmentID: deptEng}), code: invalid},
		// roles
		{name: "a permission not in the catalogue", given: acme(), when: orgCmd("r1", alice, domain.CreateOrgRole{Name: "X", Permissions: []string{"fly"}}), code: invalid},
		{name: "a permission twice", given: acme(), when: orgCmd("r2", alice, domain.CreateOrgRole{Name: "X", Permissions: []string{domain.PermBroadcast, domain.PermBroadcast}}), code: invalid},
		{name: "a built-in role's name", given: acme(), when: orgCmd("r3", alice, domain.CreateOrgRole{Name: "Admin"}), code: domain.CodeNameTaken},
		{name: "permissions in the catalogue's order", given: acme(),
			when: orgCmd("r4", alice, domain.CreateOrgRole{Name: "Comms", Permissions: []string{domain.PermBroadcast, domain.PermManageMembers}}),
			then: evs(roleCreated(domain.CustomOrgRoleIDFor(cid("r4")), "Comms", []string{domain.PermManageMembers, domain.PermBroadcast}, alice))},
		{name: "create a role with what one lacks", given: withManager(),
			when: orgCmd("r5", uma, domain.CreateOrgRole{Name: "Comms", Permissions: []string{domain.PermBroadcast}}), code: domain.CodeForbidden},
		{name: "create a role with what one holds", given: withManager(),
			when: orgCmd("r6", uma, domain.CreateOrgRole{Name: "HR", Permissions: []string{domain.PermManageMembers}}),
			then: evs(roleCreated(domain.CustomOrgRoleIDFor(cid("r6")), "HR", []string{domain.PermManageMembers}, uma))},
		{name: "take from a role what one lacks", given: withManager(),
			when: orgCmd("r7", uma, domain.UpdateOrgRole{RoleID: roleDeptAdm, Permissions: &[]string{domain.PermManageMembers}}), code: domain.CodeForbidden},
		{name: "change a built-in role", given: acme(), when: orgCmd("r8", alice, domain.UpdateOrgRole{RoleID: roleAdmin, Name: str("Boss")}), code: domain.CodeForbidden},
		{name: "delete a built-in role", given: acme(), when: orgCmd("r9", alice, domain.DeleteOrgRole{RoleID: roleMember}), code: domain.CodeForbidden},
		{name: "delete an unknown role", given: acme(), when: orgCmd("r10", alice, domain.DeleteOrgRole{RoleID: unknown}), code: domain.CodeRoleNotFound},
		{name: "grant admin over one's subtree", given: acme(), when: orgCmd("r11", bob, domain.GrantOrgRole{UserID: ted, RoleID: roleAdmin, DepartmentID: &deptBackend}), code: domain.CodeForbidden},
		{name: "grant what one lacks (a manager grants admin)", given: withManager(), when: orgCmd("r12", uma, domain.GrantOrgRole{UserID: ted, RoleID: roleAdmin}), code: domain.CodeForbidden},
		{name: "grant owner over a department", given: acme(), when: orgCmd("r13", alice, domain.GrantOrgRole{UserID: dave, RoleID: roleOwner, DepartmentID: &deptEng}), code: invalid},
		{name: "grant the member role", given: acme(), when: orgCmd("r14", alice, domain.GrantOrgRole{UserID: ted, RoleID: roleMember}), code: invalid},
		{name: "grant twice", given: acme(), when: orgCmd("r15", alice, domain.GrantOrgRole{UserID: bob, RoleID: roleDeptAdm, DepartmentID: &deptEng}), code: invalid},
		{name: "grant to a stranger", given: acme(), when: orgCmd("r16", alice, domain.GrantOrgRole{UserID: carol, RoleID: roleAdmin}), code: notMember},
		{name: "grant an unknown role", given: acme(), when: orgCmd("r17", alice, domain.GrantOrgRole{UserID: ted, RoleID: unknown}), code: domain.CodeRoleNotFound},
		{name: "grant over an unknown department", given: acme(), when: orgCmd("r18", alice, domain.GrantOrgRole{UserID: ted, RoleID: roleAdmin, DepartmentID: &unknown}), code: domain.CodeDepartmentNotFound},
		{name: "revoke what is not granted", given: acme(), when: orgCmd("r19", alice, domain.RevokeOrgRole{UserID: ted, RoleID: roleAdmin}), code: invalid},
		{name: "demote the last owner", given: acme(), when: orgCmd("r20", alice, domain.RevokeOrgRole{UserID: alice, RoleID: roleOwner}), code: domain.CodeLastOwner},
		{name: "demote one of two owners", given: acme(granted(dave, roleOwner, nil, alice)), when: orgCmd("r21", dave, domain.RevokeOrgRole{UserID: alice, RoleID: roleOwner}),
			then: evs(revoked(alice, roleOwner, nil, dave))},
		{name: "a broadcast with NUL", given: acme(), when: orgCmd("b1", alice, domain.BroadcastToOrganization{Title: "T", Body: "a\x00"}), code: invalid},
		{name: "a broadcast without a body", given: acme(), when: orgCmd("b2", alice, domain.BroadcastToOrganization{Title: "T"}), code: invalid},
		{name: "a broadcast with a 10,000-character title", given: acme(), when: orgCmd("b3", alice, domain.BroadcastToOrganization{Title: longName, Body: "b"}), code: invalid},
		{name: "a room command", given: acme(), when: orgCmd("x1", alice, domain.SendMessage{Content: "hi"}), code: invalid},
	})
}

var deptOther = domain.DepartmentIDFor(cid("dept:other"))

// The tree is at most MaxDepartmentDepth levels below the top: neither a creation nor a move
// puts a department deeper.
func TestOrgDepthBound(t *testing.T) {
	chain := []domain.EventData{}
	parent := (*uuid.UUID)(nil)
	var ids []uuid.UUID
	for i := 0; i <= domain.MaxDepartmentDepth; i++ {
		id := domain.DepartmentIDFor(cid("chain" + string(rune('a'+i))))
		chain = append(chain, deptCreated(id, parent, "level", 0, alice))
		ids = append(ids, id)
		parent = &ids[i]
	}
	given := acme(chain...)
	o := orgOf(t, given...)
	if d, _ := o.Department(ids[len(ids)-1]); d.Depth != domain.MaxDepartmentDepth {
		t.Fatalf("the deepest department has %d ancestors, want %d", d.Depth, domain.MaxDepartmentDepth)
	}
	runScenarios(t, domain.AggregateOrganization, orgID, []scenario{
		{name: "create below the deepest", given: given, when: orgCmd("deep1", alice, domain.CreateDepartment{ParentID: &ids[len(ids)-1], Name: "x"}),
			code: domain.CodeValidationFailed},
		{name: "move eng (two levels) below the second deepest", given: given,
			when: orgCmd("deep2", alice, domain.MoveDepartment{DepartmentID: deptEng, ParentID: &ids[len(ids)-2]}), code: domain.CodeValidationFailed},
		{name: "move sales (a leaf) below the second deepest", given: given,
			when: orgCmd("deep3", alice, domain.MoveDepartment{DepartmentID: deptSales, ParentID: &ids[len(ids)-2]}),
			then: evs(domain.DepartmentMoved{OrgID: orgID, DepartmentID: deptSales, ParentID: &ids[len(ids)-2], MovedBy: alice})},
	})
}
