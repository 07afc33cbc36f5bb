package domain

import (
	"time"

	"github.com/google/uuid"
)

// The organization model: an organization with its members, a tree of departments, job
// positions, roles with permissions granted to members over the whole organization or one
// department's subtree (RBAC), broadcasts and department rooms. All of it is one aggregate, the
// organization (kind "organization", its own event stream and topic, keyed by organization id),
// so that every command is authorized against the roles as they stand, by its single writer.
// This file holds its commands and events; organization.go decides and applies them.

// AggregateOrganization is the type of an organization aggregate.
const AggregateOrganization = "organization"

// Command types of an organization.
const (
	CmdCreateOrganization      = "create_organization"
	CmdUpdateOrganization      = "update_organization"
	CmdArchiveOrganization     = "archive_organization"
	CmdUnarchiveOrganization   = "unarchive_organization"
	CmdAddOrgMember            = "add_org_member"
	CmdInviteOrgMember         = "invite_org_member"
	CmdAcceptOrgInvitation     = "accept_org_invitation"
	CmdDeclineOrgInvitation    = "decline_org_invitation"
	CmdRemoveOrgMember         = "remove_org_member"
	CmdLeaveOrganization       = "leave_organization"
	CmdCreateDepartment        = "create_department"
	CmdRenameDepartment        = "rename_department"
	CmdMoveDepartment          = "move_department"
	CmdDeleteDepartment        = "delete_department"
	CmdSetDepartmentHead       = "set_department_head"
	CmdAddDepartmentMember     = "add_department_member"
	CmdRemoveDepartmentMember  = "remove_department_member"
	CmdSetPrimaryDepartment    = "set_primary_department"
	CmdDefinePosition          = "define_position"
	CmdUpdatePosition          = "update_position"
	CmdDeletePosition          = "delete_position"
	CmdAssignPosition          = "assign_position"
	CmdUnassignPosition        = "unassign_position"
	CmdCreateOrgRole           = "create_org_role"
	CmdUpdateOrgRole           = "update_org_role"
	CmdDeleteOrgRole           = "delete_org_role"
	CmdGrantOrgRole            = "grant_org_role"
	CmdRevokeOrgRole           = "revoke_org_role"
	CmdBroadcastToOrganization = "broadcast_to_organization"
	CmdCreateDepartmentRoom    = "create_department_room"
)

// Event types of an organization.
const (
	TypeOrganizationCreated     = "OrganizationCreated"
	TypeOrganizationUpdated     = "OrganizationUpdated"
	TypeOrganizationArchived    = "OrganizationArchived"
	TypeOrganizationUnarchived  = "OrganizationUnarchived"
	TypeOrgMemberInvited        = "OrgMemberInvited"
	TypeOrgInvitationDeclined   = "OrgInvitationDeclined"
	TypeOrgMemberJoined         = "OrgMemberJoined"
	TypeOrgMemberRemoved        = "OrgMemberRemoved"
	TypeDepartmentCreated       = "DepartmentCreated"
	TypeDepartmentRenamed       = "DepartmentRenamed"
	TypeDepartmentMoved         = "DepartmentMoved"
	TypeDepartmentDeleted       = "DepartmentDeleted"
	TypeDepartmentHeadSet       = "DepartmentHeadSet"
	TypeDepartmentMemberAdded   = "DepartmentMemberAdded"
	TypeDepartmentMemberRemoved = "DepartmentMemberRemoved"
	TypePrimaryDepartmentSet    = "PrimaryDepartmentSet"
	TypePositionDefined         = "PositionDefined"
	TypePositionUpdated         = "PositionUpdated"
	TypePositionDeleted         = "PositionDeleted"
	TypePositionAssigned        = "PositionAssigned"
	TypePositionUnassigned      = "PositionUnassigned"
	TypeOrgRoleCreated          = "OrgRoleCreated"
	TypeOrgRoleUpdated          = "OrgRoleUpdated"
	TypeOrgRoleDeleted          = "OrgRoleDeleted"
	TypeOrgRoleGranted          = "OrgRoleGranted"
	TypeOrgRoleRevoked          = "OrgRoleRevoked"
	TypeOrgBroadcastSent        = "OrgBroadcastSent"
	TypeDepartmentRoomCreated   = "DepartmentRoomCreated"
)

