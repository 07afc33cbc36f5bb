package notify

import (
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/chorus-chat/chorus/domain"
)

// insertNotifications wraps a SELECT of notification rows (id, user_id, notification_type,
// message, room_id, message_id, actor_id, source_event_id, created_at) into the statement that
// stores the new ones and queues exactly those for the relay. Rows that exist already (a
// replay) are neither stored again nor announced again.
func insertNotifications(selectRows string) string {
	return `WITH ins AS (
			INSERT INTO notifications (id, user_id, notification_type, message, room_id, message_id, actor_id, source_event_id, created_at)
			` + selectRows + `
			ON CONFLICT (id) DO NOTHING
			RETURNING id, created_at
		)
		INSERT INTO notification_outbox (notification_id) SELECT id FROM ins ORDER BY created_at, id`
}

// The notification statements. $1 is always the source event's id.
var (
	// Someone other than the owner joined or left a room ($2 user, $3 username, $4 room,
	// $5 time, $6 type, $7 verb): its owner is told.
	sqlOwnerNotice = insertNotifications(`SELECT notification_id($1, r.owner_id), r.owner_id, $6::text,
				format('%s %s your room %s', $3::text, $7::text, r.name), r.room_id, NULL::uuid, $2::uuid, $1, $5::timestamptz
			FROM notify_rooms r WHERE r.room_id = $4 AND r.owner_id <> $2 AND NOT r.deleted`)

	// An invitation ($2 invitee, $3 inviter, $4 room, $5 time): the invitee is told who invited
	// them where.
	sqlInvitation = insertNotifications(`SELECT notification_id($1, $2::uuid), $2::uuid, 'room_invitation',
				format('%s invited you to %s', coalesce(m.username, 'someone'), r.name), r.room_id, NULL::uuid, $3::uuid, $1, $5::timestamptz
			FROM notify_rooms r LEFT JOIN notify_members m ON m.room_id = r.room_id AND m.user_id = $3
			WHERE r.room_id = $4 AND $2::uuid <> $3::uuid`)

	// Mentions ($2 room, $3 message, $4 author, $5 candidate user ids, $6 excerpt, $7 time):
	// members among the candidates other than the author, not told about this message before
	// (an edit tells only the newly mentioned).
	sqlMentions = insertNotifications(`SELECT notification_id($1, m.user_id), m.user_id, 'mention',
				format('%s mentioned you in %s: %s', coalesce(a.username, 'Chorus'), r.name, $6::text), r.room_id, $3::uuid, $4::uuid, $1, $7::timestamptz
			FROM notify_members m
			JOIN notify_rooms r ON r.room_id = m.room_id
			LEFT JOIN notify_members a ON a.room_id = m.room_id AND a.user_id = $4
			WHERE m.room_id = $2 AND m.user_id = ANY($5::uuid[]) AND m.user_id <> $4
			  AND NOT EXISTS (SELECT 1 FROM notifications x
			                  WHERE x.message_id = $3 AND x.user_id = m.user_id AND x.notification_type = 'mention')`)

	// An organization's broadcast ($2 title, $3 excerpt, $4 sender, $5 time, $6 organization):
	// every member the projection knows when it reaches the broadcast, the sender too.
	sqlOrgBroadcast = insertNotifications(`SELECT notification_id($1, m.user_id), m.user_id, 'org_broadcast',
				format('%s: %s', $2::text, $3::text), NULL::uuid, NULL::uuid, $4::uuid, $1, $5::timestamptz
			FROM notify_org_members m WHERE m.org_id = $6`)

	// A security alert ($2 message, $3 publisher, $4 time): every user the read model had
	// registered by then, in one statement however many there are.
	sqlSecurityAlert = insertNotifications(`SELECT notification_id($1, u.id), u.id, 'system_alert',
				$2::text, NULL::uuid, NULL::uuid, $3::uuid, $1, $4::timestamptz
			FROM users u WHERE u.created_at <= $4`)
)

