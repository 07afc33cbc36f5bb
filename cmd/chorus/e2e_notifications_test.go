package main_test

// Notifications and system events over the multi-process stack (e2e_harness_test.go): a mention
// posted on one gateway reaches the mentioned member's socket on the other, an admin's system
// event reaches every socket on both.
//
//	go test -count=1 -run 'E2ENotifications' ./cmd/chorus/ -v

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// apiNotification is the contract's notification.
type apiNotification struct {
	ID               string `json:"id"`
	UserID           string `json:"user_id"`
	Message          string `json:"message"`
	NotificationType string `json:"notification_type"`
	CreatedAt        string `json:"created_at"`
	Read             bool   `json:"read"`
}

// apiSystemEvent is the contract's system event.
type apiSystemEvent struct {
	ID        string          `json:"id"`
	EventType string          `json:"event_type"`
	Message   string          `json:"message"`
	Data      json.RawMessage `json:"data"`
	CreatedAt string          `json:"created_at"`
}

// notificationFrame matches a `notification` frame whose notification satisfies match.
func notificationFrame(match func(apiNotification) bool) func(wsFrame) bool {
	return func(f wsFrame) bool {
		if f.Type != "notification" {
			return false
		}
		var v struct {
			Notification apiNotification `json:"notification"`
		}
		return json.Unmarshal([]byte(f.raw), &v) == nil && match(v.Notification)
	}
}

func decodeFrame[T any](t *testing.T, f wsFrame, field string) T {
	t.Helper()
	var m map[string]json.RawMessage
	var v T
	if err := json.Unmarshal([]byte(f.raw), &m); err != nil {
		t.Fatalf("frame %s: %v", f.raw, err)
	}
	if err := json.Unmarshal(m[field], &v); err != nil {
		t.Fatalf("frame %s: %s: %v", f.raw, field, err)
	}
	return v
}

