package domain

import (
	"slices"
	"time"

	"github.com/google/uuid"
)

// Organization is the organization aggregate (org_types.go): its settings, its members with
// their departments, positions and role grants, its open invitations, its department tree, its
// positions and roles. Every command is authorized here, against the grants as they stand.
//
// Besides the facts the events state, it keeps indexes of them (a department's members,
// children and scoped grants, a position's holders, a role's grants, the owner count), so that
// no command costs more than what it changes: a subtree check walks parents (at most
// MaxDepartmentDepth of them), never the members.
type Organization struct {
	id          uuid.UUID
	version     int64
	created     bool
	archived    bool
	name        string
	slug        string
	description string
	timeZone    string
	createdAt   time.Time
	broadcasts  int64
	members     map[uuid.UUID]*orgMember
	invited     map[uuid.UUID]orgInvitation
	departments map[uuid.UUID]*department
	topLevel    map[uuid.UUID]bool // departments without a parent
	positions   map[uuid.UUID]*jobPosition
	roles       map[uuid.UUID]*orgRole // built-in and custom
	owners      int                    // members with the owner role
}

type orgMember struct {
	username  string
	joined    int64                   // the version of the event that made them a member
	depts     map[uuid.UUID]int64     // department -> the version of the event that put them in it
	primary   uuid.UUID               // uuid.Nil: in no department
	positions map[uuid.UUID]uuid.UUID // department -> the position held there
	grants    map[orgGrant]bool
	heads     map[uuid.UUID]bool // the departments they head
}

// orgGrant is one role granted over the organization (dept uuid.Nil) or a department's subtree.
type orgGrant struct{ role, dept uuid.UUID }

// orgInvitation is an open invitation: the name the user was invited under, and by whom.
type orgInvitation struct {
	username  string
	invitedBy uuid.UUID
}

type department struct {
	parent    uuid.UUID // uuid.Nil: at the top
	name      string
	sortOrder int
	head      uuid.UUID // uuid.Nil: none
	room      uuid.UUID // uuid.Nil: none
	children  map[uuid.UUID]bool
	members   map[uuid.UUID]bool
	grants    map[uuid.UUID]int // user -> number of their grants scoped to this department
}

type jobPosition struct {
	name    string
	rank    int
	holders map[memberIn]bool
}

// memberIn is a member within one department.
type memberIn struct{ user, dept uuid.UUID }

type orgRole struct {
	name    string
	builtin bool
	perms   []string // in the catalogue's order
	grants  map[memberIn]bool
}

// NewOrganization is the empty organization before OrganizationCreated.
func NewOrganization(id uuid.UUID) *Organization {
	return &Organization{id: id, members: map[uuid.UUID]*orgMember{}, invited: map[uuid.UUID]orgInvitation{},
		departments: map[uuid.UUID]*department{}, topLevel: map[uuid.UUID]bool{}, positions: map[uuid.UUID]*jobPosition{},
		roles: map[uuid.UUID]*orgRole{}}
}

// ---- read accessors ----

// Version is the number of events applied so far.
func (o *Organization) Version() int64 { return o.version }

// ID is the organization's id.
func (o *Organization) ID() uuid.UUID { return o.id }

// Exists tells whether the organization was created.
func (o *Organization) Exists() bool { return o.created }

// IsArchived tells whether the organization is archived (read only).
func (o *Organization) IsArchived() bool { return o.archived }

// Name is the organization's name.
func (o *Organization) Name() string { return o.name }

// Slug is the organization's unique handle.
func (o *Organization) Slug() string { return o.slug }

// Description is the organization's description.
func (o *Organization) Description() string { return o.description }

// TimeZone is the IANA name of the organization's time zone ("UTC" when none was given).
func (o *Organization) TimeZone() string { return o.timeZone }

// CreatedAt is when the organization was created.
func (o *Organization) CreatedAt() time.Time { return o.createdAt }

// Broadcasts is the number of broadcasts sent so far.
func (o *Organization) Broadcasts() int64 { return o.broadcasts }

