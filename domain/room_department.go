package domain

import (
	"time"

	"github.com/google/uuid"
)

// Department rooms: a room owned by a department of an organization, whose members are the
// members of the department's subtree. The organization cannot change a room (another
// aggregate, another partition), so a process manager (projections/orgrooms) follows the
// organization's events and sends the room what changes: it creates the room, syncs its
// members, and releases it when the department is deleted. Those commands are the server's:
// only SystemActorID may send them, and no client can act as it (the gateway takes every
// actor from the session, and no user id is the system's). While the room is managed nobody
// joins, leaves, invites, kicks, bans or changes roles in it (forbidden): its membership is
// the department's. Its owner is the server, which is no member; members post, edit and delete
// their own messages as anywhere. Released, it stays as it is, unmanaged: members may leave.

// Command types of department rooms (the process manager's, as SystemActorID).
const (
	CmdSyncDepartmentRoom    = "sync_department_room"
	CmdReleaseDepartmentRoom = "release_department_room"
)

// Event types of department rooms.
const (
	TypeRoomLinkedToDepartment = "RoomLinkedToDepartment"
	TypeRoomMembersSynced      = "RoomMembersSynced"
	TypeRoomReleased           = "RoomReleased"
)

// MaxSyncMembers bounds the users one sync_department_room names (adds and removes), so that
// a command stays far below a Kafka record's limit; the process manager sends a large change
// in parts.
const MaxSyncMembers = 1000

// RoomDepartment names the department that owns a room.
type RoomDepartment struct {
	OrgID        uuid.UUID `json:"org_id"`
	DepartmentID uuid.UUID `json:"department_id"`
}

// ManagedMember is a user a sync adds, with the name events show.
type ManagedMember struct {
	UserID   uuid.UUID `json:"user_id"`
	Username string    `json:"username"`
}

// SyncDepartmentRoom changes a department room's members: Add join (those not members yet),
// Remove leave (those still members). SourceVersion is the version of the organization event
// the change follows from and Part numbers the commands one event needs: the room remembers the
// highest (SourceVersion, Part) it took and accepts anything at or below it without a change,
// so that a replay of old syncs, however late, never undoes a newer one.
type SyncDepartmentRoom struct {
	SourceVersion int64           `json:"source_version"`
	Part          int             `json:"part"`
	Add           []ManagedMember `json:"add,omitempty"`
	Remove        []uuid.UUID     `json:"remove,omitempty"`
}

// ReleaseDepartmentRoom ends a room's link to its department (the department was deleted):
// the room stays, unmanaged.
type ReleaseDepartmentRoom struct {
	SourceVersion int64 `json:"source_version"`
}

func (SyncDepartmentRoom) CommandType() string    { return CmdSyncDepartmentRoom }
func (ReleaseDepartmentRoom) CommandType() string { return CmdReleaseDepartmentRoom }

// RoomLinkedToDepartment follows a department room's RoomCreated (in the same command): the
// room's members are the department's from now on.
type RoomLinkedToDepartment struct {
	RoomID       uuid.UUID `json:"room_id"`
	OrgID        uuid.UUID `json:"org_id"`
	DepartmentID uuid.UUID `json:"department_id"`
}

// RoomMembersSynced comes first among the events of a sync: the room has taken the sync
// (SourceVersion, Part); the joins and leaves it made follow as UserJoinedRoom and UserLeftRoom.
type RoomMembersSynced struct {
	RoomID        uuid.UUID `json:"room_id"`
	SourceVersion int64     `json:"source_version"`
	Part          int       `json:"part"`
	Joined        int       `json:"joined"`
	Left          int       `json:"left"`
}

// RoomReleased ends the room's link to its department; its members stay, and may leave.
type RoomReleased struct {
	RoomID       uuid.UUID `json:"room_id"`
	OrgID        uuid.UUID `json:"org_id"`
	DepartmentID uuid.UUID `json:"department_id"`
	ReleasedAt   time.Time `json:"released_at"`
}

func (RoomLinkedToDepartment) EventType() string { return TypeRoomLinkedToDepartment }
func (RoomMembersSynced) EventType() string      { return TypeRoomMembersSynced }
func (RoomReleased) EventType() string           { return TypeRoomReleased }

// syncMark is the highest sync a department room took.
type syncMark struct {
	version int64
	part    int
}

func (m syncMark) covers(version int64, part int) bool {
	return version < m.version || (version == m.version && part <= m.part)
}

// Department is the department that owns the room (ever: a released room still names it), or
// nil for an ordinary room.
func (r *Room) Department() *RoomDepartment {
	if r.department == nil {
		return nil
	}
	d := *r.department
	return &d
}

// IsManaged tells whether the room's membership follows its department now.
func (r *Room) IsManaged() bool { return r.department != nil && !r.released }

// checkManaged refuses the membership commands users send to a managed room.
func (r *Room) checkManaged(cmd Command) error {
	if !r.IsManaged() {
		return nil
	}
	switch cmd.Payload.(type) {
	case JoinRoom, LeaveRoom, InviteUser, KickMember, BanMember, UnbanMember, SetRole:
		return reject(CodeForbidden, "the members of a department's room are the department's members: %s is not allowed here", cmd.Type)
	}
	return nil
}

