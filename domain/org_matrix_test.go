package domain_test

import (
	"testing"

	"github.com/google/uuid"

	"github.com/chorus-chat/chorus/domain"
)

// The organization's authorization matrix: every organization command by each kind of actor
// on the fixture organization (acme): alice the owner, dave an org admin, bob a department
// admin over eng (rows on eng or backend are inside his subtree, rows on sales or the top
// outside), ted a plain member, carol a stranger.

var orgActors = []actorKind{
	{"owner", alice},
	{"org admin", dave},
	{"department admin", bob},
	{"member", ted},
	{"stranger", carol},
}

var (
	orgNotFound = no(domain.CodeOrgNotFound)
	lastOwner   = no(domain.CodeLastOwner)
	notEmpty    = no(domain.CodeDepartmentNotEmpty)
	slugTaken   = no(domain.CodeSlugTaken)
)

type orgRow struct {
	name string
	p    domain.CommandData
	// answers in the order of orgActors: owner, org admin, department admin, member, stranger
	want [5]outcome
}

// byOwners are the answers to a command that the owner and the org admin may give, and a
// department admin may not (outside his subtree, or needing the whole organization).
func byOwners(then func(key string, actor uuid.UUID) []domain.EventData) [5]outcome {
	return [5]outcome{yes(then), yes(then), forbidden, forbidden, orgNotFound}
}

// byAdmins are the answers to a command a department admin may give too (inside his subtree).
func byAdmins(then func(key string, actor uuid.UUID) []domain.EventData) [5]outcome {
	return [5]outcome{yes(then), yes(then), yes(then), forbidden, orgNotFound}
}

func one(d func(key string, a uuid.UUID) domain.EventData) func(string, uuid.UUID) []domain.EventData {
	return func(k string, a uuid.UUID) []domain.EventData { return evs(d(k, a)) }
}

