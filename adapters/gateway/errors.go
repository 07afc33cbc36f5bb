package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/chorus-chat/chorus/adapters/postgres"
	"github.com/chorus-chat/chorus/commands"
	"github.com/chorus-chat/chorus/domain"
	"github.com/chorus-chat/chorus/projections/queries"
	"github.com/chorus-chat/chorus/projections/readmodel"
)

// Error codes the gateway decides itself (the domain's are in package domain, the
// application's in package commands; those the gateway also answers on its own are named here
// after them).
const (
	codeInvalidFrame       = "invalid_frame"
	codeFrameTooLarge      = "frame_too_large"
	codeInvalidCredentials = "invalid_credentials"
	codeNotFound           = "not_found"
	codeMethodNotAllowed   = "method_not_allowed"
	codePayloadTooLarge    = "payload_too_large"
	codeInternal           = "internal"

	codeUnauthorized  = commands.CodeUnauthorized
	codeUserNotFound  = domain.CodeUserNotFound
	codeRateLimited   = commands.CodeRateLimited
	codeQuotaExceeded = commands.CodeQuotaExceeded
	codeUnavailable   = commands.CodeUnavailable
	codeNotCaughtUp   = commands.CodeNotCaughtUp
	codeTimeout       = commands.CodeTimeout
)

// statusByCode is the HTTP status of every code the gateway can answer with.
var statusByCode = map[string]int{
	domain.CodeValidationFailed: http.StatusBadRequest,
	codeInvalidFrame:            http.StatusBadRequest,
	codeUnauthorized:            http.StatusUnauthorized,
	codeInvalidCredentials:      http.StatusUnauthorized,
	domain.CodeForbidden:        http.StatusForbidden,
	domain.CodeNotAMember:       http.StatusForbidden,
	domain.CodeWrongPassword:    http.StatusForbidden,
	codeQuotaExceeded:           http.StatusForbidden,
	domain.CodeRoomNotFound:     http.StatusNotFound,
	domain.CodeMessageNotFound:  http.StatusNotFound,
	codeUserNotFound:            http.StatusNotFound,
	codeNotFound:                http.StatusNotFound,
	codeMethodNotAllowed:        http.StatusMethodNotAllowed,
	// The organization model's: what names nothing is 404, what clashes with its state 409.
	domain.CodeOrgNotFound:        http.StatusNotFound,
	domain.CodeDepartmentNotFound: http.StatusNotFound,
	domain.CodePositionNotFound:   http.StatusNotFound,
	domain.CodeRoleNotFound:       http.StatusNotFound,
	domain.CodeProxyNotFound:      http.StatusNotFound,
	domain.CodeOrgArchived:        http.StatusConflict,
	domain.CodeSlugTaken:          http.StatusConflict,
	domain.CodeNameTaken:          http.StatusConflict,
	domain.CodeDepartmentNotEmpty: http.StatusConflict,
	domain.CodeLastOwner:          http.StatusConflict,
	domain.CodeAlreadyMember:      http.StatusConflict,
	domain.CodeUsernameTaken:      http.StatusConflict,
	domain.CodeRoomDeleted:        http.StatusConflict,
	codeProjectionNotFound:        http.StatusNotFound,
	codeJobNotFound:               http.StatusNotFound,
	codeOperationInProgress:       http.StatusConflict,
	codeFrameTooLarge:             http.StatusRequestEntityTooLarge,
	codePayloadTooLarge:           http.StatusRequestEntityTooLarge,
	codeRateLimited:               http.StatusTooManyRequests,
	codeInternal:                  http.StatusInternalServerError,
	codeUnavailable:               http.StatusServiceUnavailable,
	codeNotCaughtUp:               http.StatusServiceUnavailable,
	codeTimeout:                   http.StatusGatewayTimeout,
}

// statusOf is the HTTP status of a code. A code the gateway does not know comes from a newer
// processor rejecting the command, so it is the client's problem: 400.
func statusOf(code string) int {
	if s, ok := statusByCode[code]; ok {
		return s
	}
	return http.StatusBadRequest
}

// codeOfStatus names the statuses that echo and the WebSocket handshake produce on their own.
func codeOfStatus(status int) string {
	switch status {
	case http.StatusBadRequest:
		return domain.CodeValidationFailed
	case http.StatusUnauthorized:
		return codeUnauthorized
	case http.StatusForbidden:
		return domain.CodeForbidden
	case http.StatusNotFound:
		return codeNotFound
	case http.StatusMethodNotAllowed:
		return codeMethodNotAllowed
	case http.StatusRequestEntityTooLarge:
		return codePayloadTooLarge
	case http.StatusTooManyRequests:
		return codeRateLimited
	case http.StatusServiceUnavailable:
		return codeUnavailable
	case http.StatusGatewayTimeout:
		return codeTimeout
	}
	if status >= 500 {
		return codeInternal
	}
	return strings.ReplaceAll(strings.ToLower(http.StatusText(status)), " ", "_")
}

// apiError is an answer that is not a success: a contract code and a message for humans. It
// is both the HTTP error body and the WebSocket error frame.
type apiError struct {
	Code    string
	Message string
	// Status overrides the status of Code where echo decided one the mapping lacks (e.g. 415).
	Status int
	// RetryAfter, when set, says when a retry may succeed: Retry-After over HTTP, retry_after
	// in a WebSocket error frame (whole seconds, at least 1).
	RetryAfter time.Duration
}

