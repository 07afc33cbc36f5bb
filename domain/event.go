package domain

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/google/uuid"
)

// Aggregate types.
const (
	AggregateRoom = "room"
	AggregateUser = "user"
)

// Event types (the seed's names).
const (
	TypeRoomCreated    = "RoomCreated"
	TypeUserJoinedRoom = "UserJoinedRoom"
	TypeUserLeftRoom   = "UserLeftRoom"
	TypeMessageSent    = "MessageSent"
	TypeUserRegistered = "UserRegistered"
)

// CurrentSchemaVersion is the schema version every event is written with today.
const CurrentSchemaVersion = 1

// Event is the contract's envelope around one event's data. One event is one Kafka record,
// keyed by AggregateID.
type Event struct {
	ID            uuid.UUID `json:"id"`
	Type          string    `json:"type"`
	AggregateType string    `json:"aggregate_type"`
	AggregateID   uuid.UUID `json:"aggregate_id"`
	Version       int64     `json:"version"`
	OccurredAt    time.Time `json:"occurred_at"`
	ActorID       uuid.UUID `json:"actor_id"`
	CommandID     uuid.UUID `json:"command_id"`
	SchemaVersion int       `json:"schema_version"`
	Data          EventData `json:"data"`
}

// EventData is the typed payload of one event type.
type EventData interface{ EventType() string }

// RoomCreated opens a room. PasswordHash is a slow salted hash, never the password.
type RoomCreated struct {
	RoomID       uuid.UUID `json:"room_id"`
	Name         string    `json:"name"`
	Description  string    `json:"description"`
	OwnerID      uuid.UUID `json:"owner_id"`
	IsPrivate    bool      `json:"is_private"`
	PasswordHash string    `json:"password_hash,omitempty"`
	CreatedAt    time.Time `json:"created_at"`
}

// UserJoinedRoom adds a member with a role (owner, admin, member).
type UserJoinedRoom struct {
	RoomID   uuid.UUID `json:"room_id"`
	UserID   uuid.UUID `json:"user_id"`
	Username string    `json:"username"`
	Role     string    `json:"role"`
	JoinedAt time.Time `json:"joined_at"`
}

// UserLeftRoom removes a member.
type UserLeftRoom struct {
	RoomID   uuid.UUID `json:"room_id"`
	UserID   uuid.UUID `json:"user_id"`
	Username string    `json:"username"`
	LeftAt   time.Time `json:"left_at"`
}

// MessageSent records a message with its room sequence number.
type MessageSent struct {
	RoomID  uuid.UUID   `json:"room_id"`
	Message MessageData `json:"message"`
}

// MessageData is a message as MessageSent records it.
type MessageData struct {
	ID               uuid.UUID  `json:"id"`
	RoomID           uuid.UUID  `json:"room_id"`
	SenderID         uuid.UUID  `json:"sender_id"`
	Content          string     `json:"content"`
	MessageType      string     `json:"message_type"`
	ReplyToMessageID *uuid.UUID `json:"reply_to_message_id"`
	Seq              int64      `json:"seq"`
	ClientMsgID      string     `json:"client_msg_id,omitempty"`
	CreatedAt        time.Time  `json:"created_at"`
}

// UserRegistered creates a user. It carries no password and no hash: credentials live outside
// the event log.
type UserRegistered struct {
	UserID       uuid.UUID `json:"user_id"`
	Username     string    `json:"username"`
	DisplayName  string    `json:"display_name"`
	Email        string    `json:"email,omitempty"`
	RegisteredAt time.Time `json:"registered_at"`
}

func (RoomCreated) EventType() string    { return TypeRoomCreated }
func (UserJoinedRoom) EventType() string { return TypeUserJoinedRoom }
func (UserLeftRoom) EventType() string   { return TypeUserLeftRoom }
func (MessageSent) EventType() string    { return TypeMessageSent }
func (UserRegistered) EventType() string { return TypeUserRegistered }

var eventFactories = map[string]func() EventData{
	TypeRoomCreated:    func() EventData { return &RoomCreated{} },
	TypeUserJoinedRoom: func() EventData { return &UserJoinedRoom{} },
	TypeUserLeftRoom:   func() EventData { return &UserLeftRoom{} },
	TypeMessageSent:    func() EventData { return &MessageSent{} },
	TypeUserRegistered: func() EventData { return &UserRegistered{} },
}

// UnmarshalJSON decodes an envelope and its data into the data type named by "type".
// Data is stored as a value (RoomCreated, not *RoomCreated) so type switches see one form.
func (e *Event) UnmarshalJSON(b []byte) error {
	type envelope Event
	var raw struct {
		envelope
		Data json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	newData, ok := eventFactories[raw.Type]
	if !ok {
		return fmt.Errorf("unknown event type %q", raw.Type)
	}
	ptr := newData()
	if err := json.Unmarshal(raw.Data, ptr); err != nil {
		return fmt.Errorf("decode %s data: %w", raw.Type, err)
	}
	*e = Event(raw.envelope)
	switch d := ptr.(type) {
	case *RoomCreated:
		e.Data = *d
	case *UserJoinedRoom:
		e.Data = *d
	case *UserLeftRoom:
		e.Data = *d
	case *MessageSent:
		e.Data = *d
	case *UserRegistered:
		e.Data = *d
	}
	return nil
}
