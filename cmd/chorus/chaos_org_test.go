package main_test

// The fault suite's organization writers and presence sockets (see chaos_test.go).
//
// Beside the message writers, orgWriters clients run scenarios of organization and proxy
// commands under the same faults, each command under an Idempotency-Key and retried until it is
// acknowledged: an organization, three members, a department tree (A with B below it, C moved
// below A), a department room on A, a proxy grant used by its delegate to post in that room on
// behalf of the principal, a second grant revoked, and a member taken out of A. The checker then
// reads what each complete scenario must have left: the org chart, the members, the audit log
// (every event once, versions without a gap), the department room's members and the joins and
// leaves the log holds for it (the process manager neither lost nor doubled one), the grants in
// force and ended, and the delegate's message.
//
// Presence: some writers keep a socket open across the faults (reconnecting when a gateway
// drops it), others open and close theirs all the time. At the end every user with a socket
// open has one open session; after the sockets close, no session is left open beyond the
// presence TTL.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/jackc/pgx/v5"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/chorus-chat/chorus/adapters/kafka"
)

const (
	orgWriters = 2
	// orgMembers is each organization writer's pool of member accounts, which its scenarios
	// take in turn (a principal keeps one grant not ended per scenario: 50 are allowed).
	orgMembers = 6
	// chaosPresenceTTL is the deployment's CHORUS_PRESENCE_TTL: short, so that the sessions of
	// a killed gateway's sockets end within the run.
	chaosPresenceTTL = 4 * time.Second
	// chaosPresenceSweep and chaosPresenceFlush are its CHORUS_PRESENCE_SWEEP_INTERVAL and
	// CHORUS_PRESENCE_FLUSH_INTERVAL: a session left open (its gateway dead, Redis having lost
	// its entries) ends within the ttl, twice the flush, a sweep and a flush of its last activity.
	chaosPresenceSweep = 200 * time.Millisecond
	chaosPresenceFlush = time.Second
	// steadySockets keep a socket open all along, flappingSockets open and close one all the
	// time.
	steadySockets   = 4
	flappingSockets = 2
)

// chaosPresenceVars are the presence settings of every process of the fault suite's
// deployments: an open socket's entry lives chaosPresenceTTL unless refreshed, and a socket
// must send something every half of that (the presence clients heartbeat far more often).
func chaosPresenceVars(vars map[string]string) map[string]string {
	vars["CHORUS_PRESENCE_TTL"] = chaosPresenceTTL.String()
	vars["CHORUS_WS_CONNECTION_TIMEOUT"] = (chaosPresenceTTL / 2).String()
	vars["CHORUS_PRESENCE_SWEEP_INTERVAL"] = chaosPresenceSweep.String()
	vars["CHORUS_PRESENCE_FLUSH_INTERVAL"] = chaosPresenceFlush.String()
	return vars
}

// ---------------------------------------------------------------------------------------------
// Organization commands

// orgCall is one command a client wanted done, retried under its key until acknowledged.
type orgCall struct {
	phase    int
	name     string
	acked    bool
	attempts int
	res      result
	err      error
}

// callUntilAcked makes a call with an Idempotency-Key until it answers want or deadline passes,
// moving to the other gateway after a failure. What a client retries: transport errors, 502,
// 503 (unavailable, not_caught_up), 504, 429, and whatever retry says (a refusal that only
// waits for something asynchronous, rejections being decided afresh every time).
func callUntilAcked(bases []string, first int, token, key, method, path string, body any, header http.Header,
	want int, retry func(result) bool, deadline time.Time, op *orgCall) {
	gw := first
	for {
		op.attempts++
		res, err := doKeyed(bases[gw], token, key, method, path, body, header)
		switch {
		case err == nil && res.Status == want:
			op.acked, op.res, op.err = true, res, nil
			return
		case err == nil && res.Status != http.StatusGatewayTimeout && res.Status != http.StatusServiceUnavailable &&
			res.Status != http.StatusBadGateway && res.Status != http.StatusTooManyRequests && (retry == nil || !retry(res)):
			op.res, op.err = res, fmt.Errorf("refused: %v", res)
			return
		}
		if err != nil {
			op.err = err
		} else {
			op.res, op.err = res, fmt.Errorf("%v", res)
		}
		if time.Now().After(deadline) {
			return
		}
		gw = (gw + 1) % len(bases)
		time.Sleep(100 * time.Millisecond)
	}
}

