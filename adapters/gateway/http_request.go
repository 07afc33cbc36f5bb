package gateway

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"github.com/chorus-chat/chorus/domain"
	"github.com/chorus-chat/chorus/projections/readmodel"
)

// maxBodyBytes is the largest request body the API reads (the contract's 64 KiB).
const maxBodyBytes = 64 << 10

// ctxUserKey is where authenticate leaves the caller's user id in the echo context.
const ctxUserKey = "chorus.user_id"

// readBody decodes a JSON request body into dst. It reads the body itself instead of using
// echo's binder so that every failure has the contract's code and a message that is safe to
// show: too large is 413, malformed is 400 validation_failed. With optional, an empty body
// leaves dst as it is.
func readBody(c echo.Context, dst any, optional bool) error {
	req := c.Request()
	if req.ContentLength > maxBodyBytes {
		return newError(codePayloadTooLarge, "request body is larger than %d bytes", maxBodyBytes)
	}
	b, err := io.ReadAll(io.LimitReader(req.Body, maxBodyBytes+1))
	if err != nil {
		return errValidation("cannot read the request body")
	}
	if len(b) > maxBodyBytes {
		return newError(codePayloadTooLarge, "request body is larger than %d bytes", maxBodyBytes)
	}
	if len(bytes.TrimSpace(b)) == 0 {
		if optional {
			return nil
		}
		return errValidation("a JSON body is required")
	}
	if err := json.Unmarshal(b, dst); err != nil {
		return errValidation("malformed JSON body: %s", jsonProblem(err))
	}
	return nil
}

// jsonProblem describes a decoding error without Go type names.
func jsonProblem(err error) string {
	var te *json.UnmarshalTypeError
	var se *json.SyntaxError
	switch {
	case errors.As(err, &te):
		if te.Field != "" {
			return fmt.Sprintf("field %q has the wrong type (%s)", te.Field, te.Value)
		}
		return fmt.Sprintf("expected a JSON object, got %s", te.Value)
	case errors.As(err, &se):
		return fmt.Sprintf("syntax error at byte %d", se.Offset)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "unexpected end of input"
	}
	return "cannot decode"
}

// bearerToken is the token of an "Authorization: Bearer <token>" header, or "".
func bearerToken(r *http.Request) string {
	h := r.Header.Get("Authorization")
	scheme, token, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return ""
	}
	return strings.TrimSpace(token)
}

// sessionUser resolves a token to its user and the session's end; a missing, bad, expired or
// revoked token is 401.
func (g *Gateway) sessionUser(r *http.Request, token string) (uuid.UUID, time.Time, error) {
	if token == "" {
		return uuid.Nil, time.Time{}, errUnauthorized("missing bearer token")
	}
	id, ends, err := g.acc.Session(r.Context(), token)
	if errors.Is(err, readmodel.ErrNotFound) {
		return uuid.Nil, time.Time{}, errUnauthorized("invalid or expired token")
	}
	return id, ends, err
}

// authenticate requires a valid bearer token and records its user for the handler.
func (g *Gateway) authenticate(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		id, _, err := g.sessionUser(c.Request(), bearerToken(c.Request()))
		if err != nil {
			return err
		}
		c.Set(ctxUserKey, id)
		return next(c)
	}
}

// currentUser is the caller authenticate recorded.
func currentUser(c echo.Context) uuid.UUID {
	id, _ := c.Get(ctxUserKey).(uuid.UUID)
	return id
}

// atPosition makes a query answer from a view that includes ?position=: it waits for the read
// model to reach it (bounded by PositionWait) before the handler runs.
func (g *Gateway) atPosition(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		raw := c.QueryParam("position")
		if raw == "" {
			return next(c)
		}
		pos, err := domain.ParsePosition(raw)
		if err != nil {
			return errValidation("position is malformed")
		}
		if err := g.rm.WaitFor(c.Request().Context(), pos, g.cfg.PositionWait); err != nil {
			return err
		}
		return next(c)
	}
}

// recoverPanic turns a handler panic into a logged 500 so that a bug never shows a client a
// stack trace or a dropped connection.
func (g *Gateway) recoverPanic(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) (err error) {
		defer func() {
			if r := recover(); r != nil {
				if r == http.ErrAbortHandler {
					panic(r)
				}
				g.log.Error("handler panic", "method", c.Request().Method, "path", c.Request().URL.Path,
					"panic", r, "stack", string(debug.Stack()))
				err = &apiError{Code: codeInternal, Message: internalMessage}
			}
		}()
		return next(c)
	}
}

// idempotencyKeyHeader carries a client's idempotency key on any command call.
const idempotencyKeyHeader = "Idempotency-Key"

// idempotencyKey is the request's idempotency key, or "" (see commandID).
func idempotencyKey(c echo.Context) string {
	return strings.TrimSpace(c.Request().Header.Get(idempotencyKeyHeader))
}

// roomParam is the room id of the path; a malformed id names no room.
func roomParam(c echo.Context) (uuid.UUID, error) {
	id, err := uuid.Parse(c.Param("id"))
	if err != nil {
		return uuid.Nil, errRoomNotFound()
	}
	return id, nil
}

// intParam reads an optional integer query parameter within [min, max]; absent gives def.
func intParam(c echo.Context, name string, def, min, max int64) (int64, error) {
	raw := c.QueryParam(name)
	if raw == "" {
		return def, nil
	}
	v, err := strconv.ParseInt(raw, 10, 64)
	if err != nil || v < min || v > max {
		return 0, errValidation("%s must be an integer from %d to %d", name, min, max)
	}
	return v, nil
}

// parseOptionalUUID reads an optional id field: absent, null and "" mean none.
func parseOptionalUUID(s *string) (*uuid.UUID, error) {
	if s == nil || *s == "" {
		return nil, nil
	}
	id, err := uuid.Parse(*s)
	if err != nil {
		return nil, err
	}
	return &id, nil
}