// Permissions: the fixed catalogue an organization's roles are made of.
const (
	PermManageOrganization    = "manage_organization"     // update, archive and unarchive the organization
	PermManageDepartments     = "manage_departments"      // create, rename, move and delete departments, set their heads
	PermManageMembers         = "manage_members"          // add, invite and remove members; department memberships
	PermManageRoles           = "manage_roles"            // create, change and delete custom roles; grant and revoke roles
	PermManagePositions       = "manage_positions"        // define positions, assign them
	PermCreateDepartmentRooms = "create_department_rooms" // open a department's room
	PermBroadcast             = "broadcast"               // announce something to every member
	PermReadOnlineTime        = "read_online_time"        // online-time reports
	PermGrantProxies          = "grant_proxies"           // grant proxies on behalf of other members
	PermReadAuditLog          = "read_audit_log"          // the organization's events
)

// Permissions lists the catalogue in a stable order.
var Permissions = []string{
	PermManageOrganization, PermManageDepartments, PermManageMembers, PermManageRoles, PermManagePositions,
	PermCreateDepartmentRooms, PermBroadcast, PermReadOnlineTime, PermGrantProxies, PermReadAuditLog,
}

// BuiltinOrgRoles are the roles every organization has, named as a room's roles are (RoleOwner,
// RoleAdmin, RoleMember) and with ids OrgRoleIDFor(org, name); nobody can change or delete
// them. The owner holds every permission (only owners grant or revoke it, and the last one
// stays), the admin every permission too, the member none: it is what every member is.
var BuiltinOrgRoles = []string{RoleOwner, RoleAdmin, RoleMember}

// Error codes of the organization model.
const (
	CodeOrgNotFound        = "org_not_found"
	CodeOrgArchived        = "org_archived"
	CodeSlugTaken          = "slug_taken"
	CodeDepartmentNotFound = "department_not_found"
	CodeDepartmentNotEmpty = "department_not_empty"
	CodePositionNotFound   = "position_not_found"
	CodeRoleNotFound       = "role_not_found"
	CodeNameTaken          = "name_taken"
	CodeLastOwner          = "last_owner"
)

// Limits of the organization model.
const (
	MaxOrgNameRunes        = 100
	MaxOrgDescriptionRunes = 1000
	MinSlugLength          = 3
	MaxSlugLength          = 40
	MaxDepartmentNameRunes = 100
	MaxPositionNameRunes   = 100
	MaxRoleNameRunes       = 64
	MaxBroadcastTitleRunes = 200
	MaxBroadcastBodyRunes  = 4000
	// MaxDepartmentDepth bounds the tree: a department has at most this many ancestors.
	MaxDepartmentDepth = 32
)

// CreateOrganization opens an organization whose id is OrgIDFor(Slug); the actor becomes its
// owner and first member. The slug is the organization's unique, unchanging handle.
type CreateOrganization struct {
	Name        string `json:"name"`
	Slug        string `json:"slug"`
	Description string `json:"description"`
	// TimeZone is an IANA name ("Europe/Berlin"); reports count days in it. Empty: UTC.
	TimeZone string `json:"time_zone"`
}

// UpdateOrganization changes the given settings; a nil field is left as it is.
type UpdateOrganization struct {
	Name        *string `json:"name,omitempty"`
	Description *string `json:"description,omitempty"`
	TimeZone    *string `json:"time_zone,omitempty"`
}

// ArchiveOrganization freezes an organization: every later command but unarchive is
// org_archived; it stays readable.
type ArchiveOrganization struct{}

// UnarchiveOrganization thaws an archived organization.
type UnarchiveOrganization struct{}

// AddOrgMember makes a user a member at once (manage_members).
type AddOrgMember struct {
	UserID uuid.UUID `json:"user_id"`
	// Username travels with the command, as the actor's does: events name the member.
	Username string `json:"username"`
}

// InviteOrgMember opens an invitation the user may accept or decline (manage_members).
type InviteOrgMember struct {
	UserID   uuid.UUID `json:"user_id"`
	Username string    `json:"username"`
}

// AcceptOrgInvitation makes the actor, invited, a member.
type AcceptOrgInvitation struct{}

// DeclineOrgInvitation drops the actor's invitation.
type DeclineOrgInvitation struct{}

// RemoveOrgMember ends another member's membership (manage_members), with their department
// memberships, positions, role grants and headships.
type RemoveOrgMember struct {
	UserID uuid.UUID `json:"user_id"`
}

