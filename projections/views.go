// Package projections turns events into what clients read: the contract's views (this file),
// Postgres read models (readmodel) and real-time pushes (push); the queries clients make of them
// are package queries'.
package projections

import (
	"time"

	"github.com/google/uuid"

	"github.com/chorus-chat/chorus/domain"
)

// User is the contract's User, extended with the avatar URL (absent when the user has none).
type User struct {
	ID          uuid.UUID `json:"id"`
	Username    string    `json:"username"`
	DisplayName string    `json:"display_name"`
	Email       string    `json:"email,omitempty"`
	AvatarURL   string    `json:"avatar_url,omitempty"`
	Status      string    `json:"status"`
	CreatedAt   time.Time `json:"created_at"`
}

// Room is the contract's Room. UnreadCount and LastReadSeq are the caller's own state in the
// room: set (and shown) only in a room listing, for the rooms the caller is a member of.
type Room struct {
	ID          uuid.UUID `json:"id"`
	Name        string    `json:"name"`
	Description string    `json:"description"`
	OwnerID     uuid.UUID `json:"owner_id"`
	IsPrivate   bool      `json:"is_private"`
	MemberCount int       `json:"member_count"`
	CreatedAt   time.Time `json:"created_at"`
	UpdatedAt   time.Time `json:"updated_at"`
	// UnreadCount counts the messages of others after LastReadSeq that are not deleted.
	UnreadCount *int64 `json:"unread_count,omitempty"`
	// LastReadSeq is the seq up to which the caller has read the room.
	LastReadSeq *int64 `json:"last_read_seq,omitempty"`
	// Department is the department that owns a department room, absent for any other room.
	Department *RoomDepartment `json:"department,omitempty"`
}

// RoomDepartment is the department a department room belongs to (domain/room_department.go).
// Name is the department's as the directory has it, absent while the directory has not got
// there.
type RoomDepartment struct {
	OrgID        uuid.UUID `json:"org_id"`
	DepartmentID uuid.UUID `json:"department_id"`
	Name         string    `json:"name,omitempty"`
}

// Message is the contract's Message.
type Message struct {
	ID               uuid.UUID  `json:"id"`
	RoomID           uuid.UUID  `json:"room_id"`
	SenderID         uuid.UUID  `json:"sender_id"`
	Content          string     `json:"content"`
	MessageType      string     `json:"message_type"`
	ReplyToMessageID *uuid.UUID `json:"reply_to_message_id"`
	Seq              int64      `json:"seq"`
	CreatedAt        time.Time  `json:"created_at"`
	EditedAt         *time.Time `json:"edited_at"`
	Deleted          bool       `json:"deleted"`
	// SentBy is the delegate who sent the message for its sender (a proxy grant), absent when
	// the sender sent it.
	SentBy *uuid.UUID `json:"sent_by,omitempty"`
}

// Member is one entry of a room's member list.
type Member struct {
	User     User      `json:"user"`
	Role     string    `json:"role"`
	JoinedAt time.Time `json:"joined_at"`
}

// MessageOf is the view of a message as MessageSent records it.
func MessageOf(d domain.MessageData) Message {
	return Message{
		ID: d.ID, RoomID: d.RoomID, SenderID: d.SenderID, Content: d.Content, MessageType: d.MessageType,
		ReplyToMessageID: d.ReplyToMessageID, Seq: d.Seq, CreatedAt: d.CreatedAt,
	}
}

// RoomOf is the view of a room right after RoomCreated (its owner is its one member).
func RoomOf(d domain.RoomCreated) Room {
	return Room{
		ID: d.RoomID, Name: d.Name, Description: d.Description, OwnerID: d.OwnerID, IsPrivate: d.IsPrivate,
		MemberCount: 1, CreatedAt: d.CreatedAt, UpdatedAt: d.CreatedAt,
	}
}

// RoomOfUpdate is the view of a room right after RoomUpdated, from the state the event repeats.
// An event without that state (written before it existed) gives only what it says: the id, the
// changed fields and the update time.
func RoomOfUpdate(d domain.RoomUpdated) Room {
	r := Room{ID: d.RoomID, UpdatedAt: d.UpdatedAt}
	if st := d.Room; st != nil {
		r.Name, r.Description, r.OwnerID, r.IsPrivate = st.Name, st.Description, st.OwnerID, st.IsPrivate
		r.MemberCount, r.CreatedAt = st.MemberCount, st.CreatedAt
	}
	if d.Name != nil {
		r.Name = *d.Name
	}
	if d.Description != nil {
		r.Description = *d.Description
	}
	return r
}

// MessageOfUpdate is the view of a message right after MessageUpdated, from the facts the
// event repeats.
func MessageOfUpdate(d domain.MessageUpdated) Message {
	edited := d.UpdatedAt
	return Message{
		ID: d.MessageID, RoomID: d.RoomID, SenderID: d.SenderID, Content: d.NewContent, MessageType: d.MessageType,
		ReplyToMessageID: d.ReplyToMessageID, Seq: d.Seq, CreatedAt: d.CreatedAt, EditedAt: &edited,
	}
}

// UserOf is the view of a user right after UserRegistered.
func UserOf(d domain.UserRegistered) User {
	return User{
		ID: d.UserID, Username: d.Username, DisplayName: d.DisplayName, Email: d.Email,
		Status: "offline", CreatedAt: d.RegisteredAt,
	}
}
