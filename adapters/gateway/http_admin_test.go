package gateway

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/chorus-chat/chorus/domain"
)

func TestAdminPublishesSystemEventToEverySocket(t *testing.T) {
	e := newNotifyEnv(t, nil, []string{" Root ", "", "ops"})
	rootTok, root := e.user("root")
	bobTok, bob := e.user("bob")
	rws, bws, bws2 := e.dial(rootTok), e.dial(bobTok), e.dial(bobTok)

	r := e.mustDo(http.StatusCreated, "POST", "/api/v1/admin/system-events", rootTok, map[string]any{
		"event_type": "maintenance", "message": "  down at 22:00  ", "data": map[string]any{"minutes": 30},
	})
	ev := frame(r.body["event"].(map[string]any))
	if ev.str("id") == "" || ev.str("event_type") != "maintenance" || ev.str("message") != "down at 22:00" ||
		ev.obj("data")["minutes"] != float64(30) || r.body["position"] == "" {
		t.Fatalf("publish answered %s", r.raw)
	}
	if _, err := time.Parse(time.RFC3339Nano, ev.str("created_at")); err != nil || !strings.HasSuffix(ev.str("created_at"), "Z") {
		t.Fatalf("created_at %q", ev.str("created_at"))
	}
	// Every socket, the publisher's and both of bob's, gets the same system_event frame.
	for _, ws := range []*websocket.Conn{rws, bws, bws2} {
		got := readType(t, ws, "system_event").obj("event")
		b1, _ := json.Marshal(got)
		b2, _ := json.Marshal(ev)
		if string(b1) != string(b2) {
			t.Fatalf("system_event frame %s, answer %s", b1, b2)
		}
	}
	// A maintenance notice is no notification.
	if l := notificationsOf(t, e.mustDo(http.StatusOK, "GET", "/api/v1/notifications", bobTok, nil)); len(l) != 0 {
		t.Fatalf("maintenance notified: %v", l)
	}

	// Without data, data is null; a security alert also notifies every user.
	r = e.mustDo(http.StatusCreated, "POST", "/api/v1/admin/system-events", rootTok, map[string]any{
		"event_type": "security_alert", "message": "rotate your password",
	})
	if !strings.Contains(r.raw, `"data":null`) {
		t.Fatalf("no data is null: %s", r.raw)
	}
	f := readType(t, bws, "system_event").obj("event")
	if f.str("event_type") != "security_alert" || f["data"] != nil {
		t.Fatalf("frame %v", f)
	}
	n := readType(t, bws, "notification").obj("notification")
	if n.str("notification_type") != "system_alert" || n.str("message") != "rotate your password" || n.str("user_id") != bob.String() {
		t.Fatalf("alert notification frame %v", n)
	}
	for _, tok := range []string{rootTok, bobTok} {
		l := notificationsOf(t, e.mustDo(http.StatusOK, "GET", "/api/v1/notifications", tok, nil))
		if len(l) != 1 || l[0].str("notification_type") != "system_alert" || l[0].str("actor_id") != root.String() {
			t.Fatalf("alert notifications: %v", l)
		}
	}
}

func TestSystemEventsAreForAdminsAndValidated(t *testing.T) {
	e := newEnvWith(t, nil, func(d *Deps) { d.Admins = []string{"ROOT"} })
	rootTok, _ := e.user("root")
	bobTok, _ := e.user("bob")
	good := map[string]any{"event_type": "feature_update", "message": "threads"}

	// A non-admin is refused before anything else is looked at; nothing is dispatched.
	before := len(e.w.dispatched)
	for _, body := range []any{good, map[string]any{"event_type": "nope"}, "{bad json"} {
		if r := e.do("POST", "/api/v1/admin/system-events", bobTok, body); r.status != http.StatusForbidden || r.errCode() != domain.CodeForbidden {
			t.Fatalf("non-admin %v: %s", body, r.raw)
		}
	}
	if r := e.do("POST", "/api/v1/admin/system-events", "", good); r.status != http.StatusUnauthorized {
		t.Fatalf("no token: %s", r.raw)
	}
	if len(e.w.dispatched) != before {
		t.Fatal("a refused request dispatched a command")
	}

	for _, body := range []any{
		map[string]any{"event_type": "party", "message": "m"},
		map[string]any{"event_type": "SecurityAlert", "message": "m"},
		map[string]any{"message": "m"},
		map[string]any{"event_type": "maintenance"},
		map[string]any{"event_type": "maintenance", "message": "   "},
		map[string]any{"event_type": "maintenance", "message": strings.Repeat("x", domain.MaxSystemMessageRunes+1)},
		map[string]any{"event_type": 7, "message": "m"},
		"{bad json",
		"",
	} {
		if r := e.do("POST", "/api/v1/admin/system-events", rootTok, body); r.status != http.StatusBadRequest || r.errCode() != domain.CodeValidationFailed {
			t.Errorf("%v: %d %s", body, r.status, r.raw)
		}
	}
	// Admin names match in any letter case.
	e.mustDo(http.StatusCreated, "POST", "/api/v1/admin/system-events", rootTok, good)
}

func TestNoAdminsConfiguredMeansNobodyPublishes(t *testing.T) {
	e := newEnv(t, nil)
	tok, _ := e.user("root")
	if r := e.do("POST", "/api/v1/admin/system-events", tok, map[string]any{"event_type": "maintenance", "message": "m"}); r.status != http.StatusForbidden {
		t.Fatalf("%s", r.raw)
	}
}