// retryAfterSeconds is RetryAfter in whole seconds, rounded up, at least 1; 0 without one.
func (e *apiError) retryAfterSeconds() int {
	if e.RetryAfter <= 0 {
		return 0
	}
	return max(1, int(math.Ceil(e.RetryAfter.Seconds())))
}

func (e *apiError) Error() string { return e.Code + ": " + e.Message }

func (e *apiError) status() int {
	if e.Status != 0 {
		return e.Status
	}
	return statusOf(e.Code)
}

func newError(code, format string, args ...any) *apiError {
	return &apiError{Code: code, Message: fmt.Sprintf(format, args...)}
}

func errValidation(format string, args ...any) *apiError {
	return newError(domain.CodeValidationFailed, format, args...)
}

func errUnauthorized(msg string) *apiError { return &apiError{Code: codeUnauthorized, Message: msg} }

func errRoomNotFound() *apiError {
	return &apiError{Code: domain.CodeRoomNotFound, Message: "no such room"}
}

// errBody is the JSON shape of every HTTP error.
type errBody struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

func bodyOf(code, message string) errBody {
	var b errBody
	b.Error.Code, b.Error.Message = code, message
	return b
}

// internalMessage is all a client learns of an internal error; the detail goes to the log.
const internalMessage = "internal error"

// asAPIError turns any error a handler or command can end with into its contract answer.
// internal reports whether err is a fault of ours (or of a dependency) that must be logged.
func asAPIError(err error) (e *apiError, internal bool) {
	var (
		ae *apiError
		ce *commands.Error
		qe *queries.Error
		fe *commands.FieldError
		de *domain.Error
		he *echo.HTTPError
	)
	switch {
	case errors.As(err, &ae):
		return ae, false
	case errors.As(err, &ce):
		return &apiError{Code: ce.Code, Message: ce.Message, RetryAfter: ce.RetryAfter}, false
	case errors.As(err, &qe):
		ae := &apiError{Code: qe.Code, Message: qe.Message}
		if qe.Code == domain.CodeRoomDeleted {
			// A read of a deleted room finds nothing (404); a command on it conflicts (409).
			ae.Status = http.StatusNotFound
		}
		return ae, false
	case errors.As(err, &fe):
		// A request body's missing or malformed field; a socket answers it invalid_frame
		// (errorFrameOf).
		return errValidation("%s", fe.Message), false
	case errors.As(err, &de):
		return &apiError{Code: de.Code, Message: de.Message}, false
	case errors.Is(err, commands.ErrTimeout), errors.Is(err, context.DeadlineExceeded):
		return &apiError{Code: codeTimeout, Message: "no answer in time; the command may still be applied"}, false
	case errors.Is(err, commands.ErrUnavailable):
		return &apiError{Code: codeUnavailable, Message: "the command log cannot be reached; try again later"}, false
	case errors.Is(err, readmodel.ErrNotCaughtUp):
		return &apiError{Code: codeNotCaughtUp, Message: "the read model has not reached that position yet; try again"}, false
	case errors.Is(err, context.Canceled):
		// The client went away (or the gateway is stopping): nobody reads the answer.
		return &apiError{Code: codeUnavailable, Message: "request canceled"}, false
	case errors.As(err, &he):
		return echoError(he), he.Code >= 500
	case postgres.IsUnavailable(err):
		// The read model's or the accounts' database is down or unreachable: commands that need
		// neither go on; this request may be retried.
		return &apiError{Code: codeUnavailable, Message: "the database cannot be reached; try again later"}, false
	}
	return &apiError{Code: codeInternal, Message: internalMessage}, true
}

// echoError keeps echo's message only where it is a plain string; anything else could carry
// internals (a bind error wraps the decoder's), so it is replaced by the status text.
func echoError(he *echo.HTTPError) *apiError {
	code := codeOfStatus(he.Code)
	msg, ok := he.Message.(string)
	if !ok || msg == "" || he.Code >= 500 {
		msg = http.StatusText(he.Code)
	}
	switch he.Code {
	case http.StatusNotFound:
		msg = "no such route"
	case http.StatusMethodNotAllowed:
		msg = "method not allowed on this route"
	}
	if he.Code >= 500 && he.Code != http.StatusServiceUnavailable && he.Code != http.StatusGatewayTimeout {
		msg = internalMessage
	}
	return &apiError{Code: code, Message: msg, Status: he.Code}
}

// handleHTTPError is echo's HTTPErrorHandler: every error leaves as {"error":{"code","message"}}.
func (g *Gateway) handleHTTPError(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	ae, internal := asAPIError(err)
	status := ae.status()
	if internal {
		g.log.Error("request failed", "method", c.Request().Method, "path", c.Request().URL.Path, "err", err)
	}
	if s := ae.retryAfterSeconds(); s > 0 {
		c.Response().Header().Set("Retry-After", strconv.Itoa(s))
	}
	if c.Request().Method == http.MethodHead {
		err = c.NoContent(status)
	} else {
		err = c.JSON(status, bodyOf(ae.Code, ae.Message))
	}
	if err != nil {
		g.log.Debug("write error response", "err", err)
	}
}

// handshakeError answers a failed WebSocket upgrade in the contract's shape instead of
// gorilla's plain text.
func (g *Gateway) handshakeError(w http.ResponseWriter, _ *http.Request, status int, reason error) {
	code := codeOfStatus(status)
	msg := "websocket handshake failed"
	if reason != nil {
		msg = reason.Error()
	}
	writeJSONError(w, status, code, msg)
}

func writeJSONError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(bodyOf(code, msg))
}
