package readmodel

import (
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/chorus-chat/chorus/domain"
)

// What each event does to the tables. Every statement is idempotent on its own: inserts keep
// the first row, counters move only by rows actually inserted or deleted, values that only grow
// are set with GREATEST, and updates that a later event would undo are guarded, so a replay of
// the log over surviving rows ends in the same state as the first pass.

// roomTouch is what a batch's messages do to their room row.
type roomTouch struct {
	lastSeq   int64
	updatedAt time.Time
}

// queueEvent queues the statements that apply e and returns a short description of each.
// Events of types the read model does not show are skipped (their records still advance the
// checkpoint). Messages and read markers are not handled here: they go in bulk (bulk.go).
func queueEvent(b *pgx.Batch, e domain.Event) []string {
	switch d := e.Data.(type) {
	case domain.UserProfileUpdated:
		// NULL (a nil field) keeps the column; "" clears the email or the avatar, and gives the
		// display name back its default, the username, as at registration.
		b.Queue(`UPDATE users SET
				display_name = CASE WHEN $2::text IS NULL THEN display_name WHEN $2 = '' THEN username ELSE $2 END,
				avatar_url = CASE WHEN $3::text IS NULL THEN avatar_url ELSE NULLIF($3, '') END,
				email = CASE WHEN $4::text IS NULL THEN email ELSE NULLIF($4, '') END,
				updated_at = GREATEST(updated_at, $5)
			WHERE id = $1`, d.UserID, d.DisplayName, d.AvatarURL, d.Email, d.UpdatedAt)
		return []string{"update profile"}

	case domain.RoomCreated:
		// member_count starts at 0: the owner's UserJoinedRoom follows and counts them.
		b.Queue(`INSERT INTO rooms (id, name, description, owner_id, is_private, password_hash, member_count, last_seq, created_at, updated_at)
			VALUES ($1, $2, $3, $4, $5, NULLIF($6, ''), 0, 0, $7, $7)
			ON CONFLICT (id) DO NOTHING`,
			d.RoomID, d.Name, d.Description, d.OwnerID, d.IsPrivate, d.PasswordHash, d.CreatedAt)
		return []string{"insert room"}

	case domain.RoomUpdated:
		// A nil field did not change: COALESCE keeps the column.
		b.Queue(`UPDATE rooms SET name = COALESCE($2::text, name), description = COALESCE($3::text, description),
				updated_at = GREATEST(updated_at, $4)
			WHERE id = $1`, d.RoomID, d.Name, d.Description, d.UpdatedAt)
		return []string{"update room"}

	case domain.ProxyGranted:
		b.Queue(`INSERT INTO user_proxies (grant_id, principal_id, delegate_id, scope, org_id, starts_at, ends_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (grant_id) DO NOTHING`,
			d.GrantID, d.PrincipalID, d.DelegateID, d.Scope, d.OrgID, d.StartsAt, d.EndsAt)
		return []string{"insert proxy grant"}

	case domain.ProxyRevoked:
		// A grant is revoked once, after it was granted. The row stays, marked revoked (the
		// grants in force skip it), so that an organization's list tells revoked from not made.
		b.Queue(`UPDATE user_proxies SET revoked_at = COALESCE(revoked_at, $2), revoked_by = COALESCE(revoked_by, $3)
			WHERE grant_id = $1`, d.GrantID, d.RevokedAt, d.RevokedBy)
		return []string{"mark proxy grant revoked"}

	case domain.RoomLinkedToDepartment:
		b.Queue(`UPDATE rooms SET department_org_id = $2, department_id = $3 WHERE id = $1`, d.RoomID, d.OrgID, d.DepartmentID)
		return []string{"link room to department"}

	case domain.RoomReleased:
		// The department was deleted: the room stays, no longer a department's.
		b.Queue(`UPDATE rooms SET department_org_id = NULL, department_id = NULL WHERE id = $1`, d.RoomID)
		return []string{"release room"}

	case domain.RoomDeleted:
		b.Queue(`UPDATE rooms SET deleted_at = COALESCE(deleted_at, $2) WHERE id = $1`, d.RoomID, d.DeletedAt)
		return []string{"delete room"}

	case domain.UserJoinedRoom:
		role := d.Role
		if role == "" {
			role = domain.RoleMember
		}
		// The count moves only if the membership row is new, which keeps a replay from
		// counting anyone twice. The read marker starts at the room's last message before the
		// join (what was said before the member joined is not unread): the last send before the
		// join's version in the room's change log, which a replay finds the same however many
		// later messages survive (rooms.last_seq would not, nor does the batch move it before
		// its end). A room numbers its messages in the order it sends them, so the last send
		// by version is the one of the highest seq: found walking the primary key back from the
		// join, which a rebuild has while it defers the index by seq (adapters/ops).
		b.Queue(`WITH added AS (
				INSERT INTO room_members (room_id, user_id, role, username, joined_at, last_read_seq)
				VALUES ($1, $2, $3, $4, $5, COALESCE((
					SELECT seq FROM room_message_changes
					WHERE room_id = $1 AND kind = 'sent' AND version < $6
					ORDER BY version DESC LIMIT 1), 0))
				ON CONFLICT (room_id, user_id) DO NOTHING
				RETURNING 1
			)
			UPDATE rooms SET member_count = member_count + (SELECT count(*) FROM added) WHERE id = $1`,
			d.RoomID, d.UserID, role, d.Username, d.JoinedAt, e.Version)
		queueEndInvitation(b, d.RoomID, d.UserID)
		return []string{"add member", "end invitation"}

	case domain.UserLeftRoom:
		queueRemoveMember(b, d.RoomID, d.UserID)
		return []string{"remove member"}

	case domain.MemberKicked:
		queueRemoveMember(b, d.RoomID, d.UserID)
		return []string{"remove kicked member"}

	case domain.MemberRoleChanged:
		b.Queue(`UPDATE room_members SET role = $3 WHERE room_id = $1 AND user_id = $2`, d.RoomID, d.UserID, d.Role)
		return []string{"change role"}

	case domain.UserBanned:
		queueRemoveMember(b, d.RoomID, d.UserID)
		queueEndInvitation(b, d.RoomID, d.UserID)
		b.Queue(`INSERT INTO room_bans (room_id, user_id, banned_by, reason, banned_at) VALUES ($1, $2, $3, $4, $5)
			ON CONFLICT (room_id, user_id) DO NOTHING`, d.RoomID, d.UserID, d.BannedBy, d.Reason, e.OccurredAt)
		return []string{"remove banned member", "end invitation", "insert ban"}

	case domain.UserUnbanned:
		b.Queue(`DELETE FROM room_bans WHERE room_id = $1 AND user_id = $2`, d.RoomID, d.UserID)
		return []string{"delete ban"}

	case domain.UserInvited:
		b.Queue(`INSERT INTO room_invitations (room_id, user_id, invited_by, invited_at) VALUES ($1, $2, $3, $4)
			ON CONFLICT (room_id, user_id) DO NOTHING`, d.RoomID, d.UserID, d.InvitedBy, e.OccurredAt)
		return []string{"insert invitation"}

	}
	return nil
}

// queueRemoveMember ends a membership; the count moves only if a row was actually deleted.
func queueRemoveMember(b *pgx.Batch, roomID, userID uuid.UUID) {
	b.Queue(`WITH removed AS (
			DELETE FROM room_members WHERE room_id = $1 AND user_id = $2
			RETURNING 1
		)
		UPDATE rooms SET member_count = member_count - (SELECT count(*) FROM removed) WHERE id = $1`,
		roomID, userID)
}

// queueEndInvitation closes a user's open invitation to a room, if any.
func queueEndInvitation(b *pgx.Batch, roomID, userID uuid.UUID) {
	b.Queue(`DELETE FROM room_invitations WHERE room_id = $1 AND user_id = $2`, roomID, userID)
}
