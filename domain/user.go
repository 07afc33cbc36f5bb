package domain

import (
	"net/mail"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
)

// User is the aggregate that owns a username. Its id is UserIDFor(username).
type User struct {
	id         uuid.UUID
	version    int64
	registered bool
}

// Version is the number of events applied so far.
func (u *User) Version() int64 { return u.version }

// Decide handles RegisterUser.
func (u *User) Decide(cmd Command, now time.Time) ([]Event, error) {
	p, ok := cmd.Payload.(RegisterUser)
	if !ok {
		return nil, reject(CodeValidationFailed, "command %s does not apply to a user", cmd.Type)
	}
	if err := validateUsername(p.Username); err != nil {
		return nil, err
	}
	if UserIDFor(p.Username) != cmd.AggregateID {
		return nil, reject(CodeValidationFailed, "user id does not match the username")
	}
	if u.registered {
		return nil, reject(CodeUsernameTaken, "username %q is taken", p.Username)
	}
	display := strings.TrimSpace(p.DisplayName)
	if display == "" {
		display = p.Username
	}
	if utf8.RuneCountInString(display) > 64 {
		return nil, reject(CodeValidationFailed, "display_name is longer than 64 characters")
	}
	if !utf8.ValidString(display) {
		return nil, reject(CodeValidationFailed, "display_name is not valid UTF-8")
	}
	email := strings.TrimSpace(p.Email)
	if email != "" {
		if a, err := mail.ParseAddress(email); err != nil || a.Address != email || len(email) > 254 {
			return nil, reject(CodeValidationFailed, "email is not a valid address")
		}
	}
	return eventsOf(cmd, u.version, now, UserRegistered{
		UserID: cmd.AggregateID, Username: p.Username, DisplayName: display, Email: email, RegisteredAt: now.UTC(),
	}), nil
}

// Apply folds a user event.
func (u *User) Apply(e Event) {
	u.version = e.Version
	if _, ok := e.Data.(UserRegistered); ok {
		u.registered = true
	}
}

// validateUsername: 3 to 32 characters of ASCII letters, digits, '_', '.', '-'.
func validateUsername(name string) error {
	if len(name) < 3 || len(name) > 32 {
		return reject(CodeValidationFailed, "username must be 3 to 32 characters")
	}
	for _, r := range name {
		ok := r == '_' || r == '.' || r == '-' || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') || (r >= '0' && r <= '9')
		if !ok {
			return reject(CodeValidationFailed, "username may hold only letters, digits, '_', '.' and '-'")
		}
	}
	return nil
}