func TestE2ENotifications(t *testing.T) {
	skipShort(t)
	sfx := randomHex(3)
	rootName := "Root_" + sfx
	c := startCluster(t, map[string]string{"CHORUS_ADMIN_USERS": "someone_else, " + strings.ToLower(rootName)})
	c.warmUp()

	root := newAccount(t, c.gwURL(0), rootName)
	alice := newAccount(t, c.gwURL(0), "alice_"+sfx)
	bob := newAccount(t, c.gwURL(1), "bob_"+sfx)
	room, created := alice.createRoom(t, "notify-"+sfx)
	alice.waitPosition(t, room.ID, created)
	joined := bob.join(t, room.ID)
	bob.waitPosition(t, room.ID, joined)
	aws := dialWS(t, "alice@gateway1", alice.base, alice.token)
	bws := dialWS(t, "bob@gateway2", bob.base, bob.token)

	// A mention posted over HTTP on gateway 1 reaches bob's socket on gateway 2.
	var sent messageAnswer
	call(t, alice.base, alice.token, "POST", "/api/v1/rooms/"+room.ID+"/messages",
		map[string]any{"content": "lunch, @BOB_" + sfx + "?"}, http.StatusCreated, &sent)
	f, _, err := bws.waitFor(15*time.Second, notificationFrame(func(n apiNotification) bool { return n.NotificationType == "mention" }))
	if err != nil {
		t.Fatalf("bob's mention never arrived: %v", err)
	}
	pushed := decodeFrame[apiNotification](t, f, "notification")
	wantMsg := "alice_" + sfx + " mentioned you in notify-" + sfx + ": lunch, @BOB_" + sfx + "?"
	if pushed.UserID != bob.user.ID || pushed.Message != wantMsg || pushed.Read || pushed.ID == "" || !strings.HasSuffix(pushed.CreatedAt, "Z") {
		t.Fatalf("notification frame %s", f.raw)
	}

	// GET /notifications (after the send's position) lists it for bob, newest first.
	var page struct {
		Notifications []apiNotification `json:"notifications"`
		HasMore       bool              `json:"has_more"`
	}
	call(t, bob.base, bob.token, "GET", "/api/v1/notifications?position="+url.QueryEscape(sent.Position), nil, http.StatusOK, &page)
	if len(page.Notifications) != 1 || page.Notifications[0] != pushed || page.HasMore {
		t.Fatalf("bob's notifications %+v, pushed %+v", page, pushed)
	}
	// The author is not told of her mention; as the owner she heard of bob's join.
	call(t, alice.base, alice.token, "GET", "/api/v1/notifications?position="+url.QueryEscape(sent.Position), nil, http.StatusOK, &page)
	if len(page.Notifications) != 1 || page.Notifications[0].NotificationType != "user_joined_room" {
		t.Fatalf("alice's notifications %+v", page)
	}

	// Marking read: on the other gateway, only by bob.
	expectError(t, alice.base, alice.token, "POST", "/api/v1/notifications/"+pushed.ID+"/read", nil, http.StatusNotFound, "not_found")
	var marked struct {
		Notification apiNotification `json:"notification"`
	}
	call(t, c.gwURL(0), bob.token, "POST", "/api/v1/notifications/"+pushed.ID+"/read", nil, http.StatusOK, &marked)
	if marked.Notification.ID != pushed.ID || !marked.Notification.Read {
		t.Fatalf("marked %+v", marked)
	}
	call(t, bob.base, bob.token, "GET", "/api/v1/notifications?unread=true", nil, http.StatusOK, &page)
	if len(page.Notifications) != 0 {
		t.Fatalf("unread after marking read: %+v", page)
	}

	// A non-admin may not publish a system event.
	expectError(t, bob.base, bob.token, "POST", "/api/v1/admin/system-events",
		map[string]any{"event_type": "maintenance", "message": "not mine to say"}, http.StatusForbidden, "forbidden")
	expectError(t, root.base, root.token, "POST", "/api/v1/admin/system-events",
		map[string]any{"event_type": "party", "message": "m"}, http.StatusBadRequest, "validation_failed")

	// The admin's security alert reaches the sockets on both gateways, and every user as a
	// notification.
	var published struct {
		Event    apiSystemEvent `json:"event"`
		Position string         `json:"position"`
	}
	call(t, root.base, root.token, "POST", "/api/v1/admin/system-events",
		map[string]any{"event_type": "security_alert", "message": "rotate your passwords " + sfx, "data": map[string]any{"severity": "high"}},
		http.StatusCreated, &published)
	if published.Event.ID == "" || published.Event.EventType != "security_alert" || published.Position == "" {
		t.Fatalf("publish answered %+v", published)
	}
	for _, ws := range []*wsClient{aws, bws} {
		f, _, err := ws.waitFor(15*time.Second, func(f wsFrame) bool { return f.Type == "system_event" })
		if err != nil {
			t.Fatalf("%s: system event never arrived: %v", ws.name, err)
		}
		ev := decodeFrame[apiSystemEvent](t, f, "event")
		if ev.ID != published.Event.ID || ev.Message != "rotate your passwords "+sfx || ev.EventType != "security_alert" ||
			string(ev.Data) != `{"severity":"high"}` || ev.CreatedAt != published.Event.CreatedAt {
			t.Fatalf("%s: system_event %s, published %+v", ws.name, f.raw, published.Event)
		}
	}
	if _, _, err := bws.waitFor(15*time.Second, notificationFrame(func(n apiNotification) bool {
		return n.NotificationType == "system_alert" && n.Message == "rotate your passwords "+sfx
	})); err != nil {
		t.Fatalf("bob's alert notification never arrived: %v", err)
	}
	call(t, alice.base, alice.token, "GET", "/api/v1/notifications?unread=true&position="+url.QueryEscape(published.Position), nil, http.StatusOK, &page)
	if len(page.Notifications) != 2 || page.Notifications[0].NotificationType != "system_alert" {
		t.Fatalf("alice's unread notifications after the alert: %+v", page)
	}
}