// doKeyed makes one call with an Idempotency-Key and extra headers, within 10 s.
func doKeyed(base, token, key, method, path string, body any, header http.Header) (result, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return result{}, err
		}
		rd = bytes.NewReader(b)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, base+path, rd)
	if err != nil {
		return result{}, err
	}
	for k, v := range header {
		req.Header[k] = v
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Idempotency-Key", key)
	resp, err := httpClient.Do(req)
	if err != nil {
		return result{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return result{}, err
	}
	return result{Status: resp.StatusCode, Body: b}, nil
}

// orgScenario is one run of the organization writer's script and what it was told.
type orgScenario struct {
	name           string
	owner, a, b, c account
	org            string // id
	deptA, deptB   string
	deptC          string
	room           string // A's department room
	kept, revoked  string // grant ids: b to c (in force), b to a (revoked)
	obo            messageAnswer
	calls          []*orgCall
	complete       bool // every call acknowledged
}

func (s *orgScenario) orgPath() string { return "/api/v1/orgs/" + s.org }

// chaosOrgs are the organization writers of a run.
type chaosOrgs struct {
	bases   []string
	owners  []account
	members [][]account

	mu        sync.Mutex
	scenarios []*orgScenario
}

func newChaosOrgs(t *testing.T, bases []string) *chaosOrgs {
	t.Helper()
	o := &chaosOrgs{bases: bases}
	for w := range orgWriters {
		base := bases[w%len(bases)]
		o.owners = append(o.owners, newAccount(t, base, fmt.Sprintf("orgw%d_%s", w, randomHex(3))))
		var ms []account
		for i := range orgMembers {
			ms = append(ms, newAccount(t, bases[(w+i)%len(bases)], fmt.Sprintf("orgm%d_%d_%s", w, i, randomHex(3))))
		}
		o.members = append(o.members, ms)
	}
	return o
}

// run is writer w: scenarios one after another until stop.
func (o *chaosOrgs) run(w int, phase *atomic.Int64, stop <-chan struct{}, opLimit time.Duration) {
	ms := o.members[w]
	for n := 0; ; n++ {
		select {
		case <-stop:
			return
		default:
		}
		s := &orgScenario{
			name: fmt.Sprintf("o%d-%d-%s", w, n, randomHex(2)), owner: o.owners[w],
			a: ms[(3*n)%len(ms)], b: ms[(3*n+1)%len(ms)], c: ms[(3*n+2)%len(ms)],
		}
		o.mu.Lock()
		o.scenarios = append(o.scenarios, s)
		o.mu.Unlock()
		o.play(w, s, phase, opLimit)
	}
}

// play runs the scenario's commands in order; it stops at the first one not acknowledged.
func (o *chaosOrgs) play(w int, s *orgScenario, phase *atomic.Int64, opLimit time.Duration) {
	do := func(name string, who account, method, path string, body any, header http.Header, want int, retry func(result) bool, out any) bool {
		op := &orgCall{phase: int(phase.Load()), name: name}
		s.calls = append(s.calls, op)
		callUntilAcked(o.bases, (w+len(s.calls))%len(o.bases), who.token, s.name+"-"+name, method, path, body, header,
			want, retry, time.Now().Add(opLimit), op)
		if op.acked && out != nil {
			if err := json.Unmarshal(op.res.Body, out); err != nil {
				op.acked, op.err = false, fmt.Errorf("undecodable answer %v: %w", op.res, err)
			}
		}
		return op.acked
	}
	var created orgAnswer
	if !do("create", s.owner, "POST", "/api/v1/orgs", map[string]any{"name": "Chaos " + s.name, "slug": "chaos-" + s.name}, nil,
		http.StatusCreated, nil, &created) {
		return
	}
	s.org = created.Organization.ID
	for i, m := range []account{s.a, s.b, s.c} {
		if !do(fmt.Sprintf("member%d", i), s.owner, "POST", s.orgPath()+"/members", map[string]any{"user_id": m.user.ID}, nil,
			http.StatusCreated, nil, nil) {
			return
		}
	}
	dept := func(name, parent string, into *string) bool {
		body := map[string]any{"name": name}
		if parent != "" {
			body["parent_id"] = parent
		}
		var out orgAnswer
		if !do("dept-"+name, s.owner, "POST", s.orgPath()+"/departments", body, nil, http.StatusCreated, nil, &out) {
			return false
		}
		*into = out.Department.ID
		return true
	}
	if !dept("A", "", &s.deptA) || !dept("B", s.deptA, &s.deptB) || !dept("C", "", &s.deptC) {
		return
	}
	for _, dm := range []struct{ dept, user string }{{s.deptA, s.a.user.ID}, {s.deptB, s.b.user.ID}, {s.deptC, s.c.user.ID}} {
		if !do("in-"+dm.dept, s.owner, "PUT", s.orgPath()+"/departments/"+dm.dept+"/members/"+dm.user, nil, nil, http.StatusOK, nil, nil) {
			return
		}
	}
	var room struct {
		DepartmentRoom struct {
			RoomID string `json:"room_id"`
		} `json:"department_room"`
	}
	if !do("room", s.owner, "POST", s.orgPath()+"/departments/"+s.deptA+"/room", map[string]any{"name": "room " + s.name}, nil,
		http.StatusCreated, nil, &room) {
		return
	}
	s.room = room.DepartmentRoom.RoomID
	// C moves below A: its member joins A's room.
	if !do("move", s.owner, "POST", s.orgPath()+"/departments/"+s.deptC+"/move", map[string]any{"parent_id": s.deptA}, nil,
		http.StatusOK, nil, nil) {
		return
	}
	// b lets c post for them in the organization's rooms, and a too, then takes a's grant back.
	grant := func(name string, delegate account, into *string) bool {
		var out struct {
			Grant struct {
				ID string `json:"id"`
			} `json:"grant"`
		}
		body := map[string]any{"delegate_id": delegate.user.ID, "scope": "messages", "org_id": s.org,
			"ends_at": time.Now().Add(24 * time.Hour).UTC().Format(time.RFC3339)}
		if !do(name, s.b, "POST", "/api/v1/users/me/proxies", body, nil, http.StatusCreated, nil, &out) {
			return false
		}
		*into = out.Grant.ID
		return true
	}
	if !grant("grant-c", s.c, &s.kept) || !grant("grant-a", s.a, &s.revoked) {
		return
	}
	// c posts in A's room for b. The room, b's membership there and the grant reach the read
	// model a little after their commands were answered: until then the post is refused, and
	// a refusal is decided afresh on every retry.
	waiting := func(r result) bool {
		code := r.errCode()
		return code == "not_a_member" || code == "room_not_found" || code == "forbidden"
	}
	if !do("obo", s.c, "POST", "/api/v1/rooms/"+s.room+"/messages", map[string]any{"content": "for b " + s.name, "client_msg_id": s.name + "-obo"},
		http.Header{"On-Behalf-Of": {s.b.user.ID}}, http.StatusCreated, waiting, &s.obo) {
		return
	}
	if !do("revoke", s.b, "DELETE", "/api/v1/users/me/proxies/"+s.revoked, nil, nil, http.StatusOK, nil, nil) {
		return
	}
	// a leaves A: they leave its room.
	if !do("out-a", s.owner, "DELETE", s.orgPath()+"/departments/"+s.deptA+"/members/"+s.a.user.ID, nil, nil, http.StatusOK, nil, nil) {
		return
	}
	s.complete = true
}

// orgTally counts the organization commands of each phase.
type orgTally struct{ attempted, acked, unacked int }

// tally is the org commands per phase, and the scenarios complete and cut short.
func (o *chaosOrgs) tally(phases int) (rows []orgTally, complete, partial int) {
	rows = make([]orgTally, phases)
	for _, s := range o.scenarios {
		if s.complete {
			complete++
		} else {
			partial++
		}
		for _, c := range s.calls {
			r := &rows[c.phase]
			r.attempted++
			if c.acked {
				r.acked++
			} else {
				r.unacked++
			}
		}
	}
	return rows, complete, partial
}

// check asserts what every complete scenario must have left, read through the API (and the
// log, for the department rooms' joins and leaves); a scenario cut short by a command not
// acknowledged is only counted (what its last command did is not known).
func (o *chaosOrgs) check(t *testing.T, brokerAddr string) {
	t.Helper()
	var done []*orgScenario
	for _, s := range o.scenarios {
		if s.complete {
			done = append(done, s)
		} else if n := len(s.calls); n > 0 && s.calls[n-1].err != nil {
			t.Logf("org scenario %s cut short at %s after %d attempts: %v", s.name, s.calls[n-1].name, s.calls[n-1].attempts, s.calls[n-1].err)
		}
	}
	if len(done) == 0 {
		t.Error("no organization scenario was completed")
		return
	}
	base := o.bases[0]
	for _, s := range done {
		o.checkDirectory(t, base, s)
		o.checkProxies(t, base, s)
	}
	// The department rooms: their members as the read model has them (the process manager
	// works through its backlog after the faults: bounded wait), then their joins and leaves in
	// the log.
	deadline := time.Now().Add(60 * time.Second)
	for _, s := range done {
		want := []string{s.b.user.ID, s.c.user.ID}
		slices.Sort(want)
		var got []string
		for {
			got = roomMemberIDs(t, base, s.b.token, s.room)
			if slices.Equal(got, want) || time.Now().After(deadline) {
				break
			}
			time.Sleep(200 * time.Millisecond)
		}
		if !slices.Equal(got, want) {
			t.Errorf("%s: department room %s has members %v, want b and c %v (A's subtree)", s.name, s.room, got, want)
		}
	}
	rooms := map[string]*orgScenario{}
	for _, s := range done {
		rooms[s.room] = s
	}
	events := readMembershipFromLog(t, brokerAddr, rooms)
	for room, s := range rooms {
		want := map[string]string{s.a.user.ID: "+-", s.b.user.ID: "+", s.c.user.ID: "+"}
		if got := events[room]; !maps.Equal(got, want) {
			t.Errorf("%s: joins (+) and leaves (-) of department room %s in the log: %v, want %v (a: %s, b: %s, c: %s)",
				s.name, room, got, want, s.a.user.ID, s.b.user.ID, s.c.user.ID)
		}
	}
	t.Logf("org checker: %d scenarios complete and checked, %d cut short", len(done), len(o.scenarios)-len(done))
}

// checkDirectory reads the scenario's organization from the directory: the chart, the
// members, A's subtree and the audit log.
func (o *chaosOrgs) checkDirectory(t *testing.T, base string, s *orgScenario) {
	t.Helper()
	type chartDept struct {
		ID          string `json:"id"`
		DirectCount int    `json:"direct_count"`
		HeadCount   int    `json:"head_count"`
		Children    []struct {
			ID          string `json:"id"`
			DirectCount int    `json:"direct_count"`
		} `json:"children"`
	}
	var chart struct {
		Departments []chartDept `json:"departments"`
	}
	position := s.calls[len(s.calls)-1].res
	var last struct {
		Position string `json:"position"`
	}
	_ = json.Unmarshal(position.Body, &last)
	at := "?position=" + url.QueryEscape(last.Position)
	readOrg(t, base, s.owner.token, s.orgPath()+"/departments"+at, &chart)
	ok := len(chart.Departments) == 1 && chart.Departments[0].ID == s.deptA && chart.Departments[0].DirectCount == 0 &&
		chart.Departments[0].HeadCount == 2 && len(chart.Departments[0].Children) == 2
	if ok {
		kids := map[string]int{}
		for _, k := range chart.Departments[0].Children {
			kids[k.ID] = k.DirectCount
		}
		ok = maps.Equal(kids, map[string]int{s.deptB: 1, s.deptC: 1})
	}
	if !ok {
		t.Errorf("%s: org chart %+v, want A (%s; nobody in it, 2 below) with B (%s) and C (%s), one member each",
			s.name, chart, s.deptA, s.deptB, s.deptC)
	}
	members := func(q string) []string {
		var page struct {
			Members []struct {
				UserID string `json:"user_id"`
			} `json:"members"`
		}
		readOrg(t, base, s.owner.token, s.orgPath()+"/members"+at+"&limit=200"+q, &page)
		var ids []string
		for _, m := range page.Members {
			ids = append(ids, m.UserID)
		}
		slices.Sort(ids)
		return ids
	}
	all := []string{s.owner.user.ID, s.a.user.ID, s.b.user.ID, s.c.user.ID}
	slices.Sort(all)
	if got := members(""); !slices.Equal(got, all) {
		t.Errorf("%s: members %v, want %v", s.name, got, all)
	}
	sub := []string{s.b.user.ID, s.c.user.ID}
	slices.Sort(sub)
	if got := members("&department_id=" + s.deptA); !slices.Equal(got, sub) {
		t.Errorf("%s: A's subtree %v, want b and c %v", s.name, got, sub)
	}
	var audit struct {
		Entries []struct {
			Version int64  `json:"version"`
			EventID string `json:"event_id"`
			Type    string `json:"type"`
		} `json:"entries"`
		NextCursor *string `json:"next_cursor"`
	}
	readOrg(t, base, s.owner.token, s.orgPath()+"/audit"+at+"&limit=200", &audit)
	types := map[string]int{}
	for i, e := range audit.Entries {
		types[e.Type]++
		// Newest first, every version once: nothing lost, nothing doubled.
		if want := int64(len(audit.Entries) - i); e.Version != want {
			t.Errorf("%s: audit entry %d (%s) has version %d, want %d: a gap or a repeat", s.name, i, e.Type, e.Version, want)
			break
		}
	}
	want := map[string]int{
		"OrganizationCreated": 1, "OrgMemberJoined": 4, "OrgRoleGranted": 1, "DepartmentCreated": 3,
		"DepartmentMemberAdded": 3, "DepartmentRoomCreated": 1, "DepartmentMoved": 1, "DepartmentMemberRemoved": 1,
	}
	for typ, n := range want {
		if types[typ] != n {
			t.Errorf("%s: the audit log has %d %s, want %d (all: %v)", s.name, types[typ], typ, n, types)
		}
	}
	if audit.NextCursor != nil {
		t.Errorf("%s: more than 200 audit entries", s.name)
	}
}

// checkProxies: the kept grant is in force (listed, and the delegate's message is in the room
// once, sent by c for b), the revoked one ended (not listed, and refused).
func (o *chaosOrgs) checkProxies(t *testing.T, base string, s *orgScenario) {
	t.Helper()
	var list struct {
		Given []struct {
			ID string `json:"id"`
		} `json:"given"`
		Received []struct {
			ID string `json:"id"`
		} `json:"received"`
	}
	grantIDs := func(gs []struct {
		ID string `json:"id"`
	}) []string {
		var out []string
		for _, g := range gs {
			out = append(out, g.ID)
		}
		return out
	}
	readOrg(t, base, s.b.token, "/api/v1/users/me/proxies", &list)
	given := grantIDs(list.Given)
	if !slices.Contains(given, s.kept) || slices.Contains(given, s.revoked) {
		t.Errorf("%s: b's grants %v: want %s in force and %s ended", s.name, given, s.kept, s.revoked)
	}
	readOrg(t, base, s.c.token, "/api/v1/users/me/proxies", &list)
	if got := grantIDs(list.Received); !slices.Contains(got, s.kept) {
		t.Errorf("%s: c's grants %v: want %s", s.name, got, s.kept)
	}
	readOrg(t, base, s.a.token, "/api/v1/users/me/proxies", &list)
	if got := grantIDs(list.Received); slices.Contains(got, s.revoked) {
		t.Errorf("%s: a still holds the revoked grant %s", s.name, s.revoked)
	}
	res, err := doKeyed(base, s.a.token, s.name+"-after-revoke", "POST", "/api/v1/rooms/"+s.room+"/messages",
		map[string]any{"content": "after revoke"}, http.Header{"On-Behalf-Of": {s.b.user.ID}})
	if err != nil || res.Status != http.StatusForbidden || res.errCode() != "forbidden" {
		t.Errorf("%s: a posting for b after the revocation: %v %v, want 403 forbidden", s.name, res, err)
	}
	// The delegate's message, once, where it was acknowledged.
	var page struct {
		Messages []struct {
			ID       string `json:"id"`
			SenderID string `json:"sender_id"`
			SentBy   string `json:"sent_by"`
			Seq      int64  `json:"seq"`
			Content  string `json:"content"`
		} `json:"messages"`
	}
	readOrg(t, base, s.b.token, "/api/v1/rooms/"+s.room+"/messages?after_seq=0&limit=200&position="+url.QueryEscape(s.obo.Position), &page)
	n := 0
	for _, m := range page.Messages {
		if m.Content != "for b "+s.name {
			continue
		}
		n++
		if m.ID != s.obo.Message.ID || m.Seq != s.obo.Message.Seq || m.SenderID != s.b.user.ID || m.SentBy != s.c.user.ID {
			t.Errorf("%s: the delegate's message is %+v, acknowledged as %s seq %d (sender b %s, sent by c %s)",
				s.name, m, s.obo.Message.ID, s.obo.Message.Seq, s.b.user.ID, s.c.user.ID)
		}
	}
	if n != 1 {
		t.Errorf("%s: the delegate's message is %d times in the room's history, want once", s.name, n)
	}
}

// readOrg makes a read that must answer 200 (a query of the directory or the read model,
// which may wait for a position), retried while the gateway says it cannot yet.
func readOrg(t *testing.T, base, token, path string, out any) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		res, err := doJSON(context.Background(), base, token, "GET", path, nil)
		if err == nil && res.Status == http.StatusOK {
			if err := json.Unmarshal(res.Body, out); err != nil {
				t.Fatalf("GET %s: %v", path, err)
			}
			return
		}
		if time.Now().After(deadline) || (err == nil && res.Status != http.StatusServiceUnavailable && res.Status != http.StatusGatewayTimeout) {
			t.Fatalf("GET %s: %v %v", path, res, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// roomMemberIDs is the room's members as the read model has them, sorted.
func roomMemberIDs(t *testing.T, base, token, room string) []string {
	t.Helper()
	var out struct {
		Members []struct {
			User apiUser `json:"user"`
		} `json:"members"`
	}
	readOrg(t, base, token, "/api/v1/rooms/"+room+"/members", &out)
	var ids []string
	for _, m := range out.Members {
		ids = append(ids, m.User.ID)
	}
	slices.Sort(ids)
	return ids
}

// readMembershipFromLog reads chat-events (read_committed) and returns, per room of rooms and
// user, the user's joins (+) and leaves (-) in log order. It reads until no record has come
// for 3 s, or 30 s have passed.
func readMembershipFromLog(t *testing.T, brokerAddr string, rooms map[string]*orgScenario) map[string]map[string]string {
	t.Helper()
	kc, err := kgo.NewClient(kgo.SeedBrokers(brokerAddr), kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.ConsumeTopics(kafka.DefaultTopics().ChatEvents), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer kc.Close()
	out := map[string]map[string]string{}
	deadline := time.Now().Add(30 * time.Second)
	idle := time.Now()
	for time.Since(idle) < 3*time.Second && time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		fs := kc.PollFetches(ctx)
		cancel()
		if fs.NumRecords() > 0 {
			idle = time.Now()
		}
		fs.EachRecord(func(rec *kgo.Record) {
			var e struct {
				Type string `json:"type"`
				Data struct {
					RoomID string `json:"room_id"`
					UserID string `json:"user_id"`
				} `json:"data"`
			}
			if json.Unmarshal(rec.Value, &e) != nil || rooms[e.Data.RoomID] == nil {
				return
			}
			sign := ""
			switch e.Type {
			case "UserJoinedRoom":
				sign = "+"
			case "UserLeftRoom":
				sign = "-"
			default:
				return
			}
			if out[e.Data.RoomID] == nil {
				out[e.Data.RoomID] = map[string]string{}
			}
			out[e.Data.RoomID][e.Data.UserID] += sign
		})
	}
	return out
}

// ---------------------------------------------------------------------------------------------
// Presence

// presenceClient keeps a socket of its user open (steady) or opens and closes one all the
// time (flapping), reconnecting to the other gateway whenever one fails or drops it.
type presenceClient struct {
	acc      account
	steady   bool
	mu       sync.Mutex
	conn     *websocket.Conn
	opened   int
	failures int
	// killedAt: a leaver whose socket's server (the all-in-one, with its Redis) was killed then;
	// its session must end reconciled, at its last activity before.
	killedAt time.Time
}

func (p *presenceClient) run(bases []string, first int, stop <-chan struct{}) {
	gw := first
	d := websocket.Dialer{HandshakeTimeout: 5 * time.Second}
	for {
		select {
		case <-stop:
			return
		default:
		}
		conn, resp, err := d.Dial(wsURL(bases[gw]), http.Header{"Authorization": {"Bearer " + p.acc.token}})
		if resp != nil && resp.Body != nil {
			_ = resp.Body.Close()
		}
		if err != nil {
			p.failures++
			gw = (gw + 1) % len(bases)
			time.Sleep(200 * time.Millisecond)
			continue
		}
		p.mu.Lock()
		p.conn = conn
		p.opened++
		p.mu.Unlock()
		dropped := make(chan struct{})
		go func() {
			defer close(dropped)
			for {
				if _, _, err := conn.ReadMessage(); err != nil {
					return
				}
			}
		}()
		life := time.Duration(1<<62 - 1)
		if !p.steady {
			life = time.Duration(1000+time.Now().UnixNano()%2000) * time.Millisecond
		}
		end := time.After(life)
		tick := time.NewTicker(500 * time.Millisecond)
	alive:
		for {
			select {
			case <-stop:
				tick.Stop()
				p.closeConn()
				return
			case <-dropped:
				break alive
			case <-end:
				break alive
			case <-tick.C:
				_ = conn.SetWriteDeadline(time.Now().Add(2 * time.Second))
				if err := conn.WriteMessage(websocket.TextMessage, []byte(`{"type":"heartbeat"}`)); err != nil {
					break alive
				}
			}
		}
		tick.Stop()
		p.closeConn()
		<-dropped
		gw = (gw + 1) % len(bases)
	}
}

// closeConn closes the socket as a client does: a close frame, then the connection.
func (p *presenceClient) closeConn() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.conn == nil {
		return
	}
	_ = p.conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
	_ = p.conn.Close()
	p.conn = nil
}

// openLeaver opens a socket of acc that heartbeats until closed: a user who is online when a
// fault strikes and closes their last socket right after it, never to come back.
func openLeaver(acc account, base string) (*presenceClient, error) {
	d := websocket.Dialer{HandshakeTimeout: 5 * time.Second}
	conn, resp, err := d.Dial(wsURL(base), http.Header{"Authorization": {"Bearer " + acc.token}})
	if resp != nil && resp.Body != nil {
		_ = resp.Body.Close()
	}
	if err != nil {
		return nil, err
	}
	p := &presenceClient{acc: acc, conn: conn, opened: 1}
	go func() {
		for {
			if _, _, err := conn.ReadMessage(); err != nil {
				return
			}
		}
	}()
	go func() {
		for {
			time.Sleep(500 * time.Millisecond)
			p.mu.Lock()
			c := p.conn
			p.mu.Unlock()
			if c == nil {
				return
			}
			_ = c.SetWriteDeadline(time.Now().Add(2 * time.Second))
			if c.WriteMessage(websocket.TextMessage, []byte(`{"type":"heartbeat"}`)) != nil {
				return
			}
		}
	}()
	return p, nil
}

// chaosPresence are the presence clients of a run. The flapping ones stop with the writers,
// the steady ones when the checker has seen their sessions open (done).
type chaosPresence struct {
	clients  []*presenceClient
	flapping sync.WaitGroup
	steady   sync.WaitGroup
	done     chan struct{}
	mu       sync.Mutex
	leavers  []*presenceClient // closed already, checked with the others
}

// addLeaver records a leaver for the check.
func (cp *chaosPresence) addLeaver(p *presenceClient) {
	cp.mu.Lock()
	defer cp.mu.Unlock()
	cp.leavers = append(cp.leavers, p)
}

func startChaosPresence(accs []account, bases []string, stop <-chan struct{}) *chaosPresence {
	cp := &chaosPresence{done: make(chan struct{})}
	for i, a := range accs {
		p := &presenceClient{acc: a, steady: i < steadySockets}
		cp.clients = append(cp.clients, p)
		wg, until := &cp.flapping, stop
		if p.steady {
			wg, until = &cp.steady, cp.done
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			p.run(bases, i%len(bases), until)
		}()
	}
	return cp
}

// check runs after stop: every steady socket's user has one open session (the suite's last
// transitions may still be on their way: bounded wait); then every socket closes, and no
// session of these users may stay open past the presence TTL and a sweep.
func (cp *chaosPresence) check(t *testing.T, dbURL string) {
	t.Helper()
	cp.flapping.Wait()
	ctx := context.Background()
	db, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close(ctx)
	open := func(user string) (open, all int) {
		for _, s := range sessionsOf(t, db, user) {
			all++
			if s.end == nil {
				open++
			}
			if s.end != nil && s.end.Before(s.start) {
				t.Errorf("user %s: session %v..%v ends before it starts", user, s.start, *s.end)
			}
		}
		return open, all
	}
	deadline := time.Now().Add(20 * time.Second)
	for _, p := range cp.clients {
		if !p.steady {
			continue
		}
		for {
			n, all := open(p.acc.user.ID)
			if n == 1 {
				break
			}
			if time.Now().After(deadline) {
				t.Errorf("%s, whose socket is open: %d open sessions of %d, want 1", p.acc.user.Username, n, all)
				break
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	close(cp.done)
	cp.steady.Wait()
	closed := time.Now()
	deadline = closed.Add(chaosPresenceTTL + 20*time.Second)
	var summary []string
	for _, p := range append(cp.clients, cp.leavers...) {
		for {
			n, all := open(p.acc.user.ID)
			if n == 0 {
				line := fmt.Sprintf("%s: %d sockets, %d sessions", p.acc.user.Username, p.opened, all)
				// (Killed before its online reached the log, it has no session at all.)
				if s := sessionsOf(t, db, p.acc.user.ID); !p.killedAt.IsZero() && len(s) > 0 {
					last := s[len(s)-1]
					if msg := reconciledProblem(last, p.killedAt, chaosPresenceFlush); msg != "" {
						t.Errorf("%s, online when the all-in-one server was killed: %s", p.acc.user.Username, msg)
					} else {
						line += fmt.Sprintf(" (reconciled at %v before the kill)", p.killedAt.Sub(*last.end).Round(time.Millisecond))
					}
				}
				summary = append(summary, line)
				break
			}
			if time.Now().After(deadline) {
				t.Errorf("%s: %d sessions still open %v after every socket of theirs closed (presence TTL %v): left open for good",
					p.acc.user.Username, n, time.Since(closed).Round(time.Millisecond), chaosPresenceTTL)
				break
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	sort.Strings(summary)
	t.Logf("presence: every session ended within %v of the sockets' close: %s", time.Since(closed).Round(time.Millisecond), strings.Join(summary, "; "))
}