// LeaveOrganization ends the actor's own membership.
type LeaveOrganization struct{}

// CreateDepartment adds a department under ParentID (nil: at the top of the tree). Its id is
// DepartmentIDFor(command id).
type CreateDepartment struct {
	ParentID  *uuid.UUID `json:"parent_id,omitempty"`
	Name      string     `json:"name"`
	SortOrder int        `json:"sort_order"`
}

// RenameDepartment gives a department a new name, unique among its siblings.
type RenameDepartment struct {
	DepartmentID uuid.UUID `json:"department_id"`
	Name         string    `json:"name"`
}

// MoveDepartment puts a department, with its subtree, under a new parent (nil: the top), never
// inside its own subtree; SortOrder places it among its new siblings.
type MoveDepartment struct {
	DepartmentID uuid.UUID  `json:"department_id"`
	ParentID     *uuid.UUID `json:"parent_id,omitempty"`
	SortOrder    int        `json:"sort_order"`
}

// DeleteDepartment deletes a department without sub-departments; its members fall back to its
// parent, or stay members of the organization only when it is at the top; their positions in
// it and the grants scoped to it end.
type DeleteDepartment struct {
	DepartmentID uuid.UUID `json:"department_id"`
}

// SetDepartmentHead names a department's head, a member of the department (nil: none).
type SetDepartmentHead struct {
	DepartmentID uuid.UUID  `json:"department_id"`
	UserID       *uuid.UUID `json:"user_id,omitempty"`
}

// AddDepartmentMember puts a member into a department; Primary makes it their primary one (a
// member's first department is primary whatever it says).
type AddDepartmentMember struct {
	DepartmentID uuid.UUID `json:"department_id"`
	UserID       uuid.UUID `json:"user_id"`
	Primary      bool      `json:"primary"`
}

// RemoveDepartmentMember takes a member out of a department (and the position they held
// there); if it was their primary one, their earliest remaining department becomes primary.
type RemoveDepartmentMember struct {
	DepartmentID uuid.UUID `json:"department_id"`
	UserID       uuid.UUID `json:"user_id"`
}

// SetPrimaryDepartment makes one of a member's departments their primary one (the member
// themselves, or manage_members).
type SetPrimaryDepartment struct {
	DepartmentID uuid.UUID `json:"department_id"`
	UserID       uuid.UUID `json:"user_id"`
}

// DefinePosition adds a job title to the organization; Rank orders titles (higher is more
// senior). Its id is PositionIDFor(command id).
type DefinePosition struct {
	Name string `json:"name"`
	Rank int    `json:"rank"`
}

// UpdatePosition changes a position's given fields.
type UpdatePosition struct {
	PositionID uuid.UUID `json:"position_id"`
	Name       *string   `json:"name,omitempty"`
	Rank       *int      `json:"rank,omitempty"`
}

// DeletePosition deletes a position; whoever held it holds none in that department.
type DeletePosition struct {
	PositionID uuid.UUID `json:"position_id"`
}

// AssignPosition gives a member a position within one of their departments, replacing the
// one they held there.
type AssignPosition struct {
	UserID       uuid.UUID `json:"user_id"`
	DepartmentID uuid.UUID `json:"department_id"`
	PositionID   uuid.UUID `json:"position_id"`
}

// UnassignPosition takes a member's position in a department away.
type UnassignPosition struct {
	UserID       uuid.UUID `json:"user_id"`
	DepartmentID uuid.UUID `json:"department_id"`
}

// CreateOrgRole defines a custom role: a name and a set of permissions of the catalogue, all
// of which the actor must hold over the whole organization. Its id is OrgRoleIDFor(command id).
type CreateOrgRole struct {
	Name        string   `json:"name"`
	Permissions []string `json:"permissions"`
}

// UpdateOrgRole changes a custom role's given fields (the same rule for permissions).
type UpdateOrgRole struct {
	RoleID      uuid.UUID `json:"role_id"`
	Name        *string   `json:"name,omitempty"`
	Permissions *[]string `json:"permissions,omitempty"`
}

// DeleteOrgRole deletes a custom role and ends every grant of it.
type DeleteOrgRole struct {
	RoleID uuid.UUID `json:"role_id"`
}

