package queries

import (
	"fmt"

	"github.com/chorus-chat/chorus/domain"
)

// Error codes the queries answer besides the domain's (docs/protocol.md lists them all).
const (
	CodeNotFound    = "not_found"
	CodeUnavailable = "unavailable"
	CodeNotCaughtUp = "not_caught_up"
)

// Error is a query's answer that is not a success: a contract code and a message for humans,
// as a domain rejection has. It is a type of its own so that a transport can tell the two
// apart where it answers them differently: a read of a deleted room answers room_deleted as
// something that is gone (HTTP 404), where a command on it conflicts (409).
type Error domain.Error

func (e *Error) Error() string { return e.Code + ": " + e.Message }

func newError(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// errValidation is a validation_failed refusal of a query's input.
func errValidation(format string, args ...any) *Error {
	return newError(domain.CodeValidationFailed, format, args...)
}

// ErrRoomNotFound is the answer about a room that does not exist for the viewer: unknown, or
// private to others (whose existence is not revealed).
func ErrRoomNotFound() *Error { return &Error{Code: domain.CodeRoomNotFound, Message: "no such room"} }

// ErrUserNotFound is the answer about a user that does not exist.
func ErrUserNotFound() *Error { return &Error{Code: domain.CodeUserNotFound, Message: "no such user"} }

// ErrNotificationNotFound is the answer about a notification that is not the viewer's.
func ErrNotificationNotFound() *Error {
	return &Error{Code: CodeNotFound, Message: "no such notification"}
}
