package gateway

import (
	"net/http"
	"time"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"github.com/chorus-chat/chorus/commands"
)

// HeaderRequestID names the correlation id of a request: taken from the client when it sends
// one, made up otherwise, and returned on every response.
const HeaderRequestID = "X-Request-ID"

// maxRequestIDBytes bounds a client's X-Request-ID; a longer one is replaced, since it goes
// into every log line of the request.
const maxRequestIDBytes = 128

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
		c.SetRequest(req.WithContext(commands.WithCorrelation(req.Context(), id)))
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
