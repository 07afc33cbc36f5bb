package search

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/chorus-chat/chorus/projections"
)

// Search returns the messages that match q.Text in the rooms q.UserID may read (their current
// rooms; only q.RoomID when set), best first: by ts_rank_cd (terms that occur often and close
// together, in a short message, rank higher), then newest first, then by id, so that pages of the
// same search do not overlap or skip while the index does not change.
//
// With q.RoomID set it fails with ErrRoomNotFound when that room does not exist, was deleted or
// is private and the user is not a member, and with ErrNotAMember when it is public and the user
// is not a member. A text without any searchable term (punctuation only) matches nothing.
//
// The caller's rooms are filtered inside the GIN index: every message carries its room's key
// and the query is (terms) & (room:a | room:b | …), so Postgres intersects posting lists
// instead of fetching every match in the whole index and discarding most of them.
func (s *Store) Search(ctx context.Context, q Query) ([]projections.Message, error) {
	args, err := s.searchArgs(ctx, q)
	if err != nil {
		return nil, err
	}
	if args == nil {
		return []projections.Message{}, nil
	}
	rows, err := s.pool.Query(ctx, searchSQL, args...)
	if err != nil {
		return nil, fmt.Errorf("search: query: %w", err)
	}
	out := []projections.Message{}
	var m projections.Message
	_, err = pgx.ForEachRow(rows, []any{&m.ID, &m.RoomID, &m.SenderID, &m.Content, &m.MessageType,
		&m.ReplyToMessageID, &m.Seq, &m.CreatedAt, &m.EditedAt}, func() error {
		v := m
		v.CreatedAt = v.CreatedAt.UTC()
		if v.EditedAt != nil {
			t := v.EditedAt.UTC()
			v.EditedAt = &t
		}
		out = append(out, v)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("search: query: %w", err)
	}
	return out, nil
}

// searchSQL: $1 is the terms and rooms query that selects through the GIN index, $2 the terms
// alone that rank, $3 and $4 the page.
const searchSQL = `SELECT id, room_id, sender_id, content, message_type, reply_to_message_id, seq, created_at, edited_at
	FROM search_messages
	WHERE tsv @@ $1::tsquery
	ORDER BY ts_rank_cd(tsv, $2::tsquery, 1) DESC, created_at DESC, id
	LIMIT $3 OFFSET $4`

// searchArgs checks q's room, finds the rooms it covers and returns the arguments of searchSQL, or
// nil arguments when nothing can match.
func (s *Store) searchArgs(ctx context.Context, q Query) ([]any, error) {
	limit := q.Limit
	if limit <= 0 {
		limit = DefaultLimit
	}
	limit = min(limit, MaxLimit)
	offset := min(max(q.Offset, 0), MaxOffset)

	var rooms []uuid.UUID
	if q.RoomID != uuid.Nil {
		if err := s.checkRoom(ctx, q.RoomID, q.UserID); err != nil {
			return nil, err
		}
		rooms = []uuid.UUID{q.RoomID}
	} else {
		var err error
		if rooms, err = s.roomsOf(ctx, q.UserID); err != nil {
			return nil, err
		}
	}
	terms := Terms(q.Text)
	if len(terms) == 0 || len(rooms) == 0 {
		return nil, nil
	}
	return []any{roomsQuery(terms, rooms), termsQuery(terms), limit, offset}, nil
}

// Explain runs q as Search would under EXPLAIN (ANALYZE, BUFFERS) and returns the plan, for
// the benchmark and for whoever investigates a slow search.
func (s *Store) Explain(ctx context.Context, q Query) (string, error) {
	args, err := s.searchArgs(ctx, q)
	if err != nil || args == nil {
		return "(nothing to search)", err
	}
	rows, err := s.pool.Query(ctx, "EXPLAIN (ANALYZE, BUFFERS) "+searchSQL, args...)
	if err != nil {
		return "", fmt.Errorf("search: explain: %w", err)
	}
	lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return "", fmt.Errorf("search: explain: %w", err)
	}
	return strings.Join(lines, "\n"), nil
}

// checkRoom tells whether user may search room, as GET /rooms/{id}/messages decides for history.
func (s *Store) checkRoom(ctx context.Context, room, user uuid.UUID) error {
	var private, deleted, member bool
	err := s.pool.QueryRow(ctx, `SELECT r.is_private, r.deleted,
			EXISTS (SELECT 1 FROM search_members m WHERE m.user_id = $2 AND m.room_id = r.room_id)
		FROM search_rooms r WHERE r.room_id = $1`, room, user).Scan(&private, &deleted, &member)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return ErrRoomNotFound
	case err != nil:
		return fmt.Errorf("search: room %s: %w", room, err)
	case deleted, private && !member:
		return ErrRoomNotFound
	case !member:
		return ErrNotAMember
	}
	return nil
}

// roomsOf lists the rooms user is a member of (deleted rooms have no members).
func (s *Store) roomsOf(ctx context.Context, user uuid.UUID) ([]uuid.UUID, error) {
	rows, err := s.pool.Query(ctx, `SELECT room_id FROM search_members WHERE user_id = $1`, user)
	if err != nil {
		return nil, fmt.Errorf("search: rooms of %s: %w", user, err)
	}
	rooms, err := pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
	if err != nil {
		return nil, fmt.Errorf("search: rooms of %s: %w", user, err)
	}
	return rooms, nil
}
