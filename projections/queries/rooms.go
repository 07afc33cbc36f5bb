package queries

import (
	"context"
	"errors"

	"github.com/google/uuid"

	"github.com/chorus-chat/chorus/domain"
	"github.com/chorus-chat/chorus/projections"
	"github.com/chorus-chat/chorus/projections/readmodel"
)

// Page sizes of the room reads (the contract's).
const (
	// MaxRoomsLimit is the largest page of Rooms, and its default: a client that does not page
	// gets what the unpaged listing gave (and a next cursor).
	MaxRoomsLimit       = readmodel.MaxRoomList
	DefaultHistoryLimit = readmodel.DefaultHistoryLimit
	MaxHistoryLimit     = readmodel.MaxHistoryLimit
)

// Rooms is the input of the room listing.
type Rooms struct {
	// Text keeps the rooms whose name contains it; "" keeps all.
	Text string
	// Mine keeps only the viewer's rooms.
	Mine bool
	// Org keeps only the department rooms of that organization (an id); "" keeps every room.
	Org   string
	Limit int
	// Cursor is where the previous page ended, as it was handed out; "" starts at the first room.
	Cursor string
}

// RoomList is a page of rooms, and the cursor of the next one (null on the last page).
type RoomList struct {
	Rooms      []projections.Room `json:"rooms"`
	NextCursor *string            `json:"next_cursor"`
}

// Rooms lists a page of the rooms the viewer may see.
func (a *Application) Rooms(ctx context.Context, viewer uuid.UUID, in Rooms) (RoomList, error) {
	q := readmodel.RoomListQuery{Q: in.Text, Mine: in.Mine, Limit: in.Limit}
	if in.Org != "" {
		org, err := uuid.Parse(in.Org)
		if err != nil {
			return RoomList{}, errValidation("org must be an organization id")
		}
		q.Org = org
	}
	if in.Cursor != "" {
		cur, err := readmodel.ParseRoomCursor(in.Cursor)
		if err != nil {
			return RoomList{}, errValidation("cursor is malformed: pass back a next_cursor as it was given")
		}
		q.After = &cur
	}
	rooms, next, err := a.rm.ListRooms(ctx, viewer, q)
	if err != nil {
		return RoomList{}, err
	}
	out := RoomList{Rooms: rooms}
	if out.Rooms == nil {
		out.Rooms = []projections.Room{}
	}
	if next != nil {
		s := next.String()
		out.NextCursor = &s
	}
	return out, nil
}

// Room is a room the viewer may see.
func (a *Application) Room(ctx context.Context, viewer, id uuid.UUID) (projections.Room, error) {
	room, _, err := a.visibleRoom(ctx, id, viewer)
	return room, err
}

// Members lists the members of a room the viewer may see, as the viewer may see them.
func (a *Application) Members(ctx context.Context, viewer, id uuid.UUID) ([]projections.Member, error) {
	if _, _, err := a.visibleRoom(ctx, id, viewer); err != nil {
		return nil, err
	}
	members, err := a.rm.Members(ctx, id)
	if err != nil {
		return nil, err
	}
	return showList(ctx, a, viewer, members, func(m *projections.Member) *projections.User { return &m.User })
}

// History is the input of a page of a room's history.
type History struct {
	RoomID uuid.UUID
	// BeforeSeq and AfterSeq bound the page, each nil when not given: the messages before
	// BeforeSeq (0: the latest), or those after AfterSeq (0: from the very start).
	BeforeSeq, AfterSeq *int64
	Limit               int
}

// Check finds bounds that contradict each other.
func (in History) Check() error {
	if in.BeforeSeq != nil && in.AfterSeq != nil {
		return errValidation("give before_seq or after_seq, not both")
	}
	return nil
}

// HistoryPage is a page of a room's history, oldest first.
type HistoryPage struct {
	Messages []projections.Message `json:"messages"`
	HasMore  bool                  `json:"has_more"`
}

// History reads a page of a room's history. Members only: a public room's non-member is told
// so (not_a_member); a private room's is answered room_not_found, as search answers, whether or
// not they may see the room itself (an invitee).
func (a *Application) History(ctx context.Context, viewer uuid.UUID, in History) (HistoryPage, error) {
	if err := in.Check(); err != nil {
		return HistoryPage{}, err
	}
	room, member, err := a.visibleRoom(ctx, in.RoomID, viewer)
	if err != nil {
		return HistoryPage{}, err
	}
	if !member && room.IsPrivate {
		return HistoryPage{}, ErrRoomNotFound()
	}
	if !member {
		return HistoryPage{}, &Error{Code: domain.CodeNotAMember, Message: "only members can read this room's history"}
	}
	q := readmodel.HistoryQuery{Limit: in.Limit}
	if in.BeforeSeq != nil {
		q.BeforeSeq = *in.BeforeSeq
	}
	if in.AfterSeq != nil {
		q.AfterSeq, q.After = *in.AfterSeq, true
	}
	msgs, more, err := a.rm.Messages(ctx, in.RoomID, q)
	if err != nil {
		return HistoryPage{}, err
	}
	if msgs == nil {
		msgs = []projections.Message{}
	}
	return HistoryPage{Messages: msgs, HasMore: more}, nil
}

// visibleRoom loads a room the viewer may see, and tells whether the viewer is a member. The
// one rule: a public room is visible to everyone; a private room to its members and to users
// with an open invitation (a ban ends both). To anyone else a private room does not exist
// (room_not_found, not forbidden), so that its existence is not revealed. A deleted room is
// room_deleted to those who were its members or invitees when it was deleted (the read model
// keeps those rows), and room_not_found to everyone else.
func (a *Application) visibleRoom(ctx context.Context, id, viewer uuid.UUID) (room projections.Room, member bool, err error) {
	room, err = a.rm.Room(ctx, id)
	deleted := errors.Is(err, projections.ErrRoomDeleted)
	switch {
	case errors.Is(err, projections.ErrNotFound):
		return projections.Room{}, false, ErrRoomNotFound()
	case err != nil && !deleted:
		return projections.Room{}, false, err
	}
	member, err = a.rm.IsMember(ctx, id, viewer)
	if err != nil {
		return projections.Room{}, false, err
	}
	visible := member || (!deleted && !room.IsPrivate)
	if !visible {
		if visible, err = a.invitedNotBanned(ctx, id, viewer); err != nil {
			return projections.Room{}, false, err
		}
	}
	switch {
	case !visible:
		return projections.Room{}, false, ErrRoomNotFound()
	case deleted:
		return projections.Room{}, false, &Error{Code: domain.CodeRoomDeleted, Message: "this room was deleted"}
	}
	return room, member, nil
}

// invitedNotBanned tells whether a non-member has an open invitation to a room. A ban ends the
// invitation; the ban is checked as well so that the rule holds even if the read model were to
// keep the invitation row.
func (a *Application) invitedNotBanned(ctx context.Context, roomID, userID uuid.UUID) (bool, error) {
	invited, err := a.rm.IsInvited(ctx, roomID, userID)
	if err != nil || !invited {
		return false, err
	}
	banned, err := a.rm.IsBanned(ctx, roomID, userID)
	return !banned, err
}
