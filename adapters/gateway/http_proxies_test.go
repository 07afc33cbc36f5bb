package gateway

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/chorus-chat/chorus/domain"
	"github.com/chorus-chat/chorus/projections"
)

// projectProxy is the read model's projection of the grants (w.mu held).
func (w *world) projectProxy(d domain.EventData) {
	if w.proxies == nil {
		w.proxies = map[uuid.UUID]projections.ProxyGrant{}
	}
	switch d := d.(type) {
	case domain.ProxyGranted:
		w.proxies[d.GrantID] = projections.ProxyGrantOf(d)
	case domain.ProxyRevoked:
		delete(w.proxies, d.GrantID)
	}
}

func (w *world) ProxyGrants(_ context.Context, principal, delegate uuid.UUID, at time.Time) ([]projections.ProxyGrant, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []projections.ProxyGrant
	for _, g := range w.proxies {
		if g.PrincipalID == principal && g.DelegateID == delegate && !g.StartsAt.After(at) && g.EndsAt.After(at) {
			out = append(out, g)
		}
	}
	return out, nil
}

func (w *world) RoomOrganization(_ context.Context, room uuid.UUID) (uuid.UUID, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.roomOrgs[room], nil
}

// doFor is do with On-Behalf-Of.
func (e *env) doFor(method, path, token string, principal uuid.UUID, body any) response {
	e.t.Helper()
	return e.doHeaders(method, path, token, map[string]string{onBehalfOfHeader: principal.String()}, body)
}

func (e *env) grant(token string, body map[string]any) string {
	e.t.Helper()
	r := e.mustDo(http.StatusCreated, "POST", "/api/v1/users/me/proxies", token, body)
	g, _ := r.body["grant"].(map[string]any)
	id, _ := g["id"].(string)
	if id == "" || r.body["position"] == "" {
		e.t.Fatalf("grant: %s", r.raw)
	}
	return id
}

func hours(h int) string {
	return time.Now().Add(time.Duration(h) * time.Hour).UTC().Format(time.RFC3339)
}

// A delegate sends for the principal: the message is the principal's, sent_by the delegate's,
// in the answer, the push and the history; what no grant covers is forbidden.
func TestProxySendOnBehalfOfHTTP(t *testing.T) {
	e := newEnv(t, nil)
	alice, aliceID := e.user("alice")
	bob, bobID := e.user("bob")
	carol, _ := e.user("carol")
	room := e.room(alice, map[string]any{"name": "r"})
	path := "/api/v1/rooms/" + room.String() + "/messages"

	// No grant yet: forbidden, and nothing sent.
	wantErr(t, "before the grant", e.doFor("POST", path, bob, aliceID, map[string]any{"content": "hi"}), http.StatusForbidden, domain.CodeForbidden)
	e.grant(alice, map[string]any{"delegate_id": bobID, "scope": "messages", "ends_at": hours(2)})

	r := e.doFor("POST", path, bob, aliceID, map[string]any{"content": "for alice"})
	m, _ := r.body["message"].(map[string]any)
	if r.status != http.StatusCreated || m["sender_id"] != aliceID.String() || m["sent_by"] != bobID.String() {
		t.Fatalf("send for alice: %s", r.raw)
	}
	// The history shows who sent it for whom; a message sent by its sender has no sent_by.
	e.mustDo(http.StatusCreated, "POST", path, alice, map[string]any{"content": "myself"})
	h := e.mustDo(http.StatusOK, "GET", path, alice, nil)
	msgs := h.body["messages"].([]any)
	if len(msgs) != 2 || msgs[0].(map[string]any)["sent_by"] != bobID.String() || msgs[1].(map[string]any)["sent_by"] != nil {
		t.Fatalf("history: %s", h.raw)
	}
	// Edits are in the messages scope; deleting and room commands are not.
	edit := path + "/" + m["id"].(string)
	if r := e.doFor("PATCH", edit, bob, aliceID, map[string]any{"content": "edited for alice"}); r.status != http.StatusOK {
		t.Fatalf("edit for alice: %s", r.raw)
	}
	wantErr(t, "delete", e.doFor("DELETE", edit, bob, aliceID, nil), http.StatusForbidden, domain.CodeForbidden)
	wantErr(t, "update room", e.doFor("PATCH", "/api/v1/rooms/"+room.String(), bob, aliceID, map[string]any{"name": "x"}),
		http.StatusForbidden, domain.CodeForbidden)
	// Not a room command at all.
	wantErr(t, "profile", e.doFor("PATCH", "/api/v1/users/me", bob, aliceID, map[string]any{"display_name": "x"}),
		http.StatusForbidden, domain.CodeForbidden)
	// Another user, no grant; a malformed header.
	wantErr(t, "carol", e.doFor("POST", path, carol, aliceID, map[string]any{"content": "hi"}), http.StatusForbidden, domain.CodeForbidden)
	bad := e.doHeaders("POST", path, bob, map[string]string{onBehalfOfHeader: "alice"}, map[string]any{"content": "x"})
	wantErr(t, "malformed header", bad, http.StatusBadRequest, domain.CodeValidationFailed)
	// Every event of the delegate's commands names them; nothing else does.
	e.w.set(func(w *world) {
		for _, c := range w.dispatched {
			if c.Type == domain.CmdSendMessage && c.ActingID != nil && (*c.ActingID != bobID || c.ActorID != aliceID) {
				t.Errorf("command %+v", c)
			}
		}
	})
}

