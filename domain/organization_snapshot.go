package domain

import (
	"slices"
	"time"

	"github.com/google/uuid"
)

// OrganizationSnapshot is an organization's state, written down as JSON (stateSnapshots): the
// facts the events stated. The indexes built from them (a department's members, children and
// scoped grants, a position's holders, a role's grants, the owner count, the built-in roles)
// are rebuilt on restore by the code Apply uses, so that a restored organization is the one it
// was taken of. Lists are in no particular order.
type OrganizationSnapshot struct {
	ID          uuid.UUID               `json:"id"`
	Version     int64                   `json:"version"`
	Created     bool                    `json:"created,omitempty"`
	Archived    bool                    `json:"archived,omitempty"`
	Name        string                  `json:"name,omitempty"`
	Slug        string                  `json:"slug,omitempty"`
	Description string                  `json:"description,omitempty"`
	TimeZone    string                  `json:"time_zone,omitempty"`
	CreatedAt   time.Time               `json:"created_at"`
	Broadcasts  int64                   `json:"broadcasts,omitempty"`
	Members     []OrgMemberSnapshot     `json:"members,omitempty"`
	Invited     []OrgInvitationSnapshot `json:"invited,omitempty"`
	Departments []DepartmentSnapshot    `json:"departments,omitempty"`
	Positions   []PositionSnapshot      `json:"positions,omitempty"`
	Roles       []OrgRoleSnapshot       `json:"roles,omitempty"` // the custom ones
}

// OrgMemberSnapshot is one member: the version of the event that made them one, their
// departments (each with the version of the event that put them in it), their primary one,
// the positions they hold and their grants.
type OrgMemberSnapshot struct {
	UserID      uuid.UUID               `json:"user_id"`
	Username    string                  `json:"username"`
	Joined      int64                   `json:"joined"`
	Primary     *uuid.UUID              `json:"primary,omitempty"`
	Departments []OrgMembershipSnapshot `json:"departments,omitempty"`
	Positions   []HeldPositionSnapshot  `json:"positions,omitempty"`
	Grants      []OrgGrantSnapshot      `json:"grants,omitempty"`
}

// OrgMembershipSnapshot is a membership of a department since an event's version.
type OrgMembershipSnapshot struct {
	DepartmentID uuid.UUID `json:"department_id"`
	Since        int64     `json:"since"`
}

// HeldPositionSnapshot is a position held in a department.
type HeldPositionSnapshot struct {
	DepartmentID uuid.UUID `json:"department_id"`
	PositionID   uuid.UUID `json:"position_id"`
}

// OrgGrantSnapshot is a role granted over the organization (DepartmentID nil) or a subtree.
type OrgGrantSnapshot struct {
	RoleID       uuid.UUID  `json:"role_id"`
	DepartmentID *uuid.UUID `json:"department_id,omitempty"`
}

// OrgInvitationSnapshot is an open invitation.
type OrgInvitationSnapshot struct {
	UserID    uuid.UUID `json:"user_id"`
	Username  string    `json:"username"`
	InvitedBy uuid.UUID `json:"invited_by"`
}

// DepartmentSnapshot is a department.
type DepartmentSnapshot struct {
	ID        uuid.UUID  `json:"id"`
	ParentID  *uuid.UUID `json:"parent_id,omitempty"`
	Name      string     `json:"name"`
	SortOrder int        `json:"sort_order,omitempty"`
	HeadID    *uuid.UUID `json:"head_id,omitempty"`
	RoomID    *uuid.UUID `json:"room_id,omitempty"`
}

// PositionSnapshot is a position.
type PositionSnapshot struct {
	ID   uuid.UUID `json:"id"`
	Name string    `json:"name"`
	Rank int       `json:"rank,omitempty"`
}

// OrgRoleSnapshot is a custom role.
type OrgRoleSnapshot struct {
	ID          uuid.UUID `json:"id"`
	Name        string    `json:"name"`
	Permissions []string  `json:"permissions"`
}

