// Package queries is the read side's application layer: one query a read a client can make
// (history, rooms, members, search, notifications, users, organizations), the same for every
// transport. A query checks its input, applies the rules of who may read what (a private room
// is hidden from non-members, an email from everyone but its owner and the server's admins, an
// organization from everyone but its members), reads the projections through the ports
// declared here and answers the contract's views or an *Error. No transport's type appears
// here: the transports (adapters/gateway) decode, call and encode, as they do for the write
// side's use cases in package commands.
package queries

import (
	"context"
	"log/slog"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/chorus-chat/chorus/domain"
	"github.com/chorus-chat/chorus/projections"
	"github.com/chorus-chat/chorus/projections/directory"
	"github.com/chorus-chat/chorus/projections/notify"
	"github.com/chorus-chat/chorus/projections/readmodel"
	"github.com/chorus-chat/chorus/projections/search"
)

// ReadModel is what the queries read of the Postgres read model (readmodel.Store). Lookups of a
// single row fail with projections.ErrNotFound; Room fails with projections.ErrRoomDeleted for
// a deleted room.
type ReadModel interface {
	UserByID(ctx context.Context, id uuid.UUID) (projections.User, error)
	SearchUsers(ctx context.Context, q string, limit, offset int, byEmail bool) ([]projections.User, error)
	ListRooms(ctx context.Context, viewer uuid.UUID, q readmodel.RoomListQuery) ([]projections.Room, *readmodel.RoomCursor, error)
	Room(ctx context.Context, id uuid.UUID) (projections.Room, error)
	IsMember(ctx context.Context, roomID, userID uuid.UUID) (bool, error)
	IsInvited(ctx context.Context, roomID, userID uuid.UUID) (bool, error)
	IsBanned(ctx context.Context, roomID, userID uuid.UUID) (bool, error)
	Members(ctx context.Context, roomID uuid.UUID) ([]projections.Member, error)
	RoomIDsOf(ctx context.Context, userID uuid.UUID) ([]uuid.UUID, error)
	Messages(ctx context.Context, roomID uuid.UUID, q readmodel.HistoryQuery) ([]projections.Message, bool, error)
}

// Searcher answers message searches from the search projection (search.Store). Search fails
// with search.ErrRoomNotFound or search.ErrNotAMember for a room the caller may not read;
// WaitFor fails with search.ErrNotCaughtUp when the index does not reach pos within timeout.
type Searcher interface {
	Search(ctx context.Context, q search.Query) ([]projections.Message, error)
	WaitFor(ctx context.Context, pos domain.Position, timeout time.Duration) error
}

// NotificationStore is the notification projection (notify.Store). List fails with
// notify.ErrNotFound when q.Before names no notification of the user; MarkRead with
// notify.ErrNotFound for an unknown id or another user's notification; WaitFor with
// notify.ErrNotCaughtUp when the projection does not reach pos within timeout.
type NotificationStore interface {
	List(ctx context.Context, user uuid.UUID, q notify.ListQuery) ([]notify.Notification, bool, error)
	MarkRead(ctx context.Context, user, id uuid.UUID) (notify.Notification, error)
	WaitFor(ctx context.Context, pos domain.Position, timeout time.Duration) error
}

// Directory is the organization directory (directory.Store): the organizations' reads and a
// user's organizations in their profile. It does not say who may read what; the queries do
// (orgs.go). Lookups of one row fail with directory.ErrNotFound, a query out of its bounds
// with directory.ErrBadQuery, WaitFor with directory.ErrNotCaughtUp when the directory does not
// reach pos within timeout.
type Directory interface {
	Organization(ctx context.Context, id uuid.UUID) (directory.Organization, error)
	IsMember(ctx context.Context, org, user uuid.UUID) (bool, error)
	Members(ctx context.Context, org uuid.UUID, q directory.MemberQuery) ([]directory.Member, *directory.MemberCursor, error)
	Department(ctx context.Context, org, id uuid.UUID) (projections.Department, error)
	OrgChart(ctx context.Context, org uuid.UUID, root *uuid.UUID) ([]*directory.Department, error)
	Positions(ctx context.Context, org uuid.UUID) ([]directory.Position, error)
	Roles(ctx context.Context, org uuid.UUID) ([]directory.Role, error)
	Grants(ctx context.Context, org uuid.UUID, q directory.GrantQuery) ([]directory.Grant, error)
	UserOrganizations(ctx context.Context, user uuid.UUID) ([]directory.Membership, error)
	Invitations(ctx context.Context, org uuid.UUID) ([]directory.Invitation, error)
	UserInvitations(ctx context.Context, user uuid.UUID) ([]directory.Invitation, error)
	DepartmentRooms(ctx context.Context, org uuid.UUID) ([]directory.DepartmentRoom, error)
	Broadcasts(ctx context.Context, org uuid.UUID, before time.Time, limit int) ([]directory.Broadcast, error)
	Audit(ctx context.Context, org uuid.UUID, q directory.AuditQuery) ([]directory.AuditEntry, *directory.AuditCursor, error)
	WaitFor(ctx context.Context, pos domain.Position, timeout time.Duration) error
}