// GrantOrgRole grants a member a role over the whole organization (DepartmentID nil) or one
// department and its subtree. The actor needs manage_roles over that scope and must hold every
// permission of the role there; owner is granted by owners only, and only organization-wide.
type GrantOrgRole struct {
	UserID       uuid.UUID  `json:"user_id"`
	RoleID       uuid.UUID  `json:"role_id"`
	DepartmentID *uuid.UUID `json:"department_id,omitempty"`
}

// RevokeOrgRole ends one grant (the same rules as granting it; the last owner's stays).
type RevokeOrgRole struct {
	UserID       uuid.UUID  `json:"user_id"`
	RoleID       uuid.UUID  `json:"role_id"`
	DepartmentID *uuid.UUID `json:"department_id,omitempty"`
}

// BroadcastToOrganization announces something to every member (broadcast): their sockets get
// it as a system_event and it becomes a notification.
type BroadcastToOrganization struct {
	Title string `json:"title"`
	Body  string `json:"body"`
}

// CreateDepartmentRoom opens a room owned by a department (create_department_rooms over it):
// its membership follows the department's subtree. The room's id is DepartmentRoomIDFor(org,
// department); a department has at most one.
type CreateDepartmentRoom struct {
	DepartmentID uuid.UUID `json:"department_id"`
	Name         string    `json:"name"`
}

func (CreateOrganization) CommandType() string      { return CmdCreateOrganization }
func (UpdateOrganization) CommandType() string      { return CmdUpdateOrganization }
func (ArchiveOrganization) CommandType() string     { return CmdArchiveOrganization }
func (UnarchiveOrganization) CommandType() string   { return CmdUnarchiveOrganization }
func (AddOrgMember) CommandType() string            { return CmdAddOrgMember }
func (InviteOrgMember) CommandType() string         { return CmdInviteOrgMember }
func (AcceptOrgInvitation) CommandType() string     { return CmdAcceptOrgInvitation }
func (DeclineOrgInvitation) CommandType() string    { return CmdDeclineOrgInvitation }
func (RemoveOrgMember) CommandType() string         { return CmdRemoveOrgMember }
func (LeaveOrganization) CommandType() string       { return CmdLeaveOrganization }
func (CreateDepartment) CommandType() string        { return CmdCreateDepartment }
func (RenameDepartment) CommandType() string        { return CmdRenameDepartment }
func (MoveDepartment) CommandType() string          { return CmdMoveDepartment }
func (DeleteDepartment) CommandType() string        { return CmdDeleteDepartment }
func (SetDepartmentHead) CommandType() string       { return CmdSetDepartmentHead }
func (AddDepartmentMember) CommandType() string     { return CmdAddDepartmentMember }
func (RemoveDepartmentMember) CommandType() string  { return CmdRemoveDepartmentMember }
func (SetPrimaryDepartment) CommandType() string    { return CmdSetPrimaryDepartment }
func (DefinePosition) CommandType() string          { return CmdDefinePosition }
func (UpdatePosition) CommandType() string          { return CmdUpdatePosition }
func (DeletePosition) CommandType() string          { return CmdDeletePosition }
func (AssignPosition) CommandType() string          { return CmdAssignPosition }
func (UnassignPosition) CommandType() string        { return CmdUnassignPosition }
func (CreateOrgRole) CommandType() string           { return CmdCreateOrgRole }
func (UpdateOrgRole) CommandType() string           { return CmdUpdateOrgRole }
func (DeleteOrgRole) CommandType() string           { return CmdDeleteOrgRole }
func (GrantOrgRole) CommandType() string            { return CmdGrantOrgRole }
func (RevokeOrgRole) CommandType() string           { return CmdRevokeOrgRole }
func (BroadcastToOrganization) CommandType() string { return CmdBroadcastToOrganization }
func (CreateDepartmentRoom) CommandType() string    { return CmdCreateDepartmentRoom }

// OrganizationCreated opens an organization; OwnerID is its first member and owner.
type OrganizationCreated struct {
	OrgID         uuid.UUID `json:"org_id"`
	Name          string    `json:"name"`
	Slug          string    `json:"slug"`
	Description   string    `json:"description"`
	TimeZone      string    `json:"time_zone"`
	OwnerID       uuid.UUID `json:"owner_id"`
	OwnerUsername string    `json:"owner_username"`
	CreatedAt     time.Time `json:"created_at"`
}

