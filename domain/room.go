package domain

import (
	"crypto/subtle"
	"time"

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

// Room is the chat room aggregate: its settings, its members with their roles and names, its
// bans, open invitations and read markers, and the facts about its messages that later commands
// are checked against (who wrote each one, its seq and type, whether it is deleted).
type Room struct {
	id           uuid.UUID
	version      int64
	created      bool
	deleted      bool
	name         string
	description  string
	ownerID      uuid.UUID
	isPrivate    bool
	passwordHash string
	createdAt    time.Time
	members      map[uuid.UUID]string // user -> role
	usernames    map[uuid.UUID]string // member -> the name they joined with, for events that remove them
	banned       map[uuid.UUID]bool
	invited      map[uuid.UUID]bool // open invitations
	readMarkers  map[uuid.UUID]int64
	lastSeq      int64
	messages     messageLog
	// A department's room (room_department.go): the department, whether the link ended, and
	// the highest sync taken.
	department *RoomDepartment
	released   bool
	synced     syncMark
}

// MessageInfo is what a room knows about one of its messages (not its content).
type MessageInfo struct {
	ID               uuid.UUID
	SenderID         uuid.UUID
	Seq              int64
	MessageType      string
	ReplyToMessageID *uuid.UUID
	CreatedAt        time.Time
	Deleted          bool
}

// NewRoom is the empty room before RoomCreated.
func NewRoom(id uuid.UUID) *Room {
	r := &Room{id: id}
	r.init()
	return r
}

func (r *Room) init() {
	if r.members == nil {
		r.members = map[uuid.UUID]string{}
	}
	if r.usernames == nil {
		r.usernames = map[uuid.UUID]string{}
	}
	if r.banned == nil {
		r.banned = map[uuid.UUID]bool{}
	}
	if r.invited == nil {
		r.invited = map[uuid.UUID]bool{}
	}
	if r.readMarkers == nil {
		r.readMarkers = map[uuid.UUID]int64{}
	}
}

// ---- read accessors ----

// Version is the number of events applied so far.
func (r *Room) Version() int64 { return r.version }

// Exists tells whether the room was created (it may have been deleted since).
func (r *Room) Exists() bool { return r.created }

// IsDeleted tells whether the room was deleted: every command on it is then room_deleted.
func (r *Room) IsDeleted() bool { return r.deleted }

// Name is the room's current name.
func (r *Room) Name() string { return r.name }

// Description is the room's current description.
func (r *Room) Description() string { return r.description }

// OwnerID is the room's owner.
func (r *Room) OwnerID() uuid.UUID { return r.ownerID }

// IsPrivate tells whether the room is private.
func (r *Room) IsPrivate() bool { return r.isPrivate }

// CreatedAt is when the room was created.
func (r *Room) CreatedAt() time.Time { return r.createdAt }

// HasPassword tells whether joining the private room by password is possible.
func (r *Room) HasPassword() bool { return r.passwordHash != "" }

// LastSeq is the seq of the room's latest message (0 before the first).
func (r *Room) LastSeq() int64 { return r.lastSeq }

// IsMember tells whether a user is in the room.
func (r *Room) IsMember(user uuid.UUID) bool { _, ok := r.members[user]; return ok }

// Role is a member's role (RoleOwner, RoleAdmin, RoleMember), or "" for a non-member.
func (r *Room) Role(user uuid.UUID) string { return r.members[user] }

// Username is the name a member joined with, or "" for a non-member.
func (r *Room) Username(user uuid.UUID) string { return r.usernames[user] }

// MemberCount is the number of members.
func (r *Room) MemberCount() int { return len(r.members) }

// IsBanned tells whether a user is banned from the room.
func (r *Room) IsBanned(user uuid.UUID) bool { return r.banned[user] }

// IsInvited tells whether a user has an open invitation to the room.
func (r *Room) IsInvited(user uuid.UUID) bool { return r.invited[user] }

// ReadMarker is the seq up to which a user has read the room (0: nothing).
func (r *Room) ReadMarker(user uuid.UUID) int64 { return r.readMarkers[user] }

// Message tells what the room knows about one of its messages.
func (r *Room) Message(id uuid.UUID) (MessageInfo, bool) {
	m, ok := r.messages.get(id)
	if !ok {
		return MessageInfo{}, false
	}
	return MessageInfo{ID: id, SenderID: m.sender, Seq: m.seq, MessageType: m.mtype, ReplyToMessageID: copyID(m.replyTo),
		CreatedAt: m.createdAt, Deleted: m.deleted}, true
}

// copyID copies an optional id, so that state and events never share a pointer.
func copyID(p *uuid.UUID) *uuid.UUID {
	if p == nil {
		return nil
	}
	v := *p
	return &v
}

// isModerator: the owner or an admin.
func (r *Room) isModerator(user uuid.UUID) bool {
	role := r.members[user]
	return role == RoleOwner || role == RoleAdmin
}

// liveMessage is a message of this room that is not deleted.
func (r *Room) liveMessage(id uuid.UUID) (messageFacts, error) {
	m, ok := r.messages.get(id)
	if !ok || m.deleted {
		return messageFacts{}, reject(CodeMessageNotFound, "message %s is not a message of this room", id)
	}
	return m, nil
}

// checkLive rejects every command on a room that was deleted, and every command but create on
// a room that does not exist.
func (r *Room) checkLive(cmd Command) error {
	if r.deleted {
		return reject(CodeRoomDeleted, "room %s was deleted", cmd.AggregateID)
	}
	if _, creating := cmd.Payload.(CreateRoom); !creating && !r.created {
		return reject(CodeRoomNotFound, "room %s does not exist", cmd.AggregateID)
	}
	return nil
}

// ---- decide ----

// Decide validates a room command against the room's state and returns the events it produces.
// An accepted command may produce no events (mark_read at or below the marker): an empty slice
// and a nil error.
func (r *Room) Decide(cmd Command, now time.Time) ([]Event, error) {
	if err := r.checkLive(cmd); err != nil {
		return nil, err
	}
	if err := r.checkManaged(cmd); err != nil {
		return nil, err
	}
	switch p := cmd.Payload.(type) {
	case CreateRoom:
		if p.Department != nil {
			return r.createForDepartment(cmd, p, now)
		}
		return r.create(cmd, p, now)
	case SyncDepartmentRoom:
		return r.syncDepartment(cmd, p, now)
	case ReleaseDepartmentRoom:
		return r.releaseDepartment(cmd, now)
	case UpdateRoom:
		return r.update(cmd, p, now)
	case DeleteRoom:
		if r.members[cmd.ActorID] != RoleOwner {
			return nil, reject(CodeForbidden, "only the owner can delete the room")
		}
		return eventsOf(cmd, r.version, now, RoomDeleted{RoomID: r.id, DeletedBy: cmd.ActorID, DeletedAt: now.UTC()}), nil
	case JoinRoom:
		return r.join(cmd, p, now)
	case LeaveRoom:
		if !r.IsMember(cmd.ActorID) {
			return nil, reject(CodeNotAMember, "not a member of this room")
		}
		if r.members[cmd.ActorID] == RoleOwner {
			return nil, reject(CodeForbidden, "the owner cannot leave the room: delete it instead")
		}
		return eventsOf(cmd, r.version, now, UserLeftRoom{
			RoomID: r.id, UserID: cmd.ActorID, Username: cmd.ActorName, LeftAt: now.UTC(),
		}), nil
	case SetRole:
		return r.setRole(cmd, p, now)
	case KickMember:
		return r.kick(cmd, p, now)
	case BanMember:
		return r.ban(cmd, p, now)
	case UnbanMember:
		if !r.isModerator(cmd.ActorID) {
			return nil, reject(CodeForbidden, "only the owner or an admin can unban")
		}
		if !r.banned[p.UserID] {
			return nil, reject(CodeValidationFailed, "user %s is not banned", p.UserID)
		}
		return eventsOf(cmd, r.version, now, UserUnbanned{RoomID: r.id, UserID: p.UserID, UnbannedBy: cmd.ActorID}), nil
	case InviteUser:
		return r.invite(cmd, p, now)
	case SendMessage:
		return r.send(cmd, p, now)
	case EditMessage:
		return r.edit(cmd, p, now)
	case DeleteMessage:
		return r.deleteMessage(cmd, p, now)
	case MarkRead:
		return r.markRead(cmd, p, now)
	default:
		return nil, reject(CodeValidationFailed, "command %s does not apply to a room", cmd.Type)
	}
}

func (r *Room) create(cmd Command, c CreateRoom, now time.Time) ([]Event, error) {
	if r.created {
		return nil, reject(CodeValidationFailed, "room %s already exists", cmd.AggregateID)
	}
	name, err := roomName(c.Name)
	if err != nil {
		return nil, err
	}
	desc, err := roomDescription(c.Description)
	if err != nil {
		return nil, err
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

func (r *Room) update(cmd Command, p UpdateRoom, now time.Time) ([]Event, error) {
	if !r.isModerator(cmd.ActorID) {
		return nil, reject(CodeForbidden, "only the owner or an admin can update the room")
	}
	if p.Name == nil && p.Description == nil {
		return nil, reject(CodeValidationFailed, "nothing to update: give a name or a description")
	}
	ev := RoomUpdated{RoomID: r.id, UpdatedBy: cmd.ActorID, UpdatedAt: now.UTC()}
	if p.Name != nil {
		name, err := roomName(*p.Name)
		if err != nil {
			return nil, err
		}
		ev.Name = &name
	}
	if p.Description != nil {
		desc, err := roomDescription(*p.Description)
		if err != nil {
			return nil, err
		}
		ev.Description = &desc
	}
	// The room as it will stand: the event carries it for consumers that keep no state.
	st := r.state()
	if ev.Name != nil {
		st.Name = *ev.Name
	}
	if ev.Description != nil {
		st.Description = *ev.Description
	}
	ev.Room = &st
	return eventsOf(cmd, r.version, now, ev), nil
}

// state is the room's settings and size as they stand.
func (r *Room) state() RoomState {
	return RoomState{
		Name: r.name, Description: r.description, OwnerID: r.ownerID, IsPrivate: r.isPrivate,
		MemberCount: len(r.members), CreatedAt: r.createdAt,
	}
}

// join: banned → forbidden; member → already_member; a public room, an open invitation or the
// room's current password hash lets the actor in; else wrong_password if the room has a
// password, forbidden (invite-only) if not.
func (r *Room) join(cmd Command, p JoinRoom, now time.Time) ([]Event, error) {
	if r.banned[cmd.ActorID] {
		return nil, reject(CodeForbidden, "you are banned from this room")
	}
	if r.IsMember(cmd.ActorID) {
		return nil, reject(CodeAlreadyMember, "already a member of this room")
	}
	if r.isPrivate && !r.invited[cmd.ActorID] {
		if r.passwordHash == "" {
			return nil, reject(CodeForbidden, "this room is private: it can be joined by invitation only")
		}
		if subtle.ConstantTimeCompare([]byte(p.PasswordHash), []byte(r.passwordHash)) != 1 {
			return nil, reject(CodeWrongPassword, "wrong password for this room")
		}
	}
	return eventsOf(cmd, r.version, now, UserJoinedRoom{
		RoomID: r.id, UserID: cmd.ActorID, Username: cmd.ActorName, Role: RoleMember, JoinedAt: now.UTC(),
	}), nil
}

func (r *Room) setRole(cmd Command, p SetRole, now time.Time) ([]Event, error) {
	if r.members[cmd.ActorID] != RoleOwner {
		return nil, reject(CodeForbidden, "only the owner can change roles")
	}
	if p.Role != RoleAdmin && p.Role != RoleMember {
		return nil, reject(CodeValidationFailed, "role must be admin or member")
	}
	current, ok := r.members[p.UserID]
	if !ok {
		return nil, reject(CodeNotAMember, "user %s is not a member of this room", p.UserID)
	}
	if current == RoleOwner {
		return nil, reject(CodeForbidden, "the owner's role cannot change")
	}
	if current == p.Role {
		return nil, reject(CodeValidationFailed, "user %s already has role %s", p.UserID, p.Role)
	}
	return eventsOf(cmd, r.version, now, MemberRoleChanged{RoomID: r.id, UserID: p.UserID, Role: p.Role, ChangedBy: cmd.ActorID}), nil
}

// mayModerate tells whether actor may kick or ban target: the owner anyone but himself, an
// admin plain members and non-members only.
func (r *Room) mayModerate(actor, target uuid.UUID) bool {
	if actor == target {
		return false
	}
	switch r.members[actor] {
	case RoleOwner:
		return true
	case RoleAdmin:
		role := r.members[target]
		return role != RoleOwner && role != RoleAdmin
	default:
		return false
	}
}

func (r *Room) kick(cmd Command, p KickMember, now time.Time) ([]Event, error) {
	if !r.isModerator(cmd.ActorID) {
		return nil, reject(CodeForbidden, "only the owner or an admin can kick")
	}
	if !r.IsMember(p.UserID) {
		return nil, reject(CodeNotAMember, "user %s is not a member of this room", p.UserID)
	}
	if !r.mayModerate(cmd.ActorID, p.UserID) {
		return nil, reject(CodeForbidden, "you cannot kick this member")
	}
	return eventsOf(cmd, r.version, now, MemberKicked{
		RoomID: r.id, UserID: p.UserID, Username: r.usernames[p.UserID], KickedBy: cmd.ActorID,
	}), nil
}

func (r *Room) ban(cmd Command, p BanMember, now time.Time) ([]Event, error) {
	if !r.isModerator(cmd.ActorID) {
		return nil, reject(CodeForbidden, "only the owner or an admin can ban")
	}
	if p.UserID == uuid.Nil {
		return nil, reject(CodeValidationFailed, "user_id is required")
	}
	if !r.mayModerate(cmd.ActorID, p.UserID) {
		return nil, reject(CodeForbidden, "you cannot ban this user")
	}
	if r.banned[p.UserID] {
		return nil, reject(CodeValidationFailed, "user %s is already banned", p.UserID)
	}
	reason, err := banReason(p.Reason)
	if err != nil {
		return nil, err
	}
	return eventsOf(cmd, r.version, now, UserBanned{
		RoomID: r.id, UserID: p.UserID, Username: r.usernames[p.UserID], WasMember: r.IsMember(p.UserID),
		BannedBy: cmd.ActorID, Reason: reason,
	}), nil
}

func (r *Room) invite(cmd Command, p InviteUser, now time.Time) ([]Event, error) {
	if !r.IsMember(cmd.ActorID) {
		return nil, reject(CodeForbidden, "only members can invite to this room")
	}
	if r.isPrivate && !r.isModerator(cmd.ActorID) {
		return nil, reject(CodeForbidden, "only the owner or an admin can invite to a private room")
	}
	if p.UserID == uuid.Nil {
		return nil, reject(CodeValidationFailed, "user_id is required")
	}
	if r.IsMember(p.UserID) {
		return nil, reject(CodeAlreadyMember, "user %s is already a member of this room", p.UserID)
	}
	if r.banned[p.UserID] {
		return nil, reject(CodeForbidden, "user %s is banned from this room", p.UserID)
	}
	if r.invited[p.UserID] {
		return nil, reject(CodeValidationFailed, "user %s is already invited", p.UserID)
	}
	return eventsOf(cmd, r.version, now, UserInvited{RoomID: r.id, UserID: p.UserID, InvitedBy: cmd.ActorID}), nil
}

func (r *Room) send(cmd Command, p SendMessage, now time.Time) ([]Event, error) {
	fromServer := cmd.ActorID == SystemActorID && p.MessageType == MessageSystem
	if !fromServer && !r.IsMember(cmd.ActorID) {
		return nil, reject(CodeNotAMember, "only members can send to this room")
	}
	mtype := p.MessageType
	switch mtype {
	case "":
		mtype = MessageText
	case MessageText, MessageImage, MessageFile:
	case MessageSystem:
		if !fromServer {
			return nil, reject(CodeValidationFailed, "message_type system is reserved for the server")
		}
	default:
		return nil, reject(CodeValidationFailed, "message_type must be text, image or file")
	}
	content, err := messageContent(mtype, p.Content)
	if err != nil {
		return nil, err
	}
	if _, err := checkText("client_msg_id", p.ClientMsgID, textLine); err != nil {
		return nil, err
	}
	if p.ReplyToMessageID != nil {
		if _, err := r.liveMessage(*p.ReplyToMessageID); err != nil {
			return nil, reject(CodeMessageNotFound, "reply_to_message_id names no live message of this room")
		}
	}
	return eventsOf(cmd, r.version, now, MessageSent{RoomID: r.id, Message: MessageData{
		ID: MessageIDFor(cmd.ID), RoomID: r.id, SenderID: cmd.ActorID, Content: content, MessageType: mtype,
		ReplyToMessageID: p.ReplyToMessageID, Seq: r.lastSeq + 1, ClientMsgID: p.ClientMsgID, CreatedAt: now.UTC(),
	}}), nil
}

func (r *Room) edit(cmd Command, p EditMessage, now time.Time) ([]Event, error) {
	if !r.IsMember(cmd.ActorID) {
		return nil, reject(CodeNotAMember, "only members can edit messages in this room")
	}
	m, err := r.liveMessage(p.MessageID)
	if err != nil {
		return nil, err
	}
	if m.sender != cmd.ActorID {
		return nil, reject(CodeForbidden, "only the author can edit a message")
	}
	content, err := messageContent(m.mtype, p.Content)
	if err != nil {
		return nil, err
	}
	return eventsOf(cmd, r.version, now, MessageUpdated{
		RoomID: r.id, MessageID: p.MessageID, NewContent: content, UpdatedBy: cmd.ActorID, UpdatedAt: now.UTC(),
		Seq: m.seq, SenderID: m.sender, MessageType: m.mtype, ReplyToMessageID: copyID(m.replyTo), CreatedAt: m.createdAt,
	}), nil
}

func (r *Room) deleteMessage(cmd Command, p DeleteMessage, now time.Time) ([]Event, error) {
	if !r.IsMember(cmd.ActorID) {
		return nil, reject(CodeNotAMember, "only members can delete messages in this room")
	}
	m, err := r.liveMessage(p.MessageID)
	if err != nil {
		return nil, err
	}
	if m.sender != cmd.ActorID && !r.isModerator(cmd.ActorID) {
		return nil, reject(CodeForbidden, "only the author, the owner or an admin can delete a message")
	}
	return eventsOf(cmd, r.version, now, MessageDeleted{
		RoomID: r.id, MessageID: p.MessageID, Seq: m.seq, DeletedBy: cmd.ActorID, DeletedAt: now.UTC(),
	}), nil
}

func (r *Room) markRead(cmd Command, p MarkRead, now time.Time) ([]Event, error) {
	if !r.IsMember(cmd.ActorID) {
		return nil, reject(CodeNotAMember, "only members have a read marker in this room")
	}
	if p.Seq < 1 || p.Seq > r.lastSeq {
		return nil, reject(CodeValidationFailed, "seq must be 1 to %d", r.lastSeq)
	}
	if p.Seq <= r.readMarkers[cmd.ActorID] {
		return []Event{}, nil // already read that far: accepted, nothing changes
	}
	return eventsOf(cmd, r.version, now, ReadMarkerUpdated{RoomID: r.id, UserID: cmd.ActorID, Seq: p.Seq}), nil
}

// ---- apply ----

// Apply folds a room event into the state. It never fails: an event that does not fit the state
// (which Decide would not have produced) is folded as far as it goes.
func (r *Room) Apply(e Event) {
	r.init()
	r.version = e.Version
	switch d := e.Data.(type) {
	case RoomCreated:
		r.created, r.ownerID, r.isPrivate, r.passwordHash = true, d.OwnerID, d.IsPrivate, d.PasswordHash
		r.name, r.description, r.createdAt = d.Name, d.Description, d.CreatedAt
	case RoomUpdated:
		if d.Name != nil {
			r.name = *d.Name
		}
		if d.Description != nil {
			r.description = *d.Description
		}
	case RoomDeleted:
		r.deleted = true
	case UserJoinedRoom:
		r.members[d.UserID] = d.Role
		r.usernames[d.UserID] = d.Username
		delete(r.invited, d.UserID)
	case UserLeftRoom:
		delete(r.members, d.UserID)
		delete(r.usernames, d.UserID)
	case MemberRoleChanged:
		if _, ok := r.members[d.UserID]; ok {
			r.members[d.UserID] = d.Role
		}
	case MemberKicked:
		delete(r.members, d.UserID)
		delete(r.usernames, d.UserID)
	case UserBanned:
		delete(r.members, d.UserID)
		delete(r.usernames, d.UserID)
		delete(r.invited, d.UserID)
		r.banned[d.UserID] = true
	case UserUnbanned:
		delete(r.banned, d.UserID)
	case UserInvited:
		r.invited[d.UserID] = true
	case MessageSent:
		if d.Message.Seq > r.lastSeq {
			r.lastSeq = d.Message.Seq
		}
		r.messages.put(d.Message.ID, messageFacts{
			sender: d.Message.SenderID, seq: d.Message.Seq, mtype: d.Message.MessageType,
			replyTo: d.Message.ReplyToMessageID, createdAt: d.Message.CreatedAt,
		})
	case MessageDeleted:
		r.messages.markDeleted(d.MessageID)
	case ReadMarkerUpdated:
		if d.Seq > r.readMarkers[d.UserID] {
			r.readMarkers[d.UserID] = d.Seq
		}
	default:
		r.applyDepartment(e)
	}
}
