package gateway

import (
	"context"
	"net/http"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"github.com/chorus-chat/chorus/commands"
	"github.com/chorus-chat/chorus/projections"
)

// The commands a client can issue are the same over HTTP and over a socket, and so are their
// answers (the contract makes an ack's result the HTTP call's body): their use cases are package
// commands', which both transports call. This file holds what the gateway adds: the HTTP answer
// of a prepared command, and the ports it lends the application (its bcrypt pool, its presence).

// answer executes the action a use case prepared (unless preparing it failed with err) and
// answers the request with status and the action's result. The success status is the HTTP
// route's: 201 where the command creates a resource, 200 otherwise. With On-Behalf-Of the
// command is the principal's, if a grant of theirs lets the caller send it (ActFor).
func (g *Gateway) answer(c echo.Context, status int, act commands.Action, err error) error {
	if err != nil {
		return err
	}
	if principal, err := principalOf(c); err != nil || principal != uuid.Nil {
		if err == nil {
			act, err = g.app.ActFor(c.Request().Context(), act, principal)
		}
		if err != nil {
			g.app.Discard(act)
			return err
		}
	}
	res, err := g.app.Execute(c.Request().Context(), act)
	if err != nil {
		return err
	}
	if p, ok := res.(interface{ Pending() bool }); ok && p.Pending() {
		status = http.StatusAccepted // accepted, its outcome not known yet (an admin's proxy grant)
	}
	return c.JSON(status, res)
}

// actorName is the username of a user with a session (commands.Application.ActorName).
func (g *Gateway) actorName(ctx context.Context, id uuid.UUID) (string, error) {
	return g.app.ActorName(ctx, id)
}

// passwords lends the application the gateway's bcrypt pool (commands.Passwords).
type passwords struct{ g *Gateway }

func (p passwords) Hash(ctx context.Context, pw string) (string, error) { return p.g.hash(ctx, pw) }

func (p passwords) Matches(ctx context.Context, hash []byte, pw string) (bool, error) {
	return p.g.passwordMatches(ctx, hash, pw)
}

// statuses lends the application the gateway's presence (commands.Statuses).
type statuses struct{ g *Gateway }

func (s statuses) WithStatus(ctx context.Context, users ...*projections.User) {
	s.g.withStatus(ctx, users...)
}
