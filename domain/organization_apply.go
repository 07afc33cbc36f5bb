package domain

import (
	"github.com/google/uuid"
)

// Apply folds an organization event into the state. It never fails: an event that does not
// fit the state (which Decide would not have produced) is folded as far as it goes.
//
// The derived effects, which a projection of these events computes the same way
// (docs/events.md):
//   - OrgMemberRemoved ends the member's department memberships, positions, grants and
//     headships;
//   - DepartmentMemberRemoved ends the position held there and the headship of it; the
//     member's primary department becomes NewPrimaryID when it was the removed one;
//   - DepartmentDeleted: each of its members becomes a member of the parent (added by this
//     event, unless they were one already: then they keep what they had there), their primary
//     department moving to the parent when it was the deleted one; at the top, their membership
//     of it just ends and, if it was primary, the remaining department they were added to
//     earliest (by the version of the event that added them, then by id) becomes primary. Their
//     positions in it, the grants scoped to it, its headship and its room link end;
//   - PositionDeleted ends its assignments, OrgRoleDeleted the role's grants;
//   - a member's first department is primary (DepartmentMemberAdded says so: Primary is true).
func (o *Organization) Apply(e Event) {
	o.version = e.Version
	switch d := e.Data.(type) {
	case OrganizationCreated:
		o.created, o.name, o.slug, o.description, o.timeZone, o.createdAt = true, d.Name, d.Slug, d.Description, d.TimeZone, d.CreatedAt
		o.initBuiltins()
	case OrganizationUpdated:
		if d.Name != nil {
			o.name = *d.Name
		}
		if d.Description != nil {
			o.description = *d.Description
		}
		if d.TimeZone != nil {
			o.timeZone = *d.TimeZone
		}
	case OrganizationArchived:
		o.archived = true
	case OrganizationUnarchived:
		o.archived = false
	case OrgMemberInvited:
		o.invited[d.UserID] = orgInvitation{username: d.Username, invitedBy: d.InvitedBy}
	case OrgInvitationDeclined:
		delete(o.invited, d.UserID)
	case OrgMemberJoined:
		o.joinMember(d.UserID, d.Username, e.Version)
	case OrgMemberRemoved:
		o.dropMember(d.UserID)
	case OrgBroadcastSent:
		o.broadcasts++
	default:
		o.applyStructure(e)
	}
}

// applyStructure folds the events of departments, positions and roles.
func (o *Organization) applyStructure(e Event) {
	switch d := e.Data.(type) {
	case DepartmentCreated:
		o.departments[d.DepartmentID] = newDepartment(d.Name, d.SortOrder)
		o.linkDepartment(d.DepartmentID, idOrNil(d.ParentID))
	case DepartmentRenamed:
		if dep := o.departments[d.DepartmentID]; dep != nil {
			dep.name = d.Name
		}
	case DepartmentMoved:
		if dep := o.departments[d.DepartmentID]; dep != nil {
			o.unlinkDepartment(d.DepartmentID)
			dep.sortOrder = d.SortOrder
			o.linkDepartment(d.DepartmentID, idOrNil(d.ParentID))
		}
	case DepartmentDeleted:
		o.dropDepartment(d.DepartmentID, e.Version)
	case DepartmentHeadSet:
		o.setHeadOf(d.DepartmentID, idOrNil(d.UserID))
	case DepartmentMemberAdded:
		o.putInDepartment(d.UserID, d.DepartmentID, e.Version, d.Primary)
	case DepartmentMemberRemoved:
		o.takeOutOfDepartment(d.UserID, d.DepartmentID)
		if m := o.members[d.UserID]; m != nil && m.primary == d.DepartmentID {
			m.primary = idOrNil(d.NewPrimaryID)
		}
	case PrimaryDepartmentSet:
		if m := o.members[d.UserID]; m != nil {
			if _, in := m.depts[d.DepartmentID]; in {
				m.primary = d.DepartmentID
			}
		}
	case DepartmentRoomCreated:
		if dep := o.departments[d.DepartmentID]; dep != nil {
			dep.room = d.RoomID
		}
	default:
		o.applyPositionsAndRoles(e)
	}
}

