package domain_test

import (
	"testing"

	"github.com/google/uuid"

	"github.com/chorus-chat/chorus/domain"
)

// The fixture organization "acme": alice owns it, dave is an org admin, bob is a department
// admin (the custom role "Department admin") over eng and its subtree, ted is a plain member in
// eng/backend (an engineer there), vic a plain member in sales, erin is invited, carol and uma
// are strangers.
var (
	orgID       = domain.OrgIDFor("acme")
	deptEng     = domain.DepartmentIDFor(cid("dept:eng"))
	deptBackend = domain.DepartmentIDFor(cid("dept:backend"))
	deptSales   = domain.DepartmentIDFor(cid("dept:sales"))
	posEngineer = domain.PositionIDFor(cid("pos:engineer"))
	roleDeptAdm = domain.CustomOrgRoleIDFor(cid("role:deptadmin"))
	roleOwner   = domain.OrgRoleIDFor(orgID, domain.RoleOwner)
	roleAdmin   = domain.OrgRoleIDFor(orgID, domain.RoleAdmin)
	roleMember  = domain.OrgRoleIDFor(orgID, domain.RoleMember)

	deptAdminPerms = []string{domain.PermManageDepartments, domain.PermManageMembers, domain.PermManageRoles,
		domain.PermManagePositions, domain.PermCreateDepartmentRooms}
)

// orgCmd is a command on the fixture organization by actor, with id cid(key).
func orgCmd(key string, actor uuid.UUID, p domain.CommandData) domain.Command {
	return domain.NewCommand(cid(key), orgID, actor, names[actor], now, p)
}

func orgCreated() domain.OrganizationCreated {
	return domain.OrganizationCreated{OrgID: orgID, Name: "Acme", Slug: "acme", Description: "we make things",
		TimeZone: "Europe/Berlin", OwnerID: alice, OwnerUsername: "alice", CreatedAt: nowUTC}
}

func orgJoined(user uuid.UUID, via string, by uuid.UUID) domain.OrgMemberJoined {
	return domain.OrgMemberJoined{OrgID: orgID, UserID: user, Username: names[user], Via: via, AddedBy: by, JoinedAt: nowUTC}
}

func orgRemoved(user uuid.UUID, left bool, by uuid.UUID) domain.OrgMemberRemoved {
	return domain.OrgMemberRemoved{OrgID: orgID, UserID: user, Username: names[user], Left: left, RemovedBy: by, RemovedAt: nowUTC}
}

func orgInvited(user, by uuid.UUID) domain.OrgMemberInvited {
	return domain.OrgMemberInvited{OrgID: orgID, UserID: user, Username: names[user], InvitedBy: by, InvitedAt: nowUTC}
}

func granted(user, role uuid.UUID, dept *uuid.UUID, by uuid.UUID) domain.OrgRoleGranted {
	return domain.OrgRoleGranted{OrgID: orgID, UserID: user, RoleID: role, DepartmentID: dept, GrantedBy: by}
}

func revoked(user, role uuid.UUID, dept *uuid.UUID, by uuid.UUID) domain.OrgRoleRevoked {
	return domain.OrgRoleRevoked{OrgID: orgID, UserID: user, RoleID: role, DepartmentID: dept, RevokedBy: by}
}

func deptCreated(id uuid.UUID, parent *uuid.UUID, name string, sort int, by uuid.UUID) domain.DepartmentCreated {
	return domain.DepartmentCreated{OrgID: orgID, DepartmentID: id, ParentID: parent, Name: name, SortOrder: sort,
		CreatedBy: by, CreatedAt: nowUTC}
}

func deptDeleted(id uuid.UUID, parent *uuid.UUID, by uuid.UUID) domain.DepartmentDeleted {
	return domain.DepartmentDeleted{OrgID: orgID, DepartmentID: id, ParentID: parent, DeletedBy: by, DeletedAt: nowUTC}
}

func deptAdded(dept, user uuid.UUID, primary bool, by uuid.UUID) domain.DepartmentMemberAdded {
	return domain.DepartmentMemberAdded{OrgID: orgID, DepartmentID: dept, UserID: user, Primary: primary, AddedBy: by, AddedAt: nowUTC}
}

func deptRemoved(dept, user uuid.UUID, next *uuid.UUID, by uuid.UUID) domain.DepartmentMemberRemoved {
	return domain.DepartmentMemberRemoved{OrgID: orgID, DepartmentID: dept, UserID: user, NewPrimaryID: next, RemovedBy: by}
}

