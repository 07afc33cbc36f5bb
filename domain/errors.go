package domain

import (
	"errors"
	"fmt"
)

// Error codes of the public contract that the domain decides.
const (
	CodeValidationFailed = "validation_failed"
	CodeForbidden        = "forbidden"
	CodeNotAMember       = "not_a_member"
	CodeRoomNotFound     = "room_not_found"
	CodeRoomDeleted      = "room_deleted"
	CodeAlreadyMember    = "already_member"
	CodeUsernameTaken    = "username_taken"
	CodeMessageNotFound  = "message_not_found"
	CodeWrongPassword    = "wrong_password"
	CodeUserNotFound     = "user_not_found"
)

// Error is a rejection of a command: a stable contract code and a human message.
type Error struct {
	Code    string
	Message string
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// Is lets errors.Is match two domain errors by code.
func (e *Error) Is(target error) bool {
	var t *Error
	return errors.As(target, &t) && t.Code == e.Code
}

func reject(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// CodeOf returns the contract code of a domain error, or "" for any other error.
func CodeOf(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}
