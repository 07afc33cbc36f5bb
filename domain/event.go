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

// Event types (the seed's names, and Chorus's own for what the seed does not name).
const (
	TypeRoomCreated        = "RoomCreated"
	TypeRoomUpdated        = "RoomUpdated"
	TypeRoomDeleted        = "RoomDeleted"
	TypeUserJoinedRoom     = "UserJoinedRoom"
	TypeUserLeftRoom       = "UserLeftRoom"
	TypeMemberRoleChanged  = "MemberRoleChanged"
	TypeMemberKicked       = "MemberKicked"
	TypeUserBanned         = "UserBanned"
	TypeUserUnbanned       = "UserUnbanned"
	TypeUserInvited        = "UserInvited"
	TypeMessageSent        = "MessageSent"
	TypeMessageUpdated     = "MessageUpdated"
	TypeMessageDeleted     = "MessageDeleted"
	TypeReadMarkerUpdated  = "ReadMarkerUpdated"
	TypeUserRegistered     = "UserRegistered"
	TypeUserProfileUpdated = "UserProfileUpdated"
)

// CurrentSchemaVersion is the schema version of the event types whose data never changed shape;
// SchemaVersion (upcast.go) gives each type's own.
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
	// ActingID is the delegate who acted for ActorID (a command sent with on_behalf_of), absent
	// otherwise: events without one are written exactly as before it existed.
	ActingID *uuid.UUID `json:"acting_id,omitempty"`
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

// RoomUpdated changes a room's settings. Only the fields that changed are present (non-nil);
// an empty description clears it. Room repeats the room as it stands after the change, so that
// a consumer without state (the push projector) can show the whole room; it is nil only in
// events written before it existed.
type RoomUpdated struct {
	RoomID      uuid.UUID  `json:"room_id"`
	Name        *string    `json:"name,omitempty"`
	Description *string    `json:"description,omitempty"`
	UpdatedBy   uuid.UUID  `json:"updated_by"`
	UpdatedAt   time.Time  `json:"updated_at"`
	Room        *RoomState `json:"room,omitempty"`
}

// RoomState is a room's settings and size at one point of its life, as events repeat them for
// consumers that keep no state.
type RoomState struct {
	Name        string    `json:"name"`
	Description string    `json:"description"`
	OwnerID     uuid.UUID `json:"owner_id"`
	IsPrivate   bool      `json:"is_private"`
	MemberCount int       `json:"member_count"`
	CreatedAt   time.Time `json:"created_at"`
}

// RoomDeleted ends a room. Nothing more happens in it.
type RoomDeleted struct {
	RoomID    uuid.UUID `json:"room_id"`
	DeletedBy uuid.UUID `json:"deleted_by"`
	DeletedAt time.Time `json:"deleted_at"`
}

// UserJoinedRoom adds a member with a role (owner, admin, member). It consumes the user's
// open invitation, if any.
type UserJoinedRoom struct {
	RoomID   uuid.UUID `json:"room_id"`
	UserID   uuid.UUID `json:"user_id"`
	Username string    `json:"username"`
	Role     string    `json:"role"`
	JoinedAt time.Time `json:"joined_at"`
}

// UserLeftRoom removes a member who left.
type UserLeftRoom struct {
	RoomID   uuid.UUID `json:"room_id"`
	UserID   uuid.UUID `json:"user_id"`
	Username string    `json:"username"`
	LeftAt   time.Time `json:"left_at"`
}

// MemberRoleChanged gives a member a new role (admin or member).
type MemberRoleChanged struct {
	RoomID    uuid.UUID `json:"room_id"`
	UserID    uuid.UUID `json:"user_id"`
	Role      string    `json:"role"`
	ChangedBy uuid.UUID `json:"changed_by"`
}

// MemberKicked removes a member against their will; they may join again. Username is the name
// the member joined with, so that the room can be told who left.
type MemberKicked struct {
	RoomID   uuid.UUID `json:"room_id"`
	UserID   uuid.UUID `json:"user_id"`
	Username string    `json:"username"`
	KickedBy uuid.UUID `json:"kicked_by"`
}

// UserBanned ends the user's membership, if any, and their open invitation, and keeps them out
// until UserUnbanned. WasMember tells whether a membership ended (a user may be banned ahead of
// time); Username is the name they joined with, "" when they were not a member.
type UserBanned struct {
	RoomID    uuid.UUID `json:"room_id"`
	UserID    uuid.UUID `json:"user_id"`
	Username  string    `json:"username"`
	WasMember bool      `json:"was_member"`
	BannedBy  uuid.UUID `json:"banned_by"`
	Reason    string    `json:"reason"`
}

