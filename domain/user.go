package domain

import (
	"time"

	"github.com/google/uuid"
)

// User is the aggregate that owns a username and the profile of its user. Its id is
// UserIDFor(username).
type User struct {
	id          uuid.UUID
	version     int64
	registered  bool
	username    string
	displayName string
	email       string
	avatarURL   string
	// onlineSince is the start of the open session (zero when offline): user_presence.go.
	onlineSince time.Time
}

// Version is the number of events applied so far.
func (u *User) Version() int64 { return u.version }

// IsRegistered tells whether the username was claimed.
func (u *User) IsRegistered() bool { return u.registered }

// Username is the username as registered (its case kept).
func (u *User) Username() string { return u.username }

// DisplayName is the current display name.
func (u *User) DisplayName() string { return u.displayName }

// Email is the current email, or "".
func (u *User) Email() string { return u.email }

// AvatarURL is the current avatar URL, or "".
func (u *User) AvatarURL() string { return u.avatarURL }

// Decide handles RegisterUser, UpdateProfile and RecordPresence.
func (u *User) Decide(cmd Command, now time.Time) ([]Event, error) {
	switch p := cmd.Payload.(type) {
	case RegisterUser:
		return u.register(cmd, p, now)
	case UpdateProfile:
		return u.updateProfile(cmd, p, now)
	case RecordPresence:
		return u.recordPresence(cmd, p, now)
	default:
		return nil, reject(CodeValidationFailed, "command %s does not apply to a user", cmd.Type)
	}
}

func (u *User) register(cmd Command, p RegisterUser, now time.Time) ([]Event, error) {
	if err := validateUsername(p.Username); err != nil {
		return nil, err
	}
	if UserIDFor(p.Username) != cmd.AggregateID {
		return nil, reject(CodeValidationFailed, "user id does not match the username")
	}
	if u.registered {
		return nil, reject(CodeUsernameTaken, "username %q is taken", p.Username)
	}
	display, err := displayName(p.DisplayName, p.Username)
	if err != nil {
		return nil, err
	}
	email, err := emailAddress(p.Email)
	if err != nil {
		return nil, err
	}
	return eventsOf(cmd, u.version, now, UserRegistered{
		UserID: cmd.AggregateID, Username: p.Username, DisplayName: display, Email: email, RegisteredAt: now.UTC(),
	}), nil
}

// updateProfile: only the user himself; each given field is validated as at registration (an
// empty display name falls back to the username; an empty email or avatar URL clears it).
func (u *User) updateProfile(cmd Command, p UpdateProfile, now time.Time) ([]Event, error) {
	if !u.registered {
		return nil, reject(CodeUserNotFound, "user %s does not exist", cmd.AggregateID)
	}
	if cmd.ActorID != cmd.AggregateID {
		return nil, reject(CodeForbidden, "only the user can change their profile")
	}
	if p.DisplayName == nil && p.AvatarURL == nil && p.Email == nil {
		return nil, reject(CodeValidationFailed, "nothing to update: give display_name, avatar_url or email")
	}
	ev := UserProfileUpdated{UserID: cmd.AggregateID, UpdatedAt: now.UTC()}
	if p.DisplayName != nil {
		v, err := displayName(*p.DisplayName, u.username)
		if err != nil {
			return nil, err
		}
		ev.DisplayName = &v
	}
	if p.AvatarURL != nil {
		v, err := avatarURL(*p.AvatarURL)
		if err != nil {
			return nil, err
		}
		ev.AvatarURL = &v
	}
	if p.Email != nil {
		v, err := emailAddress(*p.Email)
		if err != nil {
			return nil, err
		}
		ev.Email = &v
	}
	return eventsOf(cmd, u.version, now, ev), nil
}

// Apply folds a user event.
func (u *User) Apply(e Event) {
	u.version = e.Version
	switch d := e.Data.(type) {
	case UserRegistered:
		u.registered = true
		u.username, u.displayName, u.email = d.Username, d.DisplayName, d.Email
	case UserProfileUpdated:
		if d.DisplayName != nil {
			u.displayName = *d.DisplayName
		}
		if d.AvatarURL != nil {
			u.avatarURL = *d.AvatarURL
		}
		if d.Email != nil {
			u.email = *d.Email
		}
	case UserCameOnline:
		u.onlineSince = d.At
	case UserWentOffline:
		u.onlineSince = time.Time{}
	}
}

// validateUsername: see UsernameProblem.
func validateUsername(name string) error {
	if problem := UsernameProblem(name); problem != "" {
		return reject(CodeValidationFailed, "%s", problem)
	}
	return nil
}