// createForDepartment creates a department room: the server's command, at the room id the
// department's, owned by the server (not a member) and private. A second creation of the same
// link (a replay) is accepted without events.
func (r *Room) createForDepartment(cmd Command, c CreateRoom, now time.Time) ([]Event, error) {
	link := *c.Department
	if cmd.ActorID != SystemActorID {
		return nil, reject(CodeForbidden, "only the server creates a department's room")
	}
	if link.OrgID == uuid.Nil || link.DepartmentID == uuid.Nil || cmd.AggregateID != DepartmentRoomIDFor(link.OrgID, link.DepartmentID) {
		return nil, reject(CodeValidationFailed, "a department's room has the id DepartmentRoomIDFor(org, department)")
	}
	if r.created {
		if r.department != nil && *r.department == link {
			return []Event{}, nil
		}
		return nil, reject(CodeValidationFailed, "room %s already exists", cmd.AggregateID)
	}
	if c.PasswordHash != "" {
		return nil, reject(CodeValidationFailed, "a department's room has no password")
	}
	name, err := roomName(c.Name)
	if err != nil {
		return nil, err
	}
	desc, err := roomDescription(c.Description)
	if err != nil {
		return nil, err
	}
	return eventsOf(cmd, r.version, now,
		RoomCreated{RoomID: cmd.AggregateID, Name: name, Description: desc, OwnerID: SystemActorID, IsPrivate: true, CreatedAt: now.UTC()},
		RoomLinkedToDepartment{RoomID: cmd.AggregateID, OrgID: link.OrgID, DepartmentID: link.DepartmentID},
	), nil
}

// managedBy checks that the server sends cmd to a department room still linked.
func (r *Room) managedBy(cmd Command) error {
	if cmd.ActorID != SystemActorID {
		return reject(CodeForbidden, "only the server changes the members of a department's room")
	}
	if r.department == nil {
		return reject(CodeValidationFailed, "room %s is not a department's room", r.id)
	}
	return nil
}

func (r *Room) syncDepartment(cmd Command, p SyncDepartmentRoom, now time.Time) ([]Event, error) {
	if err := r.managedBy(cmd); err != nil {
		return nil, err
	}
	if r.released {
		return nil, reject(CodeValidationFailed, "room %s is no longer its department's", r.id)
	}
	if p.SourceVersion < 1 || p.Part < 0 {
		return nil, reject(CodeValidationFailed, "source_version must be 1 or more and part 0 or more")
	}
	if len(p.Add)+len(p.Remove) > MaxSyncMembers {
		return nil, reject(CodeValidationFailed, "at most %d users a sync", MaxSyncMembers)
	}
	if r.synced.covers(p.SourceVersion, p.Part) {
		return []Event{}, nil // taken before (a replay): the newer syncs stand
	}
	named := make(map[uuid.UUID]bool, len(p.Add)+len(p.Remove))
	var joins, leaves []EventData
	for _, m := range p.Add {
		if m.UserID == uuid.Nil || m.UserID == SystemActorID || named[m.UserID] {
			return nil, reject(CodeValidationFailed, "add: user %s is no user, or named twice", m.UserID)
		}
		named[m.UserID] = true
		name, err := checkText("username", m.Username, textLine)
		if err != nil {
			return nil, err
		}
		if !r.IsMember(m.UserID) {
			joins = append(joins, UserJoinedRoom{RoomID: r.id, UserID: m.UserID, Username: name, Role: RoleMember, JoinedAt: now.UTC()})
		}
	}
	for _, id := range p.Remove {
		if id == uuid.Nil || named[id] {
			return nil, reject(CodeValidationFailed, "remove: user %s is no user, or named twice", id)
		}
		named[id] = true
		if r.IsMember(id) {
			leaves = append(leaves, UserLeftRoom{RoomID: r.id, UserID: id, Username: r.usernames[id], LeftAt: now.UTC()})
		}
	}
	out := make([]EventData, 0, 1+len(joins)+len(leaves))
	out = append(out, RoomMembersSynced{RoomID: r.id, SourceVersion: p.SourceVersion, Part: p.Part, Joined: len(joins), Left: len(leaves)})
	out = append(out, joins...)
	out = append(out, leaves...)
	return eventsOf(cmd, r.version, now, out...), nil
}

func (r *Room) releaseDepartment(cmd Command, now time.Time) ([]Event, error) {
	if err := r.managedBy(cmd); err != nil {
		return nil, err
	}
	if r.released {
		return []Event{}, nil // released before (a replay)
	}
	return eventsOf(cmd, r.version, now, RoomReleased{RoomID: r.id, OrgID: r.department.OrgID,
		DepartmentID: r.department.DepartmentID, ReleasedAt: now.UTC()}), nil
}

// applyDepartment folds the department room events.
func (r *Room) applyDepartment(e Event) {
	switch d := e.Data.(type) {
	case RoomLinkedToDepartment:
		r.department = &RoomDepartment{OrgID: d.OrgID, DepartmentID: d.DepartmentID}
	case RoomMembersSynced:
		if !r.synced.covers(d.SourceVersion, d.Part) {
			r.synced = syncMark{version: d.SourceVersion, part: d.Part}
		}
	case RoomReleased:
		r.released = true
	}
}
