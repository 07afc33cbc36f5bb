package gateway

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/chorus-chat/chorus/adapters/ops"
	"github.com/chorus-chat/chorus/domain"
	"github.com/chorus-chat/chorus/projections/readmodel"
)

// newTimedEnv is newEnv served by an HTTP server with every timeout at d, as cmd/chorus sets
// them (CHORUS_HTTP_*), and the gateway told of the write timeout.
func newTimedEnv(t *testing.T, d time.Duration, deps func(*Deps)) *env {
	t.Helper()
	return buildEnv(t, nil, func(c *Config) { c.WriteTimeout = d }, setup{deps: deps}, func(h http.Handler) *httptest.Server {
		srv := httptest.NewUnstartedServer(h)
		srv.Config.ReadHeaderTimeout, srv.Config.ReadTimeout = d, d
		srv.Config.WriteTimeout, srv.Config.IdleTimeout = d, d
		srv.Start()
		return srv
	})
}

// slowReplay is a followed replay whose events come apart: one at once, the next after gap.
type slowReplay struct {
	*fakeOps
	gap time.Duration
}

func (s slowReplay) Replay(ctx context.Context, _ ops.EventQuery, _ string, _ bool, caughtUp func() error, w io.Writer) (ops.ReplayStats, error) {
	for i := range 2 {
		if i > 0 {
			select {
			case <-time.After(s.gap):
			case <-ctx.Done():
				return ops.ReplayStats{}, ctx.Err()
			}
		}
		if _, err := fmt.Fprintf(w, "{\"n\":%d}\n", i); err != nil {
			return ops.ReplayStats{}, err
		}
		if err := caughtUp(); err != nil {
			return ops.ReplayStats{}, err
		}
	}
	<-ctx.Done()
	return ops.ReplayStats{Delivered: 2}, nil
}

// The write timeout bounds an answer, not a followed replay: an event committed long after the
// replay began still reaches the client (on main the server's deadline cut the stream).
func TestFollowedReplayOutlivesTheWriteTimeout(t *testing.T) {
	const timeout = 300 * time.Millisecond
	e := newTimedEnv(t, timeout, func(d *Deps) {
		d.Admins, d.Operations = []string{"root"}, ops.NewAdmin(slowReplay{fakeOps: newFakeOps(), gap: 4 * timeout})
	})
	tok, _ := e.user("root")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", e.srv.URL+"/api/v1/admin/events?follow=true", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	lines := bufio.NewScanner(resp.Body)
	for i := range 2 {
		if !lines.Scan() || lines.Text() != fmt.Sprintf("{\"n\":%d}", i) {
			t.Fatalf("followed line %d: %q, %v", i, lines.Text(), lines.Err())
		}
	}
}

// A WebSocket lives past every HTTP server timeout: it is hijacked, and keeps its own.
func TestWebSocketOutlivesTheHTTPTimeouts(t *testing.T) {
	const timeout = 200 * time.Millisecond
	e := newTimedEnv(t, timeout, nil)
	token, _ := e.user("wendy")
	room := e.room(token, map[string]any{"name": "lasting"})
	ws := e.dial(token)
	time.Sleep(5 * timeout)
	send(t, ws, map[string]any{"type": "send_message", "id": "late", "room_id": room, "content": "still here"})
	expect(t, ws, "ack", "late")
}

// A ?position= that cannot have come from this server (another topic, a partition beyond the
// topics' count) is 400 at once rather than a wait that ends in not_caught_up.
func TestPositionOutsideTheEventTopicsIsRefused(t *testing.T) {
	e := newEnv(t, func(c *Config) {
		c.Positions = PositionSpace{Topics: []string{"chat-events", "user-events", "system-events"}, Partitions: 4}
	})
	token, _ := e.user("pat")
	for _, bad := range []string{"nonsense", "chat-events:1", "chat-events:01:5", "no-such-topic:0:1", "chat-events:4:0", "chat-events:2147483647:0", "chat-commands:0:1"} {
		r := e.do("GET", "/api/v1/users/me?position="+bad, token, nil)
		if r.status != http.StatusBadRequest || r.errCode() != domain.CodeValidationFailed {
			t.Errorf("position %q: %d %s, want 400 validation_failed", bad, r.status, r.raw)
		}
	}
	e.w.set(func(w *world) { w.applied = 42 }) // the read model is past every good position
	for _, good := range []string{"chat-events:3:41", "user-events:0:0", "system-events:1:7"} {
		e.mustDo(http.StatusOK, "GET", "/api/v1/users/me?position="+good, token, nil)
	}
}

