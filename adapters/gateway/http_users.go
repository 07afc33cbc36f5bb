package gateway

import (
	"net/http"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"github.com/chorus-chat/chorus/domain"
	"github.com/chorus-chat/chorus/projections/queries"
)

func (g *Gateway) me(c echo.Context) error {
	return g.answerUser(c, currentUser(c))
}

func (g *Gateway) userByID(c echo.Context) error {
	id, err := uuid.Parse(c.Param("id"))
	if err != nil {
		return queries.ErrUserNotFound() // a malformed id names no user
	}
	return g.answerUser(c, id)
}

// answerUser answers a user's profile: the User, and the organizations the caller shares with
// them (all of the caller's own), absent when there are none. ?position= was waited for on
// the read model (atPosition); the query waits for it on the directory too.
func (g *Gateway) answerUser(c echo.Context, id uuid.UUID) error {
	pos, err := g.positionQuery(c)
	if err != nil {
		return err
	}
	p, err := g.queries.Profile(c.Request().Context(), currentUser(c), queries.Profile{UserID: id, Position: pos})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, p)
}

// searchUsers: GET /users?q=&limit=&offset=. q matches emails only for the server's admins.
func (g *Gateway) searchUsers(c echo.Context) error {
	limit, err := intParam(c, "limit", queries.DefaultUsersLimit, 1, queries.MaxUsersLimit)
	if err != nil {
		return err
	}
	offset, err := intParam(c, "offset", 0, 0, 1<<31-1)
	if err != nil {
		return err
	}
	q, err := textQuery(c, "q")
	if err != nil {
		return err
	}
	users, err := g.queries.SearchUsers(c.Request().Context(), currentUser(c),
		queries.SearchUsers{Text: q, Limit: int(limit), Offset: int(offset)})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"users": users})
}

type updateProfileRequest struct {
	DisplayName *string `json:"display_name"`
	AvatarURL   *string `json:"avatar_url"`
	Email       *string `json:"email"`
}

// updateProfile: PATCH /users/me {display_name?, avatar_url?, email?}. An absent (or null)
// field is left as it is; an empty display name resets it to the username, an empty email or
// avatar URL clears it.
func (g *Gateway) updateProfile(c echo.Context) error {
	var req updateProfileRequest
	if err := readBody(c, &req, false); err != nil {
		return err
	}
	act, err := g.app.UpdateProfile(c.Request().Context(), currentUser(c),
		domain.UpdateProfile{DisplayName: req.DisplayName, AvatarURL: req.AvatarURL, Email: req.Email}, idempotencyKey(c))
	return g.answer(c, http.StatusOK, act, err)
}