func (o *Organization) applyPositionsAndRoles(e Event) {
	switch d := e.Data.(type) {
	case PositionDefined:
		o.positions[d.PositionID] = &jobPosition{name: d.Name, rank: d.Rank, holders: map[memberIn]bool{}}
	case PositionUpdated:
		if p := o.positions[d.PositionID]; p != nil {
			if d.Name != nil {
				p.name = *d.Name
			}
			if d.Rank != nil {
				p.rank = *d.Rank
			}
		}
	case PositionDeleted:
		if p := o.positions[d.PositionID]; p != nil {
			for h := range p.holders {
				o.clearPosition(h.user, h.dept)
			}
			delete(o.positions, d.PositionID)
		}
	case PositionAssigned:
		o.holdPosition(d.UserID, d.DepartmentID, d.PositionID)
	case PositionUnassigned:
		o.clearPosition(d.UserID, d.DepartmentID)
	case OrgRoleCreated:
		o.roles[d.RoleID] = &orgRole{name: d.Name, perms: permissionList(d.Permissions), grants: map[memberIn]bool{}}
	case OrgRoleUpdated:
		if r := o.roles[d.RoleID]; r != nil {
			if d.Name != nil {
				r.name = *d.Name
			}
			if d.Permissions != nil {
				r.perms = permissionList(*d.Permissions)
			}
		}
	case OrgRoleDeleted:
		if r := o.roles[d.RoleID]; r != nil {
			for h := range r.grants {
				o.dropGrant(h.user, orgGrant{d.RoleID, h.dept})
			}
			delete(o.roles, d.RoleID)
		}
	case OrgRoleGranted:
		o.addGrant(d.UserID, orgGrant{d.RoleID, idOrNil(d.DepartmentID)})
	case OrgRoleRevoked:
		o.dropGrant(d.UserID, orgGrant{d.RoleID, idOrNil(d.DepartmentID)})
	}
}

// ---- the changes Apply and RestoreOrganization share ----

// permissionList copies a role's permissions; none is an empty list, never nil.
func permissionList(perms []string) []string {
	return append([]string{}, perms...)
}

// initBuiltins gives the organization its built-in roles.
func (o *Organization) initBuiltins() {
	for _, name := range BuiltinOrgRoles {
		o.roles[OrgRoleIDFor(o.id, name)] = &orgRole{name: name, builtin: true, perms: builtinPermissions(name),
			grants: map[memberIn]bool{}}
	}
}

func newDepartment(name string, sortOrder int) *department {
	return &department{name: name, sortOrder: sortOrder, children: map[uuid.UUID]bool{}, members: map[uuid.UUID]bool{},
		grants: map[uuid.UUID]int{}}
}

func (o *Organization) joinMember(user uuid.UUID, username string, version int64) {
	delete(o.invited, user)
	if o.members[user] != nil {
		return
	}
	o.members[user] = &orgMember{username: username, joined: version, depts: map[uuid.UUID]int64{},
		positions: map[uuid.UUID]uuid.UUID{}, grants: map[orgGrant]bool{}, heads: map[uuid.UUID]bool{}}
}

func (o *Organization) dropMember(user uuid.UUID) {
	m := o.members[user]
	if m == nil {
		return
	}
	for dept := range m.depts {
		o.takeOutOfDepartment(user, dept)
	}
	for dept := range m.heads {
		o.setHeadOf(dept, uuid.Nil)
	}
	for g := range m.grants {
		o.dropGrant(user, g)
	}
	delete(o.members, user)
}

// linkDepartment puts a department under parent (uuid.Nil, or a parent that is gone: the top).
func (o *Organization) linkDepartment(id, parent uuid.UUID) {
	dep := o.departments[id]
	if dep == nil {
		return
	}
	if p := o.departments[parent]; p != nil && parent != id {
		dep.parent = parent
		p.children[id] = true
		return
	}
	dep.parent = uuid.Nil
	o.topLevel[id] = true
}

func (o *Organization) unlinkDepartment(id uuid.UUID) {
	dep := o.departments[id]
	if dep == nil {
		return
	}
	if p := o.departments[dep.parent]; p != nil {
		delete(p.children, id)
	}
	delete(o.topLevel, id)
}