// dialFrom opens a socket as a browser page of origin would ("" sends no Origin).
func (e *env) dialFrom(token, origin string) (*websocket.Conn, *http.Response, error) {
	h := http.Header{}
	if origin != "" {
		h.Set("Origin", origin)
	}
	ws, resp, err := websocket.DefaultDialer.Dial(e.wsURL("?token="+token), h)
	if ws != nil {
		e.t.Cleanup(func() { ws.Close() })
	}
	return ws, resp, err
}

// A page of another site may not open a socket with the user's token: 403 forbidden, in the
// contract's error shape, saying why. The gateway's own host, clients that send no Origin and
// the configured origins may.
func TestWebSocketOriginCheck(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.AllowedOrigins = []string{"https://chat.example"} })
	token, _ := e.user("olga")
	_, resp, err := e.dialFrom(token, "https://evil.example")
	if err == nil || resp == nil || resp.StatusCode != http.StatusForbidden {
		t.Fatalf("socket from another origin: %v %v", err, resp)
	}
	var body errBody
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || body.Error.Code != domain.CodeForbidden ||
		!strings.Contains(body.Error.Message, "https://evil.example") || !strings.Contains(body.Error.Message, "CHORUS_WS_ALLOWED_ORIGINS") {
		t.Fatalf("refusal body %+v (%v)", body, err)
	}
	// Refused before the token is looked at: a bad token from another origin is still 403.
	if _, resp, _ = e.dialFrom("bad-token", "https://evil.example"); resp == nil || resp.StatusCode != http.StatusForbidden {
		t.Fatalf("bad token from another origin: %v", resp)
	}
	for _, origin := range []string{"", "https://chat.example", "HTTPS://CHAT.EXAMPLE", e.srv.URL} {
		ws, resp, err := e.dialFrom(token, origin)
		if err != nil {
			t.Fatalf("origin %q refused: %v %v", origin, err, resp)
		}
		send(t, ws, map[string]any{"type": "ping", "id": "p"})
		expect(t, ws, "pong", "p")
	}

	star := newEnv(t, func(c *Config) { c.AllowedOrigins = []string{"*"} })
	token, _ = star.user("olga")
	if _, resp, err := star.dialFrom(token, "https://anywhere.example"); err != nil {
		t.Fatalf("origin allowed by *: %v %v", err, resp)
	}
}

// preflight sends a browser's CORS preflight for a POST with the given headers.
func (e *env) preflight(origin, headers string) *http.Response {
	req, _ := http.NewRequest("OPTIONS", e.srv.URL+"/api/v1/rooms", nil)
	req.Header.Set("Origin", origin)
	req.Header.Set("Access-Control-Request-Method", "POST")
	req.Header.Set("Access-Control-Request-Headers", headers)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}

// CORS is off unless configured; configured, the listed origins' pages may call the API with
// the headers it takes (Authorization, Idempotency-Key, ...) and read X-Request-ID and
// Retry-After.
func TestCORS(t *testing.T) {
	off := newEnv(t, nil)
	if resp := off.preflight("https://chat.example", "authorization"); resp.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Fatalf("CORS answered without being configured: %v", resp.Header)
	}

	e := newEnv(t, func(c *Config) { c.CORSOrigins = []string{"https://chat.example"} })
	resp := e.preflight("https://chat.example", "authorization,content-type,idempotency-key")
	allowed := strings.ToLower(resp.Header.Get("Access-Control-Allow-Headers"))
	if resp.StatusCode != http.StatusNoContent || resp.Header.Get("Access-Control-Allow-Origin") != "https://chat.example" ||
		!strings.Contains(allowed, "idempotency-key") || !strings.Contains(allowed, "authorization") {
		t.Fatalf("preflight: %d %v", resp.StatusCode, resp.Header)
	}
	if resp := e.preflight("https://evil.example", "authorization"); resp.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Fatalf("preflight of an unlisted origin allowed: %v", resp.Header)
	}
	token, _ := e.user("cora")
	req, _ := http.NewRequest("GET", e.srv.URL+"/api/v1/users/me", nil)
	req.Header.Set("Origin", "https://chat.example")
	req.Header.Set("Authorization", "Bearer "+token)
	got, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	got.Body.Close()
	if got.StatusCode != http.StatusOK || got.Header.Get("Access-Control-Allow-Origin") != "https://chat.example" ||
		!strings.Contains(got.Header.Get("Access-Control-Expose-Headers"), HeaderRequestID) {
		t.Fatalf("GET with Origin: %d %v", got.StatusCode, got.Header)
	}
}

