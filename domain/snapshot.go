package domain

import (
	"fmt"
	"time"

	"github.com/google/uuid"
)

// Snapshots of aggregate state let a command processor take over a partition without folding its
// whole history: the state is written down at known log offsets and restored, and only the events
// after those offsets are folded. A snapshot holds exactly the state Apply builds, so that an
// aggregate restored from one decides every command as the aggregate it was taken from.
//
// The form is JSON with the field names below. SnapshotFormat numbers it: a change that an older
// reader would misread (a new field that changes decisions, a changed meaning) must raise it, and
// a reader ignores snapshots of a format it does not know (it rebuilds from the log instead).
// Map-valued state is written as slices in no particular order: taking a snapshot holds the
// partition up, so it copies and does not sort.

// SnapshotFormat is the version of the aggregate snapshot form written today.
const SnapshotFormat = 1

// AggregateSnapshot is the snapshot of any aggregate: Type says which of the three is set.
type AggregateSnapshot struct {
	Type   string          `json:"type"`
	Room   *RoomSnapshot   `json:"room,omitempty"`
	User   *UserSnapshot   `json:"user,omitempty"`
	System *SystemSnapshot `json:"system,omitempty"`
}

// RoomSnapshot is a room's state. Members carry their role and the name they joined with.
type RoomSnapshot struct {
	ID           uuid.UUID         `json:"id"`
	Version      int64             `json:"version"`
	Created      bool              `json:"created,omitempty"`
	Deleted      bool              `json:"deleted,omitempty"`
	Name         string            `json:"name,omitempty"`
	Description  string            `json:"description,omitempty"`
	OwnerID      uuid.UUID         `json:"owner_id"`
	IsPrivate    bool              `json:"is_private,omitempty"`
	PasswordHash string            `json:"password_hash,omitempty"`
	CreatedAt    time.Time         `json:"created_at"`
	Members      []MemberSnapshot  `json:"members,omitempty"`
	Banned       []uuid.UUID       `json:"banned,omitempty"`
	Invited      []uuid.UUID       `json:"invited,omitempty"`
	ReadMarkers  []MarkerSnapshot  `json:"read_markers,omitempty"`
	LastSeq      int64             `json:"last_seq"`
	Messages     []MessageSnapshot `json:"messages,omitempty"`
}

// MemberSnapshot is one member of a room. HasName tells a member without a recorded name (a
// role set by an event that found no join) from one who joined with an empty name.
type MemberSnapshot struct {
	UserID   uuid.UUID `json:"user_id"`
	Role     string    `json:"role"`
	Username string    `json:"username,omitempty"`
	HasName  bool      `json:"has_name,omitempty"`
}

// MarkerSnapshot is one user's read marker.
type MarkerSnapshot struct {
	UserID uuid.UUID `json:"user_id"`
	Seq    int64     `json:"seq"`
}

// MessageSnapshot is what a room knows about one of its messages.
type MessageSnapshot struct {
	ID          uuid.UUID  `json:"id"`
	SenderID    uuid.UUID  `json:"sender_id"`
	Seq         int64      `json:"seq"`
	MessageType string     `json:"message_type"`
	ReplyTo     *uuid.UUID `json:"reply_to,omitempty"`
	CreatedAt   time.Time  `json:"created_at"`
	Deleted     bool       `json:"deleted,omitempty"`
}

// UserSnapshot is a user's state.
type UserSnapshot struct {
	ID          uuid.UUID `json:"id"`
	Version     int64     `json:"version"`
	Registered  bool      `json:"registered,omitempty"`
	Username    string    `json:"username,omitempty"`
	DisplayName string    `json:"display_name,omitempty"`
	Email       string    `json:"email,omitempty"`
	AvatarURL   string    `json:"avatar_url,omitempty"`
}

// SystemSnapshot is the system aggregate's state.
type SystemSnapshot struct {
	ID        uuid.UUID `json:"id"`
	Version   int64     `json:"version"`
	Published int64     `json:"published"`
}

