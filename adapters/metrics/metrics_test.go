package metrics_test

import (
	"fmt"
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/chorus-chat/chorus/adapters/metrics"
)

// A nil *Metrics is what every adapter holds when nobody asked for metrics: it must not panic.
func TestNilMetricsMeasureNothing(t *testing.T) {
	var m *metrics.Metrics
	m.CommandDecided("send_message", true, "")
	m.CommandReplied(time.Now(), time.Now())
	m.BatchCommitted(1, time.Millisecond)
	m.TransactionFailed(true)
	m.Projected("p", 1, time.Millisecond)
	m.ProjectorLag("p", "t", 0, 3)
	m.DeadLettered("p")
	m.ProjectionWatched("p")
	m.ProjectionFailing("p", true)
	m.WebSocketOpened()
	m.WebSocketClosed()
	m.FrameIn()
	m.FrameOut()
	m.PushDelivered()
	m.PushEntryRead(2, 100)
	m.PushLocal()
	m.HTTPRequest("GET", "/x", 200, time.Millisecond)
	m.KafkaError("c", "consumer")
	m.RedisError("publish_replies")
	m.CommandSent(metrics.ResultAccepted)
	if sums, err := m.Sums("chorus_commands_sent_total"); err != nil || sums["chorus_commands_sent_total"] != 0 {
		t.Fatalf("nil metrics' sums: %v %v", sums, err)
	}
	if m.Registry() != nil {
		t.Fatal("nil metrics has a registry")
	}
}

func TestHandlerExposesTheSeries(t *testing.T) {
	m := metrics.New()
	m.CommandDecided("join_room", false, "room_not_found")
	m.CommandDecided("send_message", true, "")
	m.ProjectorLag("chorus-projector-readmodel", "chat-events", 2, 7)
	m.WebSocketOpened()
	m.WebSocketOpened()
	m.WebSocketClosed()
	m.ProjectionWatched("search")
	m.ProjectionWatched("notifications")
	m.ProjectionFailing("notifications", true)
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body, _ := io.ReadAll(rec.Body)
	for _, want := range []string{
		`chorus_commands_total{code="room_not_found",result="rejected",type="join_room"} 1`,
		`chorus_commands_total{code="",result="accepted",type="send_message"} 1`,
		`chorus_projector_lag{partition="2",projector="chorus-projector-readmodel",topic="chat-events"} 7`,
		`chorus_websocket_connections 1`,
		`chorus_projection_failing{projection="search"} 0`,
		`chorus_projection_failing{projection="notifications"} 1`,
		`chorus_projector_dead_letters_total{projection="search"} 0`,
		`# HELP chorus_command_latency_seconds `,
		`go_goroutines `,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}

// The overview's figures are /metrics' own: each metric summed over its series, absent ones 0.
func TestSumsAreWhatMetricsShows(t *testing.T) {
	m := metrics.New()
	m.CommandDecided("join_room", false, "room_not_found")
	m.CommandDecided("send_message", true, "")
	m.CommandDecided("send_message", true, "")
	m.CommandSent(metrics.ResultAccepted)
	m.CommandSent(metrics.ResultFailed)
	m.WebSocketOpened()
	m.WebSocketOpened()
	m.WebSocketOpened()
	m.WebSocketClosed()
	m.HTTPRequest("GET", "/x", 200, time.Millisecond)
	sums, err := m.Sums("chorus_commands_total", "chorus_commands_sent_total", "chorus_websocket_connections",
		"chorus_http_request_duration_seconds", "chorus_pushes_delivered_total", "no_such_metric")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]float64{"chorus_commands_total": 3, "chorus_commands_sent_total": 2, "chorus_websocket_connections": 2,
		"chorus_http_request_duration_seconds": 1, "chorus_pushes_delivered_total": 0, "no_such_metric": 0}
	for k, v := range want {
		if sums[k] != v {
			t.Errorf("%s: %v, want %v (all: %v)", k, sums[k], v, sums)
		}
	}
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if body, _ := io.ReadAll(rec.Body); !strings.Contains(string(body), `chorus_commands_sent_total{result="failed"} 1`) {
		t.Errorf("/metrics lacks the failed command sent:\n%s", body)
	}
}

// Methods come from the client: made-up ones must share one series, or anyone can grow /metrics
// without bound (issue 8: 13,000 requests took it from 113 KB to 42 MB).
func TestHTTPLabelsAreBounded(t *testing.T) {
	m := metrics.New()
	m.HTTPRequest("GET", "/api/v1/rooms", 200, time.Millisecond)
	for i := range 500 {
		m.HTTPRequest(fmt.Sprintf("MADEUP%d", i), "/api/v1/rooms", 405, time.Millisecond)
		m.HTTPRequest("get", "unmatched", 1000+i, time.Millisecond)
	}
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body := rec.Body.String()
	for _, want := range []string{
		`chorus_http_requests_total{method="GET",route="/api/v1/rooms",status="200"} 1`,
		`chorus_http_requests_total{method="other",route="/api/v1/rooms",status="405"} 500`,
		`chorus_http_requests_total{method="other",route="unmatched",status="other"} 500`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if n := strings.Count(body, "chorus_http_requests_total{"); n != 3 {
		t.Errorf("%d series of chorus_http_requests_total, want 3", n)
	}
	if strings.Contains(body, "MADEUP") {
		t.Error("a made-up method is a label value")
	}
}
