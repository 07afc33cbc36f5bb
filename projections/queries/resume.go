package queries

import (
	"context"
	"errors"
	"sort"

	"github.com/google/uuid"

	"github.com/chorus-chat/chorus/projections/readmodel"
)

// ErrStopped: a resume stopped halfway, because its context ended or its receiver went away.
var ErrStopped = errors.New("resume stopped")

// Resume is the input of a resume: per room, the seq of the last message the client saw there.
type Resume struct {
	Rooms map[uuid.UUID]int64
	// Limit is the most changes replayed in one room: a room that missed more is not recovered.
	Limit int
}

// Resume replays what a reconnecting viewer missed, room by room in the order of their ids: send
// gets the changes of each room it can recover whole, in the room's order (it returns false
// when its receiver has gone away). A room the viewer is not a member of, that missed more
// than Limit changes, or whose changes cannot be read (logged) is not recovered, and its client
// reloads it from history. The answer says, for every room of the input, whether it was
// recovered. It fails with ErrStopped when ctx ends or send returns false, and with the read
// model's error when the viewer's rooms cannot be read.
func (a *Application) Resume(ctx context.Context, viewer uuid.UUID, in Resume,
	send func([]readmodel.MessageChange) bool) (map[uuid.UUID]bool, error) {
	member := map[uuid.UUID]bool{}
	if len(in.Rooms) > 0 {
		ids, err := a.rm.RoomIDsOf(ctx, viewer)
		if err != nil {
			return nil, err
		}
		for _, r := range ids {
			member[r] = true
		}
	}
	order := make([]uuid.UUID, 0, len(in.Rooms))
	for r := range in.Rooms {
		order = append(order, r)
	}
	sort.Slice(order, func(i, j int) bool { return order[i].String() < order[j].String() })

	recovered := make(map[uuid.UUID]bool, len(in.Rooms))
	for _, r := range order {
		ok, err := a.resumeRoom(ctx, r, in.Rooms[r], in.Limit, member[r], send)
		if err != nil {
			return nil, err
		}
		recovered[r] = ok
	}
	return recovered, nil
}

// resumeRoom sends the changes one room missed and reports whether that was all of them.
func (a *Application) resumeRoom(ctx context.Context, room uuid.UUID, lastSeen int64, limit int, member bool,
	send func([]readmodel.MessageChange) bool) (bool, error) {
	if !member || a.changes == nil {
		return false, nil
	}
	changes, complete, err := a.changes.MessageChangesAfter(ctx, room, lastSeen, limit)
	if err != nil {
		if ctx.Err() != nil {
			return false, ErrStopped
		}
		a.log.Warn("resume: reading missed changes failed", "room_id", room, "err", err)
		return false, nil
	}
	if !complete {
		return false, nil
	}
	if !send(changes) {
		return false, ErrStopped
	}
	return true, nil
}