// IsMember tells whether a user is a member.
func (o *Organization) IsMember(user uuid.UUID) bool { return o.members[user] != nil }

// Username is the name a member joined under, "" for a non-member.
func (o *Organization) Username(user uuid.UUID) string {
	if m := o.members[user]; m != nil {
		return m.username
	}
	return ""
}

// MemberCount is the number of members.
func (o *Organization) MemberCount() int { return len(o.members) }

// IsInvited tells whether a user has an open invitation.
func (o *Organization) IsInvited(user uuid.UUID) bool { _, ok := o.invited[user]; return ok }

// IsOwner tells whether a member holds the owner role.
func (o *Organization) IsOwner(user uuid.UUID) bool {
	m := o.members[user]
	return m != nil && m.grants[orgGrant{OrgRoleIDFor(o.id, RoleOwner), uuid.Nil}]
}

// OwnerCount is the number of owners.
func (o *Organization) OwnerCount() int { return o.owners }

// Holds tells whether a user holds a permission over the whole organization (dept nil) or over
// a department (by a grant over the organization, the department or one of its ancestors).
func (o *Organization) Holds(user uuid.UUID, perm string, dept *uuid.UUID) bool {
	scope := uuid.Nil
	if dept != nil {
		scope = *dept
	}
	return o.holds(user, perm, scope)
}

// DepartmentInfo is what the organization knows about one department.
type DepartmentInfo struct {
	ID        uuid.UUID
	ParentID  *uuid.UUID
	Name      string
	SortOrder int
	HeadID    *uuid.UUID
	RoomID    *uuid.UUID
	Depth     int // the number of ancestors
	Children  int
	Members   int
}

// Department tells what the organization knows about a department.
func (o *Organization) Department(id uuid.UUID) (DepartmentInfo, bool) {
	d := o.departments[id]
	if d == nil {
		return DepartmentInfo{}, false
	}
	return DepartmentInfo{ID: id, ParentID: optionalID(d.parent), Name: d.name, SortOrder: d.sortOrder,
		HeadID: optionalID(d.head), RoomID: optionalID(d.room), Depth: o.depth(id), Children: len(d.children),
		Members: len(d.members)}, true
}

// DepartmentCount is the number of departments.
func (o *Organization) DepartmentCount() int { return len(o.departments) }

// MemberDepartments lists a member's departments, in the order they were added to them.
func (o *Organization) MemberDepartments(user uuid.UUID) []uuid.UUID {
	m := o.members[user]
	if m == nil {
		return nil
	}
	out := make([]uuid.UUID, 0, len(m.depts))
	for d := range m.depts {
		out = append(out, d)
	}
	slices.SortFunc(out, m.bySince)
	return out
}

// PrimaryDepartment is a member's primary department, false when they are in none.
func (o *Organization) PrimaryDepartment(user uuid.UUID) (uuid.UUID, bool) {
	m := o.members[user]
	if m == nil || m.primary == uuid.Nil {
		return uuid.Nil, false
	}
	return m.primary, true
}

// PositionIn is the position a member holds in a department, false when none.
func (o *Organization) PositionIn(user, dept uuid.UUID) (uuid.UUID, bool) {
	m := o.members[user]
	if m == nil {
		return uuid.Nil, false
	}
	p, ok := m.positions[dept]
	return p, ok
}

// PositionInfo is a position of the organization.
type PositionInfo struct {
	ID      uuid.UUID
	Name    string
	Rank    int
	Holders int
}

// Position tells what the organization knows about a position.
func (o *Organization) Position(id uuid.UUID) (PositionInfo, bool) {
	p := o.positions[id]
	if p == nil {
		return PositionInfo{}, false
	}
	return PositionInfo{ID: id, Name: p.name, Rank: p.rank, Holders: len(p.holders)}, true
}

// OrgRoleInfo is a role of the organization.
type OrgRoleInfo struct {
	ID          uuid.UUID
	Name        string
	Builtin     bool
	Permissions []string // in the catalogue's order
	Grants      int
}

