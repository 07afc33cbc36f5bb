package projections

import "errors"

// Errors of the read model's lookups, declared here rather than in package readmodel so that
// the application layer (package commands) can tell them apart through its ports without
// depending on the Postgres read model.
var (
	// ErrNotFound: no such row (user, room, credentials, session).
	ErrNotFound = errors.New("not found")
	// ErrRoomDeleted: the room existed and was deleted.
	ErrRoomDeleted = errors.New("room deleted")
)