// Bad grants are refused with their code; the rooms scope covers room commands, limited to an
// organization's rooms when it says so.
func TestProxyGrantsHTTP(t *testing.T) {
	e := newEnv(t, nil)
	alice, aliceID := e.user("alice")
	bob, bobID := e.user("bob")
	g := "/api/v1/users/me/proxies"
	for name, c := range map[string]struct {
		body   map[string]any
		status int
		code   string
	}{
		"to yourself":     {map[string]any{"delegate_id": aliceID, "scope": "rooms", "ends_at": hours(1)}, 400, domain.CodeValidationFailed},
		"unknown user":    {map[string]any{"delegate_id": uuid.New(), "scope": "rooms", "ends_at": hours(1)}, 404, domain.CodeUserNotFound},
		"inverted":        {map[string]any{"delegate_id": bobID, "scope": "rooms", "starts_at": hours(2), "ends_at": hours(1)}, 400, domain.CodeValidationFailed},
		"no end":          {map[string]any{"delegate_id": bobID, "scope": "rooms"}, 400, domain.CodeValidationFailed},
		"bad time":        {map[string]any{"delegate_id": bobID, "scope": "rooms", "ends_at": "tomorrow"}, 400, domain.CodeValidationFailed},
		"bad scope":       {map[string]any{"delegate_id": bobID, "scope": "all", "ends_at": hours(1)}, 400, domain.CodeValidationFailed},
		"too long":        {map[string]any{"delegate_id": bobID, "scope": "rooms", "ends_at": hours(24 * 400)}, 400, domain.CodeValidationFailed},
		"no delegate":     {map[string]any{"scope": "rooms", "ends_at": hours(1)}, 400, domain.CodeValidationFailed},
		"nul in delegate": {map[string]any{"delegate_id": "\x00", "scope": "rooms", "ends_at": hours(1)}, 400, domain.CodeValidationFailed},
	} {
		wantErr(t, name, e.do("POST", g, alice, c.body), c.status, c.code)
	}
	org := uuid.New()
	e.grant(alice, map[string]any{"delegate_id": bobID, "scope": "rooms", "org_id": org, "ends_at": hours(1)})
	wantErr(t, "overlapping", e.do("POST", g, alice, map[string]any{"delegate_id": bobID, "scope": "rooms", "org_id": org, "ends_at": hours(3)}),
		http.StatusBadRequest, domain.CodeValidationFailed)
	plain := e.room(alice, map[string]any{"name": "plain"})
	dept := e.room(alice, map[string]any{"name": "dept"})
	e.w.set(func(w *world) { w.roomOrgs = map[uuid.UUID]uuid.UUID{dept: org} })
	wantErr(t, "a room of no organization", e.doFor("PATCH", "/api/v1/rooms/"+plain.String(), bob, aliceID, map[string]any{"name": "x"}),
		http.StatusForbidden, domain.CodeForbidden)
	if r := e.doFor("PATCH", "/api/v1/rooms/"+dept.String(), bob, aliceID, map[string]any{"name": "renamed"}); r.status != http.StatusOK {
		t.Fatalf("rename the organization's room for alice: %s", r.raw)
	}
}