func positionDefined(id uuid.UUID, name string, rank int, by uuid.UUID) domain.PositionDefined {
	return domain.PositionDefined{OrgID: orgID, PositionID: id, Name: name, Rank: rank, DefinedBy: by}
}

func positionAssigned(user, dept, pos, by uuid.UUID) domain.PositionAssigned {
	return domain.PositionAssigned{OrgID: orgID, UserID: user, DepartmentID: dept, PositionID: pos, AssignedBy: by}
}

func roleCreated(id uuid.UUID, name string, perms []string, by uuid.UUID) domain.OrgRoleCreated {
	return domain.OrgRoleCreated{OrgID: orgID, RoleID: id, Name: name, Permissions: perms, CreatedBy: by}
}

// newOrg is the bare organization: created by alice, its owner (versions 1 to 3).
func newOrg(more ...domain.EventData) []domain.EventData {
	return append([]domain.EventData{orgCreated(), orgJoined(alice, domain.JoinedAsCreator, alice),
		granted(alice, roleOwner, nil, alice)}, more...)
}

// acme is the fixture organization (see above).
func acme(more ...domain.EventData) []domain.EventData {
	return append(newOrg(
		orgJoined(dave, domain.JoinedByAdding, alice),
		granted(dave, roleAdmin, nil, alice),
		orgJoined(bob, domain.JoinedByAdding, alice),
		orgJoined(ted, domain.JoinedByAdding, alice),
		orgJoined(vic, domain.JoinedByAdding, alice),
		deptCreated(deptEng, nil, "Engineering", 1, alice),
		deptCreated(deptBackend, &deptEng, "Backend", 1, alice),
		deptCreated(deptSales, nil, "Sales", 2, alice),
		roleCreated(roleDeptAdm, "Department admin", deptAdminPerms, alice),
		granted(bob, roleDeptAdm, &deptEng, alice),
		deptAdded(deptEng, bob, true, alice),
		deptAdded(deptBackend, bob, false, alice),
		deptAdded(deptBackend, ted, true, alice),
		deptAdded(deptSales, vic, true, alice),
		positionDefined(posEngineer, "Engineer", 3, alice),
		positionAssigned(ted, deptBackend, posEngineer, alice),
		orgInvited(erin, alice),
	), more...)
}

// orgOf is the organization after the given events.
func orgOf(t testing.TB, given ...domain.EventData) *domain.Organization {
	t.Helper()
	o, ok := build(domain.AggregateOrganization, orgID, given...).(*domain.Organization)
	if !ok {
		t.Fatal("NewAggregate(organization) is not a *domain.Organization")
	}
	return o
}