// OrganizationUpdated changes settings; only the fields that changed are present.
type OrganizationUpdated struct {
	OrgID       uuid.UUID `json:"org_id"`
	Name        *string   `json:"name,omitempty"`
	Description *string   `json:"description,omitempty"`
	TimeZone    *string   `json:"time_zone,omitempty"`
	UpdatedBy   uuid.UUID `json:"updated_by"`
	UpdatedAt   time.Time `json:"updated_at"`
}

// OrganizationArchived freezes an organization.
type OrganizationArchived struct {
	OrgID      uuid.UUID `json:"org_id"`
	ArchivedBy uuid.UUID `json:"archived_by"`
	ArchivedAt time.Time `json:"archived_at"`
}

// OrganizationUnarchived thaws it.
type OrganizationUnarchived struct {
	OrgID        uuid.UUID `json:"org_id"`
	UnarchivedBy uuid.UUID `json:"unarchived_by"`
	UnarchivedAt time.Time `json:"unarchived_at"`
}

// OrgMemberInvited opens an invitation.
type OrgMemberInvited struct {
	OrgID     uuid.UUID `json:"org_id"`
	UserID    uuid.UUID `json:"user_id"`
	Username  string    `json:"username"`
	InvitedBy uuid.UUID `json:"invited_by"`
	InvitedAt time.Time `json:"invited_at"`
}

// OrgInvitationDeclined drops an invitation.
type OrgInvitationDeclined struct {
	OrgID  uuid.UUID `json:"org_id"`
	UserID uuid.UUID `json:"user_id"`
}

// Ways to join an organization (OrgMemberJoined.Via).
const (
	JoinedAsCreator    = "created"
	JoinedByAdding     = "added"
	JoinedByInvitation = "invitation"
)

// OrgMemberJoined adds a member (and consumes their invitation, if any). The creator joins
// with OrganizationCreated's event list, Via "created", and the owner role.
type OrgMemberJoined struct {
	OrgID    uuid.UUID `json:"org_id"`
	UserID   uuid.UUID `json:"user_id"`
	Username string    `json:"username"`
	Via      string    `json:"via"`
	AddedBy  uuid.UUID `json:"added_by"`
	JoinedAt time.Time `json:"joined_at"`
}

// OrgMemberRemoved ends a membership (Left: the member left by themselves), and with it the
// member's department memberships, positions, role grants and headships.
type OrgMemberRemoved struct {
	OrgID     uuid.UUID `json:"org_id"`
	UserID    uuid.UUID `json:"user_id"`
	Username  string    `json:"username"`
	Left      bool      `json:"left"`
	RemovedBy uuid.UUID `json:"removed_by"`
	RemovedAt time.Time `json:"removed_at"`
}

// DepartmentCreated adds a department.
type DepartmentCreated struct {
	OrgID        uuid.UUID  `json:"org_id"`
	DepartmentID uuid.UUID  `json:"department_id"`
	ParentID     *uuid.UUID `json:"parent_id"`
	Name         string     `json:"name"`
	SortOrder    int        `json:"sort_order"`
	CreatedBy    uuid.UUID  `json:"created_by"`
	CreatedAt    time.Time  `json:"created_at"`
}

// DepartmentRenamed renames a department.
type DepartmentRenamed struct {
	OrgID        uuid.UUID `json:"org_id"`
	DepartmentID uuid.UUID `json:"department_id"`
	Name         string    `json:"name"`
	RenamedBy    uuid.UUID `json:"renamed_by"`
}

// DepartmentMoved puts a department and its subtree under a new parent.
type DepartmentMoved struct {
	OrgID        uuid.UUID  `json:"org_id"`
	DepartmentID uuid.UUID  `json:"department_id"`
	FromParentID *uuid.UUID `json:"from_parent_id"`
	ParentID     *uuid.UUID `json:"parent_id"`
	SortOrder    int        `json:"sort_order"`
	MovedBy      uuid.UUID  `json:"moved_by"`
}

// DepartmentDeleted deletes a department without sub-departments. Its members are members of
// ParentID from now on (those already there keep what they had there), their positions in it
// end, and so do the grants scoped to it and its room's link (the room stays, unmanaged).
type DepartmentDeleted struct {
	OrgID        uuid.UUID  `json:"org_id"`
	DepartmentID uuid.UUID  `json:"department_id"`
	ParentID     *uuid.UUID `json:"parent_id"`
	DeletedBy    uuid.UUID  `json:"deleted_by"`
	DeletedAt    time.Time  `json:"deleted_at"`
}