// Role tells what the organization knows about a role.
func (o *Organization) Role(id uuid.UUID) (OrgRoleInfo, bool) {
	r := o.roles[id]
	if r == nil {
		return OrgRoleInfo{}, false
	}
	return OrgRoleInfo{ID: id, Name: r.name, Builtin: r.builtin, Permissions: slices.Clone(r.perms), Grants: len(r.grants)}, true
}

// OrgGrant is a role granted to a member over the organization (DepartmentID nil) or a
// department's subtree.
type OrgGrant struct {
	RoleID       uuid.UUID
	DepartmentID *uuid.UUID
}

// Grants lists a member's grants, ordered by role and department id.
func (o *Organization) Grants(user uuid.UUID) []OrgGrant {
	m := o.members[user]
	if m == nil {
		return nil
	}
	gs := make([]orgGrant, 0, len(m.grants))
	for g := range m.grants {
		gs = append(gs, g)
	}
	slices.SortFunc(gs, func(a, b orgGrant) int {
		if c := compareIDs(a.role, b.role); c != 0 {
			return c
		}
		return compareIDs(a.dept, b.dept)
	})
	out := make([]OrgGrant, len(gs))
	for i, g := range gs {
		out[i] = OrgGrant{RoleID: g.role, DepartmentID: optionalID(g.dept)}
	}
	return out
}

func compareIDs(a, b uuid.UUID) int { return slices.Compare(a[:], b[:]) }

// optionalID is nil for uuid.Nil, else a pointer to a copy of id.
func optionalID(id uuid.UUID) *uuid.UUID {
	if id == uuid.Nil {
		return nil
	}
	return &id
}

// idOrNil is *p, uuid.Nil for nil.
func idOrNil(p *uuid.UUID) uuid.UUID {
	if p == nil {
		return uuid.Nil
	}
	return *p
}

// bySince orders a member's departments by the version that added them (the earliest first),
// then by id: the order "earliest remaining department" means.
func (m *orgMember) bySince(a, b uuid.UUID) int {
	if m.depts[a] != m.depts[b] {
		if m.depts[a] < m.depts[b] {
			return -1
		}
		return 1
	}
	return compareIDs(a, b)
}

// earliestDepartment is the member's department added earliest, leaving out one; uuid.Nil
// when there is none.
func (m *orgMember) earliestDepartment(without uuid.UUID) uuid.UUID {
	best := uuid.Nil
	for d := range m.depts {
		if d != without && (best == uuid.Nil || m.bySince(d, best) < 0) {
			best = d
		}
	}
	return best
}

// ---- the tree ----

// depth is the number of a department's ancestors.
func (o *Organization) depth(id uuid.UUID) int {
	n := 0
	for d := o.departments[id]; d != nil && d.parent != uuid.Nil && n <= MaxDepartmentDepth; d = o.departments[d.parent] {
		n++
	}
	return n
}

// within tells whether department id is ancestor or inside its subtree. It walks id's
// ancestors: at most MaxDepartmentDepth steps, whatever the size of the tree.
func (o *Organization) within(id, ancestor uuid.UUID) bool {
	for i := 0; id != uuid.Nil && i <= MaxDepartmentDepth+1; i++ {
		if id == ancestor {
			return true
		}
		d := o.departments[id]
		if d == nil {
			return false
		}
		id = d.parent
	}
	return false
}

// height is the number of levels below a department (0 for a leaf).
func (o *Organization) height(id uuid.UUID) int {
	d := o.departments[id]
	if d == nil {
		return 0
	}
	h := 0
	for c := range d.children {
		h = max(h, 1+o.height(c))
	}
	return h
}

// siblings are the departments under parent (uuid.Nil: the top).
func (o *Organization) siblings(parent uuid.UUID) map[uuid.UUID]bool {
	if parent == uuid.Nil {
		return o.topLevel
	}
	if d := o.departments[parent]; d != nil {
		return d.children
	}
	return nil
}

// ---- authorization ----

