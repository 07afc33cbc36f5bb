package commands

import (
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/chorus-chat/chorus/domain"
)

// Error codes the application decides itself (the domain's are in package domain; the
// transports add their own, such as invalid_frame). docs/protocol.md lists them all.
const (
	CodeUnauthorized  = "unauthorized"
	CodeRateLimited   = "rate_limited"
	CodeQuotaExceeded = "quota_exceeded"
	CodeUnavailable   = "unavailable"
	CodeNotCaughtUp   = "not_caught_up"
	CodeTimeout       = "timeout"
)

// Error is a use case's answer that is not a success: a contract code and a message for
// humans. The transports turn it into their own shape (an HTTP status and body, a WebSocket
// error frame); nothing in it is specific to one of them.
type Error struct {
	Code    string
	Message string
	// RetryAfter, when set, says when a retry may succeed (budgets, a busy password pool).
	RetryAfter time.Duration
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// newError is an *Error with a formatted message.
func newError(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// errValidation is a validation_failed refusal.
func errValidation(format string, args ...any) *Error {
	return newError(domain.CodeValidationFailed, format, args...)
}

// errRetryLater is a rate_limited refusal carrying when to retry.
func errRetryLater(wait time.Duration, msg string) *Error {
	return &Error{Code: CodeRateLimited, Message: msg + "; retry in " + wait.Round(time.Millisecond).String(), RetryAfter: wait}
}

// FieldError is a field of a command's input that is missing or malformed, found before
// anything is done for the command. The rule is the same over HTTP and over a socket; only the
// code differs, and each transport chooses it: validation_failed for a request body,
// invalid_frame for a frame.
type FieldError struct {
	Message string
}

func (e *FieldError) Error() string { return e.Message }

// Required refuses a required field that is absent.
func Required(field string) *FieldError { return &FieldError{Message: field + " is required"} }

// ParseID reads a required id field.
func ParseID(field string, s *string) (uuid.UUID, error) {
	if s == nil {
		return uuid.Nil, Required(field)
	}
	id, err := uuid.Parse(*s)
	if err != nil {
		return uuid.Nil, &FieldError{Message: field + " is not a valid id"}
	}
	return id, nil
}

// ParseOptionalID reads an optional id field: absent, null and "" mean none.
func ParseOptionalID(field string, s *string) (*uuid.UUID, error) {
	if s == nil || *s == "" {
		return nil, nil
	}
	id, err := uuid.Parse(*s)
	if err != nil {
		return nil, &FieldError{Message: field + " is not a valid id"}
	}
	return &id, nil
}