// orgSampleData is one event of every organization type, for the JSON tests (sampleEvents).
func orgSampleData() map[string]domain.EventData {
	out := map[string]domain.EventData{
		"OrganizationCreated": orgCreated(),
		"OrganizationUpdated": domain.OrganizationUpdated{OrgID: orgID, Name: str("Acme Inc"), TimeZone: str("UTC"),
			UpdatedBy: alice, UpdatedAt: nowUTC},
		"OrganizationArchived":   domain.OrganizationArchived{OrgID: orgID, ArchivedBy: alice, ArchivedAt: nowUTC},
		"OrganizationUnarchived": domain.OrganizationUnarchived{OrgID: orgID, UnarchivedBy: alice, UnarchivedAt: nowUTC},
		"OrgMemberInvited":       orgInvited(erin, alice),
		"OrgInvitationDeclined":  domain.OrgInvitationDeclined{OrgID: orgID, UserID: erin},
		"OrgMemberJoined":        orgJoined(bob, domain.JoinedByAdding, alice),
		"OrgMemberRemoved":       orgRemoved(ted, false, dave),
		"DepartmentCreated":      deptCreated(deptBackend, &deptEng, "Backend", 1, alice),
		"DepartmentCreated top":  deptCreated(deptEng, nil, "Engineering", 0, alice),
		"DepartmentRenamed":      domain.DepartmentRenamed{OrgID: orgID, DepartmentID: deptBackend, Name: "Platform", RenamedBy: bob},
		"DepartmentMoved": domain.DepartmentMoved{OrgID: orgID, DepartmentID: deptBackend, FromParentID: &deptEng,
			ParentID: nil, SortOrder: 3, MovedBy: dave},
		"DepartmentDeleted":       deptDeleted(deptBackend, &deptEng, bob),
		"DepartmentHeadSet":       domain.DepartmentHeadSet{OrgID: orgID, DepartmentID: deptBackend, UserID: &ted, SetBy: bob},
		"DepartmentHeadSet none":  domain.DepartmentHeadSet{OrgID: orgID, DepartmentID: deptBackend, SetBy: bob},
		"DepartmentMemberAdded":   deptAdded(deptBackend, ted, true, bob),
		"DepartmentMemberRemoved": deptRemoved(deptBackend, bob, &deptEng, bob),
		"PrimaryDepartmentSet":    domain.PrimaryDepartmentSet{OrgID: orgID, DepartmentID: deptBackend, UserID: bob, SetBy: bob},
		"PositionDefined":         positionDefined(posEngineer, "Engineer", 3, alice),
		"PositionUpdated":         domain.PositionUpdated{OrgID: orgID, PositionID: posEngineer, Rank: intp(4), UpdatedBy: dave},
		"PositionDeleted":         domain.PositionDeleted{OrgID: orgID, PositionID: posEngineer, DeletedBy: dave},
		"PositionAssigned":        positionAssigned(ted, deptBackend, posEngineer, bob),
		"PositionUnassigned": domain.PositionUnassigned{OrgID: orgID, UserID: ted, DepartmentID: deptBackend,
			UnassignedBy: bob},
		"OrgRoleCreated": roleCreated(roleDeptAdm, "Department admin", deptAdminPerms, alice),
		"OrgRoleUpdated": domain.OrgRoleUpdated{OrgID: orgID, RoleID: roleDeptAdm, Name: str("Dept admin"),
			Permissions: &[]string{domain.PermManageMembers}, UpdatedBy: alice},
		"OrgRoleDeleted":       domain.OrgRoleDeleted{OrgID: orgID, RoleID: roleDeptAdm, DeletedBy: alice},
		"OrgRoleGranted":       granted(bob, roleDeptAdm, &deptEng, alice),
		"OrgRoleGranted owner": granted(dave, roleOwner, nil, alice),
		"OrgRoleRevoked":       revoked(bob, roleDeptAdm, &deptEng, dave),
		"OrgBroadcastSent": domain.OrgBroadcastSent{OrgID: orgID, BroadcastID: domain.BroadcastIDFor(cid("bc")),
			Title: "All hands", Body: "Friday 10:00, 界", SentBy: alice, SentAt: nowUTC},
		"DepartmentRoomCreated": domain.DepartmentRoomCreated{OrgID: orgID, DepartmentID: deptBackend,
			RoomID: domain.DepartmentRoomIDFor(orgID, deptBackend), Name: "backend", CreatedBy: bob},
	}
	for name, d := range orgProxySampleData() {
		out[name] = d
	}
	return out
}

// isOrgEventType tells whether typ is an event type of the organization.
func isOrgEventType(typ string) bool {
	for _, d := range orgSampleData() {
		if d.EventType() == typ {
			return true
		}
	}
	return false
}

// orgCommandTypes lists the organization's command types.
var orgCommandTypes = []string{
	domain.CmdCreateOrganization, domain.CmdUpdateOrganization, domain.CmdArchiveOrganization,
	domain.CmdUnarchiveOrganization, domain.CmdAddOrgMember, domain.CmdInviteOrgMember, domain.CmdAcceptOrgInvitation,
	domain.CmdDeclineOrgInvitation, domain.CmdRemoveOrgMember, domain.CmdLeaveOrganization, domain.CmdCreateDepartment,
	domain.CmdRenameDepartment, domain.CmdMoveDepartment, domain.CmdDeleteDepartment, domain.CmdSetDepartmentHead,
	domain.CmdAddDepartmentMember, domain.CmdRemoveDepartmentMember, domain.CmdSetPrimaryDepartment,
	domain.CmdDefinePosition, domain.CmdUpdatePosition, domain.CmdDeletePosition, domain.CmdAssignPosition,
	domain.CmdUnassignPosition, domain.CmdCreateOrgRole, domain.CmdUpdateOrgRole, domain.CmdDeleteOrgRole,
	domain.CmdGrantOrgRole, domain.CmdRevokeOrgRole, domain.CmdBroadcastToOrganization, domain.CmdCreateDepartmentRoom,
	domain.CmdAuthorizeProxy, domain.CmdRevokeOrgProxy, domain.CmdRecordProxyRefusal,
}