// logEnds is a log whose partitions end where the test says.
type logEnds map[string]int64

func (l logEnds) LogEnd(_ context.Context, topic string, part int32) (int64, error) {
	end, ok := l[fmt.Sprintf("%s:%d", topic, part)]
	if !ok {
		return 0, fmt.Errorf("no partition %s:%d", topic, part)
	}
	return end, nil
}

// A ?position= beyond the end of its partition cannot have come from an accepted command: once
// the read model has not reached it, it is 400 rather than a 5 s wait for not_caught_up. One
// within the log that the read model has not reached still waits and ends in not_caught_up.
func TestPositionBeyondTheLogIsRefused(t *testing.T) {
	e := newEnvWith(t, nil, func(d *Deps) { d.LogEnds = logEnds{"chat-events:0": 10} })
	token, _ := e.user("lou")
	e.w.set(func(w *world) { w.waitErr = readmodel.ErrNotCaughtUp })

	start := time.Now()
	r := e.do("GET", "/api/v1/users/me?position=chat-events:0:10", token, nil)
	if r.status != http.StatusBadRequest || r.errCode() != domain.CodeValidationFailed || !strings.Contains(r.raw, "beyond the end of the log") {
		t.Fatalf("position at the log's end: %d %s", r.status, r.raw)
	}
	if took := time.Since(start); took > time.Second {
		t.Fatalf("refused after %v, want at once", took)
	}
	if r := e.do("GET", "/api/v1/users/me?position=chat-events:0:9", token, nil); r.status != http.StatusServiceUnavailable || r.errCode() != codeNotCaughtUp {
		t.Fatalf("position within the log, not reached: %d %s", r.status, r.raw)
	}
	// The log cannot say: the position is waited for as before.
	if r := e.do("GET", "/api/v1/users/me?position=chat-events:1:10", token, nil); r.status != http.StatusServiceUnavailable || r.errCode() != codeNotCaughtUp {
		t.Fatalf("position of an unknown partition end: %d %s", r.status, r.raw)
	}
	// Reached: answered, wherever the log ends.
	e.w.set(func(w *world) { w.waitErr, w.applied = nil, 11 })
	e.mustDo(http.StatusOK, "GET", "/api/v1/users/me?position=chat-events:0:10", token, nil)
}

// slowStats counts a log that takes longer than the server's write timeout.
type slowStats struct {
	*fakeOps
	took time.Duration
}

func (s slowStats) EventStats(ctx context.Context, q ops.EventQuery) (ops.EventStats, error) {
	time.Sleep(s.took)
	return s.fakeOps.EventStats(ctx, q)
}

// Stats of a long log take long to count; the answer still reaches the client.
func TestSlowEventStatsOutliveTheWriteTimeout(t *testing.T) {
	const timeout = 300 * time.Millisecond
	e := newTimedEnv(t, timeout, func(d *Deps) {
		d.Admins, d.Operations = []string{"root"}, ops.NewAdmin(slowStats{fakeOps: newFakeOps(), took: 3 * timeout})
	})
	tok, _ := e.user("root")
	r := e.mustDo(http.StatusOK, "GET", "/api/v1/admin/events/stats?topic=chat-events", tok, nil)
	if r.body["events"] != float64(7) {
		t.Fatalf("stats: %s", r.raw)
	}
}
