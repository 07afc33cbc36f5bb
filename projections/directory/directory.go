// Package directory is the organization directory: the projection of the organization events
// (org-events) into Postgres that the directory search, the org chart, a user's organizations
// in their profile, the roles and grants and the audit log are read from. It keeps its own
// tables and checkpoint (projection "directory"), so it is rebuilt and verified on its own. Who
// may read what (members only) is the caller's rule; IsMember is the cheap check for it.
package directory

import (
	"encoding/json"
	"errors"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/chorus-chat/chorus/projections"
	"github.com/chorus-chat/chorus/projections/checkpoint"
)

// Projection is the name under which the directory projector stores its checkpoints.
const Projection = "directory"

var (
	// ErrNotFound: no such organization, department or cursor target.
	ErrNotFound = projections.ErrNotFound
	// ErrNotCaughtUp: the directory did not reach a position within the wait bound.
	ErrNotCaughtUp = errors.New("not_caught_up: the organization directory has not reached that position yet")
	// ErrBadQuery: a query whose limit, cursor or filter is out of its bounds (validation_failed).
	ErrBadQuery = errors.New("invalid query")
)

// Record is one event as read from the log, with where it sits there.
type Record = checkpoint.Record

type partition = checkpoint.Partition

// Store is the directory in Postgres: ApplyBatch writes it, the queries read it, WaitFor lets a
// reader wait until it includes a given log position.
type Store struct {
	pool *pgxpool.Pool
	// Where a name search stops collecting and walks (queries.go); tests move them to take
	// either way with a few hundred members.
	rareMatches, narrowFilter int
	// The directory's own progress, for ?position= (WaitFor).
	*checkpoint.Waiter
}

// NewStore returns a Store over pool, whose database must be migrated (postgres.Open does so).
// topics are the topics the directory projector reads (org-events): a position in any other
// topic has nothing to do with the directory, which therefore already includes it.
func NewStore(pool *pgxpool.Pool, topics ...string) *Store {
	s := &Store{pool: pool, rareMatches: rareMatches, narrowFilter: narrowFilter}
	s.Waiter = checkpoint.NewWaiter(s.Checkpoints, ErrNotCaughtUp, topics...)
	return s
}

// The directory answers an organization, a job position, a role, a broadcast and a department
// room in the views the organization commands answer (projections/org_views.go), so that a
// client reads each the same way whichever call gave it; a department of the org chart is the
// commands' Department with its counts, depth and subtree.
type (
	Organization   = projections.Organization
	Position       = projections.JobPosition
	Role           = projections.OrgRole
	Broadcast      = projections.Broadcast
	DepartmentRoom = projections.DepartmentRoom
)

// Member is one member of an organization in the directory.
type Member struct {
	UserID   uuid.UUID `json:"user_id"`
	Username string    `json:"username"`
	// DisplayName is the user's, from the read model's users (nil when they set none).
	DisplayName *string   `json:"display_name,omitempty"`
	Via         string    `json:"via"`
	JoinedAt    time.Time `json:"joined_at"`
	// PrimaryDepartmentID is their primary department, nil when they are in none.
	PrimaryDepartmentID *uuid.UUID `json:"primary_department_id,omitempty"`
}

// Department is a department of the org chart: the commands' Department (id, parent, name,
// sort order, head) and more.
type Department struct {
	projections.Department
	// HeadUsername names the head, "" when there is none.
	HeadUsername string `json:"head_username,omitempty"`
	// Depth is 0 at the top of the tree.
	Depth int `json:"depth"`
	// DirectCount is the department's own members, HeadCount the distinct people in it and in
	// every department below it.
	DirectCount int           `json:"direct_count"`
	HeadCount   int           `json:"head_count"`
	Children    []*Department `json:"children,omitempty"`
}

// Grant is a role granted to a member over the whole organization (DepartmentID nil) or one
// department's subtree.
type Grant struct {
	UserID       uuid.UUID  `json:"user_id"`
	Username     string     `json:"username"`
	RoleID       uuid.UUID  `json:"role_id"`
	RoleName     string     `json:"role_name"`
	DepartmentID *uuid.UUID `json:"department_id,omitempty"`
	GrantedBy    uuid.UUID  `json:"granted_by"`
	GrantedAt    time.Time  `json:"granted_at"`
}

// Invitation is an open invitation to an organization.
type Invitation struct {
	OrgID     uuid.UUID `json:"org_id"`
	UserID    uuid.UUID `json:"user_id"`
	Username  string    `json:"username"`
	InvitedBy uuid.UUID `json:"invited_by"`
	InvitedAt time.Time `json:"invited_at"`
}

// AuditEntry is one organization event as the audit log shows it.
type AuditEntry struct {
	Version    int64     `json:"version"`
	EventID    uuid.UUID `json:"event_id"`
	Type       string    `json:"type"`
	ActorID    uuid.UUID `json:"actor_id"`
	OccurredAt time.Time `json:"occurred_at"`
	// Data is the event's data as the log holds it (JSON).
	Data json.RawMessage `json:"data"`
	// Position is the event's position in the log ("topic:partition:offset").
	Position string `json:"position"`
}

// Membership is one of a user's organizations with what the user is there, for their profile.
type Membership struct {
	Organization Organization       `json:"organization"`
	Via          string             `json:"via"`
	JoinedAt     time.Time          `json:"joined_at"`
	Departments  []MemberDepartment `json:"departments"`
	Roles        []Grant            `json:"roles"`
}

// MemberDepartment is one of a member's departments, with the position they hold there.
type MemberDepartment struct {
	DepartmentID uuid.UUID `json:"department_id"`
	Name         string    `json:"name"`
	Primary      bool      `json:"primary"`
	Position     *Position `json:"job_position,omitempty"`
}