// UserUnbanned lifts a ban; the user may join again (by the room's usual rules).
type UserUnbanned struct {
	RoomID     uuid.UUID `json:"room_id"`
	UserID     uuid.UUID `json:"user_id"`
	UnbannedBy uuid.UUID `json:"unbanned_by"`
}

// UserInvited opens an invitation: the user may join the room even if it is private.
type UserInvited struct {
	RoomID    uuid.UUID `json:"room_id"`
	UserID    uuid.UUID `json:"user_id"`
	InvitedBy uuid.UUID `json:"invited_by"`
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

// MessageUpdated replaces a message's content. Besides the change it repeats the message's
// unchanging facts (seq, sender, type, reply, creation time) so that a projector can build the
// whole Message without a lookup.
type MessageUpdated struct {
	RoomID           uuid.UUID  `json:"room_id"`
	MessageID        uuid.UUID  `json:"message_id"`
	NewContent       string     `json:"new_content"`
	UpdatedBy        uuid.UUID  `json:"updated_by"`
	UpdatedAt        time.Time  `json:"updated_at"`
	Seq              int64      `json:"seq"`
	SenderID         uuid.UUID  `json:"sender_id"`
	MessageType      string     `json:"message_type"`
	ReplyToMessageID *uuid.UUID `json:"reply_to_message_id"`
	CreatedAt        time.Time  `json:"created_at"`
}

// MessageDeleted marks a message deleted; it stays in history with empty content.
type MessageDeleted struct {
	RoomID    uuid.UUID `json:"room_id"`
	MessageID uuid.UUID `json:"message_id"`
	Seq       int64     `json:"seq"`
	DeletedBy uuid.UUID `json:"deleted_by"`
	DeletedAt time.Time `json:"deleted_at"`
}

// ReadMarkerUpdated moves a member's durable read marker forward to Seq.
type ReadMarkerUpdated struct {
	RoomID uuid.UUID `json:"room_id"`
	UserID uuid.UUID `json:"user_id"`
	Seq    int64     `json:"seq"`
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

// UserProfileUpdated changes a user's profile. Only the fields that changed are present
// (non-nil); an empty email or avatar URL clears it.
type UserProfileUpdated struct {
	UserID      uuid.UUID `json:"user_id"`
	DisplayName *string   `json:"display_name,omitempty"`
	AvatarURL   *string   `json:"avatar_url,omitempty"`
	Email       *string   `json:"email,omitempty"`
	UpdatedAt   time.Time `json:"updated_at"`
}

func (RoomCreated) EventType() string        { return TypeRoomCreated }
func (RoomUpdated) EventType() string        { return TypeRoomUpdated }
func (RoomDeleted) EventType() string        { return TypeRoomDeleted }
func (UserJoinedRoom) EventType() string     { return TypeUserJoinedRoom }
func (UserLeftRoom) EventType() string       { return TypeUserLeftRoom }
func (MemberRoleChanged) EventType() string  { return TypeMemberRoleChanged }
func (MemberKicked) EventType() string       { return TypeMemberKicked }
func (UserBanned) EventType() string         { return TypeUserBanned }
func (UserUnbanned) EventType() string       { return TypeUserUnbanned }
func (UserInvited) EventType() string        { return TypeUserInvited }
func (MessageSent) EventType() string        { return TypeMessageSent }
func (MessageUpdated) EventType() string     { return TypeMessageUpdated }
func (MessageDeleted) EventType() string     { return TypeMessageDeleted }
func (ReadMarkerUpdated) EventType() string  { return TypeReadMarkerUpdated }
func (UserRegistered) EventType() string     { return TypeUserRegistered }
func (UserProfileUpdated) EventType() string { return TypeUserProfileUpdated }

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
	data, version, err := DecodeData(raw.Type, raw.SchemaVersion, raw.Data)
	if err != nil {
		return err
	}
	*e = Event(raw.envelope)
	e.Data, e.SchemaVersion = data, version
	return nil
}

// DecodeData decodes the data of an event of type eventType written at schemaVersion, upcast to
// the current version, which it returns with it (for decoders of the envelope other than
// UnmarshalJSON, such as a projector's faster one).
func DecodeData(eventType string, schemaVersion int, raw json.RawMessage) (EventData, int, error) {
	codec, ok := index.events[eventType]
	if !ok {
		return nil, 0, fmt.Errorf("unknown event type %q", eventType)
	}
	if current := SchemaVersion(eventType); schemaVersion != current {
		// Older data is brought to the current shape first (upcast.go); the decoded event then
		// is what this release would write. Current data takes no detour.
		up, err := Upcast(eventType, schemaVersion, raw)
		if err != nil {
			return nil, 0, err
		}
		raw, schemaVersion = up, current
	}
	data, err := codec.Decode(raw)
	if err != nil {
		return nil, 0, fmt.Errorf("decode %s data: %w", eventType, err)
	}
	return data, schemaVersion, nil
}
