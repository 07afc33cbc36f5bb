package commands

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/chorus-chat/chorus/domain"
	"github.com/chorus-chat/chorus/projections"
)

// Password limits of accounts and rooms. bcrypt reads at most 72 bytes, so a longer password
// would be silently cut: it is refused instead.
const (
	MinPasswordBytes = 8
	MaxPasswordBytes = 72
)

// RegisterUser is the input of a registration.
type RegisterUser struct {
	Username, Password, Email, DisplayName string
	Key                                    string
}

// UserResult is the answer of a registration.
type UserResult struct {
	User projections.User `json:"user"`
}

// RegisterUser claims a username. The password hash never enters the event log: it is saved
// under the command id first, and the projector moves it into the credentials when it projects
// UserRegistered. Waiting for that event's position before answering is what lets the client
// log in as soon as the registration answered.
func (a *Application) RegisterUser(ctx context.Context, in RegisterUser) (UserResult, error) {
	// The domain checks the username too; checking here first spares a bcrypt hash and a
	// saved attempt for a name that can never be registered.
	if problem := domain.UsernameProblem(in.Username); problem != "" {
		return UserResult{}, errValidation("%s", problem)
	}
	if len(in.Password) < MinPasswordBytes || len(in.Password) > MaxPasswordBytes {
		return UserResult{}, errValidation("password must be %d to %d bytes", MinPasswordBytes, MaxPasswordBytes)
	}
	hash, err := a.pw.Hash(ctx, in.Password)
	if err != nil {
		return UserResult{}, err
	}
	userID := domain.UserIDFor(in.Username)
	// With an idempotency key a retry after a timeout is the same registration, answered with
	// the user rather than username_taken. Its attempt is saved under the same command id,
	// where the first one's hash is kept: the password is the first attempt's.
	if err := checkKey(in.Key); err != nil {
		return UserResult{}, err
	}
	cmdID := commandID(userID, domain.CmdRegisterUser, userID, in.Key)
	if err := a.reg.SaveRegistrationAttempt(ctx, cmdID, userID, hash); err != nil {
		return UserResult{}, err
	}
	cmd := domain.NewCommand(cmdID, userID, userID, in.Username, time.Now(), domain.RegisterUser{
		Username: in.Username, DisplayName: in.DisplayName, Email: in.Email,
	})
	reply, err := a.dispatch(ctx, cmd, timeoutMessage(in.Key))
	if err != nil {
		return UserResult{}, err
	}
	d, err := eventData[domain.UserRegistered](reply)
	if err != nil {
		return UserResult{}, err
	}
	if pos, err := domain.ParsePosition(reply.Position); err != nil {
		a.log.Error("register: reply carries a malformed position", "position", reply.Position, "err", err)
	} else if err := a.rm.WaitFor(ctx, pos, a.positionWait); err != nil {
		// The user exists: answering an error would make the client retry into username_taken.
		// Login may fail for a moment instead, which is the lesser harm.
		a.log.Warn("register: read model did not catch up; login may lag", "user_id", userID, "err", err)
	}
	return UserResult{User: projections.UserOf(d)}, nil
}

// UpdateProfile changes the actor's own profile (a command on their user aggregate): an absent
// field is left as it is; an empty display name resets it to the username, an empty email or
// avatar URL clears it. Like RoomUpdated, UserProfileUpdated carries only what changed: the
// user is read back, and the answer is a ProfileResult.
func (a *Application) UpdateProfile(ctx context.Context, actor uuid.UUID, p domain.UpdateProfile, key string) (Action, error) {
	return a.prepare(ctx, actor, actor, key, p, func(r Reply) (any, error) {
		d, err := eventData[domain.UserProfileUpdated](r)
		if err != nil {
			return nil, err
		}
		a.waitPosition(ctx, r.Position)
		u, err := a.rm.UserByID(ctx, actor)
		if err != nil {
			a.log.Warn("update profile: cannot read the user back", "user_id", actor, "err", err)
			return nil, &Error{Code: CodeNotCaughtUp, Message: "the profile was updated but cannot be read back yet; GET /users/me with ?position=" + r.Position}
		}
		if d.DisplayName != nil {
			u.DisplayName = *d.DisplayName
		}
		if d.Email != nil {
			u.Email = *d.Email
		}
		if d.AvatarURL != nil {
			u.AvatarURL = *d.AvatarURL
		}
		a.status.WithStatus(ctx, &u)
		return ProfileResult{User: u, Position: r.Position}, nil
	})
}

// SystemEvent is the contract's system event, as the `system_event` frame carries it.
type SystemEvent struct {
	ID        uuid.UUID       `json:"id"`
	EventType string          `json:"event_type"`
	Message   string          `json:"message"`
	Data      json.RawMessage `json:"data"`
	CreatedAt time.Time       `json:"created_at"`
}

// SystemEventResult is the answer of publishing a system event.
type SystemEventResult struct {
	Event    SystemEvent `json:"event"`
	Position string      `json:"position"`
}

// PublishSystemEvent publishes a system event to every connected client. Who may is the
// caller's to check (the server's admins are configuration); the system aggregate validates
// what is said. name is the actor's username.
func (a *Application) PublishSystemEvent(ctx context.Context, actor uuid.UUID, name string, p domain.PublishSystemEvent) (SystemEventResult, error) {
	cmd := domain.NewCommand(uuid.New(), domain.SystemAggregateID, actor, name, time.Now(), p)
	reply, err := a.dispatch(ctx, cmd, defaultTimeoutMsg)
	if err != nil {
		return SystemEventResult{}, err
	}
	for _, e := range reply.Events {
		if d, ok := e.Data.(domain.SystemEventPublished); ok {
			return SystemEventResult{Position: reply.Position, Event: SystemEvent{
				ID: e.ID, EventType: d.Kind, Message: d.Message, Data: d.Data, CreatedAt: e.OccurredAt,
			}}, nil
		}
	}
	return SystemEventResult{}, fmt.Errorf("publish system event: accepted reply without a SystemEventPublished event")
}
