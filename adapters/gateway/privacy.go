package gateway

import (
	"context"
	"strings"

	"github.com/google/uuid"

	"github.com/chorus-chat/chorus/projections"
)

// A user's email is private: only its owner and the server's admins (CHORUS_ADMIN_USERS) see it,
// and only admins find users by it. Every answer that carries another user's view passes
// through showUsers; the answers about the caller alone (register, login, profile update) carry
// the caller's own.

// isAdmin tells whether a user is one of the server's admins.
func (g *Gateway) isAdmin(ctx context.Context, id uuid.UUID) (bool, error) {
	if len(g.admins) == 0 {
		return false, nil
	}
	name, err := g.actorName(ctx, id)
	if err != nil {
		return false, err
	}
	return g.admins[strings.ToLower(name)], nil
}

// showUsers prepares users for viewer: each keeps its email only if it is viewer's own or viewer
// is an admin, and gets its live presence status.
func (g *Gateway) showUsers(ctx context.Context, viewer uuid.UUID, users ...*projections.User) error {
	admin, err := g.isAdmin(ctx, viewer)
	if err != nil {
		return err
	}
	for _, u := range users {
		if !admin && u.ID != viewer {
			u.Email = ""
		}
	}
	g.withStatus(ctx, users...)
	return nil
}

// showMembers is showUsers over a member list.
func (g *Gateway) showMembers(ctx context.Context, viewer uuid.UUID, members []projections.Member) error {
	users := make([]*projections.User, len(members))
	for i := range members {
		users[i] = &members[i].User
	}
	return g.showUsers(ctx, viewer, users...)
}

// showUserList is showUsers over a listing.
func (g *Gateway) showUserList(ctx context.Context, viewer uuid.UUID, list []projections.User) error {
	users := make([]*projections.User, len(list))
	for i := range list {
		users[i] = &list[i]
	}
	return g.showUsers(ctx, viewer, users...)
}
