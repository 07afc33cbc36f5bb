package domain

import (
	"encoding/json"
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

// SnapshotFormat is the version of the aggregate snapshot form written today. 2: a room holds
// its department link (department rooms), which decides who may join and leave.
const SnapshotFormat = 2

// AggregateSnapshot is the snapshot of any aggregate: Type says which kind, and which one of
// the others is set.
type AggregateSnapshot struct {
	Type   string          `json:"type"`
	Room   *RoomSnapshot   `json:"room,omitempty"`
	User   *UserSnapshot   `json:"user,omitempty"`
	System *SystemSnapshot `json:"system,omitempty"`
	// State holds the state of any other kind (stateSnapshots): the three above have forms of
	// their own, the fast binary ones of commands/snapshot_entry.go; a kind added since needs no
	// snapshot code outside its own file until its numbers call for a faster form.
	State *StateSnapshot `json:"state,omitempty"`
}

// StateSnapshot is an aggregate's id and its state as the JSON of its own snapshot struct.
type StateSnapshot struct {
	ID   uuid.UUID       `json:"id"`
	JSON json.RawMessage `json:"json"`
}

// AggregateID is the id of the aggregate the snapshot holds, false if it holds none.
func (s AggregateSnapshot) AggregateID() (uuid.UUID, bool) {
	switch {
	case s.Room != nil:
		return s.Room.ID, true
	case s.User != nil:
		return s.User.ID, true
	case s.System != nil:
		return s.System.ID, true
	case s.State != nil:
		return s.State.ID, true
	}
	return uuid.Nil, false
}

// Snapshots is how a kind's state is written down and read back (a row of the kind table).
type Snapshots struct {
	// Take writes aggregate a down; ok is false when a is not of the kind.
	Take func(a Aggregate) (s AggregateSnapshot, ok bool, err error)
	// Restore is the aggregate s was taken of. s is of the kind; one that holds no state of it
	// is an error.
	Restore func(s AggregateSnapshot) (Aggregate, error)
}

func withoutState(s AggregateSnapshot) error {
	return fmt.Errorf("snapshot: aggregate of type %q without its state", s.Type)
}

// stateSnapshots is the Snapshots of a kind whose state S is written down as JSON (in State):
// take copies an aggregate's state, restore is the aggregate of a state, id names it.
func stateSnapshots[A Aggregate, S any](kind string, id func(A) uuid.UUID, take func(A) S, restore func(S) A) Snapshots {
	return Snapshots{
		Take: func(a Aggregate) (AggregateSnapshot, bool, error) {
			v, ok := a.(A)
			if !ok {
				return AggregateSnapshot{}, false, nil
			}
			b, err := json.Marshal(take(v))
			if err != nil {
				return AggregateSnapshot{}, true, fmt.Errorf("snapshot %s: %w", kind, err)
			}
			return AggregateSnapshot{Type: kind, State: &StateSnapshot{ID: id(v), JSON: b}}, true, nil
		},
		Restore: func(s AggregateSnapshot) (Aggregate, error) {
			if s.State == nil {
				return nil, withoutState(s)
			}
			var st S
			if err := json.Unmarshal(s.State.JSON, &st); err != nil {
				return nil, fmt.Errorf("snapshot %s: %w", kind, err)
			}
			return restore(st), nil
		},
	}
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
	// A department's room: its department, whether the link ended, the highest sync taken.
	Department  *RoomDepartment `json:"department,omitempty"`
	Released    bool            `json:"released,omitempty"`
	SyncVersion int64           `json:"sync_version,omitempty"`
	SyncPart    int             `json:"sync_part,omitempty"`
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
	// OnlineSince is the open session's start; absent when offline (and in snapshots older
	// than online time, when nobody had a session).
	OnlineSince *time.Time `json:"online_since,omitempty"`
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
		Department: r.Department(), Released: r.released, SyncVersion: r.synced.version, SyncPart: r.synced.part,
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
	if n := r.messages.len(); n > 0 {
		s.Messages = make([]MessageSnapshot, 0, n)
		r.messages.each(func(id uuid.UUID, m messageFacts) {
			s.Messages = append(s.Messages, MessageSnapshot{ID: id, SenderID: m.sender, Seq: m.seq, MessageType: m.mtype,
				ReplyTo: m.replyTo, CreatedAt: m.createdAt, Deleted: m.deleted})
		})
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
		released:    s.Released,
		synced:      syncMark{version: s.SyncVersion, part: s.SyncPart},
	}
	if s.Department != nil {
		d := *s.Department
		r.department = &d
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
	r.messages.reserve(len(s.Messages))
	for _, m := range s.Messages {
		r.messages.put(m.ID, messageFacts{sender: m.SenderID, seq: m.Seq, mtype: m.MessageType, replyTo: m.ReplyTo,
			createdAt: m.CreatedAt, deleted: m.Deleted})
	}
	return r
}

// Snapshot copies the user's state.
func (u *User) Snapshot() UserSnapshot {
	return UserSnapshot{ID: u.id, Version: u.version, Registered: u.registered, Username: u.username,
		DisplayName: u.displayName, Email: u.email, AvatarURL: u.avatarURL, OnlineSince: timeOrNil(u.onlineSince)}
}

// RestoreUser is the user a snapshot was taken of.
func RestoreUser(s UserSnapshot) *User {
	return &User{id: s.ID, version: s.Version, registered: s.Registered, username: s.Username,
		displayName: s.DisplayName, email: s.Email, avatarURL: s.AvatarURL, onlineSince: timeOrZero(s.OnlineSince)}
}

func timeOrNil(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

func timeOrZero(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return *t
}

// Snapshot copies the system aggregate's state.
func (s *System) Snapshot() SystemSnapshot {
	return SystemSnapshot{ID: s.id, Version: s.version, Published: s.published}
}

// RestoreSystem is the system aggregate a snapshot was taken of.
func RestoreSystem(s SystemSnapshot) *System {
	return &System{id: s.ID, version: s.Version, published: s.Published}
}

// fieldSnapshots is the Snapshots of a kind whose state S has a field of its own in
// AggregateSnapshot (field points at it): take copies an aggregate's state, restore is the
// aggregate of a state.
func fieldSnapshots[A Aggregate, S any](kind string, field func(*AggregateSnapshot) **S, take func(A) S, restore func(S) A) Snapshots {
	return Snapshots{
		Take: func(a Aggregate) (AggregateSnapshot, bool, error) {
			v, ok := a.(A)
			if !ok {
				return AggregateSnapshot{}, false, nil
			}
			st := take(v)
			s := AggregateSnapshot{Type: kind}
			*field(&s) = &st
			return s, true, nil
		},
		Restore: func(s AggregateSnapshot) (Aggregate, error) {
			st := *field(&s)
			if st == nil {
				return nil, withoutState(s)
			}
			return restore(*st), nil
		},
	}
}

// SnapshotAggregate snapshots any aggregate NewAggregate makes.
func SnapshotAggregate(a Aggregate) (AggregateSnapshot, error) {
	for i := range kinds {
		if s, ok, err := kinds[i].Snapshots.Take(a); ok {
			return s, err
		}
	}
	return AggregateSnapshot{}, fmt.Errorf("snapshot: unknown aggregate %T", a)
}

// RestoreAggregate is the aggregate a snapshot was taken of; it fails on a snapshot whose type
// and content do not match.
func RestoreAggregate(s AggregateSnapshot) (Aggregate, error) {
	k, err := KindOf(s.Type)
	if err != nil {
		return nil, withoutState(s)
	}
	return k.Snapshots.Restore(s)
}
