package gateway

import (
	"math"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
	"golang.org/x/time/rate"
)

// RateLimits bounds HTTP API requests per gateway: RequestRate a second on average, in bursts
// of RequestBurst, for each signed-in user; AuthRate and AuthBurst for register and login from
// each client address (the TCP peer: behind a proxy they all share the proxy's). A request over
// the limit is answered 429 rate_limited with Retry-After, and does nothing. A negative rate
// turns its limit off; zero fields take DefaultRateLimits' values.
type RateLimits struct {
	RequestRate  float64
	RequestBurst int
	AuthRate     float64
	AuthBurst    int
}

// DefaultRateLimits: 20 requests/s in bursts of 100 per user, far above what a person's client
// makes (a chat client sends over its socket and pages history over HTTP), and 5 registrations
// or logins a second in bursts of 20 per address.
func DefaultRateLimits() RateLimits {
	return RateLimits{RequestRate: 20, RequestBurst: 100, AuthRate: 5, AuthBurst: 20}
}

func (r RateLimits) withDefaults() RateLimits {
	d := DefaultRateLimits()
	if r.RequestRate == 0 {
		r.RequestRate = d.RequestRate
	}
	if r.RequestBurst <= 0 {
		r.RequestBurst = d.RequestBurst
	}
	if r.AuthRate == 0 {
		r.AuthRate = d.AuthRate
	}
	if r.AuthBurst <= 0 {
		r.AuthBurst = d.AuthBurst
	}
	return r
}

// limiters are token buckets by key (a user id, an address), made on first use and forgotten
// once idle long enough to be full again.
type limiters struct {
	limit rate.Limit
	burst int

	mu      sync.Mutex
	m       map[string]*keyLimiter
	sweptAt time.Time
}

type keyLimiter struct {
	lim  *rate.Limiter
	used time.Time
}

// newLimiters is nil (no limit) for a negative rate.
func newLimiters(perSecond float64, burst int) *limiters {
	if perSecond < 0 {
		return nil
	}
	return &limiters{limit: rate.Limit(perSecond), burst: burst, m: map[string]*keyLimiter{}}
}

// idleAfter is how long an unused bucket takes to fill again (and so can be forgotten).
func (l *limiters) idleAfter() time.Duration {
	return time.Duration(float64(l.burst)/float64(l.limit)*float64(time.Second)) + time.Second
}

// allow takes a token for key; without one it says how long until there is one.
func (l *limiters) allow(key string, now time.Time) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if idle := l.idleAfter(); now.Sub(l.sweptAt) > idle {
		for k, e := range l.m {
			if now.Sub(e.used) > idle {
				delete(l.m, k)
			}
		}
		l.sweptAt = now
	}
	e := l.m[key]
	if e == nil {
		e = &keyLimiter{lim: rate.NewLimiter(l.limit, l.burst)}
		l.m[key] = e
	}
	e.used = now
	r := e.lim.ReserveN(now, 1)
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return false, d
	}
	return true, 0
}

// errRateLimited is the 429 answer, with Retry-After in whole seconds (at least 1).
func errRateLimited(c echo.Context, wait time.Duration) error {
	c.Response().Header().Set("Retry-After", strconv.Itoa(max(1, int(math.Ceil(wait.Seconds())))))
	return newError(codeRateLimited, "too many requests; retry in %s", wait.Round(time.Millisecond))
}

// limitUser is the per-user limit of the signed-in routes; it runs after authenticate.
func (g *Gateway) limitUser(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if g.userLimits != nil {
			if ok, wait := g.userLimits.allow(currentUser(c).String(), time.Now()); !ok {
				return errRateLimited(c, wait)
			}
		}
		return next(c)
	}
}

// limitAddress is the per-address limit of register and login.
func (g *Gateway) limitAddress(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if g.authLimits != nil {
			host, _, err := net.SplitHostPort(c.Request().RemoteAddr)
			if err != nil {
				host = c.Request().RemoteAddr
			}
			if ok, wait := g.authLimits.allow(host, time.Now()); !ok {
				return errRateLimited(c, wait)
			}
		}
		return next(c)
	}
}