func orgRows() []orgRow {
	return []orgRow{
		{"create_organization acme again", domain.CreateOrganization{Name: "Acme", Slug: "acme"},
			[5]outcome{slugTaken, slugTaken, slugTaken, slugTaken, slugTaken}},
		{"update_organization", domain.UpdateOrganization{Name: str("Acme Inc")}, byOwners(one(func(_ string, a uuid.UUID) domain.EventData {
			return domain.OrganizationUpdated{OrgID: orgID, Name: str("Acme Inc"), UpdatedBy: a, UpdatedAt: nowUTC}
		}))},
		{"archive_organization", domain.ArchiveOrganization{}, [5]outcome{
			yes(one(func(_ string, a uuid.UUID) domain.EventData {
				return domain.OrganizationArchived{OrgID: orgID, ArchivedBy: a, ArchivedAt: nowUTC}
			})), forbidden, forbidden, forbidden, orgNotFound}},
		{"unarchive_organization of a live one", domain.UnarchiveOrganization{},
			[5]outcome{invalid, forbidden, forbidden, forbidden, orgNotFound}},
		{"add_org_member uma", domain.AddOrgMember{UserID: uma, Username: "uma"}, byOwners(one(func(_ string, a uuid.UUID) domain.EventData {
			return orgJoined(uma, domain.JoinedByAdding, a)
		}))},
		{"invite_org_member uma", domain.InviteOrgMember{UserID: uma, Username: "uma"}, byOwners(one(func(_ string, a uuid.UUID) domain.EventData {
			return orgInvited(uma, a)
		}))},
		{"accept_org_invitation", domain.AcceptOrgInvitation{}, [5]outcome{already, already, already, already, orgNotFound}},
		{"decline_org_invitation", domain.DeclineOrgInvitation{}, [5]outcome{invalid, invalid, invalid, invalid, orgNotFound}},
		{"remove_org_member ted", domain.RemoveOrgMember{UserID: ted}, byOwners(one(func(_ string, a uuid.UUID) domain.EventData {
			return orgRemoved(ted, false, a)
		}))},
		{"remove_org_member bob", domain.RemoveOrgMember{UserID: bob}, byOwners(one(func(_ string, a uuid.UUID) domain.EventData {
			return orgRemoved(bob, false, a)
		}))},
		{"leave_organization", domain.LeaveOrganization{}, [5]outcome{lastOwner,
			yes(one(func(_ string, a uuid.UUID) domain.EventData { return orgRemoved(a, true, a) })),
			yes(one(func(_ string, a uuid.UUID) domain.EventData { return orgRemoved(a, true, a) })),
			yes(one(func(_ string, a uuid.UUID) domain.EventData { return orgRemoved(a, true, a) })),
			orgNotFound}},
		{"create_department in eng", domain.CreateDepartment{ParentID: &deptEng, Name: "QA"}, byAdmins(one(func(k string, a uuid.UUID) domain.EventData {
			return deptCreated(domain.DepartmentIDFor(cid(k)), &deptEng, "QA", 0, a)
		}))},
		{"create_department in sales", domain.CreateDepartment{ParentID: &deptSales, Name: "QA"}, byOwners(one(func(k string, a uuid.UUID) domain.EventData {
			return deptCreated(domain.DepartmentIDFor(cid(k)), &deptSales, "QA", 0, a)
		}))},
		{"create_department at the top", domain.CreateDepartment{Name: "QA", SortOrder: 3}, byOwners(one(func(k string, a uuid.UUID) domain.EventData {
			return deptCreated(domain.DepartmentIDFor(cid(k)), nil, "QA", 3, a)
		}))},
		{"rename_department backend", domain.RenameDepartment{DepartmentID: deptBackend, Name: "Platform"}, byAdmins(one(func(_ string, a uuid.UUID) domain.EventData {
			return domain.DepartmentRenamed{OrgID: orgID, DepartmentID: deptBackend, Name: "Platform", RenamedBy: a}
		}))},
		{"rename_department sales", domain.RenameDepartment{DepartmentID: deptSales, Name: "Revenue"}, byOwners(one(func(_ string, a uuid.UUID) domain.EventData {
			return domain.DepartmentRenamed{OrgID: orgID, DepartmentID: deptSales, Name: "Revenue", RenamedBy: a}
		}))},
		{"move_department backend into sales", domain.MoveDepartment{DepartmentID: deptBackend, ParentID: &deptSales}, byOwners(one(func(_ string, a uuid.UUID) domain.EventData {
			return domain.DepartmentMoved{OrgID: orgID, DepartmentID: deptBackend, FromParentID: &deptEng, ParentID: &deptSales, MovedBy: a}
		}))},
		{"move_department backend within eng", domain.MoveDepartment{DepartmentID: deptBackend, ParentID: &deptEng, SortOrder: 7}, byAdmins(one(func(_ string, a uuid.UUID) domain.EventData {
			return domain.DepartmentMoved{OrgID: orgID, DepartmentID: deptBackend, FromParentID: &deptEng, ParentID: &deptEng, SortOrder: 7, MovedBy: a}
		}))},
		{"delete_department backend", domain.DeleteDepartment{DepartmentID: deptBackend}, byAdmins(one(func(_ string, a uuid.UUID) domain.EventData {
			return deptDeleted(deptBackend, &deptEng, a)
		}))},
		{"delete_department eng, which has a child", domain.DeleteDepartment{DepartmentID: deptEng},
			[5]outcome{notEmpty, notEmpty, forbidden, forbidden, orgNotFound}},
		{"delete_department sales", domain.DeleteDepartment{DepartmentID: deptSales}, byOwners(one(func(_ string, a uuid.UUID) domain.EventData {
			return deptDeleted(deptSales, nil, a)
		}))},
		{"set_department_head backend ted", domain.SetDepartmentHead{DepartmentID: deptBackend, UserID: &ted}, byAdmins(one(func(_ string, a uuid.UUID) domain.EventData {
			return domain.DepartmentHeadSet{OrgID: orgID, DepartmentID: deptBackend, UserID: &ted, SetBy: a}
		}))},
		{"set_department_head sales vic", domain.SetDepartmentHead{DepartmentID: deptSales, UserID: &vic}, byOwners(one(func(_ string, a uuid.UUID) domain.EventData {
			return domain.DepartmentHeadSet{OrgID: orgID, DepartmentID: deptSales, UserID: &vic, SetBy: a}
		}))},
		{"add_department_member backend dave", domain.AddDepartmentMember{DepartmentID: deptBackend, UserID: dave}, byAdmins(one(func(_ string, a uuid.UUID) domain.EventData {
			return deptAdded(deptBackend, dave, true, a)
		}))},
		{"add_department_member sales ted", domain.AddDepartmentMember{DepartmentID: deptSales, UserID: ted}, byOwners(one(func(_ string, a uuid.UUID) domain.EventData {
			return deptAdded(deptSales, ted, false, a)
		}))},
		{"remove_department_member backend ted", domain.RemoveDepartmentMember{DepartmentID: deptBackend, UserID: ted}, byAdmins(one(func(_ string, a uuid.UUID) domain.EventData {
			return deptRemoved(deptBackend, ted, nil, a)
		}))},
		{"remove_department_member sales vic", domain.RemoveDepartmentMember{DepartmentID: deptSales, UserID: vic}, byOwners(one(func(_ string, a uuid.UUID) domain.EventData {
			return deptRemoved(deptSales, vic, nil, a)
		}))},
		{"set_primary_department bob backend", domain.SetPrimaryDepartment{DepartmentID: deptBackend, UserID: bob}, byAdmins(one(func(_ string, a uuid.UUID) domain.EventData {
			return domain.PrimaryDepartmentSet{OrgID: orgID, DepartmentID: deptBackend, UserID: bob, SetBy: a}
		}))},
		{"define_position", domain.DefinePosition{Name: "Manager", Rank: 5}, byOwners(one(func(k string, a uuid.UUID) domain.EventData {
			return positionDefined(domain.PositionIDFor(cid(k)), "Manager", 5, a)
		}))},
		{"update_position", domain.UpdatePosition{PositionID: posEngineer, Rank: intp(4)}, byOwners(one(func(_ string, a uuid.UUID) domain.EventData {
			return domain.PositionUpdated{OrgID: orgID, PositionID: posEngineer, Rank: intp(4), UpdatedBy: a}
		}))},
		{"delete_position", domain.DeletePosition{PositionID: posEngineer}, byOwners(one(func(_ string, a uuid.UUID) domain.EventData {
			return domain.PositionDeleted{OrgID: orgID, PositionID: posEngineer, DeletedBy: a}
		}))},
		{"assign_position bob in eng", domain.AssignPosition{UserID: bob, DepartmentID: deptEng, PositionID: posEngineer}, byAdmins(one(func(_ string, a uuid.UUID) domain.EventData {
			return positionAssigned(bob, deptEng, posEngineer, a)
		}))},
		{"assign_position vic in sales", domain.AssignPosition{UserID: vic, DepartmentID: deptSales, PositionID: posEngineer}, byOwners(one(func(_ string, a uuid.UUID) domain.EventData {
			return positionAssigned(vic, deptSales, posEngineer, a)
		}))},
		{"unassign_position ted in backend", domain.UnassignPosition{UserID: ted, DepartmentID: deptBackend}, byAdmins(one(func(_ string, a uuid.UUID) domain.EventData {
			return domain.PositionUnassigned{OrgID: orgID, UserID: ted, DepartmentID: deptBackend, UnassignedBy: a}
		}))},
		{"create_org_role", domain.CreateOrgRole{Name: "Auditor", Permissions: []string{domain.PermReadAuditLog}}, byOwners(one(func(k string, a uuid.UUID) domain.EventData {
			return roleCreated(domain.CustomOrgRoleIDFor(cid(k)), "Auditor", []string{domain.PermReadAuditLog}, a)
		}))},
		{"update_org_role", domain.UpdateOrgRole{RoleID: roleDeptAdm, Name: str("Dept admin")}, byOwners(one(func(_ string, a uuid.UUID) domain.EventData {
			return domain.OrgRoleUpdated{OrgID: orgID, RoleID: roleDeptAdm, Name: str("Dept admin"), UpdatedBy: a}
		}))},
		{"delete_org_role", domain.DeleteOrgRole{RoleID: roleDeptAdm}, byOwners(one(func(_ string, a uuid.UUID) domain.EventData {
			return domain.OrgRoleDeleted{OrgID: orgID, RoleID: roleDeptAdm, DeletedBy: a}
		}))},
		{"grant_org_role department admin to ted over backend", domain.GrantOrgRole{UserID: ted, RoleID: roleDeptAdm, DepartmentID: &deptBackend},
			byAdmins(one(func(_ string, a uuid.UUID) domain.EventData { return granted(ted, roleDeptAdm, &deptBackend, a) }))},
		{"grant_org_role department admin to vic over sales", domain.GrantOrgRole{UserID: vic, RoleID: roleDeptAdm, DepartmentID: &deptSales},
			byOwners(one(func(_ string, a uuid.UUID) domain.EventData { return granted(vic, roleDeptAdm, &deptSales, a) }))},
		{"grant_org_role admin to ted", domain.GrantOrgRole{UserID: ted, RoleID: roleAdmin},
			byOwners(one(func(_ string, a uuid.UUID) domain.EventData { return granted(ted, roleAdmin, nil, a) }))},
		{"grant_org_role owner to dave", domain.GrantOrgRole{UserID: dave, RoleID: roleOwner}, [5]outcome{
			yes(one(func(_ string, a uuid.UUID) domain.EventData { return granted(dave, roleOwner, nil, a) })),
			forbidden, forbidden, forbidden, orgNotFound}},
		{"revoke_org_role department admin of bob over eng", domain.RevokeOrgRole{UserID: bob, RoleID: roleDeptAdm, DepartmentID: &deptEng},
			byAdmins(one(func(_ string, a uuid.UUID) domain.EventData { return revoked(bob, roleDeptAdm, &deptEng, a) }))},
		{"revoke_org_role owner of alice", domain.RevokeOrgRole{UserID: alice, RoleID: roleOwner},
			[5]outcome{lastOwner, forbidden, forbidden, forbidden, orgNotFound}},
		{"broadcast_to_organization", domain.BroadcastToOrganization{Title: "All hands", Body: "Friday"}, byOwners(one(func(k string, a uuid.UUID) domain.EventData {
			return domain.OrgBroadcastSent{OrgID: orgID, BroadcastID: domain.BroadcastIDFor(cid(k)), Title: "All hands", Body: "Friday", SentBy: a, SentAt: nowUTC}
		}))},
		{"create_department_room backend", domain.CreateDepartmentRoom{DepartmentID: deptBackend, Name: "backend"}, byAdmins(one(func(_ string, a uuid.UUID) domain.EventData {
			return domain.DepartmentRoomCreated{OrgID: orgID, DepartmentID: deptBackend, RoomID: domain.DepartmentRoomIDFor(orgID, deptBackend), Name: "backend", CreatedBy: a}
		}))},
		{"create_department_room sales", domain.CreateDepartmentRoom{DepartmentID: deptSales, Name: "sales"}, byOwners(one(func(_ string, a uuid.UUID) domain.EventData {
			return domain.DepartmentRoomCreated{OrgID: orgID, DepartmentID: deptSales, RoomID: domain.DepartmentRoomIDFor(orgID, deptSales), Name: "sales", CreatedBy: a}
		}))},
		// bob's role holds no grant_proxies: org_proxies_test.go has a department admin's.
		{"authorize_proxy for ted to vic", orgProxySamplePayload(domain.CmdAuthorizeProxy), byOwners(one(func(k string, a uuid.UUID) domain.EventData {
			return authorized(k, orgProxySamplePayload(domain.CmdAuthorizeProxy).(domain.AuthorizeProxy), a)
		}))},
		{"revoke_org_proxy of ted", orgProxySamplePayload(domain.CmdRevokeOrgProxy), byOwners(one(func(k string, a uuid.UUID) domain.EventData {
			return domain.ProxyRevocationAuthorized{OrgID: orgID, AuthorizationID: domain.ProxyAuthorizationIDFor(cid(k)),
				GrantID: domain.AuthorizedProxyGrantID(sampleAuth), PrincipalID: ted, RevokedBy: a, RevokedAt: nowUTC}
		}))},
		{"record_proxy_refusal by a user", orgProxySamplePayload(domain.CmdRecordProxyRefusal),
			[5]outcome{forbidden, forbidden, forbidden, forbidden, orgNotFound}},
	}
}

