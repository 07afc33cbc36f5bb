package gateway

import (
	"context"
	"net/http"
	"testing"

	"github.com/chorus-chat/chorus/adapters/metrics"
	"github.com/chorus-chat/chorus/domain"
)

// fakeOverview answers what cmd/chorus's overview would, from the gateway's own registry.
type fakeOverview struct{ met *metrics.Metrics }

func (f fakeOverview) Overview(context.Context) (any, error) {
	sums, err := f.met.Sums("chorus_commands_sent_total", "chorus_websocket_connections")
	return map[string]any{"ready": true, "checks": map[string]string{"kafka": "ok"}, "metrics": sums}, err
}

// The overview is for the server's admins; it counts the commands the gateway sent, accepted
// and rejected, as /metrics does.
func TestAdminOverview(t *testing.T) {
	met := metrics.New()
	e := newEnvWith(t, nil, func(d *Deps) { d.Admins, d.Metrics, d.Overview = []string{"root"}, met, fakeOverview{met} })
	rootTok, _ := e.user("root")
	bobTok, _ := e.user("bob")
	if r := e.do("GET", "/api/v1/admin/overview", bobTok, nil); r.status != http.StatusForbidden || r.errCode() != domain.CodeForbidden {
		t.Fatalf("non-admin: %d %s", r.status, r.raw)
	}
	if r := e.do("GET", "/api/v1/admin/overview", "", nil); r.status != http.StatusUnauthorized {
		t.Fatalf("no token: %d %s", r.status, r.raw)
	}
	sent := func() float64 {
		t.Helper()
		r := e.mustDo(http.StatusOK, "GET", "/api/v1/admin/overview", rootTok, nil)
		if frame(r.body).obj("checks").str("kafka") != "ok" {
			t.Fatalf("overview: %s", r.raw)
		}
		return frame(r.body).obj("metrics")["chorus_commands_sent_total"].(float64)
	}
	before := sent()
	if before < 2 { // the two registrations
		t.Fatalf("commands sent after two registrations: %v", before)
	}
	e.room(bobTok, map[string]any{"name": "counted"})
	if got := sent(); got != before+1 {
		t.Fatalf("commands sent after creating a room: %v, want %v", got, before+1)
	}

	// A gateway without an overview says so to an admin.
	e2 := newEnvWith(t, nil, func(d *Deps) { d.Admins = []string{"root"} })
	tok, _ := e2.user("root")
	if r := e2.do("GET", "/api/v1/admin/overview", tok, nil); r.status != http.StatusServiceUnavailable || r.errCode() != codeUnavailable {
		t.Fatalf("no overview: %d %s", r.status, r.raw)
	}
}