// The bound docs/protocol.md promises: once revoke_proxy has answered, every gateway refuses
// the grant, however far behind the read model was when it was sent.
func TestProxyRevocationBound(t *testing.T) {
	a := newEnv(t, func(c *Config) { c.PositionWait = 2 * time.Second })
	b := buildEnv(t, a.w, nil, setup{}, nil) // another gateway over the same log and read model
	alice, aliceID := a.user("alice")
	bob, bobID := a.user("bob")
	room := a.room(alice, map[string]any{"name": "r"})
	path := "/api/v1/rooms/" + room.String() + "/messages"
	grant := a.grant(alice, map[string]any{"delegate_id": bobID, "scope": "messages", "ends_at": hours(1)})
	if r := b.doFor("POST", path, bob, aliceID, map[string]any{"content": "before"}); r.status != http.StatusCreated {
		t.Fatalf("before the revocation: %s", r.raw)
	}
	// The read model lags; it catches up 200 ms into the revocation.
	a.w.set(func(w *world) { w.lagging = true })
	go func() { time.Sleep(200 * time.Millisecond); a.w.catchUp() }()
	start := time.Now()
	r := a.do("DELETE", "/api/v1/users/me/proxies/"+grant, alice, nil)
	if r.status != http.StatusOK || r.body["position"] == "" || time.Since(start) < 150*time.Millisecond {
		t.Fatalf("revoke answered %s after %s (before the read model had it)", r.raw, time.Since(start))
	}
	for i, gw := range []*env{a, b} {
		wantErr(t, "after the revocation", gw.doFor("POST", path, bob, aliceID, map[string]any{"content": "after"}), http.StatusForbidden, domain.CodeForbidden)
		_ = i
	}
	wantErr(t, "revoked twice", a.do("DELETE", "/api/v1/users/me/proxies/"+grant, alice, nil), http.StatusNotFound, domain.CodeProxyNotFound)
	// A read model that does not catch up in time: the revocation stands, the answer says so.
	grant = a.grant(alice, map[string]any{"delegate_id": bobID, "scope": "messages", "ends_at": hours(1)})
	a.w.set(func(w *world) { w.lagging = true })
	r = a.do("DELETE", "/api/v1/users/"+aliceID.String()+"/proxies/"+grant, bob, nil) // the delegate gives it up
	wantErr(t, "revoke, read model behind", r, http.StatusServiceUnavailable, "not_caught_up")
	a.w.catchUp()
	wantErr(t, "given up", b.doFor("POST", path, bob, aliceID, map[string]any{"content": "x"}), http.StatusForbidden, domain.CodeForbidden)
}

// Over a socket: on_behalf_of on a command frame, and the grant frames.
func TestProxyWS(t *testing.T) {
	e := newEnv(t, nil)
	alice, aliceID := e.user("alice")
	bob, bobID := e.user("bob")
	room := e.room(alice, map[string]any{"name": "r"})
	wa, wb := e.dial(alice), e.dial(bob)
	send(t, wa, map[string]any{"type": "grant_proxy", "id": "g", "delegate_id": bobID, "scope": "messages", "ends_at": hours(1)})
	grant := expect(t, wa, "ack", "g").obj("result").obj("grant").str("id")
	send(t, wb, map[string]any{"type": "send_message", "id": "s", "room_id": room, "content": "hi", "on_behalf_of": aliceID})
	msg := expect(t, wb, "ack", "s").obj("result").obj("message")
	if msg.str("sender_id") != aliceID.String() || msg.str("sent_by") != bobID.String() {
		t.Fatalf("sent %v", msg)
	}
	if push := expect(t, wa, "message", "").obj("message"); push.str("sent_by") != bobID.String() {
		t.Fatalf("pushed %v", push)
	}
	send(t, wb, map[string]any{"type": "leave_room", "id": "l", "room_id": room, "on_behalf_of": aliceID})
	if f := expect(t, wb, "error", "l"); f.str("code") != domain.CodeForbidden {
		t.Fatalf("leave for alice: %v", f)
	}
	send(t, wb, map[string]any{"type": "send_message", "id": "x", "room_id": room, "content": "hi", "on_behalf_of": "alice"})
	if f := expect(t, wb, "error", "x"); f.str("code") != codeInvalidFrame {
		t.Fatalf("malformed on_behalf_of: %v", f)
	}
	send(t, wa, map[string]any{"type": "revoke_proxy", "id": "r", "grant_id": grant})
	expect(t, wa, "ack", "r")
	send(t, wb, map[string]any{"type": "send_message", "id": "s2", "room_id": room, "content": "hi", "on_behalf_of": aliceID})
	if f := expect(t, wb, "error", "s2"); f.str("code") != domain.CodeForbidden {
		t.Fatalf("after the revocation: %v", f)
	}
}