func TestOrgAuthorizationMatrix(t *testing.T) {
	var cases []scenario
	for _, row := range orgRows() {
		for i, a := range orgActors {
			key := "omx/" + row.name + "/" + a.name
			w := row.want[i]
			sc := scenario{name: row.name + " by " + a.name, given: acme(), when: orgCmd(key, a.id, row.p), code: w.code}
			if w.code == "" {
				sc.then = w.then(key, a.id)
			}
			cases = append(cases, sc)
		}
	}
	runScenarios(t, domain.AggregateOrganization, orgID, cases)
}

// The invited user sees the organization for accepting or declining only.
func TestOrgInvitedMatrix(t *testing.T) {
	var cases []scenario
	for _, row := range orgRows() {
		sc := scenario{name: row.name, given: acme(), when: orgCmd("inv/"+row.name, erin, row.p), code: domain.CodeOrgNotFound}
		switch row.p.(type) {
		case domain.CreateOrganization:
			sc.code = domain.CodeSlugTaken
		case domain.AcceptOrgInvitation:
			sc.code, sc.then = "", evs(orgJoined(erin, domain.JoinedByInvitation, alice))
		case domain.DeclineOrgInvitation:
			sc.code, sc.then = "", evs(domain.OrgInvitationDeclined{OrgID: orgID, UserID: erin})
		}
		cases = append(cases, sc)
	}
	runScenarios(t, domain.AggregateOrganization, orgID, cases)
}

