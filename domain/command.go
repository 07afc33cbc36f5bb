package domain

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/google/uuid"
)

// Command types.
const (
	CmdRegisterUser = "register_user"
	CmdCreateRoom   = "create_room"
	CmdJoinRoom     = "join_room"
	CmdLeaveRoom    = "leave_room"
	CmdSendMessage  = "send_message"
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
}

// CommandData is the typed payload of one command type.
type CommandData interface{ CommandType() string }

// RegisterUser claims a username. The aggregate id is UserIDFor(Username).
type RegisterUser struct {
	Username    string `json:"username"`
	DisplayName string `json:"display_name"`
	Email       string `json:"email,omitempty"`
}

// CreateRoom opens a room whose id is the command's aggregate id; the actor becomes its owner.
type CreateRoom struct {
	Name         string `json:"name"`
	Description  string `json:"description"`
	IsPrivate    bool   `json:"is_private"`
	PasswordHash string `json:"password_hash,omitempty"`
}

// JoinRoom makes the actor a member.
type JoinRoom struct{}

// LeaveRoom ends the actor's membership.
type LeaveRoom struct{}

// SendMessage posts a message as the actor.
type SendMessage struct {
	Content          string     `json:"content"`
	MessageType      string     `json:"message_type,omitempty"`
	ReplyToMessageID *uuid.UUID `json:"reply_to_message_id,omitempty"`
	ClientMsgID      string     `json:"client_msg_id,omitempty"`
}

func (RegisterUser) CommandType() string { return CmdRegisterUser }
func (CreateRoom) CommandType() string   { return CmdCreateRoom }
func (JoinRoom) CommandType() string     { return CmdJoinRoom }
func (LeaveRoom) CommandType() string    { return CmdLeaveRoom }
func (SendMessage) CommandType() string  { return CmdSendMessage }

// NewCommand fills in the envelope of a command from its payload.
func NewCommand(id uuid.UUID, aggregateID uuid.UUID, actorID uuid.UUID, actorName string, issuedAt time.Time, p CommandData) Command {
	aggType := AggregateRoom
	if _, ok := p.(RegisterUser); ok {
		aggType = AggregateUser
	}
	return Command{
		ID: id, Type: p.CommandType(), AggregateType: aggType, AggregateID: aggregateID,
		ActorID: actorID, ActorName: actorName, IssuedAt: issuedAt.UTC(), Payload: p,
	}
}

// UnmarshalJSON decodes a command and its payload into the payload type named by "type".
func (c *Command) UnmarshalJSON(b []byte) error {
	type envelope Command
	var raw struct {
		envelope
		Payload json.RawMessage `json:"payload"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	*c = Command(raw.envelope)
	var err error
	switch raw.Type {
	case CmdRegisterUser:
		c.Payload, err = decodeAs[RegisterUser](raw.Payload)
	case CmdCreateRoom:
		c.Payload, err = decodeAs[CreateRoom](raw.Payload)
	case CmdJoinRoom:
		c.Payload, err = decodeAs[JoinRoom](raw.Payload)
	case CmdLeaveRoom:
		c.Payload, err = decodeAs[LeaveRoom](raw.Payload)
	case CmdSendMessage:
		c.Payload, err = decodeAs[SendMessage](raw.Payload)
	default:
		return fmt.Errorf("unknown command type %q", raw.Type)
	}
	return err
}

func decodeAs[T CommandData](raw json.RawMessage) (CommandData, error) {
	var v T
	if len(raw) == 0 || string(raw) == "null" {
		return v, nil
	}
	err := json.Unmarshal(raw, &v)
	return v, err
}
