package projections

import (
	"slices"
	"time"

	"github.com/google/uuid"

	"github.com/chorus-chat/chorus/domain"
)

// The organization model's views: what the organization commands answer, built from their
// accepted events, in the shapes the organization directory answers its reads with (a
// directory's view may carry more: counts, depth, children), so that a client reads one
// organization, department, job position or role the same way whichever call gave it.

// Organization is an organization.
type Organization struct {
	ID          uuid.UUID  `json:"id"`
	Name        string     `json:"name"`
	Slug        string     `json:"slug"`
	Description string     `json:"description"`
	TimeZone    string     `json:"time_zone"`
	Archived    bool       `json:"archived"`
	ArchivedAt  *time.Time `json:"archived_at,omitempty"`
	MemberCount int        `json:"member_count"`
	CreatedAt   time.Time  `json:"created_at"`
	UpdatedAt   time.Time  `json:"updated_at"`
}

// Department is a department of an organization's tree (ParentID nil: at the top).
type Department struct {
	ID        uuid.UUID  `json:"id"`
	ParentID  *uuid.UUID `json:"parent_id,omitempty"`
	Name      string     `json:"name"`
	SortOrder int        `json:"sort_order"`
	HeadID    *uuid.UUID `json:"head_id,omitempty"`
}

// JobPosition is a job title of an organization (a "position" in the model's words; named so
// here because an answer's "position" is its place in the log).
type JobPosition struct {
	ID   uuid.UUID `json:"id"`
	Name string    `json:"name"`
	Rank int       `json:"rank"`
}

// OrgRole is a role of an organization, built-in or custom, with its permissions in the
// catalogue's order.
type OrgRole struct {
	ID          uuid.UUID `json:"id"`
	Name        string    `json:"name"`
	Permissions []string  `json:"permissions"`
	Builtin     bool      `json:"builtin"`
}

// Broadcast is one announcement to an organization.
type Broadcast struct {
	ID     uuid.UUID `json:"id"`
	Title  string    `json:"title"`
	Body   string    `json:"body"`
	SentBy uuid.UUID `json:"sent_by"`
	SentAt time.Time `json:"sent_at"`
}

// DepartmentRoom is the room a department owns.
type DepartmentRoom struct {
	DepartmentID uuid.UUID `json:"department_id"`
	RoomID       uuid.UUID `json:"room_id"`
	Name         string    `json:"name"`
	CreatedBy    uuid.UUID `json:"created_by"`
	CreatedAt    time.Time `json:"created_at"`
}

// OrganizationOf is the view of an organization right after OrganizationCreated (its creator
// is its one member).
func OrganizationOf(d domain.OrganizationCreated) Organization {
	return Organization{
		ID: d.OrgID, Name: d.Name, Slug: d.Slug, Description: d.Description, TimeZone: d.TimeZone,
		MemberCount: 1, CreatedAt: d.CreatedAt, UpdatedAt: d.CreatedAt,
	}
}

// DepartmentOf is the view of a department right after DepartmentCreated (it has no head yet).
func DepartmentOf(d domain.DepartmentCreated) Department {
	return Department{ID: d.DepartmentID, ParentID: d.ParentID, Name: d.Name, SortOrder: d.SortOrder}
}

// JobPositionOf is the view of a job position right after PositionDefined.
func JobPositionOf(d domain.PositionDefined) JobPosition {
	return JobPosition{ID: d.PositionID, Name: d.Name, Rank: d.Rank}
}

// OrgRoleOf is the view of a custom role right after OrgRoleCreated. Permissions is never
// null in JSON: a role may hold none.
func OrgRoleOf(d domain.OrgRoleCreated) OrgRole {
	perms := slices.Clone(d.Permissions)
	if perms == nil {
		perms = []string{}
	}
	return OrgRole{ID: d.RoleID, Name: d.Name, Permissions: perms}
}

// BroadcastOf is the view of a broadcast as OrgBroadcastSent records it.
func BroadcastOf(d domain.OrgBroadcastSent) Broadcast {
	return Broadcast{ID: d.BroadcastID, Title: d.Title, Body: d.Body, SentBy: d.SentBy, SentAt: d.SentAt}
}

// DepartmentRoomOf is the view of a department's room as DepartmentRoomCreated records it;
// the event carries no time of its own, so at is its envelope's.
func DepartmentRoomOf(d domain.DepartmentRoomCreated, at time.Time) DepartmentRoom {
	return DepartmentRoom{DepartmentID: d.DepartmentID, RoomID: d.RoomID, Name: d.Name, CreatedBy: d.CreatedBy, CreatedAt: at.UTC()}
}
