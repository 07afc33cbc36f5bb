package gateway

import (
	"net/http"
	"testing"
	"time"
)

func TestHTTPRateLimits(t *testing.T) {
	e := newEnv(t, func(c *Config) {
		c.RateLimits = RateLimits{RequestRate: 0.001, RequestBurst: 3, AuthRate: 0.001, AuthBurst: 4}
	})
	aliceTok, _ := e.user("alice") // two auth calls each
	bobTok, _ := e.user("bob")
	if r := e.do("POST", "/api/v1/auth/login", "", map[string]any{"username": "alice", "password": "password-alice"}); r.status != http.StatusTooManyRequests || r.errCode() != codeRateLimited {
		t.Fatalf("fifth auth call from one address: %d %s", r.status, r.raw)
	}
	for range 3 {
		e.mustDo(http.StatusOK, "GET", "/api/v1/users/me", aliceTok, nil)
	}
	req, _ := http.NewRequest("GET", e.srv.URL+"/api/v1/users/me", nil)
	req.Header.Set("Authorization", "Bearer "+aliceTok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("fourth request of alice: %d, Retry-After %q", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	// bob has a bucket of his own; a request without a token is 401 before any limit.
	e.mustDo(http.StatusOK, "GET", "/api/v1/users/me", bobTok, nil)
	if r := e.do("GET", "/api/v1/users/me", "", nil); r.status != http.StatusUnauthorized {
		t.Fatalf("no token: %d %s", r.status, r.raw)
	}

	// Off: no limit at all.
	off := newEnv(t, func(c *Config) { c.RateLimits = RateLimits{RequestRate: -1, AuthRate: -1} })
	tok, _ := off.user("carol")
	for range 200 {
		off.mustDo(http.StatusOK, "GET", "/api/v1/users/me", tok, nil)
	}
}

// Buckets refill at the rate, and one that has been idle long enough to be full again is
// forgotten rather than kept for ever.
func TestLimitersRefillAndForget(t *testing.T) {
	l := newLimiters(2, 2)
	now := time.Unix(1_000, 0)
	for i := range 2 {
		if ok, _ := l.allow("a", now); !ok {
			t.Fatalf("request %d within the burst refused", i)
		}
	}
	ok, wait := l.allow("a", now)
	if ok || wait <= 0 || wait > 500*time.Millisecond {
		t.Fatalf("over the burst: %v, wait %v", ok, wait)
	}
	if ok, _ := l.allow("a", now.Add(wait)); !ok {
		t.Fatal("refused after the wait it gave")
	}
	l.allow("b", now)
	later := now.Add(l.idleAfter() + time.Second)
	l.allow("c", later)
	l.mu.Lock()
	_, hasA := l.m["a"]
	n := len(l.m)
	l.mu.Unlock()
	if hasA || n != 1 {
		t.Fatalf("after an idle spell %d buckets kept (a kept: %v), want only c's", n, hasA)
	}
	if newLimiters(-1, 5) != nil {
		t.Fatal("a negative rate should mean no limiter")
	}
}
