package readmodel

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/chorus-chat/chorus/projections"
)

// Page sizes of the contract.
const (
	DefaultHistoryLimit = 50
	MaxHistoryLimit     = 200
	// DefaultUserLimit and MaxUserLimit bound SearchUsers pages.
	DefaultUserLimit = 50
	MaxUserLimit     = 200
)

const userColumns = `u.id, u.username, COALESCE(u.display_name, ''), COALESCE(u.email, ''), COALESCE(u.avatar_url, ''),
	u.status, u.created_at`

func scanUser(row pgx.Row) (projections.User, error) {
	var u projections.User
	err := row.Scan(&u.ID, &u.Username, &u.DisplayName, &u.Email, &u.AvatarURL, &u.Status, &u.CreatedAt)
	u.CreatedAt = u.CreatedAt.UTC()
	return u, err
}

// UserByID returns a user, or ErrNotFound.
func (s *Store) UserByID(ctx context.Context, id uuid.UUID) (projections.User, error) {
	u, err := scanUser(s.pool.QueryRow(ctx, `SELECT `+userColumns+` FROM users u WHERE u.id = $1`, id))
	if err != nil {
		return projections.User{}, notFound(fmt.Sprintf("user %s", id), err)
	}
	return u, nil
}

// UserByUsername returns the user with that username in any letter case, or ErrNotFound.
func (s *Store) UserByUsername(ctx context.Context, username string) (projections.User, error) {
	u, err := scanUser(s.pool.QueryRow(ctx, `SELECT `+userColumns+` FROM users u WHERE u.username_lower = lower($1)`, username))
	if err != nil {
		return projections.User{}, notFound(fmt.Sprintf("user %q", username), err)
	}
	return u, nil
}

// SearchUsers returns users whose username or display name contains q, without regard to
// case, ordered by username; limit (default 50, at most 200) and offset page through them. An
// empty q matches everyone. byEmail also matches q against emails: only for the server's admins,
// since an email is private to its owner and a substring search would reveal it piece by piece.
func (s *Store) SearchUsers(ctx context.Context, q string, limit, offset int, byEmail bool) ([]projections.User, error) {
	limit = clamp(limit, DefaultUserLimit, MaxUserLimit)
	offset = max(offset, 0)
	// strpos over lower() rather than ILIKE: a substring needs no escaping of % and _.
	rows, err := s.pool.Query(ctx, `SELECT `+userColumns+` FROM users u
		WHERE $1 = ''
		   OR strpos(u.username_lower, lower($1)) > 0
		   OR strpos(lower(u.display_name), lower($1)) > 0
		   OR ($4 AND strpos(lower(u.email), lower($1)) > 0)
		ORDER BY u.username_lower, u.id
		LIMIT $2 OFFSET $3`, q, limit, offset, byEmail)
	if err != nil {
		return nil, fmt.Errorf("search users: %w", err)
	}
	users, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (projections.User, error) { return scanUser(r) })
	if err != nil {
		return nil, fmt.Errorf("search users: %w", err)
	}
	return users, nil
}

// roomColumns are a room's columns, from rooms r joined with roomDepartmentJoin.
const roomColumns = `r.id, r.name, r.description, r.owner_id, r.is_private, r.member_count, r.created_at, r.updated_at,
	r.department_org_id, r.department_id, dept.name`

// roomDepartmentJoin finds a department room's department in the directory, for its name: the
// directory is another projection, which may not have the department yet (the name is then
// absent) or may have renamed it already.
const roomDepartmentJoin = `LEFT JOIN org_departments dept ON dept.id = r.department_id AND dept.org_id = r.department_org_id`

// scanRoom scans roomColumns into r, then any further columns into more.
func scanRoom(row pgx.Row, r *projections.Room, more ...any) error {
	var org, dept *uuid.UUID
	var deptName *string
	err := row.Scan(append([]any{&r.ID, &r.Name, &r.Description, &r.OwnerID, &r.IsPrivate, &r.MemberCount,
		&r.CreatedAt, &r.UpdatedAt, &org, &dept, &deptName}, more...)...)
	r.CreatedAt, r.UpdatedAt = r.CreatedAt.UTC(), r.UpdatedAt.UTC()
	if org != nil && dept != nil {
		r.Department = &projections.RoomDepartment{OrgID: *org, DepartmentID: *dept}
		if deptName != nil {
			r.Department.Name = *deptName
		}
	}
	return err
}

