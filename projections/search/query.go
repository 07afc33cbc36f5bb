package search

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/chorus-chat/chorus/projections"
	"github.com/chorus-chat/chorus/projections/projtx"
)

// Search returns the messages that match q.Text in the rooms q.UserID may read (their current
// rooms; only q.RoomID when set), best first: by ts_rank_cd (terms that occur often and close
// together, in a short message, rank higher), then newest first, then by id, so that pages of the
// same search do not overlap or skip while the index does not change. What is ranked is the
// newest RankWindow matches (by creation time, then id): a search matching more than that (a
// very common word over many rooms) does not reach older matches, which a more precise query
// does; every page of a search comes from the same window.
//
// With q.RoomID set it fails with ErrRoomNotFound when that room does not exist, was deleted or
// is private and the user is not a member, and with ErrNotAMember when it is public and the user
// is not a member. A text without any searchable term (punctuation only) matches nothing.
//
// The window is found one of two ways, whichever the table's statistics say is cheaper
// (plan.go): the caller's rooms filtered inside the GIN index (every message carries its room's
// key and the query is (terms) & (room:a | room:b | …), so Postgres intersects posting lists),
// or the messages of the caller's rooms holding the terms taken newest first.
func (s *Store) Search(ctx context.Context, q Query) ([]projections.Message, error) {
	args, err := s.searchArgs(ctx, q)
	if err != nil {
		return nil, err
	}
	if args.sql == "" {
		return []projections.Message{}, nil
	}
	out, window, err := s.query(ctx, args)
	if err != nil || args.fallback == nil || window >= RankWindow {
		return out, err
	}
	// The slice held fewer than RankWindow matches: older ones may belong in the window.
	out, _, err = s.query(ctx, *args.fallback)
	return out, err
}

