package domain

import (
	"encoding/json"
	"time"

	"github.com/google/uuid"
)

// Command types.
const (
	CmdRegisterUser  = "register_user"
	CmdUpdateProfile = "update_profile"
	CmdCreateRoom    = "create_room"
	CmdUpdateRoom    = "update_room"
	CmdDeleteRoom    = "delete_room"
	CmdJoinRoom      = "join_room"
	CmdLeaveRoom     = "leave_room"
	CmdSetRole       = "set_role"
	CmdKickMember    = "kick_member"
	CmdBanMember     = "ban_member"
	CmdUnbanMember   = "unban_member"
	CmdInviteUser    = "invite_user"
	CmdSendMessage   = "send_message"
	CmdEditMessage   = "edit_message"
	CmdDeleteMessage = "delete_message"
	CmdMarkRead      = "mark_read"
)

// Command is a request to change one aggregate. ID is the idempotency key: the same id always
// gets the first answer. ActorName travels with the command so that events can name the user
// without the aggregate looking anything up.
type Command struct {
	ID            uuid.UUID   `json:"id"`
	Type          string      `json:"type"`
	AggregateType string      `json:"aggregate_type"`
	AggregateID   uuid.UUID   `json:"aggregate_id"`
	ActorID       uuid.UUID   `json:"actor_id"`
	ActorName     string      `json:"actor_name"`
	IssuedAt      time.Time   `json:"issued_at"`
	Payload       CommandData `json:"payload"`
	// CorrelationID joins the log lines of one request across processes (the gateway's
	// X-Request-ID, or one made per request or frame); it never enters an event.
	CorrelationID string `json:"correlation_id,omitempty"`
	// ActingID is the delegate who sent the command for ActorID under a proxy grant (proxy.go),
	// nil otherwise; it is copied into every event of the command.
	ActingID *uuid.UUID `json:"acting_id,omitempty"`
}

// CommandData is the typed payload of one command type.
type CommandData interface{ CommandType() string }

// RegisterUser claims a username. The aggregate id is UserIDFor(Username).
type RegisterUser struct {
	Username    string `json:"username"`
	DisplayName string `json:"display_name"`
	Email       string `json:"email,omitempty"`
}

// UpdateProfile changes the given fields of the actor's own profile; a nil field is left as it
// is. An empty display name resets it to the username; an empty email or avatar URL clears it.
type UpdateProfile struct {
	DisplayName *string `json:"display_name,omitempty"`
	AvatarURL   *string `json:"avatar_url,omitempty"`
	Email       *string `json:"email,omitempty"`
}

// CreateRoom opens a room whose id is the command's aggregate id; the actor becomes its owner.
type CreateRoom struct {
	Name         string `json:"name"`
	Description  string `json:"description"`
	IsPrivate    bool   `json:"is_private"`
	PasswordHash string `json:"password_hash,omitempty"`
	// Department, set only by the server, makes the room a department's (room_department.go).
	Department *RoomDepartment `json:"department,omitempty"`
}

// UpdateRoom changes the given settings of a room; a nil field is left as it is.
type UpdateRoom struct {
	Name        *string `json:"name,omitempty"`
	Description *string `json:"description,omitempty"`
}

// DeleteRoom deletes a room for good: every later command on it is room_deleted.
type DeleteRoom struct{}

// JoinRoom makes the actor a member. PasswordHash is the room's password hash that the gateway
// verified the clear password against (never the password itself): the slow hash comparison
// runs in the gateway, the single writer only compares it with the room's current hash.
type JoinRoom struct {
	PasswordHash string `json:"password_hash,omitempty"`
}

// LeaveRoom ends the actor's membership.
type LeaveRoom struct{}

// SetRole makes a member an admin or a plain member again.
type SetRole struct {
	UserID uuid.UUID `json:"user_id"`
	Role   string    `json:"role"`
}

// KickMember ends another user's membership.
type KickMember struct {
	UserID uuid.UUID `json:"user_id"`
}

// BanMember ends a user's membership, if any, and keeps them out until unbanned.
type BanMember struct {
	UserID uuid.UUID `json:"user_id"`
	Reason string    `json:"reason,omitempty"`
}

// UnbanMember lifts a ban.
type UnbanMember struct {
	UserID uuid.UUID `json:"user_id"`
}

// InviteUser opens an invitation for a user; joining consumes it.
type InviteUser struct {
	UserID uuid.UUID `json:"user_id"`
}

// SendMessage posts a message as the actor.
type SendMessage struct {
	Content          string     `json:"content"`
	MessageType      string     `json:"message_type,omitempty"`
	ReplyToMessageID *uuid.UUID `json:"reply_to_message_id,omitempty"`
	ClientMsgID      string     `json:"client_msg_id,omitempty"`
}

// EditMessage replaces the content of one of the actor's messages.
type EditMessage struct {
	MessageID uuid.UUID `json:"message_id"`
	Content   string    `json:"content"`
}

// DeleteMessage deletes a message; it stays in history, marked deleted.
type DeleteMessage struct {
	MessageID uuid.UUID `json:"message_id"`
}

// MarkRead moves the actor's durable read marker forward to Seq.
type MarkRead struct {
	Seq int64 `json:"seq"`
}

func (RegisterUser) CommandType() string  { return CmdRegisterUser }
func (UpdateProfile) CommandType() string { return CmdUpdateProfile }
func (CreateRoom) CommandType() string    { return CmdCreateRoom }
func (UpdateRoom) CommandType() string    { return CmdUpdateRoom }
func (DeleteRoom) CommandType() string    { return CmdDeleteRoom }
func (JoinRoom) CommandType() string      { return CmdJoinRoom }
func (LeaveRoom) CommandType() string     { return CmdLeaveRoom }
func (SetRole) CommandType() string       { return CmdSetRole }
func (KickMember) CommandType() string    { return CmdKickMember }
func (BanMember) CommandType() string     { return CmdBanMember }
func (UnbanMember) CommandType() string   { return CmdUnbanMember }
func (InviteUser) CommandType() string    { return CmdInviteUser }
func (SendMessage) CommandType() string   { return CmdSendMessage }
func (EditMessage) CommandType() string   { return CmdEditMessage }
func (DeleteMessage) CommandType() string { return CmdDeleteMessage }
func (MarkRead) CommandType() string      { return CmdMarkRead }

// NewCommand fills in the envelope of a command from its payload.
func NewCommand(id uuid.UUID, aggregateID uuid.UUID, actorID uuid.UUID, actorName string, issuedAt time.Time, p CommandData) Command {
	return Command{
		ID: id, Type: p.CommandType(), AggregateType: AggregateTypeOf(p), AggregateID: aggregateID,
		ActorID: actorID, ActorName: actorName, IssuedAt: issuedAt.UTC(), Payload: p,
	}
}

// UnmarshalJSON decodes a command and its payload into the payload type named by "type".
func (c *Command) UnmarshalJSON(b []byte) error {
	if decodeSendMessage(b, c) {
		return nil
	}
	return c.unmarshalJSON(b)
}

// unmarshalJSON is UnmarshalJSON through encoding/json alone.
func (c *Command) unmarshalJSON(b []byte) error {
	type envelope Command
	var raw struct {
		envelope
		Payload json.RawMessage `json:"payload"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	*c = Command(raw.envelope)
	// The kind table (kinds.go) knows every payload type by its command type.
	var err error
	c.Payload, err = decodeCommand(raw.Type, raw.Payload)
	return err
}
