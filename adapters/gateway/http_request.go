package gateway

import (
	"bytes"
	"context"
	"encoding"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"runtime/debug"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"github.com/chorus-chat/chorus/adapters/postgres"
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
	// encoding/json would turn invalid UTF-8 into U+FFFD silently: the client's text would be
	// stored as something it did not send.
	if !utf8.Valid(b) {
		return errValidation("request body is not valid UTF-8")
	}
	if err := json.Unmarshal(b, dst); err != nil {
		return errValidation("malformed JSON body: %s", jsonProblem(err, dst))
	}
	return nil
}

// textQuery is the query parameter name as text for the read model: Postgres refuses NUL and
// invalid UTF-8 in a text parameter, which would otherwise surface as a 500.
func textQuery(c echo.Context, name string) (string, error) {
	v := c.QueryParam(name)
	if !utf8.ValidString(v) || strings.IndexByte(v, 0) >= 0 {
		return "", errValidation("%s must be valid UTF-8 without NUL", name)
	}
	return v, nil
}

// jsonProblem describes an error of decoding into dst without Go type names.
func jsonProblem(err error, dst any) string {
	var te *json.UnmarshalTypeError
	var se *json.SyntaxError
	switch {
	case errors.As(err, &te):
		if te.Field != "" {
			return fmt.Sprintf("%q: expected %s, got %s", jsonPath(reflect.TypeOf(dst), te.Field), jsonKind(te.Type), te.Value)
		}
		return fmt.Sprintf("expected a JSON object, got %s", te.Value)
	case errors.As(err, &se):
		return fmt.Sprintf("syntax error at byte %d", se.Offset)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "unexpected end of input"
	}
	return "cannot decode"
}

// jsonPath is the field path of a decoding error as the client wrote it: encoding/json puts the
// Go names of embedded structs in it (sendMessageRequest.content), which the JSON does not have.
func jsonPath(root reflect.Type, path string) string {
	var out []string
	t := root
	for _, part := range strings.Split(path, ".") {
		for t != nil && t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		if t == nil || t.Kind() != reflect.Struct {
			out, t = append(out, part), nil
			continue
		}
		if f, ok := t.FieldByName(part); ok && f.Anonymous {
			t = f.Type // an embedded struct: its fields are the outer object's
			continue
		}
		out = append(out, part)
		t = jsonField(t, part)
	}
	return strings.Join(out, ".")
}

// jsonField is the type of t's field named name in JSON (its tag's name, or its Go name), or nil.
func jsonField(t reflect.Type, name string) reflect.Type {
	for _, f := range reflect.VisibleFields(t) {
		tag, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if tag == name || (tag == "" && strings.EqualFold(f.Name, name)) {
			return f.Type
		}
	}
	return nil
}

// jsonKind names, in JSON's words, what a Go type decodes from: the client wrote JSON, not Go.
func jsonKind(t reflect.Type) string {
	if t == nil {
		return "another value"
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Implements(textUnmarshaler) || reflect.PointerTo(t).Implements(textUnmarshaler) {
		return "a string" // ids, times
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.Struct, reflect.Map:
		return "an object"
	}
	return "another value"
}

var textUnmarshaler = reflect.TypeFor[encoding.TextUnmarshaler]()

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
	switch {
	case errors.Is(err, readmodel.ErrNotFound):
		return uuid.Nil, time.Time{}, errUnauthorized("invalid or expired token")
	case err != nil && r.Context().Err() == nil && postgres.IsUnavailable(err):
		// The lookup's own bound ran out, or the database is down: not the client's fault, and
		// not a command that may have been applied (which is what `timeout` would say).
		return uuid.Nil, time.Time{}, newError(codeUnavailable, "sessions cannot be checked now (the database is unreachable); try again later")
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

// queryTimeout is how long a query may take beyond a ?position= wait (boundQuery).
const queryTimeout = 5 * time.Second

// boundQuery gives a query a deadline: a database cut off by the network (which does not refuse
// connections, it never answers) would otherwise hold the request until the client gives up.
// Past it the query is 503 unavailable.
func (g *Gateway) boundQuery(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		ctx, cancel := context.WithTimeout(c.Request().Context(), g.cfg.PositionWait+queryTimeout)
		defer cancel()
		c.SetRequest(c.Request().WithContext(ctx))
		err := next(c)
		if err != nil && ctx.Err() == context.DeadlineExceeded && !errors.Is(err, readmodel.ErrNotCaughtUp) {
			return &apiError{Code: codeUnavailable, Message: "the read model did not answer in time; try again later"}
		}
		return err
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
		pos, err := g.parsePosition(raw)
		if err != nil {
			return err
		}
		if err := g.waitForPosition(c.Request().Context(), pos, g.rm.WaitFor); err != nil {
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
				if err, ok := r.(error); ok && errors.Is(err, http.ErrAbortHandler) {
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

// intParam reads an optional integer query parameter within [lo, hi]; absent gives def.
func intParam(c echo.Context, name string, def, lo, hi int64) (int64, error) {
	raw := c.QueryParam(name)
	if raw == "" {
		return def, nil
	}
	v, err := strconv.ParseInt(raw, 10, 64)
	if err != nil || v < lo || v > hi {
		return 0, errValidation("%s must be an integer from %d to %d", name, lo, hi)
	}
	return v, nil
}