// An archived organization answers org_archived to its members, for everything but unarchive
// (an owner's); it stays invisible to strangers and its slug stays taken.
func TestOrgArchivedMatrix(t *testing.T) {
	var cases []scenario
	for _, row := range orgRows() {
		for _, a := range append(orgActors, actorKind{"invited", erin}) {
			sc := scenario{name: row.name + " by " + a.name, given: acme(domain.OrganizationArchived{OrgID: orgID, ArchivedBy: alice, ArchivedAt: nowUTC}),
				when: orgCmd("arch/"+row.name+"/"+a.name, a.id, row.p), code: domain.CodeOrgArchived}
			_, unarchive := row.p.(domain.UnarchiveOrganization)
			_, create := row.p.(domain.CreateOrganization)
			_, invitation := row.p.(domain.AcceptOrgInvitation)
			_, declining := row.p.(domain.DeclineOrgInvitation)
			switch {
			case create:
				sc.code = domain.CodeSlugTaken
			case a.id == carol || (a.id == erin && !invitation && !declining):
				sc.code = domain.CodeOrgNotFound
			case unarchive && a.id == alice:
				sc.code, sc.then = "", evs(domain.OrganizationUnarchived{OrgID: orgID, UnarchivedBy: alice, UnarchivedAt: nowUTC})
			case unarchive && a.id != erin:
				sc.code = domain.CodeForbidden
			}
			cases = append(cases, sc)
		}
	}
	runScenarios(t, domain.AggregateOrganization, orgID, cases)
}

// Before OrganizationCreated every command but create is org_not_found.
func TestOrgNotFoundMatrix(t *testing.T) {
	var cases []scenario
	for _, row := range orgRows() {
		if _, ok := row.p.(domain.CreateOrganization); ok {
			continue
		}
		for _, a := range orgActors {
			cases = append(cases, scenario{name: row.name + " by " + a.name, when: orgCmd("onf/"+row.name+"/"+a.name, a.id, row.p),
				code: domain.CodeOrgNotFound})
		}
	}
	runScenarios(t, domain.AggregateOrganization, orgID, cases)
}

// Every command type of an organization appears in the matrix.
func TestOrgMatrixCoversEveryOrgCommand(t *testing.T) {
	seen := map[string]bool{}
	for _, row := range orgRows() {
		seen[row.p.CommandType()] = true
	}
	for _, k := range domain.Kinds() {
		if k.Name != domain.AggregateOrganization {
			continue
		}
		for _, c := range k.Commands {
			if !seen[c.Type] {
				t.Errorf("organization command %s is not in the authorization matrix", c.Type)
			}
		}
	}
}