// Snapshot copies the room's state; the copy shares nothing with the room.
func (r *Room) Snapshot() RoomSnapshot {
	s := RoomSnapshot{
		ID: r.id, Version: r.version, Created: r.created, Deleted: r.deleted, Name: r.name, Description: r.description,
		OwnerID: r.ownerID, IsPrivate: r.isPrivate, PasswordHash: r.passwordHash, CreatedAt: r.createdAt, LastSeq: r.lastSeq,
	}
	if n := len(r.members); n > 0 {
		s.Members = make([]MemberSnapshot, 0, n)
		for id, role := range r.members {
			name, ok := r.usernames[id]
			s.Members = append(s.Members, MemberSnapshot{UserID: id, Role: role, Username: name, HasName: ok})
		}
	}
	// usernames only ever holds members (Apply adds and removes both together).
	for id, banned := range r.banned {
		if banned {
			s.Banned = append(s.Banned, id)
		}
	}
	for id, inv := range r.invited {
		if inv {
			s.Invited = append(s.Invited, id)
		}
	}
	if n := len(r.readMarkers); n > 0 {
		s.ReadMarkers = make([]MarkerSnapshot, 0, n)
		for id, seq := range r.readMarkers {
			s.ReadMarkers = append(s.ReadMarkers, MarkerSnapshot{UserID: id, Seq: seq})
		}
	}
	if n := len(r.messages); n > 0 {
		s.Messages = make([]MessageSnapshot, 0, n)
		for id, m := range r.messages {
			s.Messages = append(s.Messages, MessageSnapshot{ID: id, SenderID: m.sender, Seq: m.seq, MessageType: m.mtype,
				ReplyTo: copyID(m.replyTo), CreatedAt: m.createdAt, Deleted: m.deleted})
		}
	}
	return s
}

// RestoreRoom is the room a snapshot was taken of.
func RestoreRoom(s RoomSnapshot) *Room {
	r := &Room{
		id: s.ID, version: s.Version, created: s.Created, deleted: s.Deleted, name: s.Name, description: s.Description,
		ownerID: s.OwnerID, isPrivate: s.IsPrivate, passwordHash: s.PasswordHash, createdAt: s.CreatedAt, lastSeq: s.LastSeq,
		members:     make(map[uuid.UUID]string, len(s.Members)),
		usernames:   make(map[uuid.UUID]string, len(s.Members)),
		banned:      make(map[uuid.UUID]bool, len(s.Banned)),
		invited:     make(map[uuid.UUID]bool, len(s.Invited)),
		readMarkers: make(map[uuid.UUID]int64, len(s.ReadMarkers)),
		messages:    make(map[uuid.UUID]messageFacts, len(s.Messages)),
	}
	for _, m := range s.Members {
		r.members[m.UserID] = m.Role
		if m.HasName {
			r.usernames[m.UserID] = m.Username
		}
	}
	for _, id := range s.Banned {
		r.banned[id] = true
	}
	for _, id := range s.Invited {
		r.invited[id] = true
	}
	for _, m := range s.ReadMarkers {
		r.readMarkers[m.UserID] = m.Seq
	}
	for _, m := range s.Messages {
		r.messages[m.ID] = messageFacts{sender: m.SenderID, seq: m.Seq, mtype: m.MessageType, replyTo: copyID(m.ReplyTo),
			createdAt: m.CreatedAt, deleted: m.Deleted}
	}
	return r
}

// Snapshot copies the user's state.
func (u *User) Snapshot() UserSnapshot {
	return UserSnapshot{ID: u.id, Version: u.version, Registered: u.registered, Username: u.username,
		DisplayName: u.displayName, Email: u.email, AvatarURL: u.avatarURL}
}

// RestoreUser is the user a snapshot was taken of.
func RestoreUser(s UserSnapshot) *User {
	return &User{id: s.ID, version: s.Version, registered: s.Registered, username: s.Username,
		displayName: s.DisplayName, email: s.Email, avatarURL: s.AvatarURL}
}

// Snapshot copies the system aggregate's state.
func (s *System) Snapshot() SystemSnapshot {
	return SystemSnapshot{ID: s.id, Version: s.version, Published: s.published}
}

// RestoreSystem is the system aggregate a snapshot was taken of.
func RestoreSystem(s SystemSnapshot) *System {
	return &System{id: s.ID, version: s.Version, published: s.Published}
}

// SnapshotAggregate snapshots any aggregate NewAggregate makes.
func SnapshotAggregate(a Aggregate) (AggregateSnapshot, error) {
	switch v := a.(type) {
	case *Room:
		s := v.Snapshot()
		return AggregateSnapshot{Type: AggregateRoom, Room: &s}, nil
	case *User:
		s := v.Snapshot()
		return AggregateSnapshot{Type: AggregateUser, User: &s}, nil
	case *System:
		s := v.Snapshot()
		return AggregateSnapshot{Type: AggregateSystem, System: &s}, nil
	default:
		return AggregateSnapshot{}, fmt.Errorf("snapshot: unknown aggregate %T", a)
	}
}

// RestoreAggregate is the aggregate a snapshot was taken of; it fails on a snapshot whose type
// and content do not match.
func RestoreAggregate(s AggregateSnapshot) (Aggregate, error) {
	switch {
	case s.Type == AggregateRoom && s.Room != nil:
		return RestoreRoom(*s.Room), nil
	case s.Type == AggregateUser && s.User != nil:
		return RestoreUser(*s.User), nil
	case s.Type == AggregateSystem && s.System != nil:
		return RestoreSystem(*s.System), nil
	default:
		return nil, fmt.Errorf("snapshot: aggregate of type %q without its state", s.Type)
	}
}
