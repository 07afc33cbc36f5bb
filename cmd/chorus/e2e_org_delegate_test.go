package main_test

// The delegate column of the organization matrix (e2e_org_authz_test.go): users who hold a proxy
// grant of the organization's owner (docs/protocol.md, "User proxies") send every row's command
// on the owner's behalf (On-Behalf-Of over HTTP, on_behalf_of in a frame). A grant covers room
// commands only, whatever its scope and even when it is limited to that organization: every
// organization command is theirs to be refused with forbidden, before the organization decides
// anything (the owner would be answered org_archived, slug_taken, last_owner, … or succeed).
// In the organization's department room the delegates may send what their grant covers and the
// owner may send there; in a room outside the organization the grant limited to it covers
// nothing. At the end the log shows an event made by a delegate for each of those room
// commands that succeeded, and none for any refusal.

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chorus-chat/chorus/domain"
)

// The delegates, each holding one kind of grant of the owner's.
const (
	oactDelegateRooms    = "delegate (rooms)"
	oactDelegateMessages = "delegate (messages)"
	oactDelegateOrg      = "delegate (rooms, this organization)"
)

var orgDelegates = []string{oactDelegateRooms, oactDelegateMessages, oactDelegateOrg}

// orgDelegateGrants is the grant each delegate's account holds from the owner; limited: one for
// each of the shared and the archived organization, where every delegate cell aims.
var orgDelegateGrants = map[string]struct {
	scope   string
	limited bool
}{
	"drooms":    {domain.ProxyScopeRooms, false},
	"dmessages": {domain.ProxyScopeMessages, false},
	"dorg":      {domain.ProxyScopeRooms, true},
}

// orgWant is what actor is answered in row: the row's own expectation, or for a delegate whom
// the row does not name, forbidden: no organization command is sent on behalf of anyone.
func orgWant(row orgRow, actor string) (outcome, bool) {
	if o, ok := row.want[actor]; ok {
		return o, true
	}
	if orgPrincipals[actor] != "" {
		return forbidden, true
	}
	return outcome{}, false
}

// withDelegates gives the delegates the outcome every account kind has in want (a row whose
// answer comes before any authorization).
func withDelegates(want map[string]outcome) map[string]outcome {
	o := want[orgActors[0]]
	for _, a := range orgDelegates {
		want[a] = o
	}
	return want
}

// orgPrincipals is the account kind each delegate acts for.
var orgPrincipals = map[string]string{oactDelegateRooms: "owner", oactDelegateMessages: "owner", oactDelegateOrg: "owner"}

// delegateRooms are the rooms of the department-room cells: the shared organization's
// department room, whose member the owner is, and an ordinary room of the owner's.
type delegateRooms struct {
	dept, outside string
}

// addDelegates makes the delegates' accounts, the owner's grants to them (in force in the read
// model before any cell asks) and their sockets on gateway 2, the department room (with the
// owner among its members), the room outside, and the admin's account (opsName), who reads the
// log at the end.
func (m *orgMatrix) addDelegates(t *testing.T, c *cluster, opsName string) {
	t.Helper()
	sfx := randomHex(3)
	owner := m.users["owner"]
	var mu sync.Mutex
	var fs []func(t *testing.T)
	for kind, g := range orgDelegateGrants {
		fs = append(fs, func(t *testing.T) {
			a := newAccount(t, c.gwURL(0), "o"+kind+"_"+sfx)
			waitUserKnown(t, owner, a.user.ID)
			var orgs []*string
			if g.limited {
				orgs = []*string{&m.shared.id, &m.frozen.id}
			} else {
				orgs = []*string{nil}
			}
			var last struct {
				Position string `json:"position"`
			}
			for _, org := range orgs {
				body := map[string]any{"delegate_id": a.user.ID, "scope": g.scope,
					"ends_at": time.Now().Add(2 * time.Hour).UTC().Format(time.RFC3339)}
				if org != nil {
					body["org_id"] = *org
				}
				call(t, owner.base, owner.token, "POST", "/api/v1/users/me/proxies", body, http.StatusCreated, &last)
			}
			call(t, a.base, a.token, "GET", "/api/v1/users/me/proxies?position="+last.Position, nil, http.StatusOK, nil)
			mu.Lock()
			defer mu.Unlock()
			m.users[kind] = a
		})
	}
	fs = append(fs, func(t *testing.T) {
		d := m.newDept(t, m.shared, "", "Delegation")
		m.addTo(t, m.shared, d, owner.user.ID)
		var created struct {
			DepartmentRoom struct {
				RoomID string `json:"room_id"`
			} `json:"department_room"`
		}
		call(t, owner.base, owner.token, "POST", m.shared.path("/departments/"+d+"/room"), map[string]any{"name": "delegation " + sfx}, http.StatusCreated, &created)
		m.rooms.dept = created.DepartmentRoom.RoomID
		waitMember(t, owner, m.rooms.dept)
	}, func(t *testing.T) {
		r, _ := owner.createRoom(t, "outside "+sfx)
		m.rooms.outside = r.ID
	}, func(t *testing.T) {
		a := newAccount(t, c.gwURL(0), opsName)
		mu.Lock()
		defer mu.Unlock()
		m.users["ops"] = a
	})
	inParallel(t, fs)
	// On the test's t, not a setup's: a socket is closed when the test that dialed it ends.
	for kind := range orgDelegateGrants {
		m.sockets[kind] = newAnswers(dialWS(t, kind+"@gateway2", c.gwURL(1), m.users[kind].token))
	}
}