// query runs a search's statement and returns its page and, for a slice, how many matches the
// slice held (up to RankWindow; 0 when it held none or the page is empty).
func (s *Store) query(ctx context.Context, q searchQuery) (out []projections.Message, window int, err error) {
	rows, err := s.pool.Query(ctx, q.sql, q.args...)
	if err != nil {
		return nil, 0, fmt.Errorf("search: query: %w", err)
	}
	out = []projections.Message{}
	var m projections.Message
	dest := []any{&m.ID, &m.RoomID, &m.SenderID, &m.Content, &m.MessageType,
		&m.ReplyToMessageID, &m.Seq, &m.CreatedAt, &m.EditedAt}
	if q.fallback != nil {
		dest = append(dest, &window)
	}
	_, err = pgx.ForEachRow(rows, dest, func() error {
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
		return nil, 0, fmt.Errorf("search: query: %w", err)
	}
	return out, window, nil
}

// RankWindow is how many matches a search ranks: the newest ones. It covers the deepest page
// (MaxOffset + MaxLimit), so that every page of a search is cut from the same ranked window.
const RankWindow = MaxOffset + MaxLimit

// The ranked window's columns, and its ranking: $2 is the terms alone that rank, $3 and $4 the
// page.
const (
	searchColumns = `id, room_id, sender_id, content, message_type, reply_to_message_id, seq, created_at, edited_at`
	rankWindow    = ` ORDER BY ts_rank_cd(tsv, $2::tsquery, 1) DESC, created_at DESC, id LIMIT $3 OFFSET $4`
)

// searchByIndexSQL finds the window through the GIN index: $1 is the terms and rooms query
// (terms & (room:a | room:b | …)). The window is ordered by an expression rather than the
// columns so that the planner does not walk search_messages_recent_idx instead, testing that
// query (hundreds of room keys) on every row it passes: choose decided against that walk.
const searchByIndexSQL = `SELECT ` + searchColumns + ` FROM (
		SELECT ` + searchColumns + `, tsv FROM search_messages
		WHERE tsv @@ $1::tsquery
		ORDER BY created_at + interval '0' DESC, id DESC
		LIMIT $5) w` + rankWindow

// searchByRecencySQL finds the window newest first: $1 is the rooms, $2 the terms.
const searchByRecencySQL = `SELECT ` + searchColumns + ` FROM (
		SELECT ` + searchColumns + `, tsv FROM search_messages
		WHERE room_id = ANY($1::uuid[]) AND tsv @@ $2::tsquery
		ORDER BY created_at DESC, id DESC
		LIMIT $5) w` + rankWindow

// searchBySliceSQL finds the window in the slice of messages created since $6: the terms'
// postings AND-ed with that range of search_messages_recent_idx, ordered by an expression so
// that the planner does not walk the range newest first instead. Each row also carries how
// many matches the window holds, to tell whether the slice was deep enough.
const searchBySliceSQL = `SELECT ` + searchColumns + `, window_rows FROM (
		SELECT ` + searchColumns + `, tsv, count(*) OVER () AS window_rows FROM (
			SELECT ` + searchColumns + `, tsv FROM search_messages
			WHERE room_id = ANY($1::uuid[]) AND tsv @@ $2::tsquery AND created_at >= $6
			ORDER BY created_at + interval '0' DESC, id DESC
			LIMIT $5) s) w` + rankWindow

// searchQuery is a search's statement and its arguments; no statement when nothing can match.
// A slice's statement has a fallback, run when the slice holds fewer than RankWindow matches.
type searchQuery struct {
	sql      string
	args     []any
	fallback *searchQuery
}

// searchArgs checks q's room, finds the rooms it covers, chooses how to find the matches and
// returns the statement, or none when nothing can match.
func (s *Store) searchArgs(ctx context.Context, q Query) (searchQuery, error) {
	limit := q.Limit
	if limit <= 0 {
		limit = DefaultLimit
	}
	limit = min(limit, MaxLimit)
	offset := min(max(q.Offset, 0), MaxOffset)

	var rooms []uuid.UUID
	if q.RoomID != uuid.Nil {
		if err := s.checkRoom(ctx, q.RoomID, q.UserID); err != nil {
			return searchQuery{}, err
		}
		rooms = []uuid.UUID{q.RoomID}
	} else {
		var err error
		if rooms, err = s.roomsOf(ctx, q.UserID); err != nil {
			return searchQuery{}, err
		}
	}
	ts := terms(q.Text)
	if len(ts) == 0 || len(rooms) == 0 {
		return searchQuery{}, nil
	}
	texts := Terms(q.Text)
	ids := make(projtx.UUIDs, len(rooms))
	for i, r := range rooms {
		ids[i] = r
	}
	way := func(st strategy) searchQuery {
		if st == byRecency {
			return searchQuery{sql: searchByRecencySQL, args: []any{ids, termsQuery(texts), limit, offset, RankWindow}}
		}
		return searchQuery{sql: searchByIndexSQL, args: []any{roomsQuery(texts, rooms), termsQuery(texts), limit, offset, RankWindow}}
	}
	p := s.choose(ctx, ts, rooms)
	if p.way != bySlice {
		return way(p.way), nil
	}
	fallback := way(p.fallback)
	return searchQuery{sql: searchBySliceSQL, args: []any{ids, termsQuery(texts), limit, offset, RankWindow, p.since},
		fallback: &fallback}, nil
}

// Explain runs q as Search would under EXPLAIN (ANALYZE, BUFFERS) and returns the plan, for
// the benchmark and for whoever investigates a slow search. For a slice it is the slice's
// statement (its "Subquery Scan on s" rows tell whether the fallback would run: fewer than
// RankWindow).
func (s *Store) Explain(ctx context.Context, q Query) (string, error) {
	args, err := s.searchArgs(ctx, q)
	if err != nil || args.sql == "" {
		return "(nothing to search)", err
	}
	rows, err := s.pool.Query(ctx, "EXPLAIN (ANALYZE, BUFFERS) "+args.sql, args.args...)
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
