package projections

import (
	"encoding/json"
	"time"

	"github.com/google/uuid"

	"github.com/chorus-chat/chorus/domain"
)

// Push kinds: the server frame types that pushes carry.
const (
	PushMessage        = "message"
	PushMessageUpdated = "message_updated"
	PushMessageDeleted = "message_deleted"
	PushUserJoined     = "user_joined"
	PushUserLeft       = "user_left"
	PushRoomUpdated    = "room_updated"
	PushRoomDeleted    = "room_deleted"
	// Extensions of the contract.
	PushMemberUpdated = "member_updated"
	PushReadMarker    = "read_marker"
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
	// TargetUsers: every socket of any of UserIDs (an organization's broadcast to its members).
	TargetUsers = "users"
	// TargetJoined: no socket. With routed pushes, the signal on the joining user's shard that
	// UserID joined RoomID, whose user_joined is in entry Entry of the room's shard: a gateway
	// with the user's sockets reads that shard from there (adapters/redis, routes.go).
	TargetJoined = "joined"
)

// MaxPushUsers bounds the users one TargetUsers push names: a broadcast to a large
// organization is several pushes, each a stream entry of a few tens of kilobytes.
const MaxPushUsers = 1000

// Push is one real-time delivery: a server frame, ready to write, for the sockets its Target
// names. For user_joined and user_left, UserID names the user whose sockets join or leave the
// room's subscription (joined: before the frame is delivered; left: after); after room_deleted
// every socket leaves the room's subscription. ExceptUserID's own sockets are skipped (a typing
// user does not hear himself).
//
// Position is where the event that caused the push sits in the log ("topic:partition:offset";
// empty for the gateways' own pushes): a gateway that sees a membership change on the push stream
// before the read model has it waits for the read model to reach it before it reads a new
// socket's rooms.
type Push struct {
	Target       string          `json:"target,omitempty"`
	RoomID       uuid.UUID       `json:"room_id"`
	RoomIDs      []uuid.UUID     `json:"room_ids,omitempty"`
	UserIDs      []uuid.UUID     `json:"user_ids,omitempty"`
	Kind         string          `json:"kind"`
	UserID       uuid.UUID       `json:"user_id,omitempty"`
	ExceptUserID uuid.UUID       `json:"except_user_id,omitempty"`
	CommandID    uuid.UUID       `json:"command_id"`
	Position     string          `json:"position,omitempty"`
	Entry        string          `json:"entry,omitempty"`
	Frame        json.RawMessage `json:"frame"`
	// OccurredAt is the event's occurred_at, for measuring (chorus_message_stage_seconds'
	// push_read); zero for the gateways' own pushes.
	OccurredAt time.Time `json:"at,omitzero"`
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

// MessageDeletedFrame is the server frame `message_deleted`.
type MessageDeletedFrame struct {
	Type      string    `json:"type"`
	RoomID    uuid.UUID `json:"room_id"`
	MessageID uuid.UUID `json:"message_id"`
	Seq       int64     `json:"seq"`
}

// RoomFrame is the server frame `room_updated`.
type RoomFrame struct {
	Type string `json:"type"`
	Room Room   `json:"room"`
}

// RoomDeletedFrame is the server frame `room_deleted`.
type RoomDeletedFrame struct {
	Type   string    `json:"type"`
	RoomID uuid.UUID `json:"room_id"`
}

// MemberUpdatedFrame is the server frame `member_updated` (an extension): a member's role in a
// room changed.
type MemberUpdatedFrame struct {
	Type   string    `json:"type"`
	RoomID uuid.UUID `json:"room_id"`
	UserID uuid.UUID `json:"user_id"`
	Role   string    `json:"role"`
}

// ReadMarkerFrame is the server frame `read_marker` (an extension), sent to the reader's own
// sockets: they have read the room up to Seq (on this device or another).
type ReadMarkerFrame struct {
	Type   string    `json:"type"`
	RoomID uuid.UUID `json:"room_id"`
	Seq    int64     `json:"seq"`
}

// PushesOf maps an event to the pushes it causes (none for most non-room events). It keeps no
// state: everything a frame shows comes from the event itself.
func PushesOf(e domain.Event) ([]Push, error) {
	var (
		p     Push
		frame any
	)
	p.CommandID = e.CommandID
	switch d := e.Data.(type) {
	case domain.MessageSent:
		p.RoomID, p.Kind = d.RoomID, PushMessage
		m := MessageOf(d.Message)
		m.SentBy = e.ActingID
		frame = MessageFrame{Type: PushMessage, Message: m}
	case domain.MessageUpdated:
		p.RoomID, p.Kind = d.RoomID, PushMessageUpdated
		frame = MessageFrame{Type: PushMessageUpdated, Message: MessageOfUpdate(d)}
	case domain.MessageDeleted:
		p.RoomID, p.Kind = d.RoomID, PushMessageDeleted
		frame = MessageDeletedFrame{Type: PushMessageDeleted, RoomID: d.RoomID, MessageID: d.MessageID, Seq: d.Seq}
	case domain.RoomUpdated:
		p.RoomID, p.Kind = d.RoomID, PushRoomUpdated
		frame = RoomFrame{Type: PushRoomUpdated, Room: RoomOfUpdate(d)}
	case domain.RoomDeleted:
		// The gateway delivers it, then unsubscribes every socket from the room.
		p.RoomID, p.Kind = d.RoomID, PushRoomDeleted
		frame = RoomDeletedFrame{Type: PushRoomDeleted, RoomID: d.RoomID}
	case domain.UserJoinedRoom:
		p.RoomID, p.Kind, p.UserID = d.RoomID, PushUserJoined, d.UserID
		frame = MembershipFrame{Type: PushUserJoined, RoomID: d.RoomID, UserID: d.UserID, Username: d.Username}
	case domain.UserLeftRoom:
		p.RoomID, p.Kind, p.UserID = d.RoomID, PushUserLeft, d.UserID
		frame = MembershipFrame{Type: PushUserLeft, RoomID: d.RoomID, UserID: d.UserID, Username: d.Username}
	case domain.MemberKicked:
		// To the room, as a leave: the kicked user's sockets hear it, then are unsubscribed.
		p.RoomID, p.Kind, p.UserID = d.RoomID, PushUserLeft, d.UserID
		frame = MembershipFrame{Type: PushUserLeft, RoomID: d.RoomID, UserID: d.UserID, Username: d.Username}
	case domain.UserBanned:
		if !d.WasMember {
			return nil, nil // banned ahead of time: nobody left the room
		}
		p.RoomID, p.Kind, p.UserID = d.RoomID, PushUserLeft, d.UserID
		frame = MembershipFrame{Type: PushUserLeft, RoomID: d.RoomID, UserID: d.UserID, Username: d.Username}
	case domain.MemberRoleChanged:
		p.RoomID, p.Kind = d.RoomID, PushMemberUpdated
		frame = MemberUpdatedFrame{Type: PushMemberUpdated, RoomID: d.RoomID, UserID: d.UserID, Role: d.Role}
	case domain.ReadMarkerUpdated:
		// Only the reader's own sockets: their other devices update their unread state.
		p.Target, p.RoomID, p.Kind, p.UserID = TargetUser, d.RoomID, PushReadMarker, d.UserID
		frame = ReadMarkerFrame{Type: PushReadMarker, RoomID: d.RoomID, Seq: d.Seq}
	case domain.SystemEventPublished:
		// An announcement reaches every connected socket; its id and time are the event's.
		p.Target, p.Kind = TargetAll, "system_event"
		frame = map[string]any{"type": "system_event", "event": map[string]any{
			"id": e.ID, "event_type": d.Kind, "message": d.Message, "data": d.Data, "created_at": e.OccurredAt,
		}}
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

// OrgBroadcastEvent is the event of an organization's broadcast in its system_event frame.
type OrgBroadcastEvent struct {
	ID          uuid.UUID `json:"id"`
	EventType   string    `json:"event_type"` // "org_broadcast"
	OrgID       uuid.UUID `json:"org_id"`
	BroadcastID uuid.UUID `json:"broadcast_id"`
	Title       string    `json:"title"`
	Message     string    `json:"message"`
	SentBy      uuid.UUID `json:"sent_by"`
	CreatedAt   time.Time `json:"created_at"`
}

// OrgBroadcastKind is the event_type of an organization's broadcast in a system_event frame.
const OrgBroadcastKind = "org_broadcast"

// OrgBroadcastPushes are the pushes of an organization's broadcast: a system_event frame scoped
// to the organization for the sockets of its members (as the push projection knows them when
// it reaches the broadcast), in pushes of at most MaxPushUsers users.
func OrgBroadcastPushes(e domain.Event, d domain.OrgBroadcastSent, members []uuid.UUID) ([]Push, error) {
	frame, err := json.Marshal(map[string]any{"type": "system_event", "event": OrgBroadcastEvent{
		ID: e.ID, EventType: OrgBroadcastKind, OrgID: d.OrgID, BroadcastID: d.BroadcastID, Title: d.Title,
		Message: d.Body, SentBy: d.SentBy, CreatedAt: d.SentAt,
	}})
	if err != nil {
		return nil, err
	}
	var out []Push
	for len(members) > 0 {
		n := min(len(members), MaxPushUsers)
		out = append(out, Push{Target: TargetUsers, UserIDs: members[:n:n], Kind: "system_event", CommandID: e.CommandID, Frame: frame})
		members = members[n:]
	}
	return out, nil
}