// Room returns a room, ErrNotFound if there is no such room, or ErrRoomDeleted if it was
// deleted. It does not check who may see it.
func (s *Store) Room(ctx context.Context, id uuid.UUID) (projections.Room, error) {
	var (
		r         projections.Room
		deletedAt *time.Time
	)
	err := scanRoom(s.pool.QueryRow(ctx, `SELECT `+roomColumns+`, r.deleted_at FROM rooms r `+roomDepartmentJoin+` WHERE r.id = $1`, id), &r, &deletedAt)
	if err != nil {
		return projections.Room{}, notFound(fmt.Sprintf("room %s", id), err)
	}
	if deletedAt != nil {
		return projections.Room{}, fmt.Errorf("room %s: %w", id, ErrRoomDeleted)
	}
	return r, nil
}

// RoomPasswordHash returns the password hash of a room, "" if it has no password, or
// ErrNotFound if there is no such room.
func (s *Store) RoomPasswordHash(ctx context.Context, id uuid.UUID) (string, error) {
	var hash string
	err := s.pool.QueryRow(ctx, `SELECT COALESCE(password_hash, '') FROM rooms WHERE id = $1`, id).Scan(&hash)
	if err != nil {
		return "", notFound(fmt.Sprintf("room %s", id), err)
	}
	return hash, nil
}

// IsMember tells whether userID is a member of roomID.
func (s *Store) IsMember(ctx context.Context, roomID, userID uuid.UUID) (bool, error) {
	var ok bool
	err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM room_members WHERE room_id = $1 AND user_id = $2)`,
		roomID, userID).Scan(&ok)
	if err != nil {
		return false, fmt.Errorf("is member: %w", err)
	}
	return ok, nil
}

// MemberRole returns userID's role in roomID (owner, admin, member), or "" if they are not a
// member.
func (s *Store) MemberRole(ctx context.Context, roomID, userID uuid.UUID) (string, error) {
	var role string
	err := s.pool.QueryRow(ctx, `SELECT role FROM room_members WHERE room_id = $1 AND user_id = $2`, roomID, userID).Scan(&role)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("role of %s in %s: %w", userID, roomID, err)
	}
	return role, nil
}

// IsInvited tells whether userID has an open invitation to roomID.
func (s *Store) IsInvited(ctx context.Context, roomID, userID uuid.UUID) (bool, error) {
	var ok bool
	err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM room_invitations WHERE room_id = $1 AND user_id = $2)`,
		roomID, userID).Scan(&ok)
	if err != nil {
		return false, fmt.Errorf("is invited: %w", err)
	}
	return ok, nil
}

// IsBanned tells whether userID is banned from roomID.
func (s *Store) IsBanned(ctx context.Context, roomID, userID uuid.UUID) (bool, error) {
	var ok bool
	err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM room_bans WHERE room_id = $1 AND user_id = $2)`,
		roomID, userID).Scan(&ok)
	if err != nil {
		return false, fmt.Errorf("is banned: %w", err)
	}
	return ok, nil
}

// Members returns a room's members in the order they joined. A member whose user row is not
// projected yet (users come from another topic) is shown with the name the join carried.
func (s *Store) Members(ctx context.Context, roomID uuid.UUID) ([]projections.Member, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT m.user_id, COALESCE(u.username, m.username), COALESCE(u.display_name, m.username),
		       COALESCE(u.email, ''), COALESCE(u.avatar_url, ''), COALESCE(u.status, 'offline'), COALESCE(u.created_at, m.joined_at),
		       m.role, m.joined_at
		FROM room_members m LEFT JOIN users u ON u.id = m.user_id
		WHERE m.room_id = $1
		ORDER BY m.joined_at, m.user_id`, roomID)
	if err != nil {
		return nil, fmt.Errorf("members of %s: %w", roomID, err)
	}
	members, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (projections.Member, error) {
		var m projections.Member
		err := r.Scan(&m.User.ID, &m.User.Username, &m.User.DisplayName, &m.User.Email, &m.User.AvatarURL, &m.User.Status,
			&m.User.CreatedAt, &m.Role, &m.JoinedAt)
		m.User.CreatedAt, m.JoinedAt = m.User.CreatedAt.UTC(), m.JoinedAt.UTC()
		return m, err
	})
	if err != nil {
		return nil, fmt.Errorf("members of %s: %w", roomID, err)
	}
	return members, nil
}