// queueEvent queues the statements that apply e and returns a short description of each.
// Events that neither change the room state kept here nor notify anyone queue nothing.
func queueEvent(b *pgx.Batch, e domain.Event) []string {
	switch d := e.Data.(type) {
	case domain.RoomCreated:
		b.Queue(`INSERT INTO notify_rooms (room_id, owner_id, name) VALUES ($1, $2, $3) ON CONFLICT (room_id) DO NOTHING`,
			d.RoomID, d.OwnerID, d.Name)
		return []string{"keep room"}

	case domain.RoomUpdated:
		if d.Name == nil {
			return nil
		}
		b.Queue(`UPDATE notify_rooms SET name = $2 WHERE room_id = $1`, d.RoomID, *d.Name)
		return []string{"rename room"}

	case domain.RoomDeleted:
		b.Queue(`UPDATE notify_rooms SET deleted = true WHERE room_id = $1`, d.RoomID)
		b.Queue(`DELETE FROM notify_members WHERE room_id = $1`, d.RoomID)
		return []string{"mark room deleted", "forget members"}

	case domain.UserJoinedRoom:
		b.Queue(`INSERT INTO notify_members (room_id, user_id, username) VALUES ($1, $2, $3)
			ON CONFLICT (room_id, user_id) DO UPDATE SET username = EXCLUDED.username`, d.RoomID, d.UserID, d.Username)
		b.Queue(sqlOwnerNotice, e.ID, d.UserID, d.Username, d.RoomID, d.JoinedAt, TypeUserJoinedRoom, "joined")
		return []string{"add member", "tell owner of join"}

	case domain.UserLeftRoom:
		b.Queue(`DELETE FROM notify_members WHERE room_id = $1 AND user_id = $2`, d.RoomID, d.UserID)
		b.Queue(sqlOwnerNotice, e.ID, d.UserID, d.Username, d.RoomID, d.LeftAt, TypeUserLeftRoom, "left")
		return []string{"remove member", "tell owner of leave"}

	case domain.MemberKicked:
		b.Queue(`DELETE FROM notify_members WHERE room_id = $1 AND user_id = $2`, d.RoomID, d.UserID)
		return []string{"remove kicked member"}

	case domain.UserBanned:
		b.Queue(`DELETE FROM notify_members WHERE room_id = $1 AND user_id = $2`, d.RoomID, d.UserID)
		return []string{"remove banned member"}

	case domain.UserInvited:
		b.Queue(sqlInvitation, e.ID, d.UserID, d.InvitedBy, d.RoomID, e.OccurredAt)
		return []string{"tell invitee"}

	case domain.MessageSent:
		m := d.Message
		roomID := d.RoomID
		if roomID == uuid.Nil {
			roomID = m.RoomID
		}
		return queueMentions(b, e, roomID, m.ID, m.SenderID, m.MessageType, m.Content, m.CreatedAt)

	case domain.MessageUpdated:
		// Decided: an edit notifies the members it newly mentions, never twice for one message.
		return queueMentions(b, e, d.RoomID, d.MessageID, d.SenderID, d.MessageType, d.NewContent, d.UpdatedAt)

	case domain.OrgMemberJoined:
		b.Queue(`INSERT INTO notify_org_members (org_id, user_id) VALUES ($1, $2) ON CONFLICT DO NOTHING`, d.OrgID, d.UserID)
		return []string{"add organization member"}

	case domain.OrgMemberRemoved:
		b.Queue(`DELETE FROM notify_org_members WHERE org_id = $1 AND user_id = $2`, d.OrgID, d.UserID)
		return []string{"remove organization member"}

	case domain.OrgBroadcastSent:
		b.Queue(sqlOrgBroadcast, e.ID, d.Title, excerpt(d.Body), d.SentBy, d.SentAt, d.OrgID)
		return []string{"tell organization members"}

	case domain.SystemEventPublished:
		if d.Kind != domain.SystemSecurityAlert {
			return nil // the push projector shows it to connected clients; nothing to keep
		}
		b.Queue(sqlSecurityAlert, e.ID, d.Message, d.PublishedBy, e.OccurredAt)
		return []string{"alert every user"}
	}
	return nil
}

// queueMentions queues the mention notifications of a message's content. Only text (and
// server) messages mention anyone: the content of an image or a file is a URL or a descriptor.
func queueMentions(b *pgx.Batch, e domain.Event, roomID, messageID, author uuid.UUID, mtype, content string, at time.Time) []string {
	if mtype != "" && mtype != domain.MessageText && mtype != domain.MessageSystem {
		return nil
	}
	names := Mentions(content)
	if len(names) == 0 {
		return nil
	}
	ids := make([]uuid.UUID, len(names))
	for i, n := range names {
		ids[i] = domain.UserIDFor(n)
	}
	b.Queue(sqlMentions, e.ID, roomID, messageID, author, ids, excerpt(content), at)
	return []string{"tell mentioned members"}
}