// DepartmentHeadSet names a department's head (UserID nil: none).
type DepartmentHeadSet struct {
	OrgID        uuid.UUID  `json:"org_id"`
	DepartmentID uuid.UUID  `json:"department_id"`
	UserID       *uuid.UUID `json:"user_id"`
	SetBy        uuid.UUID  `json:"set_by"`
}

// DepartmentMemberAdded puts a member into a department.
type DepartmentMemberAdded struct {
	OrgID        uuid.UUID `json:"org_id"`
	DepartmentID uuid.UUID `json:"department_id"`
	UserID       uuid.UUID `json:"user_id"`
	Primary      bool      `json:"primary"`
	AddedBy      uuid.UUID `json:"added_by"`
	AddedAt      time.Time `json:"added_at"`
}

// DepartmentMemberRemoved takes a member out of a department (and their position there).
// NewPrimaryID is their primary department from now on when this one was it (nil: none left).
type DepartmentMemberRemoved struct {
	OrgID        uuid.UUID  `json:"org_id"`
	DepartmentID uuid.UUID  `json:"department_id"`
	UserID       uuid.UUID  `json:"user_id"`
	NewPrimaryID *uuid.UUID `json:"new_primary_id"`
	RemovedBy    uuid.UUID  `json:"removed_by"`
}

// PrimaryDepartmentSet makes one of a member's departments their primary one.
type PrimaryDepartmentSet struct {
	OrgID        uuid.UUID `json:"org_id"`
	DepartmentID uuid.UUID `json:"department_id"`
	UserID       uuid.UUID `json:"user_id"`
	SetBy        uuid.UUID `json:"set_by"`
}

// PositionDefined adds a job title.
type PositionDefined struct {
	OrgID      uuid.UUID `json:"org_id"`
	PositionID uuid.UUID `json:"position_id"`
	Name       string    `json:"name"`
	Rank       int       `json:"rank"`
	DefinedBy  uuid.UUID `json:"defined_by"`
}

// PositionUpdated changes a title; only the fields that changed are present.
type PositionUpdated struct {
	OrgID      uuid.UUID `json:"org_id"`
	PositionID uuid.UUID `json:"position_id"`
	Name       *string   `json:"name,omitempty"`
	Rank       *int      `json:"rank,omitempty"`
	UpdatedBy  uuid.UUID `json:"updated_by"`
}

// PositionDeleted deletes a title; every assignment of it ends.
type PositionDeleted struct {
	OrgID      uuid.UUID `json:"org_id"`
	PositionID uuid.UUID `json:"position_id"`
	DeletedBy  uuid.UUID `json:"deleted_by"`
}

// PositionAssigned gives a member a position within a department (replacing theirs there).
type PositionAssigned struct {
	OrgID        uuid.UUID `json:"org_id"`
	UserID       uuid.UUID `json:"user_id"`
	DepartmentID uuid.UUID `json:"department_id"`
	PositionID   uuid.UUID `json:"position_id"`
	AssignedBy   uuid.UUID `json:"assigned_by"`
}

// PositionUnassigned takes a member's position in a department away.
type PositionUnassigned struct {
	OrgID        uuid.UUID `json:"org_id"`
	UserID       uuid.UUID `json:"user_id"`
	DepartmentID uuid.UUID `json:"department_id"`
	UnassignedBy uuid.UUID `json:"unassigned_by"`
}

// OrgRoleCreated defines a custom role.
type OrgRoleCreated struct {
	OrgID       uuid.UUID `json:"org_id"`
	RoleID      uuid.UUID `json:"role_id"`
	Name        string    `json:"name"`
	Permissions []string  `json:"permissions"`
	CreatedBy   uuid.UUID `json:"created_by"`
}

// OrgRoleUpdated changes a custom role; only the fields that changed are present.
type OrgRoleUpdated struct {
	OrgID       uuid.UUID `json:"org_id"`
	RoleID      uuid.UUID `json:"role_id"`
	Name        *string   `json:"name,omitempty"`
	Permissions *[]string `json:"permissions,omitempty"`
	UpdatedBy   uuid.UUID `json:"updated_by"`
}