// RoomIDsOf returns the rooms userID is a member of, in the order joined, leaving out deleted
// rooms (nothing more happens in them).
func (s *Store) RoomIDsOf(ctx context.Context, userID uuid.UUID) ([]uuid.UUID, error) {
	rows, err := s.pool.Query(ctx, `SELECT m.room_id FROM room_members m
		WHERE m.user_id = $1
		  AND NOT EXISTS (SELECT 1 FROM rooms r WHERE r.id = m.room_id AND r.deleted_at IS NOT NULL)
		ORDER BY m.joined_at, m.room_id`, userID)
	if err != nil {
		return nil, fmt.Errorf("rooms of %s: %w", userID, err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
	if err != nil {
		return nil, fmt.Errorf("rooms of %s: %w", userID, err)
	}
	return ids, nil
}

// RoomsOwnedBy counts the rooms userID owns that are not deleted (the gateway's room quota).
// It reads the owner's membership rows, through the index by user, rather than rooms.owner_id,
// which has none: a room's owner is its member with role owner for the room's whole life.
func (s *Store) RoomsOwnedBy(ctx context.Context, userID uuid.UUID) (int, error) {
	var n int
	err := s.pool.QueryRow(ctx, `SELECT count(*) FROM room_members m
		WHERE m.user_id = $1 AND m.role = 'owner'
		  AND NOT EXISTS (SELECT 1 FROM rooms r WHERE r.id = m.room_id AND r.deleted_at IS NOT NULL)`, userID).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("rooms owned by %s: %w", userID, err)
	}
	return n, nil
}

const messageColumns = `id, room_id, sender_id, CASE WHEN deleted THEN '' ELSE content END, message_type,
	reply_to_message_id, seq, created_at, edited_at, deleted, sent_by`

// Messages returns a page of a room's history, oldest first, and whether more messages lie
// beyond it in the direction paged (older ones for the latest page and for BeforeSeq, newer
// ones for AfterSeq). Limit defaults to 50 and is clamped to 200. With After (or AfterSeq > 0) the
// page is the first Limit messages after AfterSeq (bounded above by BeforeSeq, if also given); else with
// BeforeSeq > 0 the last Limit before it; else the latest Limit. Deleted messages keep their
// place with empty content.
func (s *Store) Messages(ctx context.Context, roomID uuid.UUID, q HistoryQuery) ([]projections.Message, bool, error) {
	limit := clamp(q.Limit, DefaultHistoryLimit, MaxHistoryLimit)
	// One row past the page tells whether there is more.
	var (
		rows pgx.Rows
		err  error
	)
	switch {
	case q.forward():
		before := q.BeforeSeq
		if before <= 0 {
			before = 1<<63 - 1
		}
		rows, err = s.pool.Query(ctx, `SELECT `+messageColumns+` FROM messages
			WHERE room_id = $1 AND seq > $2 AND seq < $3 ORDER BY seq LIMIT $4`, roomID, q.AfterSeq, before, limit+1)
	case q.BeforeSeq > 0:
		rows, err = s.pool.Query(ctx, `SELECT `+messageColumns+` FROM messages
			WHERE room_id = $1 AND seq < $2 ORDER BY seq DESC LIMIT $3`, roomID, q.BeforeSeq, limit+1)
	default:
		rows, err = s.pool.Query(ctx, `SELECT `+messageColumns+` FROM messages
			WHERE room_id = $1 ORDER BY seq DESC LIMIT $2`, roomID, limit+1)
	}
	if err != nil {
		return nil, false, fmt.Errorf("history of %s: %w", roomID, err)
	}
	msgs, err := pgx.CollectRows(rows, scanMessage)
	if err != nil {
		return nil, false, fmt.Errorf("history of %s: %w", roomID, err)
	}
	more := len(msgs) > limit
	if more {
		msgs = msgs[:limit]
	}
	if !q.forward() {
		slices.Reverse(msgs) // read newest first to take the latest; answer oldest first
	}
	return msgs, more, nil
}

func scanMessage(r pgx.CollectableRow) (projections.Message, error) { return scanMessageAfter(r) }

// scanMessageAfter scans a row of leading columns into lead, then a message's columns (as
// messageColumns lists them).
func scanMessageAfter(r pgx.Row, lead ...any) (projections.Message, error) {
	var (
		m        projections.Message
		editedAt *time.Time
	)
	err := r.Scan(append(lead, &m.ID, &m.RoomID, &m.SenderID, &m.Content, &m.MessageType, &m.ReplyToMessageID, &m.Seq,
		&m.CreatedAt, &editedAt, &m.Deleted, &m.SentBy)...)
	m.CreatedAt = m.CreatedAt.UTC()
	if editedAt != nil {
		t := editedAt.UTC()
		m.EditedAt = &t
	}
	return m, err
}

// clamp returns n, or def if n is not positive, but never more than most.
func clamp(n, def, most int) int {
	if n <= 0 {
		n = def
	}
	return min(n, most)
}

// notFound turns "no rows" into ErrNotFound and wraps anything else, naming what was looked up.
func notFound(what string, err error) error {
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("%s: %w", what, ErrNotFound)
	}
	return fmt.Errorf("%s: %w", what, err)
}