// holds tells whether user holds perm over scope: the whole organization when scope is
// uuid.Nil (only organization-wide grants count), else the department scope, by a grant over
// the organization or over scope or one of its ancestors.
func (o *Organization) holds(user uuid.UUID, perm string, scope uuid.UUID) bool {
	m := o.members[user]
	if m == nil {
		return false
	}
	for g := range m.grants {
		r := o.roles[g.role]
		if r == nil || !slices.Contains(r.perms, perm) {
			continue
		}
		if g.dept == uuid.Nil || (scope != uuid.Nil && o.within(scope, g.dept)) {
			return true
		}
	}
	return false
}

// need rejects an actor who does not hold perm over scope.
func (o *Organization) need(actor uuid.UUID, perm string, scope uuid.UUID) error {
	if o.holds(actor, perm, scope) {
		return nil
	}
	if scope == uuid.Nil {
		return reject(CodeForbidden, "this needs the %s permission over the whole organization", perm)
	}
	return reject(CodeForbidden, "this needs the %s permission over department %s", perm, scope)
}

// needAll rejects an actor who does not hold every one of perms over scope: nobody hands out,
// or takes away, more than they hold.
func (o *Organization) needAll(actor uuid.UUID, perms []string, scope uuid.UUID) error {
	for _, p := range perms {
		if !o.holds(actor, p, scope) {
			return reject(CodeForbidden, "you do not hold the %s permission you would grant or take away here", p)
		}
	}
	return nil
}

// ---- decide ----

// Decide validates an organization command against the state and returns its events: all of
// them, or a rejection. An organization a user is not a member of is invisible to them
// (org_not_found), but for accepting or declining their invitation; an archived one answers
// org_archived to everything but unarchive.
func (o *Organization) Decide(cmd Command, now time.Time) ([]Event, error) {
	switch c := cmd.Payload.(type) {
	case CreateOrganization:
		return o.create(cmd, c, now)
	case RecordProxyRefusal:
		if cmd.ActorID == SystemActorID { // the server, whom no organization counts among its members
			return o.recordProxyRefusal(cmd, c, now)
		}
	}
	if err := o.checkVisible(cmd); err != nil {
		return nil, err
	}
	switch p := cmd.Payload.(type) {
	case UpdateOrganization:
		return o.update(cmd, p, now)
	case ArchiveOrganization:
		if !o.IsOwner(cmd.ActorID) {
			return nil, reject(CodeForbidden, "only an owner can archive the organization")
		}
		return o.emit(cmd, now, OrganizationArchived{OrgID: o.id, ArchivedBy: cmd.ActorID, ArchivedAt: now.UTC()}), nil
	case UnarchiveOrganization:
		if !o.IsOwner(cmd.ActorID) {
			return nil, reject(CodeForbidden, "only an owner can unarchive the organization")
		}
		if !o.archived {
			return nil, reject(CodeValidationFailed, "the organization is not archived")
		}
		return o.emit(cmd, now, OrganizationUnarchived{OrgID: o.id, UnarchivedBy: cmd.ActorID, UnarchivedAt: now.UTC()}), nil
	case AddOrgMember:
		return o.addMember(cmd, p, now)
	case InviteOrgMember:
		return o.inviteMember(cmd, p, now)
	case AcceptOrgInvitation:
		return o.acceptInvitation(cmd, now)
	case DeclineOrgInvitation:
		return o.declineInvitation(cmd, now)
	case RemoveOrgMember:
		return o.removeMember(cmd, p, now)
	case LeaveOrganization:
		if o.IsOwner(cmd.ActorID) && o.owners == 1 {
			return nil, reject(CodeLastOwner, "the last owner cannot leave: make another member owner first")
		}
		return o.emit(cmd, now, OrgMemberRemoved{OrgID: o.id, UserID: cmd.ActorID, Username: o.Username(cmd.ActorID),
			Left: true, RemovedBy: cmd.ActorID, RemovedAt: now.UTC()}), nil
	case BroadcastToOrganization:
		return o.broadcast(cmd, p, now)
	case AuthorizeProxy:
		return o.authorizeProxy(cmd, p, now)
	case RevokeOrgProxy:
		return o.revokeOrgProxy(cmd, p, now)
	case RecordProxyRefusal:
		return nil, reject(CodeForbidden, "only the server records what a principal's proxies refused")
	default:
		return o.decideStructure(cmd, now)
	}
}

