// Package notify is the notification projection: it turns chat, system and organization events
// into notifications for users (mentions, invitations, joins and leaves of the rooms they own,
// security alerts, organization broadcasts), stores them in Postgres with its checkpoint in the
// same transaction, and, once they are committed, announces each new one: a NotificationCreated
// record on the notification-events topic and a `notification` push to the user's sockets
// (Relay).
//
// What a notification needs to know about rooms (owner, name, members and the names they
// joined under) the projection keeps itself, from the same events in the same order, so it is
// never behind the message it is projecting. Security alerts go to every user the read model
// had registered when the alert was published; an organization's broadcast to every member the
// projection kept (notify_org_members, from org-events) when it reaches the broadcast.
package notify

import (
	"errors"
	"time"

	"github.com/google/uuid"

	"github.com/chorus-chat/chorus/projections/checkpoint"
)

// Projection is the name under which this projector stores its checkpoints.
const Projection = "notifications"

// Notification types (the seed's NotificationType, in snake case).
const (
	TypeMention        = "mention"
	TypeRoomInvitation = "room_invitation"
	TypeUserJoinedRoom = "user_joined_room"
	TypeUserLeftRoom   = "user_left_room"
	TypeSystemAlert    = "system_alert"
	// TypeOrgBroadcast: an organization's broadcast, for each of its members.
	TypeOrgBroadcast = "org_broadcast"
)

// PushNotification is the kind (and frame type) of a notification push.
const PushNotification = "notification"

// RecordNotificationCreated is the type of the records on notification-events.
const RecordNotificationCreated = "NotificationCreated"

var (
	// ErrNotFound: no such notification of that user.
	ErrNotFound = errors.New("not found")
	// ErrNotCaughtUp: the projection did not reach a position within the wait bound.
	ErrNotCaughtUp = errors.New("not_caught_up: the notifications have not reached that position yet")
)

// Notification is the contract's notification, extended with what it is about: the room, the
// message (mentions) and the user who caused it, where they apply.
type Notification struct {
	ID               uuid.UUID  `json:"id"`
	UserID           uuid.UUID  `json:"user_id"`
	Message          string     `json:"message"`
	NotificationType string     `json:"notification_type"`
	CreatedAt        time.Time  `json:"created_at"`
	Read             bool       `json:"read"`
	RoomID           *uuid.UUID `json:"room_id,omitempty"`
	MessageID        *uuid.UUID `json:"message_id,omitempty"`
	ActorID          *uuid.UUID `json:"actor_id,omitempty"`
}

// Frame is the server frame `notification`.
type Frame struct {
	Type         string       `json:"type"`
	Notification Notification `json:"notification"`
}

// Created is the value of a record on notification-events, keyed by the recipient's user id.
// Records are sent at least once; ID (the notification's, a function of source event and
// recipient) tells a repeat from a new one.
type Created struct {
	ID            uuid.UUID    `json:"id"`
	Type          string       `json:"type"`
	UserID        uuid.UUID    `json:"user_id"`
	SourceEventID uuid.UUID    `json:"source_event_id"`
	OccurredAt    time.Time    `json:"occurred_at"`
	Notification  Notification `json:"notification"`
}

// Record is one event as read from the log, with where it sits there.
type Record = checkpoint.Record

// namespaceNotification is the namespace of notification ids; the migration's notification_id
// function spells the same bytes.
var namespaceNotification = uuid.MustParse("4e6f7469-6669-6361-8f3e-5c1a2b7d4e90")

// ID is the id of the notification that the event source gives recipient: the same on every
// replay, so that a replay finds the rows (and read flags) it made before instead of adding new
// ones. Postgres computes it as notification_id(source, recipient).
func ID(source, recipient uuid.UUID) uuid.UUID {
	b := make([]byte, 0, 32)
	b = append(b, source[:]...)
	b = append(b, recipient[:]...)
	return uuid.NewMD5(namespaceNotification, b)
}

// partition names one topic partition of the log.
type partition = checkpoint.Partition
