package main_test

// The admin operations on the projections over the multi-process stack (e2e_harness_test.go):
// status, verify and rebuild started as jobs on a gateway, while the projectors process keeps
// projecting, and what users see of the projections afterwards.
//
//	go test -count=1 -race -run TestAdminOperationsEndToEnd -v ./cmd/chorus/

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
)

// The operations' answers, as far as the test reads them (adapters/gateway/http_ops.go,
// adapters/ops).
type (
	opsStatusReport struct {
		Projections []opsProjectionStatus `json:"projections"`
	}
	opsProjectionStatus struct {
		Projection        string `json:"projection"`
		Group             string `json:"group"`
		GroupState        string `json:"group_state"`
		QuietGroup        string `json:"quiet_group"`
		QuietGroupState   string `json:"quiet_group_state"`
		QuietGroupMembers int    `json:"quiet_group_members"`
		State             string `json:"state"`
		LagEvents         int64  `json:"lag_events"`
		Rebuild           *struct {
			Schema  string `json:"schema"`
			Running bool   `json:"running"`
		} `json:"rebuild"`
		Partitions []json.RawMessage `json:"partitions"`
	}
	opsJob struct {
		ID         string     `json:"id"`
		Kind       string     `json:"kind"`
		Projection string     `json:"projection"`
		State      string     `json:"state"`
		StartedBy  string     `json:"started_by"`
		StartedAt  time.Time  `json:"started_at"`
		FinishedAt *time.Time `json:"finished_at"`
		Progress   struct {
			Done  int64 `json:"done"`
			Total int64 `json:"total"`
		} `json:"progress"`
		Result json.RawMessage `json:"result"`
		Error  *struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	opsJobAnswer struct {
		Job opsJob `json:"job"`
	}
	opsVerifyResult struct {
		Projection    string `json:"projection"`
		DifferingRows int    `json:"differing_rows"`
		Replayed      int64  `json:"events_replayed"`
		Tables        []struct {
			Table    string   `json:"table"`
			Rows     int      `json:"differing_rows"`
			Examples []string `json:"examples"`
		} `json:"tables"`
	}
	opsRebuildResult struct {
		Projection string `json:"projection"`
		Applied    int64  `json:"events_applied"`
		Resumed    bool   `json:"resumed"`
		Dropped    bool   `json:"dropped"`
	}
)

// opsJobTimeout bounds one verify or rebuild of this test's few hundred events.
const opsJobTimeout = 30 * time.Second

// projectionStatus reads GET /admin/projections.
func projectionStatus(t *testing.T, admin account) map[string]opsProjectionStatus {
	t.Helper()
	var rep opsStatusReport
	call(t, admin.base, admin.token, "GET", "/api/v1/admin/projections", nil, http.StatusOK, &rep)
	out := map[string]opsProjectionStatus{}
	for _, p := range rep.Projections {
		out[p.Projection] = p
	}
	return out
}

// waitProjectionLive polls the status until the projection is live with no rebuild under way.
func waitProjectionLive(t *testing.T, admin account, name string) opsProjectionStatus {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		st, ok := projectionStatus(t, admin)[name]
		if ok && st.State == "live" && st.Rebuild == nil {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("projection %s not live within 20s: %+v (present: %v)", name, st, ok)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// startOpsJob POSTs /admin/projections/{projection}/{kind}, which must answer 202 with the
// running job and its Location.
func startOpsJob(t *testing.T, admin account, kind, projection string) opsJob {
	t.Helper()
	path := "/api/v1/admin/projections/" + projection + "/" + kind
	req, err := http.NewRequest("POST", admin.base+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+admin.token)
	resp, err := httpClient.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("POST %s: %v", path, err)
	}
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("POST %s: got %v, want 202", path, result{Status: resp.StatusCode, Body: body})
	}
	var ans opsJobAnswer
	if err := json.Unmarshal(body, &ans); err != nil {
		t.Fatalf("POST %s: decode %s: %v", path, body, err)
	}
	j := ans.Job
	if _, err := uuid.Parse(j.ID); err != nil {
		t.Fatalf("POST %s: job id %q: %v", path, j.ID, err)
	}
	if loc := resp.Header.Get("Location"); loc != "/api/v1/admin/jobs/"+j.ID {
		t.Fatalf("POST %s: Location %q, want /api/v1/admin/jobs/%s", path, loc, j.ID)
	}
	// The job cannot have finished yet: it has a database and the log to read first.
	if j.Kind != kind || j.Projection != projection || j.State != "running" || j.StartedBy != admin.user.Username ||
		j.StartedAt.IsZero() || j.FinishedAt != nil || j.Error != nil {
		t.Fatalf("POST %s: unexpected job %s", path, body)
	}
	return j
}

// waitJob polls GET /admin/jobs/{id} until the job is no longer running and returns it; each
// (if not nil) runs between two polls.
func waitJob(t *testing.T, admin account, id string, each func()) opsJob {
	t.Helper()
	deadline := time.Now().Add(opsJobTimeout)
	for {
		var ans opsJobAnswer
		call(t, admin.base, admin.token, "GET", "/api/v1/admin/jobs/"+id, nil, http.StatusOK, &ans)
		if ans.Job.ID != id {
			t.Fatalf("GET /admin/jobs/%s answered job %+v", id, ans.Job)
		}
		if ans.Job.State != "running" {
			return ans.Job
		}
		if time.Now().After(deadline) {
			t.Fatalf("job %s (%s of %s) still running after %v: %+v", id, ans.Job.Kind, ans.Job.Projection, opsJobTimeout, ans.Job)
		}
		if each != nil {
			each()
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// succeeded checks that the finished job succeeded and decodes its result.
func succeeded[T any](t *testing.T, j opsJob) T {
	t.Helper()
	var res T
	if j.State != "succeeded" || j.Error != nil || j.FinishedAt == nil || j.FinishedAt.Before(j.StartedAt) {
		t.Fatalf("%s of %s: state %s, error %+v, result %s", j.Kind, j.Projection, j.State, j.Error, j.Result)
	}
	if err := json.Unmarshal(j.Result, &res); err != nil {
		t.Fatalf("%s of %s: result %s: %v", j.Kind, j.Projection, j.Result, err)
	}
	return res
}

// runRebuild rebuilds the projection through the API and checks that it succeeded having
// applied events; each runs while it is under way.
func runRebuild(t *testing.T, admin account, projection string, each func()) opsJob {
	t.Helper()
	started := time.Now()
	j := waitJob(t, admin, startOpsJob(t, admin, "rebuild", projection).ID, each)
	res := succeeded[opsRebuildResult](t, j)
	if res.Projection != projection || res.Applied <= 0 || res.Dropped {
		t.Fatalf("rebuild of %s: result %s", projection, j.Result)
	}
	t.Logf("rebuild of %s: %d events applied, progress %d/%d, %v", projection, res.Applied, j.Progress.Done, j.Progress.Total,
		time.Since(started).Round(time.Millisecond))
	return j
}

// runVerify verifies the projection through the API: the live tables must be what a rebuild
// makes.
func runVerify(t *testing.T, admin account, projection string) opsJob {
	t.Helper()
	started := time.Now()
	j := waitJob(t, admin, startOpsJob(t, admin, "verify", projection).ID, nil)
	res := succeeded[opsVerifyResult](t, j)
	if res.Projection != projection || res.DifferingRows != 0 || res.Replayed <= 0 {
		t.Fatalf("verify of %s: result %s", projection, j.Result)
	}
	t.Logf("verify of %s: %d events replayed, %d tables compared, %v", projection, res.Replayed, len(res.Tables),
		time.Since(started).Round(time.Millisecond))
	return j
}

// rawHistory is the room's whole history as the API answers it once it includes position, one
// JSON object per message (compared as sent, so that any field a rebuild changed shows).
func rawHistory(t *testing.T, a account, roomID, position string) ([]json.RawMessage, []apiMessage) {
	t.Helper()
	var page struct {
		Messages []json.RawMessage `json:"messages"`
		HasMore  bool              `json:"has_more"`
	}
	q := url.Values{"after_seq": {"0"}, "limit": {"200"}, "position": {position}}
	call(t, a.base, a.token, "GET", "/api/v1/rooms/"+roomID+"/messages?"+q.Encode(), nil, http.StatusOK, &page)
	if page.HasMore {
		t.Fatalf("history of %s: more than 200 messages", roomID)
	}
	typed := make([]apiMessage, len(page.Messages))
	for i, m := range page.Messages {
		if err := json.Unmarshal(m, &typed[i]); err != nil {
			t.Fatalf("history of %s: message %s: %v", roomID, m, err)
		}
	}
	return page.Messages, typed
}

// rawNotifications is the user's notifications (newest first) once they include position.
func rawNotifications(t *testing.T, a account, position string) []json.RawMessage {
	t.Helper()
	var page struct {
		Notifications []json.RawMessage `json:"notifications"`
		HasMore       bool              `json:"has_more"`
	}
	call(t, a.base, a.token, "GET", "/api/v1/notifications?limit=100&position="+url.QueryEscape(position), nil, http.StatusOK, &page)
	if page.HasMore {
		t.Fatalf("%s has more than 100 notifications", a.user.Username)
	}
	return page.Notifications
}

func sameJSON(a, b []json.RawMessage) bool {
	return slices.EqualFunc(a, b, func(x, y json.RawMessage) bool { return bytes.Equal(x, y) })
}

// TestAdminOperationsEndToEnd: an admin named in CHORUS_ADMIN_USERS reads the projections'
// status, verifies the read model, and rebuilds the read model, search and notifications from
// the log, each as a job on the gateway, while the projectors process keeps projecting; users
// see the same history, search results and notifications afterwards, and new messages keep
// showing. Everybody else is refused.
func TestAdminOperationsEndToEnd(t *testing.T) {
	skipShort(t)
	testStart := time.Now()
	sfx := randomHex(3)
	adminName := "ops_admin_" + sfx
	c := startCluster(t, map[string]string{"CHORUS_ADMIN_USERS": adminName})
	c.warmUp()
	t.Logf("cluster up in %v", time.Since(testStart).Round(time.Millisecond))

	// 1. An admin, a user, a room with 30 messages, one of them edited and one deleted, and a
	// mention of the admin that the admin marked read.
	admin := newAccount(t, c.gwURL(0), adminName)
	user := newAccount(t, c.gwURL(1), "ops_user_"+sfx)
	room, created := user.createRoom(t, "ops-"+sfx)
	user.waitPosition(t, room.ID, created)
	admin.waitPosition(t, room.ID, admin.join(t, room.ID))

	var sent []messageAnswer
	for i := range 30 {
		content := fmt.Sprintf("ops message %02d", i)
		switch i {
		case 7:
			content += " about the zebrafish aquarium"
		case 12:
			content += " with marmalade, soon deleted"
		case 20:
			content += " for @" + adminName
		}
		sent = append(sent, user.postForSearch(t, room.ID, content))
	}
	var edited messageAnswer
	call(t, user.base, user.token, "PATCH", "/api/v1/rooms/"+room.ID+"/messages/"+sent[5].Message.ID,
		map[string]any{"content": "ops message 05, edited: kumquat harvest"}, http.StatusOK, &edited)
	var deleted struct {
		Position string `json:"position"`
	}
	call(t, user.base, user.token, "DELETE", "/api/v1/rooms/"+room.ID+"/messages/"+sent[12].Message.ID, nil, http.StatusOK, &deleted)
	last := deleted.Position

	adminNotes := rawNotifications(t, admin, last)
	var mention apiNotification
	for _, raw := range adminNotes {
		var n apiNotification
		if err := json.Unmarshal(raw, &n); err != nil {
			t.Fatalf("notification %s: %v", raw, err)
		}
		if n.NotificationType == "mention" {
			mention = n
		}
	}
	if mention.ID == "" {
		t.Fatalf("the admin's notifications have no mention: %s", adminNotes)
	}
	call(t, admin.base, admin.token, "POST", "/api/v1/notifications/"+mention.ID+"/read", nil, http.StatusOK, nil)
	t.Logf("data in place at %v", time.Since(testStart).Round(time.Millisecond))

	// 2. Nobody but the admins may run operations, on either gateway.
	someJob := uuid.NewString()
	adminCalls := []struct{ method, path string }{
		{"GET", "/api/v1/admin/events"},
		{"GET", "/api/v1/admin/events/stats"},
		{"GET", "/api/v1/admin/projections"},
		{"POST", "/api/v1/admin/projections/readmodel/rebuild"},
		{"POST", "/api/v1/admin/projections/readmodel/verify"},
		{"POST", "/api/v1/admin/projections/push/rebuild"},
		{"GET", "/api/v1/admin/jobs"},
		{"GET", "/api/v1/admin/jobs/" + someJob},
		{"DELETE", "/api/v1/admin/jobs/" + someJob},
	}
	for _, ac := range adminCalls {
		for i := range c.gw {
			expectError(t, c.gwURL(i), user.token, ac.method, ac.path, nil, http.StatusForbidden, "forbidden")
		}
		expectError(t, c.gwURL(0), "", ac.method, ac.path, nil, http.StatusUnauthorized, "unauthorized")
	}
	var jobs struct {
		Jobs []opsJob `json:"jobs"`
	}
	call(t, admin.base, admin.token, "GET", "/api/v1/admin/jobs", nil, http.StatusOK, &jobs)
	if jobs.Jobs == nil || len(jobs.Jobs) != 0 {
		t.Fatalf("jobs before any was started (and after the refused ones): %+v", jobs)
	}

	// 3. The status shows every projection the server runs, on either gateway; the read model
	// becomes live.
	for i := range c.gw {
		st := projectionStatus(t, admin.viaGateway(c.gwURL(i)))
		for _, name := range []string{"readmodel", "search", "notifications", "push"} {
			if p, ok := st[name]; !ok || len(p.Partitions) == 0 {
				t.Fatalf("gateway %d: status of %s missing or without partitions: %+v", i+1, name, st)
			}
		}
	}
	waitProjectionLive(t, admin, "readmodel")
	// The read model and the pushes read their quiet topics in a group of their own, which the
	// status shows beside the projection's group; the others have none.
	eventuallyWithin(t, "the quiet groups shown stable", 20*time.Second, func() (bool, string) {
		st := projectionStatus(t, admin)
		quiet := func(name string) bool {
			p := st[name]
			return p.QuietGroup == "chorus-projector-"+name+"-quiet" && p.QuietGroupState == "Stable" && p.QuietGroupMembers >= 1
		}
		if p := st["search"]; p.QuietGroup != "" || p.Group != "chorus-projector-search" {
			t.Fatalf("search's groups: %+v", p)
		}
		return quiet("readmodel") && quiet("push"), fmt.Sprintf("readmodel %+v, push %+v", st["readmodel"], st["push"])
	})

	// 4. The live read model is what a rebuild makes.
	verify1 := runVerify(t, admin, "readmodel")

	// 5. Rebuild the read model while the user keeps posting: the history is what it was, plus
	// what was posted meanwhile and afterwards.
	before, beforeTyped := rawHistory(t, user, room.ID, last)
	if len(before) != 30 {
		t.Fatalf("history before the rebuild: %d messages, want 30", len(before))
	}
	if m := beforeTyped[5]; m.ID != sent[5].Message.ID || m.Content != "ops message 05, edited: kumquat harvest" || m.Deleted {
		t.Fatalf("edited message before the rebuild: %s", before[5])
	}
	if m := beforeTyped[12]; m.ID != sent[12].Message.ID || m.Content != "" || !m.Deleted {
		t.Fatalf("deleted message before the rebuild: %s", before[12])
	}
	var during []messageAnswer
	rebuildRM := runRebuild(t, admin, "readmodel", func() {
		during = append(during, user.postForSearch(t, room.ID, fmt.Sprintf("posted during the rebuild %02d", len(during))))
	})
	after := user.postForSearch(t, room.ID, "posted after the rebuild")
	last = after.Position
	now, nowTyped := rawHistory(t, user, room.ID, last)
	if len(now) != 30+len(during)+1 || !sameJSON(now[:30], before) {
		t.Fatalf("history after the rebuild (%d posted during it):\n%s\nwant the 30 of before:\n%s\nand the later ones", len(during), now, before)
	}
	for i, m := range append(during, after) {
		got := nowTyped[30+i]
		if got.ID != m.Message.ID || got.Content != m.Message.Content || got.Seq != m.Message.Seq || got.Deleted {
			t.Fatalf("history after the rebuild, message %d: %s, want %+v", 30+i, now[30+i], m.Message)
		}
	}
	// The other gateway serves the rebuilt tables too, and the status shows no rebuild left.
	if other, _ := rawHistory(t, user.viaGateway(c.gwURL(0)), room.ID, last); !sameJSON(other, now) {
		t.Fatalf("gateway 1's history after the rebuild differs from gateway 2's:\n%s\n%s", other, now)
	}
	waitProjectionLive(t, admin, "readmodel")
	t.Logf("read model rebuilt with %d messages posted during the rebuild", len(during))

	// 6. Search and notifications, rebuilt, answer as before.
	search := func(q string) []string {
		return searchedContents(user.searchMessages(t, url.Values{"q": {q}, "position": {last}}))
	}
	wantSearch := map[string][]string{
		"zebrafish": {sent[7].Message.Content},
		"kumquat":   {"ops message 05, edited: kumquat harvest"},
		"marmalade": {},
		"rebuild":   {"posted after the rebuild"},
	}
	for _, d := range during {
		wantSearch["rebuild"] = append(wantSearch["rebuild"], d.Message.Content)
	}
	slices.Sort(wantSearch["rebuild"])
	checkSearch := func(when string) {
		t.Helper()
		for q, want := range wantSearch {
			if got := search(q); !slices.Equal(got, want) {
				t.Fatalf("%s: searching %q finds %q, want %q", when, q, got, want)
			}
		}
	}
	checkSearch("before the search rebuild")
	userNotes := rawNotifications(t, user, last)
	adminNotes = rawNotifications(t, admin, last)
	if len(userNotes) == 0 || len(adminNotes) == 0 {
		t.Fatalf("notifications before the rebuild: user %s, admin %s", userNotes, adminNotes)
	}

	rebuildSearch := runRebuild(t, admin, "search", nil)
	checkSearch("after the search rebuild")
	rebuildNotes := runRebuild(t, admin, "notifications", nil)
	if got := rawNotifications(t, user, last); !sameJSON(got, userNotes) {
		t.Fatalf("the user's notifications after the rebuild:\n%s\nbefore:\n%s", got, userNotes)
	}
	if got := rawNotifications(t, admin, last); !sameJSON(got, adminNotes) {
		t.Fatalf("the admin's notifications (one read) after the rebuild:\n%s\nbefore:\n%s", got, adminNotes)
	}
	// New messages keep reaching the rebuilt search index and notifications.
	fresh := user.postForSearch(t, room.ID, "a fresh quokka for @"+adminName)
	last = fresh.Position
	if got := search("quokka"); !slices.Equal(got, []string{fresh.Message.Content}) {
		t.Fatalf("searching a message posted after the rebuilds finds %q", got)
	}
	if got := rawNotifications(t, admin, last); len(got) != len(adminNotes)+1 || !sameJSON(got[1:], adminNotes) {
		t.Fatalf("the admin's notifications after a mention posted after the rebuild:\n%s\nbefore:\n%s", got, adminNotes)
	}

	// The read model, rebuilt and projected on since, is still what a rebuild makes.
	verify2 := runVerify(t, admin, "readmodel")

	// 7. What cannot be rebuilt or found, and the jobs of this gateway, newest first.
	expectError(t, admin.base, admin.token, "POST", "/api/v1/admin/projections/push/rebuild", nil, http.StatusNotFound, "projection_not_found")
	expectError(t, admin.base, admin.token, "POST", "/api/v1/admin/projections/no_such_projection/verify", nil, http.StatusNotFound, "projection_not_found")
	expectError(t, admin.base, admin.token, "GET", "/api/v1/admin/jobs/"+uuid.NewString(), nil, http.StatusNotFound, "job_not_found")
	expectError(t, admin.base, admin.token, "DELETE", "/api/v1/admin/jobs/"+uuid.NewString(), nil, http.StatusNotFound, "job_not_found")
	// Jobs live in the gateway that started them.
	expectError(t, c.gwURL(1), admin.token, "GET", "/api/v1/admin/jobs/"+verify1.ID, nil, http.StatusNotFound, "job_not_found")

	started := []opsJob{verify2, rebuildNotes, rebuildSearch, rebuildRM, verify1} // newest first
	call(t, admin.base, admin.token, "GET", "/api/v1/admin/jobs", nil, http.StatusOK, &jobs)
	var listed, want []string
	for _, j := range jobs.Jobs {
		listed = append(listed, j.Kind+" "+j.Projection+" "+j.ID+" "+j.State+" by "+j.StartedBy)
	}
	for _, j := range started {
		want = append(want, j.Kind+" "+j.Projection+" "+j.ID+" succeeded by "+adminName)
	}
	if !slices.Equal(listed, want) {
		t.Fatalf("GET /admin/jobs lists\n  %s\nwant\n  %s", strings.Join(listed, "\n  "), strings.Join(want, "\n  "))
	}
	for i := 1; i < len(jobs.Jobs); i++ {
		if jobs.Jobs[i].StartedAt.After(jobs.Jobs[i-1].StartedAt) {
			t.Fatalf("GET /admin/jobs: job %d started after job %d: %+v", i, i-1, jobs.Jobs)
		}
	}
	var other struct {
		Jobs []opsJob `json:"jobs"`
	}
	call(t, c.gwURL(1), admin.token, "GET", "/api/v1/admin/jobs", nil, http.StatusOK, &other)
	if len(other.Jobs) != 0 {
		t.Fatalf("gateway 2 lists jobs gateway 1 ran: %+v", other.Jobs)
	}
	// Canceling a finished job answers it as it is.
	var canceled opsJobAnswer
	call(t, admin.base, admin.token, "DELETE", "/api/v1/admin/jobs/"+verify1.ID, nil, http.StatusOK, &canceled)
	if canceled.Job.ID != verify1.ID || canceled.Job.State != "succeeded" {
		t.Fatalf("DELETE of a finished job: %+v", canceled.Job)
	}

	// 8. The room's history straight from the log, as JSON lines and as counts.
	replayed := adminGet(t, admin, "/api/v1/admin/events?room="+room.ID+"&type=MessageSent,MessageUpdated,MessageDeleted")
	if ct := replayed.Header.Get("Content-Type"); ct != "application/x-ndjson" {
		t.Fatalf("replay content type %q", ct)
	}
	counts := map[string]int{}
	var contents []string
	for _, line := range strings.Split(strings.TrimSuffix(replayed.body, "\n"), "\n") {
		var ev struct {
			Type        string `json:"type"`
			AggregateID string `json:"aggregate_id"`
			Data        struct {
				Message struct {
					Content string `json:"content"`
				} `json:"message"`
			} `json:"data"`
		}
		if err := json.Unmarshal([]byte(line), &ev); err != nil || ev.AggregateID != room.ID {
			t.Fatalf("replayed line %q: %v", line, err)
		}
		counts[ev.Type]++
		if ev.Type == "MessageSent" {
			contents = append(contents, ev.Data.Message.Content)
		}
	}
	if counts["MessageUpdated"] != 1 || counts["MessageDeleted"] != 1 || counts["MessageSent"] < 31 || contents[7] != sent[7].Message.Content {
		t.Fatalf("replayed the room's message events: %v", counts)
	}
	var stats struct {
		Events int64            `json:"events"`
		ByType map[string]int64 `json:"by_type"`
	}
	if err := json.Unmarshal([]byte(adminGet(t, admin, "/api/v1/admin/events/stats?room="+room.ID).body), &stats); err != nil {
		t.Fatal(err)
	}
	if stats.ByType["MessageSent"] != int64(counts["MessageSent"]) || stats.ByType["RoomCreated"] != 1 || stats.Events < int64(counts["MessageSent"])+3 {
		t.Fatalf("stats of the room: %+v (replay counted %v)", stats, counts)
	}
	expectError(t, admin.base, admin.token, "GET", "/api/v1/admin/events?from=yesterday", nil, http.StatusBadRequest, "validation_failed")
	for _, format := range []string{"jsonl", "csv"} {
		expectError(t, admin.base, admin.token, "GET", "/api/v1/admin/events?topic=no-such-topic&format="+format, nil, http.StatusNotFound, "not_found")
	}

	// Following the room: what is there comes first, then a message sent afterwards arrives on
	// the open response.
	fctx, fcancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer fcancel()
	freq, _ := http.NewRequestWithContext(fctx, "GET", admin.base+"/api/v1/admin/events?follow=true&type=MessageSent&room="+room.ID, nil)
	freq.Header.Set("Authorization", "Bearer "+admin.token)
	fresp, err := http.DefaultClient.Do(freq)
	if err != nil || fresp.StatusCode != http.StatusOK {
		t.Fatalf("follow: %v %v", fresp, err)
	}
	defer fresp.Body.Close()
	followed := bufio.NewScanner(fresp.Body)
	followed.Buffer(make([]byte, 1<<20), 1<<20)
	for range counts["MessageSent"] {
		if !followed.Scan() {
			t.Fatalf("followed replay ended early: %v", followed.Err())
		}
	}
	latest := user.postForSearch(t, room.ID, "followed live "+sfx)
	if !followed.Scan() || !strings.Contains(followed.Text(), latest.Message.ID) {
		t.Fatalf("the message sent while following: %q, %v", followed.Text(), followed.Err())
	}
	fcancel()
	t.Logf("done in %v", time.Since(testStart).Round(time.Millisecond))
}

// adminGet GETs path as a, wanting 200, and returns the answer with its body.
func adminGet(t *testing.T, a account, path string) struct {
	Header http.Header
	body   string
} {
	t.Helper()
	req, err := http.NewRequest("GET", a.base+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+a.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %v: %s", path, resp.StatusCode, err, b)
	}
	return struct {
		Header http.Header
		body   string
	}{resp.Header, string(b)}
}
