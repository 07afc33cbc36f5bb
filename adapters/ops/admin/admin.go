// Package admin is the admin operations as a server offers them, without Kafka or Postgres in
// sight: the requests and errors of the operations package ops runs (event replay and stats,
// projection status, rebuild and verify), and the job runner that runs rebuilds and verifies in
// the background of a gateway. The gateway's admin endpoints speak only this package; cmd/chorus
// connects them to ops (ops.Admin).
package admin

import "errors"

var (
	// ErrUnknownProjection: a name that is not a (rebuildable) projection.
	ErrUnknownProjection = errors.New("unknown projection")
	// ErrBusy: another rebuild or verify of the same projection holds it (in this process or
	// another: chorusctl, or an admin request to any gateway).
	ErrBusy = errors.New("busy")
	// ErrNotMigrated: the database has no Chorus tables; the server never ran against it.
	ErrNotMigrated = errors.New("the database is not migrated: has the server ever run against it?")
	// ErrInvalidQuery: an event query that cannot be run (a bad bound, an empty range, an id
	// that is not a UUID). Its errors read "invalid event query: <what is wrong>".
	ErrInvalidQuery = errors.New("invalid event query")
)

// NotFoundError: what an operation reads does not exist (a topic).
type NotFoundError struct {
	What string
}

func (e NotFoundError) Error() string { return e.What }

// Formats of an event replay.
const (
	FormatJSONL = "jsonl"
	FormatCSV   = "csv"
)

// EventQuery is an event query as a user writes it (chorusctl's flags, the admin API's query
// parameters).
type EventQuery struct {
	Topics     []string // empty: the event topics
	From, To   string   // an RFC 3339 time, a date, or offset:N; "" for the start or end of the log
	Types      []string
	Room, User string // UUIDs, or ""
}

// RebuildRequest says how to rebuild a projection.
type RebuildRequest struct {
	// Restart drops the generation an interrupted rebuild left and starts over; Drop only drops
	// it. Without either, a rebuild resumes such a generation.
	Restart, Drop bool
	// Batch is the events applied per transaction (0: the default).
	Batch int
}

// VerifyRequest says how to verify a projection.
type VerifyRequest struct {
	// Examples is how many differing rows of each table to show.
	Examples int
	// Batch is the events applied per transaction (0: the default).
	Batch int
}

// Progress is told how far a rebuild or verify is: Expect with the log offsets each pass will
// read, Add as batches of them are applied.
type Progress interface {
	Expect(n int64)
	Add(n int64)
}
