package domain

import (
	"strings"

	"github.com/google/uuid"
)

// Namespaces of the organization model's name-based ids.
var (
	namespaceOrg            = uuid.MustParse("181f20f0-0cb2-40d7-869d-f37d8509b13d")
	namespaceDepartment     = uuid.MustParse("7986620e-7c75-4731-897a-2380c217f49a")
	namespacePosition       = uuid.MustParse("a6f33d44-efc8-415d-87f8-915dbc5bd17e")
	namespaceOrgRole        = uuid.MustParse("3637915c-834b-458d-8d88-1837cf8a0b2f")
	namespaceBroadcast      = uuid.MustParse("7ccc8e5d-d4d4-48fe-bc7c-bf78c6107a3e")
	namespaceDepartmentRoom = uuid.MustParse("f33e18c0-65e1-4873-9491-3fad31788712")
)

// OrgIDFor is the id of the organization with slug. Slugs are unique without regard to case,
// as usernames are: every creation of one slug is routed to one aggregate, whose single
// writer decides who got it first (slug_taken for the others).
func OrgIDFor(slug string) uuid.UUID {
	return uuid.NewSHA1(namespaceOrg, []byte(strings.ToLower(slug)))
}

// DepartmentIDFor is the id of the department a create_department command creates.
func DepartmentIDFor(commandID uuid.UUID) uuid.UUID {
	return uuid.NewSHA1(namespaceDepartment, commandID[:])
}

// PositionIDFor is the id of the position a define_position command defines.
func PositionIDFor(commandID uuid.UUID) uuid.UUID {
	return uuid.NewSHA1(namespacePosition, commandID[:])
}

// OrgRoleIDFor is the id of an organization's built-in role (RoleOwner, RoleAdmin, RoleMember).
func OrgRoleIDFor(orgID uuid.UUID, builtin string) uuid.UUID {
	return uuid.NewSHA1(namespaceOrgRole, append(orgID[:], builtin...))
}

// CustomOrgRoleIDFor is the id of the role a create_org_role command creates.
func CustomOrgRoleIDFor(commandID uuid.UUID) uuid.UUID {
	return uuid.NewSHA1(namespaceOrgRole, commandID[:])
}

// BroadcastIDFor is the id of the broadcast a broadcast_to_organization command sends.
func BroadcastIDFor(commandID uuid.UUID) uuid.UUID {
	return uuid.NewSHA1(namespaceBroadcast, commandID[:])
}

// DepartmentRoomIDFor is the id of a department's room: a department has at most one, and
// the process manager that creates it, however often it runs, addresses the same room.
func DepartmentRoomIDFor(orgID, departmentID uuid.UUID) uuid.UUID {
	return uuid.NewSHA1(namespaceDepartmentRoom, append(orgID[:], departmentID[:]...))
}
