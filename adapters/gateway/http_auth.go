package gateway

import (
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"github.com/chorus-chat/chorus/domain"
	"github.com/chorus-chat/chorus/projections"
	"github.com/chorus-chat/chorus/projections/readmodel"
)

type registerRequest struct {
	Username    string `json:"username"`
	Password    string `json:"password"`
	Email       string `json:"email"`
	DisplayName string `json:"display_name"`
}

type userResult struct {
	User projections.User `json:"user"`
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

// register claims a username. The password hash never enters the event log: it is saved under
// the command id first, and the projector moves it into the credentials when it projects
// UserRegistered. Waiting for that event's position before answering is what lets the client
// log in as soon as register answered.
func (g *Gateway) register(c echo.Context) error {
	var req registerRequest
	if err := readBody(c, &req, false); err != nil {
		return err
	}
	// The domain checks the username too; checking here first spares a bcrypt hash and a
	// saved attempt for a name that can never be registered.
	if err := validateUsername(req.Username); err != nil {
		return err
	}
	if len(req.Password) < minPasswordBytes || len(req.Password) > maxPasswordBytes {
		return errValidation("password must be %d to %d bytes", minPasswordBytes, maxPasswordBytes)
	}
	hash, err := g.hash(c.Request().Context(), req.Password)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	userID := domain.UserIDFor(req.Username)
	// With an idempotency key a retry after a timeout is the same registration, answered 201
	// with the user rather than username_taken. Its attempt is saved under the same command id,
	// where the first one's hash is kept: the password is the first attempt's.
	key := idempotencyKey(c)
	if err := checkKey(key); err != nil {
		return err
	}
	cmdID := commandID(userID, domain.CmdRegisterUser, userID, key)
	if err := g.acc.SaveRegistrationAttempt(ctx, cmdID, userID, hash); err != nil {
		return err
	}
	cmd := domain.NewCommand(cmdID, userID, userID, req.Username, time.Now(), domain.RegisterUser{
		Username: req.Username, DisplayName: req.DisplayName, Email: req.Email,
	})
	reply, err := g.dispatchCommand(ctx, cmd, timeoutMessage(key))
	if err != nil {
		return err
	}
	d, err := eventData[domain.UserRegistered](reply)
	if err != nil {
		return err
	}
	if pos, err := domain.ParsePosition(reply.Position); err != nil {
		g.log.Error("register: reply carries a malformed position", "position", reply.Position, "err", err)
	} else if err := g.rm.WaitFor(ctx, pos, g.cfg.PositionWait); err != nil {
		// The user exists: answering an error would make the client retry into username_taken.
		// Login may fail for a moment instead, which is the lesser harm.
		g.log.Warn("register: read model did not catch up; login may lag", "user_id", userID, "err", err)
	}
	return c.JSON(http.StatusCreated, userResult{User: projections.UserOf(d)})
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
	g.names.put(userID, user.Username)
	return c.JSON(http.StatusOK, loginResult{Token: token, ExpiresAt: expires.UTC(), User: user})
}

// validateUsername is the domain's rule (domain.UsernameProblem), checked before a password
// is hashed for a name that can never be registered.
func validateUsername(name string) error {
	if problem := domain.UsernameProblem(name); problem != "" {
		return errValidation("%s", problem)
	}
	return nil
}
