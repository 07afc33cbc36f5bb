package queries

import (
	"context"
	"errors"

	"github.com/google/uuid"

	"github.com/chorus-chat/chorus/projections"
	"github.com/chorus-chat/chorus/projections/readmodel"
)

// Page sizes of the user search.
const (
	DefaultUsersLimit = readmodel.DefaultUserLimit
	MaxUsersLimit     = readmodel.MaxUserLimit
)

// A user's email is private: only its owner and the server's admins see it, and only admins
// find users by it. Every answer that carries another user's view passes through showUsers;
// the answers about the caller alone (register, login, profile update) carry the caller's own.

// User is a user as the viewer may see them.
func (a *Application) User(ctx context.Context, viewer, id uuid.UUID) (projections.User, error) {
	u, err := a.rm.UserByID(ctx, id)
	if errors.Is(err, projections.ErrNotFound) {
		return projections.User{}, ErrUserNotFound()
	}
	if err != nil {
		return projections.User{}, err
	}
	if err := a.showUsers(ctx, viewer, &u); err != nil {
		return projections.User{}, err
	}
	return u, nil
}

// SearchUsers is the input of a user search.
type SearchUsers struct {
	// Text is matched against usernames and display names (and emails, for an admin); "" matches
	// everyone.
	Text          string
	Limit, Offset int
}

// SearchUsers finds users, as the viewer may see them.
func (a *Application) SearchUsers(ctx context.Context, viewer uuid.UUID, in SearchUsers) ([]projections.User, error) {
	admin, err := a.IsAdmin(ctx, viewer)
	if err != nil {
		return nil, err
	}
	users, err := a.rm.SearchUsers(ctx, in.Text, in.Limit, in.Offset, admin)
	if err != nil {
		return nil, err
	}
	return showList(ctx, a, viewer, users, func(u *projections.User) *projections.User { return u })
}

// showList is showUsers over a list of views that each hold a user: the list prepared for
// viewer, never nil (an empty list is answered [], not null).
func showList[T any](ctx context.Context, a *Application, viewer uuid.UUID, list []T, user func(*T) *projections.User) ([]T, error) {
	if list == nil {
		list = []T{}
	}
	users := make([]*projections.User, len(list))
	for i := range list {
		users[i] = user(&list[i])
	}
	if err := a.showUsers(ctx, viewer, users...); err != nil {
		return nil, err
	}
	return list, nil
}

// showUsers prepares users for viewer: each keeps its email only if it is viewer's own or viewer
// is an admin, and gets its live presence status.
func (a *Application) showUsers(ctx context.Context, viewer uuid.UUID, users ...*projections.User) error {
	admin, err := a.IsAdmin(ctx, viewer)
	if err != nil {
		return err
	}
	for _, u := range users {
		if !admin && u.ID != viewer {
			u.Email = ""
		}
	}
	if a.status != nil {
		a.status.WithStatus(ctx, users...)
	}
	return nil
}
