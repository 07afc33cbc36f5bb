// Package search is the message search projection: a Postgres index of every live message that
// follows edits, deletes and room deletions, finds English words and Chinese, Japanese and Korean
// substrings, and answers a user's searches over the rooms they may read. It keeps its own
// tables, membership and checkpoint (projection "search"), so it is rebuilt on its own.
package search

import (
	"errors"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/chorus-chat/chorus/projections/checkpoint"
)

// Projection is the name under which the search projector stores its checkpoints.
const Projection = "search"

// Page sizes of GET /search/messages.
const (
	DefaultLimit = 20
	MaxLimit     = 100
	// MaxOffset bounds how deep a search pages: every page ranks all matches before it.
	MaxOffset = 1000
)

var (
	// ErrRoomNotFound: the room does not exist, was deleted, or is private and the caller is not
	// a member (who must not learn that it exists).
	ErrRoomNotFound = errors.New("room not found")
	// ErrNotAMember: the room is public but the caller is not a member, so may not read it.
	ErrNotAMember = errors.New("not a member of the room")
	// ErrNotCaughtUp: the index did not reach a position within the wait bound.
	ErrNotCaughtUp = errors.New("not_caught_up: the search index has not reached that position yet")
)

// Record is one event as read from the log, with where it sits there.
type Record = checkpoint.Record

// Query is one search: the messages containing Text in the rooms UserID may read (or in RoomID
// only, when it is set), best first, Limit of them after skipping Offset.
type Query struct {
	UserID uuid.UUID
	RoomID uuid.UUID // uuid.Nil: every room the user is a member of
	Text   string
	Limit  int // 1..MaxLimit; 0 means DefaultLimit
	Offset int // 0..MaxOffset
}

// partition names one topic partition of the log.
type partition = checkpoint.Partition

// Store is the search index in Postgres: ApplyBatch writes it, Search reads it, WaitFor lets a
// reader wait until it includes a given log position.
type Store struct {
	pool *pgxpool.Pool
	plan statsCache // how searches find their matches (plan.go)
	// The index's own progress, for ?position= (WaitFor): not the read model's, they are separate
	// consumer groups and either may be ahead.
	*checkpoint.Waiter
}

// NewStore returns a Store over pool, whose database must be migrated (postgres.Open does so).
// topics are the topics the search projector reads (chat-events): a position in any other topic
// has nothing to do with the index, which therefore already includes it.
func NewStore(pool *pgxpool.Pool, topics ...string) *Store {
	s := &Store{pool: pool}
	s.Waiter = checkpoint.NewWaiter(s.Checkpoints, ErrNotCaughtUp, topics...)
	return s
}