// decideStructure decides the commands on departments, positions and roles.
func (o *Organization) decideStructure(cmd Command, now time.Time) ([]Event, error) {
	switch p := cmd.Payload.(type) {
	case CreateDepartment:
		return o.createDepartment(cmd, p, now)
	case RenameDepartment:
		return o.renameDepartment(cmd, p, now)
	case MoveDepartment:
		return o.moveDepartment(cmd, p, now)
	case DeleteDepartment:
		return o.deleteDepartment(cmd, p, now)
	case SetDepartmentHead:
		return o.setHead(cmd, p, now)
	case AddDepartmentMember:
		return o.addDepartmentMember(cmd, p, now)
	case RemoveDepartmentMember:
		return o.removeDepartmentMember(cmd, p, now)
	case SetPrimaryDepartment:
		return o.setPrimary(cmd, p, now)
	case CreateDepartmentRoom:
		return o.createDepartmentRoom(cmd, p, now)
	case DefinePosition:
		return o.definePosition(cmd, p, now)
	case UpdatePosition:
		return o.updatePosition(cmd, p, now)
	case DeletePosition:
		return o.deletePosition(cmd, p, now)
	case AssignPosition:
		return o.assignPosition(cmd, p, now)
	case UnassignPosition:
		return o.unassignPosition(cmd, p, now)
	case CreateOrgRole:
		return o.createRole(cmd, p, now)
	case UpdateOrgRole:
		return o.updateRole(cmd, p, now)
	case DeleteOrgRole:
		return o.deleteRole(cmd, p, now)
	case GrantOrgRole:
		return o.grantRole(cmd, p, now)
	case RevokeOrgRole:
		return o.revokeRole(cmd, p, now)
	default:
		return nil, reject(CodeValidationFailed, "command %s does not apply to an organization", cmd.Type)
	}
}

// checkVisible rejects a command by someone the organization is invisible to, and every
// command but unarchive on an archived organization.
func (o *Organization) checkVisible(cmd Command) error {
	if !o.created {
		return reject(CodeOrgNotFound, "organization %s does not exist", cmd.AggregateID)
	}
	if !o.IsMember(cmd.ActorID) {
		switch cmd.Payload.(type) {
		case AcceptOrgInvitation, DeclineOrgInvitation:
			if o.IsInvited(cmd.ActorID) {
				break
			}
			return reject(CodeOrgNotFound, "organization %s does not exist", cmd.AggregateID)
		default:
			return reject(CodeOrgNotFound, "organization %s does not exist", cmd.AggregateID)
		}
	}
	if _, unarchive := cmd.Payload.(UnarchiveOrganization); o.archived && !unarchive {
		return reject(CodeOrgArchived, "organization %s is archived: it is read only", cmd.AggregateID)
	}
	return nil
}

// emit numbers the events of one command on from the organization's version.
func (o *Organization) emit(cmd Command, now time.Time, data ...EventData) []Event {
	return eventsOf(cmd, o.version, now, data...)
}

// member is a member of the organization, or not_a_member.
func (o *Organization) member(user uuid.UUID) (*orgMember, error) {
	if m := o.members[user]; m != nil {
		return m, nil
	}
	return nil, reject(CodeNotAMember, "user %s is not a member of this organization", user)
}

// dept is a department of the organization, or department_not_found.
func (o *Organization) dept(id uuid.UUID) (*department, error) {
	if d := o.departments[id]; d != nil {
		return d, nil
	}
	return nil, reject(CodeDepartmentNotFound, "department %s is not a department of this organization", id)
}

// optionalDept is the department p names (uuid.Nil and nil for nil), or department_not_found.
func (o *Organization) optionalDept(p *uuid.UUID) (uuid.UUID, *department, error) {
	if p == nil {
		return uuid.Nil, nil, nil
	}
	d, err := o.dept(*p)
	return *p, d, err
}
