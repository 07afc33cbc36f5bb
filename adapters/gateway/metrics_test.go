package gateway

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/chorus-chat/chorus/adapters/metrics"
	"github.com/chorus-chat/chorus/projections"
)

// newMeasuredEnv is newEnv with metrics.
func newMeasuredEnv(t *testing.T) (*env, *metrics.Metrics) {
	t.Helper()
	m := metrics.New()
	return newEnvWith(t, nil, func(d *Deps) { d.Metrics = m }), m
}

// exposition is what /metrics would answer.
func exposition(m *metrics.Metrics) string {
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	return rec.Body.String()
}

// lastCorrelationID is the correlation id of the last dispatched command.
func lastCorrelationID(w *world) string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.dispatched[len(w.dispatched)-1].CorrelationID
}

func TestRequestIDBecomesTheCommandsCorrelationID(t *testing.T) {
	e, m := newMeasuredEnv(t)
	req, _ := http.NewRequest("POST", e.srv.URL+"/api/v1/auth/register",
		strings.NewReader(`{"username":"carol","password":"password-carol"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(HeaderRequestID, "req-42")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated || resp.Header.Get(HeaderRequestID) != "req-42" {
		t.Fatalf("register: status %d, X-Request-ID %q", resp.StatusCode, resp.Header.Get(HeaderRequestID))
	}
	if got := lastCorrelationID(e.w); got != "req-42" {
		t.Fatalf("command correlation id %q, want the request's req-42", got)
	}

	// Without one, the gateway makes one up, answers it and gives it to the command.
	resp, err = http.Post(e.srv.URL+"/api/v1/auth/register", "application/json",
		strings.NewReader(`{"username":"dave","password":"password-dave"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	id := resp.Header.Get(HeaderRequestID)
	if got := lastCorrelationID(e.w); id == "" || got != id {
		t.Fatalf("made-up X-Request-ID %q, command correlation id %q", id, got)
	}

	// An error answer carries it too, and unknown paths are not a label of their own.
	e.mustDo(http.StatusNotFound, "GET", "/api/v1/no-such-thing", "", nil)
	out := exposition(m)
	for _, want := range []string{
		`chorus_http_requests_total{method="POST",route="/api/v1/auth/register",status="201"} 2`,
		`chorus_http_requests_total{method="GET",route="unmatched",status="404"} 1`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("metrics lack %q:\n%s", want, out)
		}
	}
}

func TestWebSocketMetrics(t *testing.T) {
	e, m := newMeasuredEnv(t)
	token, _ := e.user("erin")
	room := e.room(token, map[string]any{"name": "metrics"})
	ws := e.dial(token)
	eventually(t, "connections gauge at 1", func() bool {
		return strings.Contains(exposition(m), "chorus_websocket_connections 1\n")
	})
	for _, id := range []string{"a", "b"} {
		send(t, ws, map[string]any{"type": "send_message", "id": id, "room_id": room, "content": "hello " + id})
		expect(t, ws, "ack", id)
		expect(t, ws, "message", "") // the push, held back until after the ack
	}
	// Every frame's command gets a correlation id of its own.
	e.w.mu.Lock()
	n := len(e.w.dispatched)
	a, b := e.w.dispatched[n-2].CorrelationID, e.w.dispatched[n-1].CorrelationID
	e.w.mu.Unlock()
	if a == "" || b == "" || a == b {
		t.Fatalf("frame correlation ids %q and %q", a, b)
	}
	// A push for a room none of this gateway's sockets is in is read, not needed.
	e.w.gw.Deliver(projections.Push{RoomID: uuid.New(), Kind: projections.PushMessage, Frame: []byte(`{"type":"message"}`)})
	out := exposition(m)
	for _, want := range []string{
		`chorus_websocket_frames_total{direction="in"} 2`,
		`chorus_pushes_delivered_total 2`,
		`chorus_pushes_local_total 2`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	ws.Close()
	eventually(t, "connections gauge back at 0", func() bool {
		return strings.Contains(exposition(m), "chorus_websocket_connections 0\n")
	})
}

// httpSeries is the number of series of the HTTP request metrics in /metrics.
func httpSeries(m *metrics.Metrics) int {
	n := 0
	for _, l := range strings.Split(exposition(m), "\n") {
		if strings.HasPrefix(l, "chorus_http_request") {
			n++
		}
	}
	return n
}

// Anyone can send made-up methods and paths without logging in: they must not each become a
// series of their own (issue 8: 13,000 such requests grew /metrics from 113 KB to 42 MB).
func TestMadeUpMethodsAndPathsDoNotGrowMetrics(t *testing.T) {
	e, m := newMeasuredEnv(t)
	hit := func(from, to int) {
		for i := from; i < to; i++ {
			for _, r := range []struct{ method, path string }{
				{fmt.Sprintf("MADEUP%d", i), "/api/v1/rooms"},                 // a route, not its method: 405
				{fmt.Sprintf("X%d", i), fmt.Sprintf("/api/v1/nothing/%d", i)}, // neither: 404
				{"GET", fmt.Sprintf("/no/such/path/%d", i)},                   // 404
			} {
				req, _ := http.NewRequest(r.method, e.srv.URL+r.path, nil)
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
			}
		}
	}
	hit(0, 10)
	before, size := httpSeries(m), len(exposition(m))
	hit(10, 300)
	after, grown := httpSeries(m), len(exposition(m))
	if after != before {
		t.Errorf("HTTP series grew from %d to %d with made-up methods and paths", before, after)
	}
	// A few bytes more for the larger counts and sums, not a series per request.
	if grown > size+2048 {
		t.Errorf("/metrics grew from %d to %d bytes", size, grown)
	}
	out := exposition(m)
	for _, want := range []string{
		`chorus_http_requests_total{method="other",route="/api/v1/rooms",status="405"} 300`,
		`chorus_http_requests_total{method="other",route="unmatched",status="404"} 300`,
		`chorus_http_requests_total{method="GET",route="unmatched",status="404"} 300`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}
