package domain

import (
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
)

// Room roles.
const (
	RoleOwner  = "owner"
	RoleAdmin  = "admin"
	RoleMember = "member"
)

// Message types.
const (
	MessageText   = "text"
	MessageImage  = "image"
	MessageFile   = "file"
	MessageSystem = "system"
)

// Limits of the contract.
const (
	MaxContentRunes     = 4000
	MaxRoomNameRunes    = 100
	MaxDescriptionRunes = 1000
)

// Room is the chat room aggregate: its settings, its members and the facts about its messages
// that later commands are checked against (who wrote each one, whether it is deleted).
type Room struct {
	id           uuid.UUID
	version      int64
	created      bool
	ownerID      uuid.UUID
	isPrivate    bool
	passwordHash string
	members      map[uuid.UUID]string // user -> role
	lastSeq      int64
	messages     map[uuid.UUID]messageFacts
}

type messageFacts struct {
	sender uuid.UUID
	seq    int64
}

// NewRoom is the empty room before RoomCreated.
func NewRoom(id uuid.UUID) *Room {
	return &Room{id: id, members: map[uuid.UUID]string{}, messages: map[uuid.UUID]messageFacts{}}
}

// Version is the number of events applied so far.
func (r *Room) Version() int64 { return r.version }

// LastSeq is the seq of the room's latest message (0 before the first).
func (r *Room) LastSeq() int64 { return r.lastSeq }

// IsMember tells whether a user is in the room.
func (r *Room) IsMember(user uuid.UUID) bool { _, ok := r.members[user]; return ok }

// Decide validates a room command against the room's state and returns the events it produces.
func (r *Room) Decide(cmd Command, now time.Time) ([]Event, error) {
	if c, ok := cmd.Payload.(CreateRoom); ok {
		return r.create(cmd, c, now)
	}
	if !r.created {
		return nil, reject(CodeRoomNotFound, "room %s does not exist", cmd.AggregateID)
	}
	switch p := cmd.Payload.(type) {
	case JoinRoom:
		if r.IsMember(cmd.ActorID) {
			return nil, reject(CodeAlreadyMember, "already a member of this room")
		}
		if r.isPrivate {
			return nil, reject(CodeForbidden, "this room is private")
		}
		return eventsOf(cmd, r.version, now, UserJoinedRoom{
			RoomID: r.id, UserID: cmd.ActorID, Username: cmd.ActorName, Role: RoleMember, JoinedAt: now.UTC(),
		}), nil
	case LeaveRoom:
		if !r.IsMember(cmd.ActorID) {
			return nil, reject(CodeNotAMember, "not a member of this room")
		}
		return eventsOf(cmd, r.version, now, UserLeftRoom{
			RoomID: r.id, UserID: cmd.ActorID, Username: cmd.ActorName, LeftAt: now.UTC(),
		}), nil
	case SendMessage:
		return r.send(cmd, p, now)
	default:
		return nil, reject(CodeValidationFailed, "command %s does not apply to a room", cmd.Type)
	}
}

func (r *Room) create(cmd Command, c CreateRoom, now time.Time) ([]Event, error) {
	if r.created {
		return nil, reject(CodeValidationFailed, "room %s already exists", cmd.AggregateID)
	}
	name := strings.TrimSpace(c.Name)
	if name == "" || utf8.RuneCountInString(name) > MaxRoomNameRunes {
		return nil, reject(CodeValidationFailed, "name must be 1 to %d characters", MaxRoomNameRunes)
	}
	desc := strings.TrimSpace(c.Description)
	if utf8.RuneCountInString(desc) > MaxDescriptionRunes {
		return nil, reject(CodeValidationFailed, "description is longer than %d characters", MaxDescriptionRunes)
	}
	if !utf8.ValidString(name) || !utf8.ValidString(desc) {
		return nil, reject(CodeValidationFailed, "name and description must be valid UTF-8")
	}
	if c.PasswordHash != "" && !c.IsPrivate {
		return nil, reject(CodeValidationFailed, "only a private room can have a password")
	}
	return eventsOf(cmd, r.version, now,
		RoomCreated{
			RoomID: cmd.AggregateID, Name: name, Description: desc, OwnerID: cmd.ActorID,
			IsPrivate: c.IsPrivate, PasswordHash: c.PasswordHash, CreatedAt: now.UTC(),
		},
		UserJoinedRoom{RoomID: cmd.AggregateID, UserID: cmd.ActorID, Username: cmd.ActorName, Role: RoleOwner, JoinedAt: now.UTC()},
	), nil
}

func (r *Room) send(cmd Command, p SendMessage, now time.Time) ([]Event, error) {
	if !r.IsMember(cmd.ActorID) {
		return nil, reject(CodeNotAMember, "only members can send to this room")
	}
	content := strings.TrimSpace(p.Content)
	if n := utf8.RuneCountInString(content); n == 0 || n > MaxContentRunes {
		return nil, reject(CodeValidationFailed, "content must be 1 to %d characters after trimming", MaxContentRunes)
	}
	if !utf8.ValidString(content) {
		return nil, reject(CodeValidationFailed, "content is not valid UTF-8")
	}
	mtype := p.MessageType
	switch mtype {
	case "":
		mtype = MessageText
	case MessageText, MessageImage, MessageFile:
	case MessageSystem:
		return nil, reject(CodeValidationFailed, "message_type system is reserved for the server")
	default:
		return nil, reject(CodeValidationFailed, "message_type must be text, image or file")
	}
	if p.ReplyToMessageID != nil {
		if _, ok := r.messages[*p.ReplyToMessageID]; !ok {
			return nil, reject(CodeMessageNotFound, "reply_to_message_id names no message of this room")
		}
	}
	return eventsOf(cmd, r.version, now, MessageSent{RoomID: r.id, Message: MessageData{
		ID: MessageIDFor(cmd.ID), RoomID: r.id, SenderID: cmd.ActorID, Content: content, MessageType: mtype,
		ReplyToMessageID: p.ReplyToMessageID, Seq: r.lastSeq + 1, ClientMsgID: p.ClientMsgID, CreatedAt: now.UTC(),
	}}), nil
}

// Apply folds a room event into the state.
func (r *Room) Apply(e Event) {
	r.version = e.Version
	switch d := e.Data.(type) {
	case RoomCreated:
		r.created, r.ownerID, r.isPrivate, r.passwordHash = true, d.OwnerID, d.IsPrivate, d.PasswordHash
	case UserJoinedRoom:
		r.members[d.UserID] = d.Role
	case UserLeftRoom:
		delete(r.members, d.UserID)
	case MessageSent:
		r.lastSeq = d.Message.Seq
		r.messages[d.Message.ID] = messageFacts{sender: d.Message.SenderID, seq: d.Message.Seq}
	}
}