func (w *world) ProxyGrantsOf(_ context.Context, user uuid.UUID, at time.Time) ([]projections.ProxyGrant, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []projections.ProxyGrant
	for _, g := range w.proxies {
		if (g.PrincipalID == user || g.DelegateID == user) && g.EndsAt.After(at) {
			out = append(out, g)
		}
	}
	return out, nil
}

// Each user lists the grants they gave and hold, and nobody else's.
func TestProxyListHTTP(t *testing.T) {
	e := newEnv(t, nil)
	alice, _ := e.user("alice")
	bob, bobID := e.user("bob")
	carol, _ := e.user("carol")
	id := e.grant(alice, map[string]any{"delegate_id": bobID, "scope": "rooms", "starts_at": hours(1), "ends_at": hours(2)})
	for _, c := range []struct {
		token           string
		given, received int
	}{{alice, 1, 0}, {bob, 0, 1}, {carol, 0, 0}} {
		r := e.mustDo(http.StatusOK, "GET", "/api/v1/users/me/proxies", c.token, nil)
		given, received := r.body["given"].([]any), r.body["received"].([]any)
		if len(given) != c.given || len(received) != c.received {
			t.Fatalf("list: %s", r.raw)
		}
		for _, g := range append(given, received...) {
			if g.(map[string]any)["id"] != id || g.(map[string]any)["org_id"] != nil {
				t.Fatalf("list: %s", r.raw)
			}
		}
	}
}

// No grant covers an organization's command, not even one of the rooms scope limited to that
// organization from its owner: forbidden, saying why, and nothing is dispatched.
func TestProxyOrganizationCommandsForbidden(t *testing.T) {
	o := newOrgEnv(t)
	o.grant(o.owner, map[string]any{"delegate_id": o.memberID, "scope": "rooms", "org_id": o.orgID, "ends_at": hours(1)})
	o.grant(o.owner, map[string]any{"delegate_id": o.memberID, "scope": "rooms", "ends_at": hours(1)})
	var before int
	o.w.set(func(w *world) { before = len(w.dispatched) })
	for what, r := range map[string]response{
		"update":       o.doFor("PATCH", o.org, o.member, o.ownerID, map[string]any{"description": "for the owner"}),
		"department":   o.doFor("POST", o.org+"/departments", o.member, o.ownerID, map[string]any{"name": "Delegated"}),
		"create":       o.doFor("POST", "/api/v1/orgs", o.member, o.ownerID, map[string]any{"name": "Other", "slug": "other"}),
		"slug taken":   o.doFor("POST", "/api/v1/orgs", o.member, o.ownerID, map[string]any{"name": "Acme", "slug": "acme"}),
		"add a member": o.doFor("POST", o.org+"/members", o.member, o.ownerID, map[string]any{"user_id": o.strangerID.String()}),
	} {
		wantErr(t, what, r, http.StatusForbidden, domain.CodeForbidden)
		msg, _ := r.body["error"].(map[string]any)["message"].(string)
		if !strings.Contains(msg, "is an organization command") {
			t.Errorf("%s: the refusal does not say why: %q", what, msg)
		}
	}
	f := wsCall(t, o.dial(o.member), "u1", map[string]any{"type": "update_organization", "org_id": o.orgID.String(), "description": "x", "on_behalf_of": o.ownerID.String()})
	wantErrFrame(t, "frame", f, domain.CodeForbidden)
	o.w.set(func(w *world) {
		for _, c := range w.dispatched[before:] {
			if c.ActingID != nil {
				t.Errorf("dispatched on behalf of the owner: %+v", c)
			}
		}
	})
}
