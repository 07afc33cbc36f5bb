package gateway

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"github.com/chorus-chat/chorus/commands"
	"github.com/chorus-chat/chorus/domain"
)

// HeaderRequestID names the correlation id of a request: taken from the client when it sends
// one, made up otherwise, and returned on every response.
const HeaderRequestID = "X-Request-ID"

// maxRequestIDBytes bounds a client's X-Request-ID; a longer one is replaced, since it goes
// into every log line of the request.
const maxRequestIDBytes = 128

type correlationKey struct{}

// withCorrelation puts a correlation id in ctx.
func withCorrelation(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, correlationKey{}, id)
}

// correlationID is ctx's correlation id, or a new one: a command sent over a socket has none
// in its context and gets one of its own, so that each frame's command can be followed.
func correlationID(ctx context.Context) string {
	if id, ok := ctx.Value(correlationKey{}).(string); ok && id != "" {
		return id
	}
	return uuid.NewString()
}

// observe gives every request a correlation id (X-Request-ID, echoed on the response), puts it
// in the request's context for the commands the request sends, and counts the request by route
// and status. It answers errors itself (through the error handler) so that the status it
// counts is the one the client got.
func (g *Gateway) observe(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		start := time.Now()
		req := c.Request()
		id := req.Header.Get(HeaderRequestID)
		if id == "" || len(id) > maxRequestIDBytes {
			id = uuid.NewString()
		}
		c.Response().Header().Set(HeaderRequestID, id)
		c.SetRequest(req.WithContext(withCorrelation(req.Context(), id)))
		if err := next(c); err != nil {
			c.Error(err)
		}
		route := c.Path()
		if route == "" || c.Response().Status == http.StatusNotFound && !g.knownRoute(c) {
			route = "unmatched" // unknown paths are not labels: their number has no bound
		}
		status := c.Response().Status
		g.met.HTTPRequest(req.Method, route, status, time.Since(start))
		g.log.Debug("http request", "request_id", id, "method", req.Method, "route", route,
			"status", status, "took", time.Since(start).String())
		return nil
	}
}

// knownRoute tells whether c was routed to one of the registered routes (a 404 from a handler,
// room_not_found say, keeps its route; echo's own not-found does not).
func (g *Gateway) knownRoute(c echo.Context) bool {
	for _, r := range c.Echo().Routes() {
		if r.Path == c.Path() && r.Method == c.Request().Method {
			return true
		}
	}
	return false
}

// logDispatched logs a command's outcome with the ids that join it to the processor's lines.
// The command log failing to take it is a Kafka producer error of this gateway.
func (g *Gateway) logDispatched(cmd domain.Command, reply commands.Reply, err error) {
	if errors.Is(err, commands.ErrUnavailable) {
		g.met.KafkaError("command_log", "producer")
	}
	if err != nil {
		g.log.Warn("command not answered", "command_id", cmd.ID, "correlation_id", cmd.CorrelationID,
			"type", cmd.Type, "err", err)
		return
	}
	g.log.Debug("command answered", "command_id", cmd.ID, "correlation_id", cmd.CorrelationID,
		"type", cmd.Type, "accepted", reply.Accepted, "code", reply.Code)
}