// Snapshot copies the organization's state; the copy shares nothing with it.
func (o *Organization) Snapshot() OrganizationSnapshot {
	s := OrganizationSnapshot{ID: o.id, Version: o.version, Created: o.created, Archived: o.archived, Name: o.name,
		Slug: o.slug, Description: o.description, TimeZone: o.timeZone, CreatedAt: o.createdAt, Broadcasts: o.broadcasts}
	if len(o.members) > 0 {
		s.Members = make([]OrgMemberSnapshot, 0, len(o.members))
	}
	for id, m := range o.members {
		ms := OrgMemberSnapshot{UserID: id, Username: m.username, Joined: m.joined, Primary: optionalID(m.primary)}
		for d, since := range m.depts {
			ms.Departments = append(ms.Departments, OrgMembershipSnapshot{DepartmentID: d, Since: since})
		}
		for d, p := range m.positions {
			ms.Positions = append(ms.Positions, HeldPositionSnapshot{DepartmentID: d, PositionID: p})
		}
		for g := range m.grants {
			ms.Grants = append(ms.Grants, OrgGrantSnapshot{RoleID: g.role, DepartmentID: optionalID(g.dept)})
		}
		s.Members = append(s.Members, ms)
	}
	for id, inv := range o.invited {
		s.Invited = append(s.Invited, OrgInvitationSnapshot{UserID: id, Username: inv.username, InvitedBy: inv.invitedBy})
	}
	for id, d := range o.departments {
		s.Departments = append(s.Departments, DepartmentSnapshot{ID: id, ParentID: optionalID(d.parent), Name: d.name,
			SortOrder: d.sortOrder, HeadID: optionalID(d.head), RoomID: optionalID(d.room)})
	}
	for id, p := range o.positions {
		s.Positions = append(s.Positions, PositionSnapshot{ID: id, Name: p.name, Rank: p.rank})
	}
	for id, r := range o.roles {
		if !r.builtin {
			s.Roles = append(s.Roles, OrgRoleSnapshot{ID: id, Name: r.name, Permissions: slices.Clone(r.perms)})
		}
	}
	return s
}

// RestoreOrganization is the organization a snapshot was taken of.
func RestoreOrganization(s OrganizationSnapshot) *Organization {
	o := NewOrganization(s.ID)
	o.version, o.created, o.archived, o.name, o.slug = s.Version, s.Created, s.Archived, s.Name, s.Slug
	o.description, o.timeZone, o.createdAt, o.broadcasts = s.Description, s.TimeZone, s.CreatedAt, s.Broadcasts
	if s.Created {
		o.initBuiltins()
	}
	for _, r := range s.Roles {
		o.roles[r.ID] = &orgRole{name: r.Name, perms: permissionList(r.Permissions), grants: map[memberIn]bool{}}
	}
	for _, d := range s.Departments {
		o.departments[d.ID] = newDepartment(d.Name, d.SortOrder)
	}
	for _, d := range s.Departments {
		o.linkDepartment(d.ID, idOrNil(d.ParentID))
		o.departments[d.ID].room = idOrNil(d.RoomID)
	}
	for _, p := range s.Positions {
		o.positions[p.ID] = &jobPosition{name: p.Name, rank: p.Rank, holders: map[memberIn]bool{}}
	}
	for _, inv := range s.Invited {
		o.invited[inv.UserID] = orgInvitation{username: inv.Username, invitedBy: inv.InvitedBy}
	}
	for _, ms := range s.Members {
		o.joinMember(ms.UserID, ms.Username, ms.Joined)
		for _, d := range ms.Departments {
			o.putInDepartment(ms.UserID, d.DepartmentID, d.Since, false)
		}
		o.members[ms.UserID].primary = idOrNil(ms.Primary)
		for _, p := range ms.Positions {
			o.holdPosition(ms.UserID, p.DepartmentID, p.PositionID)
		}
		for _, g := range ms.Grants {
			o.addGrant(ms.UserID, orgGrant{g.RoleID, idOrNil(g.DepartmentID)})
		}
	}
	for _, d := range s.Departments {
		o.setHeadOf(d.ID, idOrNil(d.HeadID))
	}
	return o
}
