package commands

import (
	"context"
	"errors"

	"github.com/google/uuid"

	"github.com/chorus-chat/chorus/domain"
	"github.com/chorus-chat/chorus/projections"
)

// The moderation commands: each aims at a user of a room. Their answers are PositionResults.

// SetRole is the input of set_role; Role is required.
type SetRole struct {
	RoomID, UserID uuid.UUID
	Role           *string
	Key            string
}

// Check finds what is missing in the input.
func (in SetRole) Check() error {
	if in.Role == nil {
		return Required("role")
	}
	return nil
}

// SetRole gives a member a role: the owner only.
func (a *Application) SetRole(ctx context.Context, actor uuid.UUID, in SetRole) (Action, error) {
	if err := in.Check(); err != nil {
		return Action{}, err
	}
	return a.prepare(ctx, actor, in.RoomID, in.Key, domain.SetRole{UserID: in.UserID, Role: *in.Role}, positionOnly)
}

// KickMember removes a member: the owner or an admin.
func (a *Application) KickMember(ctx context.Context, actor, roomID, userID uuid.UUID, key string) (Action, error) {
	return a.prepare(ctx, actor, roomID, key, domain.KickMember{UserID: userID}, positionOnly)
}

// UnbanMember lifts a ban: the owner or an admin.
func (a *Application) UnbanMember(ctx context.Context, actor, roomID, userID uuid.UUID, key string) (Action, error) {
	return a.prepare(ctx, actor, roomID, key, domain.UnbanMember{UserID: userID}, positionOnly)
}

// BanMember bans a user, member or not: the owner or an admin.
func (a *Application) BanMember(ctx context.Context, actor, roomID, userID uuid.UUID, reason, key string) (Action, error) {
	return a.targeted(ctx, actor, roomID, userID, key, domain.BanMember{UserID: userID, Reason: reason})
}

// InviteUser invites a user to a room: a member of a public room, the owner or an admin of a
// private one.
func (a *Application) InviteUser(ctx context.Context, actor, roomID, userID uuid.UUID, key string) (Action, error) {
	return a.targeted(ctx, actor, roomID, userID, key, domain.InviteUser{UserID: userID})
}

// targeted builds a command aimed at another user who need not be a member (ban, invite). The
// room aggregate cannot know whether a user exists, so the read model is asked: an unknown user
// is user_not_found rather than a ban or an invitation that nobody can ever use. Registration
// is synchronous, so the read model knows every user who could have been named.
func (a *Application) targeted(ctx context.Context, actor, roomID, target uuid.UUID, key string, p domain.CommandData) (Action, error) {
	if err := checkKey(key); err != nil {
		return Action{}, err
	}
	if err := a.admit(ctx, actor, p.CommandType()); err != nil {
		return Action{}, err
	}
	if _, err := a.rm.UserByID(ctx, target); errors.Is(err, projections.ErrNotFound) {
		return Action{}, &Error{Code: domain.CodeUserNotFound, Message: "no such user"}
	} else if err != nil {
		return Action{}, err
	}
	return a.build(ctx, actor, roomID, key, p, positionOnly)
}
