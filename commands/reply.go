// Package commands is the write side's application layer: the use cases of the commands a
// client can issue (Application, app.go: one method a command, called alike by the HTTP and
// the WebSocket adapters), the per-user budgets they spend, the processor that owns command
// partitions and decides commands with the domain, the dispatcher that sends a command and
// waits for its reply, and the reply itself.
package commands

import (
	"errors"

	"github.com/google/uuid"

	"github.com/chorus-chat/chorus/domain"
)

// Reply is the answer to one command: accepted with the events it appended and the position of
// the last one, or rejected with a contract code.
type Reply struct {
	CommandID uuid.UUID      `json:"command_id"`
	Accepted  bool           `json:"accepted"`
	Code      string         `json:"code,omitempty"`
	Message   string         `json:"message,omitempty"`
	Position  string         `json:"position,omitempty"`
	Events    []domain.Event `json:"events,omitempty"`
}

// Err is the rejection as a *domain.Error, or nil when the command was accepted.
func (r Reply) Err() error {
	if r.Accepted {
		return nil
	}
	return &domain.Error{Code: r.Code, Message: r.Message}
}

// Errors a dispatch can end with besides a rejection.
var (
	// ErrTimeout: no reply within the bound. The command may still be applied; a retry with the
	// same command id is safe and answers with the first result.
	ErrTimeout = errors.New("timeout: no reply from the command processor in time")
	// ErrUnavailable: the command could not be handed to the log.
	ErrUnavailable = errors.New("unavailable: the command log cannot be reached")
)

// AddressedReply is a reply with the address of the gateway that waits for it.
type AddressedReply struct {
	To    string
	Reply Reply
}
