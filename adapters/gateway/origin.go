package gateway

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"

	"github.com/chorus-chat/chorus/domain"
)

// originAllowed tells whether a socket may be opened from the request's Origin. A browser sends
// the Origin of the page that opens a socket and cannot be kept from sending the user's token
// in the query, so a page of another site could act as the user: only the gateway's own host and
// the configured origins may. A request without Origin comes from no browser page (a native
// client, a script) and is allowed.
func (g *Gateway) originAllowed(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	for _, o := range g.cfg.AllowedOrigins {
		if o == "*" || strings.EqualFold(strings.TrimSuffix(o, "/"), origin) {
			return true
		}
	}
	u, err := url.Parse(origin)
	return err == nil && strings.EqualFold(u.Host, r.Host)
}

// errOriginNotAllowed is the 403 of a socket opened from a page whose origin is not allowed.
func errOriginNotAllowed(origin string) *apiError {
	return &apiError{Code: domain.CodeForbidden, Message: "a page from origin " + strconv.Quote(shorten(origin, 200)) +
		" may not open a socket here: only the gateway's own host and the origins of CHORUS_WS_ALLOWED_ORIGINS may"}
}

// shorten cuts s to at most n bytes (a header echoed into a message).
func shorten(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

// corsHeaders are the request headers a page may send to the API (the rest are safelisted).
var corsHeaders = []string{echo.HeaderAuthorization, echo.HeaderContentType, idempotencyKeyHeader, HeaderRequestID}

// cors is the CORS middleware of the API when CORSOrigins names any origin, else nil: without
// it browsers let only pages of the gateway's own origin read its answers. Tokens travel in
// the Authorization header, never in cookies, so credentials are not allowed (and "*" is safe).
func (g *Gateway) cors() echo.MiddlewareFunc {
	if len(g.cfg.CORSOrigins) == 0 {
		return nil
	}
	return middleware.CORSWithConfig(middleware.CORSConfig{
		Skipper:      func(c echo.Context) bool { return !strings.HasPrefix(c.Request().URL.Path, "/api/") },
		AllowOrigins: g.cfg.CORSOrigins,
		AllowMethods: []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete},
		AllowHeaders: corsHeaders,
		// What a page needs to read: the correlation id and when to retry after 429.
		ExposeHeaders: []string{HeaderRequestID, "Retry-After", echo.HeaderLocation},
		MaxAge:        600,
	})
}