// waitMember waits until the read model shows a as a member of room (a department room's
// members are synced by the process manager, after the room is created).
func waitMember(t *testing.T, a account, room string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		var members struct {
			Members []struct {
				User apiUser `json:"user"`
			} `json:"members"`
		}
		res, err := doJSON(context.Background(), a.base, a.token, "GET", "/api/v1/rooms/"+room+"/members", nil)
		if err == nil && res.Status == http.StatusOK && json.Unmarshal(res.Body, &members) == nil {
			for _, mb := range members.Members {
				if mb.User.ID == a.user.ID {
					return
				}
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not a member of room %s after 15 s: %v %v", a.user.Username, room, res, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// principalHeader is the On-Behalf-Of of actor's calls (nil for an actor acting as itself).
func (m *orgMatrix) principalHeader(actor string) http.Header {
	p := orgPrincipals[actor]
	if p == "" {
		return nil
	}
	return http.Header{"On-Behalf-Of": {m.users[p].user.ID}}
}

// delegateRoomRow is a room command a delegate sends for the owner, in the department room
// (inDept) and in the room outside the organization (outside). event is the type of the event
// a success makes (mark read may make none: the owner may have read further already).
type delegateRoomRow struct {
	name            string
	ws              bool
	event           string
	atMost          bool // a success makes at most one event
	inDept, outside map[string]outcome
	req             func(t *testing.T, m *orgMatrix, room string) request
}

// delegateGot is the same answer for every delegate; byScope one answer for each.
func delegateGot(o outcome) map[string]outcome { return byScope(o, o, o) }

func byScope(rooms, messages, org outcome) map[string]outcome {
	return map[string]outcome{oactDelegateRooms: rooms, oactDelegateMessages: messages, oactDelegateOrg: org}
}

// delegateRoomRows: what a member (the owner) may send in a department room, through each
// grant. The grant limited to the organization covers its department room, not a room outside;
// the messages scope covers sending and editing only; what the owner may not do there (update a
// room the server owns, invite to a room the department's membership makes) a delegate may not
// either, with the owner's answer.
func delegateRoomRows() []delegateRoomRow {
	msgPath := func(room string) string { return "/api/v1/rooms/" + room + "/messages" }
	// ownersMessage is a message of the owner's in room, for a cell of its own.
	ownersMessage := func(t *testing.T, m *orgMatrix, room string) messageAnswer {
		owner := m.users["owner"]
		var out messageAnswer
		call(t, owner.base, owner.token, "POST", msgPath(room), map[string]any{"content": m.fresh("the owner's")}, http.StatusCreated, &out)
		return out
	}
	return []delegateRoomRow{
		{name: "send a message", ws: true, event: domain.TypeMessageSent,
			inDept: delegateGot(ok201), outside: byScope(ok201, ok201, forbidden),
			req: func(_ *testing.T, m *orgMatrix, room string) request {
				c := m.fresh("for the owner")
				return request{method: "POST", path: msgPath(room), body: map[string]any{"content": c},
					frame: map[string]any{"type": "send_message", "room_id": room, "content": c}}
			}},
		{name: "edit the owner's message", event: domain.TypeMessageUpdated,
			inDept: delegateGot(ok200), outside: byScope(ok200, ok200, forbidden),
			req: func(t *testing.T, m *orgMatrix, room string) request {
				id := ownersMessage(t, m, room).Message.ID
				return request{method: "PATCH", path: msgPath(room) + "/" + id, body: map[string]any{"content": m.fresh("edited for the owner")}}
			}},
		{name: "delete the owner's message", ws: true, event: domain.TypeMessageDeleted,
			inDept: byScope(ok200, forbidden, ok200), outside: byScope(ok200, forbidden, forbidden),
			req: func(t *testing.T, m *orgMatrix, room string) request {
				id := ownersMessage(t, m, room).Message.ID
				return request{method: "DELETE", path: msgPath(room) + "/" + id,
					frame: map[string]any{"type": "delete_message", "room_id": room, "message_id": id}}
			}},
		{name: "mark read", event: domain.TypeReadMarkerUpdated, atMost: true,
			inDept: byScope(ok200, forbidden, ok200), outside: byScope(ok200, forbidden, forbidden),
			req: func(t *testing.T, m *orgMatrix, room string) request {
				seq := ownersMessage(t, m, room).Message.Seq
				return request{method: "POST", path: "/api/v1/rooms/" + room + "/read", body: map[string]any{"seq": seq}}
			}},
		{name: "update the room", event: domain.TypeRoomUpdated,
			inDept: byScope(forbidden, forbidden, forbidden), outside: byScope(ok200, forbidden, forbidden),
			req: func(_ *testing.T, m *orgMatrix, room string) request {
				d := m.fresh("described for the owner")
				return request{method: "PATCH", path: "/api/v1/rooms/" + room, body: map[string]any{"description": d},
					frame: map[string]any{"type": "update_room", "room_id": room, "description": d}}
			}},
		{name: "invite a user", event: domain.TypeUserInvited,
			inDept: byScope(forbidden, forbidden, forbidden), outside: byScope(ok201, forbidden, forbidden),
			req: func(_ *testing.T, m *orgMatrix, room string) request {
				return request{method: "POST", path: "/api/v1/rooms/" + room + "/invitations", body: map[string]any{"user_id": m.users["outsider"].user.ID}}
			}},
	}
}

// delegateEvents counts, by delegate user id, room and event type, the events the delegates'
// successful room cells make.
type delegateEvents struct {
	counts map[string]int
	atMost map[string]bool
}

func delegateEventKey(delegate, room, typ string) string { return delegate + " " + room + " " + typ }

// startDelegateRoomCells runs the department-room cells on the matrix's semaphore and wait
// group and returns how many there are.
func (m *orgMatrix) startDelegateRoomCells(t *testing.T, sem chan struct{}, wg *sync.WaitGroup, made *delegateEvents) int {
	cells := 0
	for _, row := range delegateRoomRows() {
		for _, where := range []struct {
			name, room string
			want       map[string]outcome
		}{{"department room", m.rooms.dept, row.inDept}, {"room outside", m.rooms.outside, row.outside}} {
			for _, actor := range orgDelegates {
				want, ok := where.want[actor]
				if !ok {
					t.Fatalf("room row %q has no expectation for %s in the %s", row.name, actor, where.name)
				}
				for _, transport := range []string{"http", "ws"} {
					if transport == "ws" && !row.ws {
						continue
					}
					if want.code == "" {
						k := delegateEventKey(m.users[userOf[actor]].user.ID, where.room, row.event)
						made.counts[k]++
						made.atMost[k] = row.atMost
					}
					cells++
					wg.Add(1)
					go func() {
						defer wg.Done()
						sem <- struct{}{}
						defer func() { <-sem }()
						t.Run(fmt.Sprintf("%s in the %s/%s/%s", row.name, where.name, actor, transport), func(t *testing.T) {
							req := row.req(t, m, where.room)
							if transport == "http" {
								m.checkHTTP(t, actor, req, want)
							} else {
								m.checkWS(t, actor, req.frame, want)
							}
						})
					}()
				}
			}
		}
	}
	return cells
}

// checkDelegatesApplied reads the whole log (as the admin, GET /admin/events) and finds no
// organization event made on behalf of anyone, and on the rooms exactly one event for each
// delegate's room cell that succeeded (at most one for mark read), none for a refusal.
func (m *orgMatrix) checkDelegatesApplied(t *testing.T, made *delegateEvents) {
	t.Helper()
	admin := m.users["ops"]
	delegates := map[string]string{}
	for _, a := range orgDelegates {
		delegates[m.users[userOf[a]].user.ID] = a
	}
	got := map[string]int{}
	for _, topic := range []string{"org-events", "chat-events", "user-events"} {
		for _, line := range strings.Split(strings.TrimSpace(adminGet(t, admin, "/api/v1/admin/events?topic="+topic).body), "\n") {
			if line == "" {
				continue
			}
			var ev struct {
				Type        string `json:"type"`
				AggregateID string `json:"aggregate_id"`
				ActingID    string `json:"acting_id"`
			}
			if err := json.Unmarshal([]byte(line), &ev); err != nil {
				t.Fatalf("%s: %q: %v", topic, line, err)
			}
			if ev.ActingID == "" {
				continue
			}
			if topic != "chat-events" || delegates[ev.ActingID] == "" {
				t.Errorf("%s: an event made on behalf of someone by %s: %s", topic, delegates[ev.ActingID], line)
				continue
			}
			got[delegateEventKey(ev.ActingID, ev.AggregateID, ev.Type)]++
		}
	}
	for k, n := range made.counts {
		if got[k] != n && !(made.atMost[k] && got[k] <= n) {
			t.Errorf("%d events %s, want %d", got[k], k, n)
		}
	}
	for k, n := range got {
		if made.counts[k] == 0 {
			t.Errorf("%d events %s, made by cells that were refused", n, k)
		}
	}
	t.Logf("the log shows the delegates' room successes and nothing of their refusals: %d kinds of event", len(got))
}
