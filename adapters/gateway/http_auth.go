package gateway

import (
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"github.com/chorus-chat/chorus/commands"
	"github.com/chorus-chat/chorus/projections"
	"github.com/chorus-chat/chorus/projections/readmodel"
)

type registerRequest struct {
	Username    string `json:"username"`
	Password    string `json:"password"`
	Email       string `json:"email"`
	DisplayName string `json:"display_name"`
}

type loginRequest struct {
	Username string `json:"username"`
	Password string `json:"password"`
}

type loginResult struct {
	Token     string           `json:"token"`
	ExpiresAt time.Time        `json:"expires_at"`
	User      projections.User `json:"user"`
}

// register claims a username (commands.Application.RegisterUser): 201 with the user.
func (g *Gateway) register(c echo.Context) error {
	var req registerRequest
	if err := readBody(c, &req, false); err != nil {
		return err
	}
	res, err := g.app.RegisterUser(c.Request().Context(), commands.RegisterUser{
		Username: req.Username, Password: req.Password, Email: req.Email, DisplayName: req.DisplayName, Key: idempotencyKey(c),
	})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, res)
}

// login checks a password and opens a session.
func (g *Gateway) login(c echo.Context) error {
	var req loginRequest
	if err := readBody(c, &req, false); err != nil {
		return err
	}
	if req.Username == "" || req.Password == "" {
		return errValidation("username and password are required")
	}
	ctx := c.Request().Context()
	bad := &apiError{Code: codeInvalidCredentials, Message: "unknown username or wrong password"}
	var userID uuid.UUID
	var hash string
	err := readmodel.ErrNotFound // a name with NUL names no one (and Postgres cannot look it up)
	if strings.IndexByte(req.Username, 0) < 0 {
		userID, hash, err = g.acc.Credentials(ctx, req.Username)
	}
	if errors.Is(err, readmodel.ErrNotFound) {
		// Spend a compare anyway: answering faster for unknown users would reveal which exist.
		if _, err := g.passwordMatches(ctx, g.dummy(), req.Password); err != nil {
			return err
		}
		return bad
	}
	if err != nil {
		return err
	}
	if ok, err := g.passwordMatches(ctx, []byte(hash), req.Password); err != nil {
		return err
	} else if !ok {
		return bad
	}
	user, err := g.rm.UserByID(ctx, userID)
	if errors.Is(err, readmodel.ErrNotFound) {
		return bad
	}
	if err != nil {
		return err
	}
	token, expires, err := g.acc.CreateSession(ctx, userID, g.cfg.SessionTTL)
	if err != nil {
		return err
	}
	g.app.RememberName(userID, user.Username)
	return c.JSON(http.StatusOK, loginResult{Token: token, ExpiresAt: expires.UTC(), User: user})
}
