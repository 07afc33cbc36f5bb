// Package readmodel is the Postgres read model: the projector that writes users, rooms, members
// with their roles and read markers, bans, invitations, messages and each room's log of message
// changes from events (with its checkpoint in the same transaction), and the queries the gateway
// answers from.
package readmodel

import (
	"errors"

	"github.com/chorus-chat/chorus/projections"
)

// Projection is the name under which this projector stores its checkpoints.
const Projection = "readmodel"

var (
	// ErrNotFound: no such row (user, room, credentials, session).
	ErrNotFound = projections.ErrNotFound
	// ErrRoomDeleted: the room existed and was deleted.
	ErrRoomDeleted = projections.ErrRoomDeleted
	// ErrNotCaughtUp: the projection did not reach a position within the wait bound.
	ErrNotCaughtUp = errors.New("not_caught_up: the read model has not reached that position yet")
)

// HistoryQuery selects a page of a room's history (docs/protocol.md, GET /rooms/{id}/messages):
// with After the first Limit messages after AfterSeq (after_seq=0 pages forward from the very
// start); with BeforeSeq > 0 the last Limit before it; otherwise the latest Limit. Results are
// always oldest first.
type HistoryQuery struct {
	BeforeSeq int64
	AfterSeq  int64
	// After says that AfterSeq was given. AfterSeq > 0 implies it.
	After bool
	Limit int
}

func (q HistoryQuery) forward() bool { return q.After || q.AfterSeq > 0 }