// MessageChanges reads what a reconnecting client missed in a room: the changes after the
// message with lastSeenSeq, in order, at most limit of them, and whether that is all
// (readmodel.Store).
type MessageChanges interface {
	MessageChangesAfter(ctx context.Context, roomID uuid.UUID, lastSeenSeq int64, limit int) ([]readmodel.MessageChange, bool, error)
}

// Names gives the username of a user with a session (commands.Application.ActorName, which
// caches them); it is asked only when the server has admins, to tell whether the viewer is one.
type Names interface {
	ActorName(ctx context.Context, id uuid.UUID) (string, error)
}

// Statuses lays the users' live presence status over views (the gateway's presence).
type Statuses interface {
	WithStatus(ctx context.Context, users ...*projections.User)
}

// WaitFunc waits until a projection includes pos, failing with the projection's
// ErrNotCaughtUp when it does not within timeout.
type WaitFunc func(ctx context.Context, pos domain.Position, timeout time.Duration) error

// Deps are what the queries work with. ReadModel is required; Search, Notifications,
// Directory and MessageChanges may be nil (their queries then answer unavailable, a profile
// shows no organizations, or resume recovers nothing), and so may the others, with the effect
// their comments say.
type Deps struct {
	ReadModel      ReadModel
	Search         Searcher
	Notifications  NotificationStore
	Directory      Directory
	MessageChanges MessageChanges
	// OnlineTime computes the online-time reports; nil answers them unavailable.
	OnlineTime OnlineTimeReports
	// Proxies may be nil: the proxy grants are then not served (unavailable).
	Proxies Proxies
	// OrgProxies may be nil: the organizations' proxy grants are then not served (unavailable).
	OrgProxies OrgProxies
	// Names and Admins tell the server's admins (by username, in any letter case): they, and
	// only they, see other users' emails and find users by email. Names may be nil only
	// without admins.
	Names  Names
	Admins []string
	// Statuses may be nil: the views keep the read model's status.
	Statuses Statuses
	// WaitPosition waits for a projection to include a position a client gave (?position=);
	// the transport lends its own, which bounds the wait and may refuse a position that no
	// command answered. nil: until waits DefaultPositionWait.
	WaitPosition func(ctx context.Context, pos domain.Position, until WaitFunc) error
	Logger       *slog.Logger
}

// DefaultPositionWait bounds a position wait when Deps.WaitPosition is nil.
const DefaultPositionWait = 5 * time.Second

// Application holds the queries.
type Application struct {
	rm      ReadModel
	search  Searcher
	notes   NotificationStore
	dir     Directory
	changes MessageChanges
	online  OnlineTimeReports
	proxies Proxies
	orgProx OrgProxies
	names   Names
	admins  map[string]bool
	status  Statuses
	wait    func(ctx context.Context, pos domain.Position, until WaitFunc) error
	log     *slog.Logger
}

// NewApplication builds the queries over their ports.
func NewApplication(d Deps) *Application {
	a := &Application{
		rm: d.ReadModel, search: d.Search, notes: d.Notifications, dir: d.Directory, changes: d.MessageChanges,
		online: d.OnlineTime, proxies: d.Proxies, orgProx: d.OrgProxies, names: d.Names, admins: adminSet(d.Admins), status: d.Statuses, wait: d.WaitPosition, log: d.Logger,
	}
	if a.wait == nil {
		a.wait = func(ctx context.Context, pos domain.Position, until WaitFunc) error {
			return until(ctx, pos, DefaultPositionWait)
		}
	}
	if a.log == nil {
		a.log = slog.Default()
	}
	return a
}

// adminSet is the set of the admins' usernames in lower case.
func adminSet(usernames []string) map[string]bool {
	admins := make(map[string]bool, len(usernames))
	for _, u := range usernames {
		if u = strings.TrimSpace(u); u != "" {
			admins[strings.ToLower(u)] = true
		}
	}
	return admins
}

// IsAdminName tells whether username is one of the server's admins.
func (a *Application) IsAdminName(username string) bool { return a.admins[strings.ToLower(username)] }

// IsAdmin tells whether a user is one of the server's admins. Without admins it asks nothing,
// so a viewer whose name cannot be read is not refused for it.
func (a *Application) IsAdmin(ctx context.Context, id uuid.UUID) (bool, error) {
	if len(a.admins) == 0 {
		return false, nil
	}
	name, err := a.names.ActorName(ctx, id)
	if err != nil {
		return false, err
	}
	return a.IsAdminName(name), nil
}
