package projections

import (
	"encoding/json"

	"github.com/google/uuid"

	"github.com/chorus-chat/chorus/domain"
)

// Push kinds: the server frame types that pushes carry.
const (
	PushMessage    = "message"
	PushUserJoined = "user_joined"
	PushUserLeft   = "user_left"
)

// Push targets: who receives a push's frame.
const (
	// TargetRoom (the default, ""): every socket subscribed to RoomID.
	TargetRoom = ""
	// TargetRooms: every socket subscribed to any of RoomIDs, once per socket (presence).
	TargetRooms = "rooms"
	// TargetUser: every socket of UserID, wherever it is subscribed (notifications).
	TargetUser = "user"
	// TargetAll: every connected socket (system events).
	TargetAll = "all"
)

// Push is one real-time delivery: a server frame, ready to write, for the sockets its Target
// names. For user_joined and user_left, UserID names the user whose sockets join or leave the
// room's subscription (joined: before the frame is delivered; left: after). ExceptUserID's own
// sockets are skipped (a typing user does not hear himself).
type Push struct {
	Target       string          `json:"target,omitempty"`
	RoomID       uuid.UUID       `json:"room_id"`
	RoomIDs      []uuid.UUID     `json:"room_ids,omitempty"`
	Kind         string          `json:"kind"`
	UserID       uuid.UUID       `json:"user_id,omitempty"`
	ExceptUserID uuid.UUID       `json:"except_user_id,omitempty"`
	CommandID    uuid.UUID       `json:"command_id"`
	Frame        json.RawMessage `json:"frame"`
}

// MessageFrame is the server frame `message` / `message_updated`.
type MessageFrame struct {
	Type    string  `json:"type"`
	Message Message `json:"message"`
}

// MembershipFrame is the server frame `user_joined` / `user_left`.
type MembershipFrame struct {
	Type     string    `json:"type"`
	RoomID   uuid.UUID `json:"room_id"`
	UserID   uuid.UUID `json:"user_id"`
	Username string    `json:"username"`
}

// PushesOf maps an event to the pushes it causes (none for most non-room events).
func PushesOf(e domain.Event) ([]Push, error) {
	var (
		p     Push
		frame any
	)
	p.CommandID = e.CommandID
	switch d := e.Data.(type) {
	case domain.MessageSent:
		p.RoomID, p.Kind = d.RoomID, PushMessage
		frame = MessageFrame{Type: PushMessage, Message: MessageOf(d.Message)}
	case domain.UserJoinedRoom:
		p.RoomID, p.Kind, p.UserID = d.RoomID, PushUserJoined, d.UserID
		frame = MembershipFrame{Type: PushUserJoined, RoomID: d.RoomID, UserID: d.UserID, Username: d.Username}
	case domain.UserLeftRoom:
		p.RoomID, p.Kind, p.UserID = d.RoomID, PushUserLeft, d.UserID
		frame = MembershipFrame{Type: PushUserLeft, RoomID: d.RoomID, UserID: d.UserID, Username: d.Username}
	default:
		return nil, nil
	}
	b, err := json.Marshal(frame)
	if err != nil {
		return nil, err
	}
	p.Frame = b
	return []Push{p}, nil
}
