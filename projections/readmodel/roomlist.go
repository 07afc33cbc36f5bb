package readmodel

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/chorus-chat/chorus/projections"
)

// MaxRoomList is the largest page of ListRooms, and its default: a client that does not page
// gets what the unpaged listing gave.
const MaxRoomList = 200

// ErrBadCursor: a room list cursor that ListRooms never handed out.
var ErrBadCursor = errors.New("malformed cursor")

// RoomListQuery selects a page of the rooms a viewer may see.
type RoomListQuery struct {
	// Q keeps the rooms whose name contains it without regard to case; "" keeps all.
	Q string
	// Mine keeps only the rooms the viewer is a member of.
	Mine bool
	// Org keeps only the department rooms of that organization; uuid.Nil keeps every room.
	Org uuid.UUID
	// Limit is the page size: 1 to MaxRoomList; anything else is MaxRoomList.
	Limit int
	// After is where the previous page ended (its next cursor); nil starts at the first room.
	After *RoomCursor
}

// RoomCursor is a position in the room listing's order (name, then id): a page holds the rooms
// after it. Being a position rather than an offset, it neither skips nor repeats a room when
// rooms are created or deleted between pages.
type RoomCursor struct {
	Name string
	ID   uuid.UUID
}

// cursorJSON is what a cursor encodes. The version lets a later order refuse old cursors.
type cursorJSON struct {
	V    int       `json:"v"`
	Name string    `json:"n"`
	ID   uuid.UUID `json:"i"`
}

// maxCursorBytes bounds what ParseRoomCursor reads: a room name is at most 100 characters (400
// bytes of UTF-8), so a real cursor is well under this.
const maxCursorBytes = 1024

// String is the opaque form of the cursor that clients pass back.
func (c RoomCursor) String() string {
	b, _ := json.Marshal(cursorJSON{V: 1, Name: c.Name, ID: c.ID}) // cannot fail: plain fields
	return base64.RawURLEncoding.EncodeToString(b)
}

// ParseRoomCursor reads a cursor that String made; anything else is ErrBadCursor.
func ParseRoomCursor(s string) (RoomCursor, error) {
	if len(s) > maxCursorBytes {
		return RoomCursor{}, fmt.Errorf("%w: too long", ErrBadCursor)
	}
	b, err := base64.RawURLEncoding.DecodeString(s)
	// encoding/json would turn invalid UTF-8 into U+FFFD rather than refuse it.
	if err != nil || !utf8.Valid(b) {
		return RoomCursor{}, fmt.Errorf("%w: not base64url of UTF-8", ErrBadCursor)
	}
	var c cursorJSON
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil || dec.More() {
		return RoomCursor{}, fmt.Errorf("%w: not a cursor", ErrBadCursor)
	}
	// Postgres refuses NUL and invalid UTF-8 in text: caught here, they would be a 500.
	if c.V != 1 || c.ID == uuid.Nil || strings.ContainsRune(c.Name, 0) {
		return RoomCursor{}, fmt.Errorf("%w: not a cursor", ErrBadCursor)
	}
	return RoomCursor{Name: c.Name, ID: c.ID}, nil
}

// ListRooms returns a page of the rooms viewer may see (every public room, and the private rooms
// viewer is a member of or has an open invitation to; never a deleted room) that q selects,
// ordered by name then id, and the cursor of the next page (nil when this page is the last). For
// the rooms viewer is a member of, it also gives viewer's LastReadSeq and UnreadCount: the
// messages of others after it that are not deleted.
func (s *Store) ListRooms(ctx context.Context, viewer uuid.UUID, q RoomListQuery) ([]projections.Room, *RoomCursor, error) {
	limit := clamp(q.Limit, MaxRoomList, MaxRoomList)
	// Mine is an inner join, so that the planner starts from the viewer's memberships rather
	// than from every room.
	join := "LEFT JOIN"
	if q.Mine {
		join = "JOIN"
	}
	args := []any{viewer, q.Q, limit + 1}
	// The row comparison on (name, id) follows the ORDER BY (same collation), which is what
	// makes the cursor a position; it is left out of the first page so that the plan can walk
	// the (name, id) index from its start.
	after := ""
	if q.After != nil {
		args = append(args, q.After.Name, q.After.ID)
		after = `AND (r.name, r.id) > ($4::text, $5::uuid)`
	}
	if q.Org != uuid.Nil {
		args = append(args, q.Org)
		after += fmt.Sprintf(` AND r.department_org_id = $%d`, len(args))
	}
	// The count walks the (room_id, seq) index from the marker on, so it costs what is unread,
	// and only for the viewer's own rooms. One row past the page tells whether there is a next.
	rows, err := s.pool.Query(ctx, `SELECT `+roomColumns+`, m.last_read_seq,
			CASE WHEN m.user_id IS NULL THEN NULL ELSE (
				SELECT count(*) FROM messages x
				WHERE x.room_id = r.id AND x.seq > m.last_read_seq AND x.sender_id <> $1 AND NOT x.deleted)
			END
		FROM rooms r
		`+join+` room_members m ON m.room_id = r.id AND m.user_id = $1
		`+roomDepartmentJoin+`
		WHERE r.deleted_at IS NULL
		  AND (NOT r.is_private OR m.user_id IS NOT NULL OR EXISTS (
				SELECT 1 FROM room_invitations i WHERE i.room_id = r.id AND i.user_id = $1))
		  AND ($2 = '' OR strpos(lower(r.name), lower($2)) > 0)
		  `+after+`
		ORDER BY r.name, r.id
		LIMIT $3`, args...)
	if err != nil {
		return nil, nil, fmt.Errorf("list rooms: %w", err)
	}
	rooms, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (projections.Room, error) {
		var r projections.Room
		err := scanRoom(row, &r, &r.LastReadSeq, &r.UnreadCount)
		return r, err
	})
	if err != nil {
		return nil, nil, fmt.Errorf("list rooms: %w", err)
	}
	if len(rooms) <= limit {
		return rooms, nil, nil
	}
	rooms = rooms[:limit]
	last := rooms[limit-1]
	return rooms, &RoomCursor{Name: last.Name, ID: last.ID}, nil
}
