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