// OrgRoleDeleted deletes a custom role and every grant of it.
type OrgRoleDeleted struct {
	OrgID     uuid.UUID `json:"org_id"`
	RoleID    uuid.UUID `json:"role_id"`
	DeletedBy uuid.UUID `json:"deleted_by"`
}

// OrgRoleGranted grants a member a role over the organization (DepartmentID nil) or a
// department's subtree. The built-in roles have the ids OrgRoleIDFor(org, RoleOwner) and so on.
type OrgRoleGranted struct {
	OrgID        uuid.UUID  `json:"org_id"`
	UserID       uuid.UUID  `json:"user_id"`
	RoleID       uuid.UUID  `json:"role_id"`
	DepartmentID *uuid.UUID `json:"department_id"`
	GrantedBy    uuid.UUID  `json:"granted_by"`
}

// OrgRoleRevoked ends one grant.
type OrgRoleRevoked struct {
	OrgID        uuid.UUID  `json:"org_id"`
	UserID       uuid.UUID  `json:"user_id"`
	RoleID       uuid.UUID  `json:"role_id"`
	DepartmentID *uuid.UUID `json:"department_id"`
	RevokedBy    uuid.UUID  `json:"revoked_by"`
}

// OrgBroadcastSent is one announcement to every member.
type OrgBroadcastSent struct {
	OrgID       uuid.UUID `json:"org_id"`
	BroadcastID uuid.UUID `json:"broadcast_id"`
	Title       string    `json:"title"`
	Body        string    `json:"body"`
	SentBy      uuid.UUID `json:"sent_by"`
	SentAt      time.Time `json:"sent_at"`
}

// DepartmentRoomCreated links a new room to a department: a process manager creates the room
// and keeps its membership equal to the department's subtree.
type DepartmentRoomCreated struct {
	OrgID        uuid.UUID `json:"org_id"`
	DepartmentID uuid.UUID `json:"department_id"`
	RoomID       uuid.UUID `json:"room_id"`
	Name         string    `json:"name"`
	CreatedBy    uuid.UUID `json:"created_by"`
}

func (OrganizationCreated) EventType() string     { return TypeOrganizationCreated }
func (OrganizationUpdated) EventType() string     { return TypeOrganizationUpdated }
func (OrganizationArchived) EventType() string    { return TypeOrganizationArchived }
func (OrganizationUnarchived) EventType() string  { return TypeOrganizationUnarchived }
func (OrgMemberInvited) EventType() string        { return TypeOrgMemberInvited }
func (OrgInvitationDeclined) EventType() string   { return TypeOrgInvitationDeclined }
func (OrgMemberJoined) EventType() string         { return TypeOrgMemberJoined }
func (OrgMemberRemoved) EventType() string        { return TypeOrgMemberRemoved }
func (DepartmentCreated) EventType() string       { return TypeDepartmentCreated }
func (DepartmentRenamed) EventType() string       { return TypeDepartmentRenamed }
func (DepartmentMoved) EventType() string         { return TypeDepartmentMoved }
func (DepartmentDeleted) EventType() string       { return TypeDepartmentDeleted }
func (DepartmentHeadSet) EventType() string       { return TypeDepartmentHeadSet }
func (DepartmentMemberAdded) EventType() string   { return TypeDepartmentMemberAdded }
func (DepartmentMemberRemoved) EventType() string { return TypeDepartmentMemberRemoved }
func (PrimaryDepartmentSet) EventType() string    { return TypePrimaryDepartmentSet }
func (PositionDefined) EventType() string         { return TypePositionDefined }
func (PositionUpdated) EventType() string         { return TypePositionUpdated }
func (PositionDeleted) EventType() string         { return TypePositionDeleted }
func (PositionAssigned) EventType() string        { return TypePositionAssigned }
func (PositionUnassigned) EventType() string      { return TypePositionUnassigned }
func (OrgRoleCreated) EventType() string          { return TypeOrgRoleCreated }
func (OrgRoleUpdated) EventType() string          { return TypeOrgRoleUpdated }
func (OrgRoleDeleted) EventType() string          { return TypeOrgRoleDeleted }
func (OrgRoleGranted) EventType() string          { return TypeOrgRoleGranted }
func (OrgRoleRevoked) EventType() string          { return TypeOrgRoleRevoked }
func (OrgBroadcastSent) EventType() string        { return TypeOrgBroadcastSent }
func (DepartmentRoomCreated) EventType() string   { return TypeDepartmentRoomCreated }
