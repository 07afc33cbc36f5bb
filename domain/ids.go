package domain

import (
	"strings"

	"github.com/google/uuid"
)

// Namespaces for name-based (v5) ids. Deterministic ids keep the domain pure and make a retried
// command produce exactly the ids of its first attempt.
var (
	namespaceUser    = uuid.MustParse("6f2c6a52-9b0e-4e0c-a8a6-1d9b2f3b0c11")
	namespaceEvent   = uuid.MustParse("0a7e5d1c-3a55-4f9b-8a6e-2c1d0b9f4e22")
	namespaceMessage = uuid.MustParse("9c4b2e7a-5d13-4a8f-b0c2-3e5f7a9d1b33")
	namespaceCommand = uuid.MustParse("2d8f6b4a-7c21-4e3d-9a5b-4f6e8c0a2d44")
)

// SystemActorID is the actor of commands the server itself issues (system messages). It is a
// fixed, well-known id that no registered user can have: user ids are name-based v5 uuids.
var SystemActorID = uuid.MustParse("00000000-0000-0000-0000-000000000001")

// UserIDFor is the id of the user registered under username. Usernames are unique without
// regard to case, so the id is derived from the lower-cased name: every registration of one
// name is routed to one aggregate, whose single writer decides who got it first.
func UserIDFor(username string) uuid.UUID {
	return uuid.NewSHA1(namespaceUser, []byte(strings.ToLower(username)))
}

// EventID is the id of the i-th event produced by a command.
func EventID(commandID uuid.UUID, i int) uuid.UUID {
	return uuid.NewSHA1(namespaceEvent, append(commandID[:], byte(i>>8), byte(i)))
}

// MessageIDFor is the id of the message created by a send command.
func MessageIDFor(commandID uuid.UUID) uuid.UUID {
	return uuid.NewSHA1(namespaceMessage, commandID[:])
}

// SendCommandID is the command id of a send with a client_msg_id: the same client_msg_id from
// the same user in the same room is the same command, so a retry is answered with the first result.
func SendCommandID(roomID, userID uuid.UUID, clientMsgID string) uuid.UUID {
	b := make([]byte, 0, 32+len(clientMsgID))
	b = append(b, roomID[:]...)
	b = append(b, userID[:]...)
	b = append(b, clientMsgID...)
	return uuid.NewSHA1(namespaceCommand, b)
}

// namespaceIdempotent and namespaceRoom derive the ids of commands sent with an idempotency key
// (and of the rooms such commands create); kept apart from namespaceCommand so that they can
// never meet a SendCommandID.
var (
	namespaceIdempotent = uuid.MustParse("5b1e9f3c-8d42-4a6b-9c7e-6a2f4d8b1e55")
	namespaceRoom       = uuid.MustParse("7e3a1c5d-2f64-4b8a-8d9e-8c4b6f0a3e66")
)

// IdempotentCommandID is the command id of a command sent with a client's idempotency key: the
// same key from the same actor for the same command type on the same aggregate is the same
// command, so a retry (after a timeout, say) is answered with the first result and appends
// nothing. The actor is part of it so that two users' keys never meet.
func IdempotentCommandID(actorID uuid.UUID, commandType string, aggregateID uuid.UUID, key string) uuid.UUID {
	b := make([]byte, 0, 32+len(commandType)+1+len(key))
	b = append(b, actorID[:]...)
	b = append(b, aggregateID[:]...)
	b = append(b, commandType...)
	b = append(b, 0) // command types never hold NUL: type and key cannot run into each other
	b = append(b, key...)
	return uuid.NewSHA1(namespaceIdempotent, b)
}

// RoomIDForKey is the id of the room a create_room with an idempotency key creates: a retry
// addresses the same room aggregate, which answers it with the first result.
func RoomIDForKey(actorID uuid.UUID, key string) uuid.UUID {
	return uuid.NewSHA1(namespaceRoom, append(actorID[:], key...))
}