// orgSamplePayload is a payload of an organization command type, with every field set.
func orgSamplePayload(typ string) domain.CommandData {
	if p := orgProxySamplePayload(typ); p != nil {
		return p
	}
	return map[string]domain.CommandData{
		domain.CmdCreateOrganization:      domain.CreateOrganization{Name: "Acme", Slug: "acme", Description: "d", TimeZone: "Asia/Tokyo"},
		domain.CmdUpdateOrganization:      domain.UpdateOrganization{Name: str("A"), Description: str(""), TimeZone: str("UTC")},
		domain.CmdArchiveOrganization:     domain.ArchiveOrganization{},
		domain.CmdUnarchiveOrganization:   domain.UnarchiveOrganization{},
		domain.CmdAddOrgMember:            domain.AddOrgMember{UserID: uma, Username: "uma"},
		domain.CmdInviteOrgMember:         domain.InviteOrgMember{UserID: uma, Username: "uma"},
		domain.CmdAcceptOrgInvitation:     domain.AcceptOrgInvitation{},
		domain.CmdDeclineOrgInvitation:    domain.DeclineOrgInvitation{},
		domain.CmdRemoveOrgMember:         domain.RemoveOrgMember{UserID: ted},
		domain.CmdLeaveOrganization:       domain.LeaveOrganization{},
		domain.CmdCreateDepartment:        domain.CreateDepartment{ParentID: &deptEng, Name: "QA", SortOrder: 2},
		domain.CmdRenameDepartment:        domain.RenameDepartment{DepartmentID: deptBackend, Name: "Platform"},
		domain.CmdMoveDepartment:          domain.MoveDepartment{DepartmentID: deptBackend, ParentID: &deptSales, SortOrder: 1},
		domain.CmdDeleteDepartment:        domain.DeleteDepartment{DepartmentID: deptBackend},
		domain.CmdSetDepartmentHead:       domain.SetDepartmentHead{DepartmentID: deptBackend, UserID: &ted},
		domain.CmdAddDepartmentMember:     domain.AddDepartmentMember{DepartmentID: deptBackend, UserID: dave, Primary: true},
		domain.CmdRemoveDepartmentMember:  domain.RemoveDepartmentMember{DepartmentID: deptBackend, UserID: ted},
		domain.CmdSetPrimaryDepartment:    domain.SetPrimaryDepartment{DepartmentID: deptBackend, UserID: bob},
		domain.CmdDefinePosition:          domain.DefinePosition{Name: "Manager", Rank: 5},
		domain.CmdUpdatePosition:          domain.UpdatePosition{PositionID: posEngineer, Name: str("Engineer II"), Rank: intp(4)},
		domain.CmdDeletePosition:          domain.DeletePosition{PositionID: posEngineer},
		domain.CmdAssignPosition:          domain.AssignPosition{UserID: bob, DepartmentID: deptEng, PositionID: posEngineer},
		domain.CmdUnassignPosition:        domain.UnassignPosition{UserID: ted, DepartmentID: deptBackend},
		domain.CmdCreateOrgRole:           domain.CreateOrgRole{Name: "Auditor", Permissions: []string{domain.PermReadAuditLog}},
		domain.CmdUpdateOrgRole:           domain.UpdateOrgRole{RoleID: roleDeptAdm, Name: str("Dept admin"), Permissions: &[]string{}},
		domain.CmdDeleteOrgRole:           domain.DeleteOrgRole{RoleID: roleDeptAdm},
		domain.CmdGrantOrgRole:            domain.GrantOrgRole{UserID: ted, RoleID: roleDeptAdm, DepartmentID: &deptBackend},
		domain.CmdRevokeOrgRole:           domain.RevokeOrgRole{UserID: bob, RoleID: roleDeptAdm, DepartmentID: &deptEng},
		domain.CmdBroadcastToOrganization: domain.BroadcastToOrganization{Title: "All hands", Body: "Friday"},
		domain.CmdCreateDepartmentRoom:    domain.CreateDepartmentRoom{DepartmentID: deptBackend, Name: "backend"},
	}[typ]
}

func intp(i int) *int { return &i }