func (o *Organization) putInDepartment(user, dept uuid.UUID, version int64, primary bool) {
	m, dep := o.members[user], o.departments[dept]
	if m == nil || dep == nil {
		return
	}
	if _, in := m.depts[dept]; !in {
		m.depts[dept] = version
		dep.members[user] = true
	}
	if primary || m.primary == uuid.Nil {
		m.primary = dept
	}
}

// takeOutOfDepartment ends a membership of a department, the position held there and its
// headship; the primary department is the caller's.
func (o *Organization) takeOutOfDepartment(user, dept uuid.UUID) {
	if m := o.members[user]; m != nil {
		delete(m.depts, dept)
		o.clearPosition(user, dept)
	}
	if dep := o.departments[dept]; dep != nil {
		delete(dep.members, user)
		if dep.head == user {
			o.setHeadOf(dept, uuid.Nil)
		}
	}
}

func (o *Organization) setHeadOf(dept, user uuid.UUID) {
	dep := o.departments[dept]
	if dep == nil {
		return
	}
	if m := o.members[dep.head]; m != nil {
		delete(m.heads, dept)
	}
	dep.head = user
	if m := o.members[user]; m != nil {
		m.heads[dept] = true
	}
}

func (o *Organization) holdPosition(user, dept, pos uuid.UUID) {
	m, p := o.members[user], o.positions[pos]
	if m == nil || p == nil {
		return
	}
	o.clearPosition(user, dept)
	m.positions[dept] = pos
	p.holders[memberIn{user, dept}] = true
}

func (o *Organization) clearPosition(user, dept uuid.UUID) {
	m := o.members[user]
	if m == nil {
		return
	}
	if pos, ok := m.positions[dept]; ok {
		if p := o.positions[pos]; p != nil {
			delete(p.holders, memberIn{user, dept})
		}
		delete(m.positions, dept)
	}
}

func (o *Organization) addGrant(user uuid.UUID, g orgGrant) {
	m, r := o.members[user], o.roles[g.role]
	if m == nil || r == nil || m.grants[g] {
		return
	}
	m.grants[g] = true
	r.grants[memberIn{user, g.dept}] = true
	if dep := o.departments[g.dept]; dep != nil {
		dep.grants[user]++
	}
	if g == (orgGrant{OrgRoleIDFor(o.id, RoleOwner), uuid.Nil}) {
		o.owners++
	}
}

func (o *Organization) dropGrant(user uuid.UUID, g orgGrant) {
	m := o.members[user]
	if m == nil || !m.grants[g] {
		return
	}
	delete(m.grants, g)
	if r := o.roles[g.role]; r != nil {
		delete(r.grants, memberIn{user, g.dept})
	}
	if dep := o.departments[g.dept]; dep != nil {
		if dep.grants[user]--; dep.grants[user] <= 0 {
			delete(dep.grants, user)
		}
	}
	if g == (orgGrant{OrgRoleIDFor(o.id, RoleOwner), uuid.Nil}) {
		o.owners--
	}
}

// dropDepartment folds DepartmentDeleted (see Apply).
func (o *Organization) dropDepartment(id uuid.UUID, version int64) {
	dep := o.departments[id]
	if dep == nil {
		return
	}
	parent := dep.parent
	for user := range dep.members {
		m := o.members[user]
		wasPrimary := m != nil && m.primary == id
		o.takeOutOfDepartment(user, id)
		if m == nil {
			continue
		}
		if parent != uuid.Nil {
			o.putInDepartment(user, parent, version, wasPrimary)
		} else if wasPrimary {
			m.primary = m.earliestDepartment(uuid.Nil)
		}
	}
	o.setHeadOf(id, uuid.Nil)
	for user := range dep.grants {
		if m := o.members[user]; m != nil {
			for g := range m.grants {
				if g.dept == id {
					o.dropGrant(user, g)
				}
			}
		}
	}
	o.unlinkDepartment(id)
	for c := range dep.children {
		// Decide deletes leaves only; a child of an event that says otherwise goes to the top.
		o.departments[c].parent = uuid.Nil
		o.topLevel[c] = true
	}
	delete(o.departments, id)
}
