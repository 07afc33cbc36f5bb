package gateway

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/chorus-chat/chorus/adapters/kafka"
	"github.com/chorus-chat/chorus/adapters/ops"
	"github.com/chorus-chat/chorus/adapters/ops/admin"
	"github.com/chorus-chat/chorus/domain"
)

// fakeOps stands in for ops.Runner (which needs Postgres and Kafka; cmd/chorus's end-to-end
// test runs the real one): a rebuild or verify reports progress, then waits to be released or
// canceled.
type fakeOps struct {
	mu       sync.Mutex
	asked    []ops.StatusOptions
	rebuilds []ops.RebuildOptions
	verifies []ops.VerifyOptions
	queries  []ops.EventQuery
	release  chan struct{} // closed: running operations finish
	fail     error         // returned by the next operation
}

func newFakeOps() *fakeOps { return &fakeOps{release: make(chan struct{})} }

func (f *fakeOps) Status(_ context.Context, o ops.StatusOptions) (ops.StatusReport, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.asked = append(f.asked, o)
	var rep ops.StatusReport
	for _, p := range o.Projections {
		if p == "nosuch" {
			return rep, fmt.Errorf("%w %q", ops.ErrUnknownProjection, p)
		}
		rep.Projections = append(rep.Projections, ops.ProjectionStatus{Projection: p, State: ops.StateLive})
	}
	return rep, nil
}

func (f *fakeOps) wait(ctx context.Context, p ops.Progress) error {
	f.mu.Lock()
	err := f.fail
	f.fail = nil
	f.mu.Unlock()
	if err != nil {
		return err
	}
	p.Expect(100)
	p.Add(40)
	select {
	case <-f.release:
		p.Add(60)
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (f *fakeOps) Rebuild(ctx context.Context, name string, o ops.RebuildOptions) (ops.RebuildResult, error) {
	f.mu.Lock()
	f.rebuilds = append(f.rebuilds, o)
	f.mu.Unlock()
	if err := f.wait(ctx, o.Progress); err != nil {
		return ops.RebuildResult{Projection: name, Applied: 40}, err
	}
	return ops.RebuildResult{Projection: name, Applied: 100}, nil
}

func (f *fakeOps) Verify(ctx context.Context, name string, o ops.VerifyOptions) (ops.VerifyResult, error) {
	f.mu.Lock()
	f.verifies = append(f.verifies, o)
	f.mu.Unlock()
	if err := f.wait(ctx, o.Progress); err != nil {
		return ops.VerifyResult{Projection: name}, err
	}
	return ops.VerifyResult{Projection: name, Tables: []ops.TableDiff{{Table: "messages", Rows: 2, Examples: []string{"live: {}"}}}, DifferingRows: 2, Replayed: 100}, nil
}

// jobOf is the job an answer carries.
func jobOf(t *testing.T, r response) frame {
	t.Helper()
	j, ok := r.body["job"].(map[string]any)
	if !ok {
		t.Fatalf("no job in %s", r.raw)
	}
	return frame(j)
}

// waitJob polls a job until it leaves state running.
func (e *env) waitJob(tok, id string) frame {
	e.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		j := jobOf(e.t.(*testing.T), e.mustDo(http.StatusOK, "GET", "/api/v1/admin/jobs/"+id, tok, nil))
		if j.str("state") != admin.JobRunning {
			return j
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("job %s still running", id)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestAdminOperationsAreForAdmins(t *testing.T) {
	f := newFakeOps()
	e := newEnvWith(t, nil, func(d *Deps) { d.Admins, d.Operations = []string{"root"}, ops.NewAdmin(f) })
	bobTok, _ := e.user("bob")
	id := uuid.NewString()
	routes := [][2]string{
		{"GET", "/api/v1/admin/events"},
		{"GET", "/api/v1/admin/events/stats"},
		{"GET", "/api/v1/admin/projections"},
		{"POST", "/api/v1/admin/projections/readmodel/rebuild"},
		{"POST", "/api/v1/admin/projections/readmodel/verify"},
		{"GET", "/api/v1/admin/jobs"},
		{"GET", "/api/v1/admin/jobs/" + id},
		{"DELETE", "/api/v1/admin/jobs/" + id},
	}
	for _, rt := range routes {
		if r := e.do(rt[0], rt[1], bobTok, nil); r.status != http.StatusForbidden || r.errCode() != domain.CodeForbidden {
			t.Errorf("non-admin %s %s: %d %s", rt[0], rt[1], r.status, r.raw)
		}
		if r := e.do(rt[0], rt[1], "", nil); r.status != http.StatusUnauthorized {
			t.Errorf("no token %s %s: %d %s", rt[0], rt[1], r.status, r.raw)
		}
	}
	f.mu.Lock()
	ran := len(f.rebuilds) + len(f.verifies) + len(f.asked) + len(f.queries)
	f.mu.Unlock()
	if ran != 0 {
		t.Fatal("a refused request ran an operation")
	}

	// A gateway without operations says so to an admin.
	e2 := newEnvWith(t, nil, func(d *Deps) { d.Admins = []string{"root"} })
	rootTok, _ := e2.user("root")
	for _, rt := range routes {
		if r := e2.do(rt[0], rt[1], rootTok, nil); r.status != http.StatusServiceUnavailable || r.errCode() != codeUnavailable {
			t.Errorf("no operations %s %s: %d %s", rt[0], rt[1], r.status, r.raw)
		}
	}
}

func TestAdminProjectionStatus(t *testing.T) {
	f := newFakeOps()
	e := newEnvWith(t, nil, func(d *Deps) { d.Admins, d.Operations = []string{"root"}, ops.NewAdmin(f) })
	tok, _ := e.user("root")
	r := e.mustDo(http.StatusOK, "GET", "/api/v1/admin/projections?projection=readmodel,%20search", tok, nil)
	ps, _ := r.body["projections"].([]any)
	if len(ps) != 2 || frame(ps[1].(map[string]any)).str("projection") != "search" {
		t.Fatalf("status: %s", r.raw)
	}
	if o := f.asked[0]; o.LiveWithin != ops.DefaultStatusOptions.LiveWithin || o.ExactUpTo != ops.DefaultStatusOptions.ExactUpTo {
		t.Fatalf("status options %+v", o)
	}
	if r := e.do("GET", "/api/v1/admin/projections?projection=nosuch", tok, nil); r.status != http.StatusNotFound || r.errCode() != codeProjectionNotFound {
		t.Fatalf("unknown projection: %d %s", r.status, r.raw)
	}
}

func TestAdminRebuildJob(t *testing.T) {
	f := newFakeOps()
	e := newEnvWith(t, nil, func(d *Deps) { d.Admins, d.Operations = []string{"Root"}, ops.NewAdmin(f) })
	tok, _ := e.user("root")

	r := e.mustDo(http.StatusAccepted, "POST", "/api/v1/admin/projections/readmodel/rebuild", tok, map[string]any{"restart": true, "batch": 500})
	j := jobOf(t, r)
	id := j.str("id")
	if j.str("kind") != "rebuild" || j.str("projection") != "readmodel" || j.str("state") != admin.JobRunning || j.str("started_by") != "root" || j["finished_at"] != nil {
		t.Fatalf("started job: %s", r.raw)
	}
	// While it runs: its progress shows, and a second job on the projection is refused.
	deadline := time.Now().Add(5 * time.Second)
	for {
		p := jobOf(t, e.mustDo(http.StatusOK, "GET", "/api/v1/admin/jobs/"+id, tok, nil)).obj("progress")
		if p["done"] == float64(40) && p["total"] == float64(100) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("progress never showed: %v", p)
		}
		time.Sleep(5 * time.Millisecond)
	}
	for _, path := range []string{"/api/v1/admin/projections/readmodel/rebuild", "/api/v1/admin/projections/readmodel/verify"} {
		if r := e.do("POST", path, tok, nil); r.status != http.StatusConflict || r.errCode() != codeOperationInProgress || !strings.Contains(r.raw, id) {
			t.Fatalf("second job while one runs: %d %s", r.status, r.raw)
		}
	}
	// Another projection may be rebuilt meanwhile.
	other := jobOf(t, e.mustDo(http.StatusAccepted, "POST", "/api/v1/admin/projections/search/rebuild", tok, nil)).str("id")

	close(f.release)
	done := e.waitJob(tok, id)
	if done.str("state") != admin.JobSucceeded || done["finished_at"] == nil || done.obj("result")["events_applied"] != float64(100) || done["error"] != nil {
		t.Fatalf("finished job: %v", done)
	}
	f.mu.Lock()
	o := f.rebuilds[0]
	f.mu.Unlock()
	if !o.Restart || o.Drop || o.Batch != 500 {
		t.Fatalf("rebuild options %+v", o)
	}
	e.waitJob(tok, other)

	// Newest first.
	l := e.mustDo(http.StatusOK, "GET", "/api/v1/admin/jobs", tok, nil)
	js, _ := l.body["jobs"].([]any)
	if len(js) != 2 || frame(js[0].(map[string]any)).str("id") != other || frame(js[1].(map[string]any)).str("id") != id {
		t.Fatalf("jobs: %s", l.raw)
	}
	// Cancelling a finished job changes nothing.
	if r := e.mustDo(http.StatusOK, "DELETE", "/api/v1/admin/jobs/"+id, tok, nil); jobOf(t, r).str("state") != admin.JobSucceeded {
		t.Fatalf("cancel of a finished job: %s", r.raw)
	}
}

func TestAdminJobCancelFailAndVerify(t *testing.T) {
	f := newFakeOps()
	e := newEnvWith(t, nil, func(d *Deps) { d.Admins, d.Operations = []string{"root"}, ops.NewAdmin(f) })
	tok, _ := e.user("root")

	// Cancel: the job ends canceled with what it had done.
	id := jobOf(t, e.mustDo(http.StatusAccepted, "POST", "/api/v1/admin/projections/notifications/rebuild", tok, nil)).str("id")
	if r := e.mustDo(http.StatusAccepted, "DELETE", "/api/v1/admin/jobs/"+id, tok, nil); jobOf(t, r).str("id") != id {
		t.Fatalf("cancel: %s", r.raw)
	}
	j := e.waitJob(tok, id)
	if j.str("state") != admin.JobCanceled || j.obj("result")["events_applied"] != float64(40) || j.obj("error")["code"] != codeUnavailable {
		t.Fatalf("canceled job: %v", j)
	}

	// Another process holding the projection: the job fails with operation_in_progress.
	f.mu.Lock()
	f.fail = fmt.Errorf("%w: a rebuild or verify of readmodel is already running", ops.ErrBusy)
	f.mu.Unlock()
	j = e.waitJob(tok, jobOf(t, e.mustDo(http.StatusAccepted, "POST", "/api/v1/admin/projections/readmodel/verify", tok, nil)).str("id"))
	if j.str("state") != admin.JobFailed || j.obj("error")["code"] != codeOperationInProgress {
		t.Fatalf("busy job: %v", j)
	}

	// Verify: examples default to 5 and may be 0; the result carries the differences.
	close(f.release)
	e.waitJob(tok, jobOf(t, e.mustDo(http.StatusAccepted, "POST", "/api/v1/admin/projections/readmodel/verify", tok, nil)).str("id"))
	j = e.waitJob(tok, jobOf(t, e.mustDo(http.StatusAccepted, "POST", "/api/v1/admin/projections/search/verify", tok, map[string]any{"examples": 0})).str("id"))
	f.mu.Lock()
	verifies := f.verifies
	f.mu.Unlock()
	if verifies[1].Examples != 5 || verifies[2].Examples != 0 {
		t.Fatalf("verify examples: %+v", verifies)
	}
	res := j.obj("result")
	if j.str("state") != admin.JobSucceeded || res["differing_rows"] != float64(2) || len(res["tables"].([]any)) != 1 {
		t.Fatalf("verify job: %v", j)
	}

	// Bad requests.
	for _, tc := range []struct {
		method, path string
		body         any
		status       int
		code         string
	}{
		{"POST", "/api/v1/admin/projections/push/rebuild", nil, http.StatusNotFound, codeProjectionNotFound},
		{"POST", "/api/v1/admin/projections/nosuch/verify", nil, http.StatusNotFound, codeProjectionNotFound},
		{"POST", "/api/v1/admin/projections/readmodel/rebuild", map[string]any{"restart": true, "drop": true}, http.StatusBadRequest, domain.CodeValidationFailed},
		{"POST", "/api/v1/admin/projections/readmodel/rebuild", map[string]any{"batch": -1}, http.StatusBadRequest, domain.CodeValidationFailed},
		{"POST", "/api/v1/admin/projections/readmodel/rebuild", "{bad", http.StatusBadRequest, domain.CodeValidationFailed},
		{"POST", "/api/v1/admin/projections/readmodel/verify", map[string]any{"examples": 101}, http.StatusBadRequest, domain.CodeValidationFailed},
		{"GET", "/api/v1/admin/jobs/not-a-uuid", nil, http.StatusBadRequest, domain.CodeValidationFailed},
		{"GET", "/api/v1/admin/jobs/" + uuid.NewString(), nil, http.StatusNotFound, codeJobNotFound},
		{"DELETE", "/api/v1/admin/jobs/" + uuid.NewString(), nil, http.StatusNotFound, codeJobNotFound},
	} {
		if r := e.do(tc.method, tc.path, tok, tc.body); r.status != tc.status || r.errCode() != tc.code {
			t.Errorf("%s %s %v: %d %s, want %d %s", tc.method, tc.path, tc.body, r.status, r.raw, tc.status, tc.code)
		}
	}
}

// Shutting the gateway down interrupts a running job: it ends canceled.
func TestAdminJobsEndAtShutdown(t *testing.T) {
	f := newFakeOps()
	e := newEnvWith(t, nil, func(d *Deps) { d.Admins, d.Operations = []string{"root"}, ops.NewAdmin(f) })
	tok, _ := e.user("root")
	id := uuid.MustParse(jobOf(t, e.mustDo(http.StatusAccepted, "POST", "/api/v1/admin/projections/readmodel/rebuild", tok, nil)).str("id"))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	e.gw.Shutdown(ctx)
	if v, _ := e.gw.ops.queue.Get(id); v.State != admin.JobCanceled || v.FinishedAt == nil {
		t.Fatalf("job after shutdown: %+v", v)
	}
}

func (f *fakeOps) Replay(ctx context.Context, q ops.EventQuery, format string, follow bool, caughtUp func() error, w io.Writer) (ops.ReplayStats, error) {
	f.mu.Lock()
	f.queries = append(f.queries, q)
	fail := f.fail
	f.fail = nil
	f.mu.Unlock()
	if slices.Contains(q.Topics, "nope") {
		return ops.ReplayStats{}, kafka.TopicNotFoundError{Topic: "nope"}
	}
	if format == ops.FormatCSV {
		if _, err := io.WriteString(w, ops.CSVHeader); err != nil {
			return ops.ReplayStats{}, err
		}
	}
	for i := range 3 {
		if _, err := fmt.Fprintf(w, "{\"n\":%d}\n", i); err != nil {
			return ops.ReplayStats{}, err
		}
		if fail != nil && i == 1 {
			return ops.ReplayStats{}, fail
		}
	}
	if follow {
		// Caught up: what was written must reach the client now, and the replay goes on until
		// the client goes away.
		if err := caughtUp(); err != nil {
			return ops.ReplayStats{}, err
		}
		<-ctx.Done()
	}
	return ops.ReplayStats{Delivered: 3}, nil
}

func (f *fakeOps) EventStats(_ context.Context, q ops.EventQuery) (ops.EventStats, error) {
	f.mu.Lock()
	f.queries = append(f.queries, q)
	f.mu.Unlock()
	return ops.EventStats{Topics: q.Topics, Events: 7, ByType: map[string]int64{"MessageSent": 7}}, nil
}

func TestAdminEventReplayAndStats(t *testing.T) {
	f := newFakeOps()
	e := newEnvWith(t, nil, func(d *Deps) { d.Admins, d.Operations = []string{"root"}, ops.NewAdmin(f) })
	tok, _ := e.user("root")
	bobTok, _ := e.user("bob")
	room := uuid.New()

	get := func(path, token string) (*http.Response, string) {
		t.Helper()
		req, _ := http.NewRequest("GET", e.srv.URL+path, nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return nil, err.Error()
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			return resp, "read error: " + err.Error()
		}
		return resp, string(b)
	}
	resp, body := get("/api/v1/admin/events?type=MessageSent,RoomCreated&room="+room.String()+"&from=2026-01-01&to=offset:9", tok)
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/x-ndjson" || body != "{\"n\":0}\n{\"n\":1}\n{\"n\":2}\n" {
		t.Fatalf("replay: %d %s %q", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	f.mu.Lock()
	q := f.queries[0]
	f.mu.Unlock()
	if !slices.Equal(q.Topics, ops.DefaultEventTopics) || !slices.Equal(q.Types, []string{"MessageSent", "RoomCreated"}) || q.Room != room.String() || q.From.String() == "" || q.To.String() != "offset:9" {
		t.Fatalf("query %+v", q)
	}
	resp, body = get("/api/v1/admin/events?format=csv&topic=user-events", tok)
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/csv") || !strings.HasPrefix(body, ops.CSVHeader) {
		t.Fatalf("csv replay: %d %q", resp.StatusCode, body)
	}
	// A failure after the first bytes leaves the response without its end: never a whole-looking
	// partial replay.
	f.mu.Lock()
	f.fail = errors.New("broker went away")
	f.mu.Unlock()
	if _, body = get("/api/v1/admin/events", tok); !strings.HasPrefix(body, "read error:") {
		t.Fatalf("a replay cut off mid-way read as complete: %q", body)
	}

	for _, tc := range []struct {
		path   string
		status int
		code   string
	}{
		{"/api/v1/admin/events?from=yesterday", http.StatusBadRequest, domain.CodeValidationFailed},
		{"/api/v1/admin/events?from=2026-01-02&to=2026-01-01", http.StatusBadRequest, domain.CodeValidationFailed},
		{"/api/v1/admin/events?room=not-a-uuid", http.StatusBadRequest, domain.CodeValidationFailed},
		{"/api/v1/admin/events?format=xml", http.StatusBadRequest, domain.CodeValidationFailed},
		{"/api/v1/admin/events?topic=nope", http.StatusNotFound, codeNotFound},
		{"/api/v1/admin/events/stats?to=offset:-1", http.StatusBadRequest, domain.CodeValidationFailed},
	} {
		if r := e.do("GET", tc.path, tok, nil); r.status != tc.status || r.errCode() != tc.code {
			t.Errorf("%s: %d %s, want %d %s", tc.path, r.status, r.raw, tc.status, tc.code)
		}
	}

	// Following: the lines come as soon as the replay has caught up, before the response ends;
	// the client leaving ends it.
	fctx, fcancel := context.WithCancel(context.Background())
	freq, _ := http.NewRequestWithContext(fctx, "GET", e.srv.URL+"/api/v1/admin/events?follow=true", nil)
	freq.Header.Set("Authorization", "Bearer "+tok)
	fresp, err := http.DefaultClient.Do(freq)
	if err != nil {
		t.Fatal(err)
	}
	lines := bufio.NewScanner(fresp.Body)
	for i := range 3 {
		if !lines.Scan() || lines.Text() != fmt.Sprintf("{\"n\":%d}", i) {
			t.Fatalf("followed line %d: %q, %v", i, lines.Text(), lines.Err())
		}
	}
	fcancel()
	fresp.Body.Close()
	for _, bad := range []string{"?follow=yes", "?follow=true&to=offset:5"} {
		if r := e.do("GET", "/api/v1/admin/events"+bad, tok, nil); r.status != http.StatusBadRequest || r.errCode() != domain.CodeValidationFailed {
			t.Errorf("%s: %d %s", bad, r.status, r.raw)
		}
	}

	r := e.mustDo(http.StatusOK, "GET", "/api/v1/admin/events/stats?topic=chat-events", tok, nil)
	if r.body["events"] != float64(7) || r.body["by_type"].(map[string]any)["MessageSent"] != float64(7) {
		t.Fatalf("stats: %s", r.raw)
	}
	for _, path := range []string{"/api/v1/admin/events", "/api/v1/admin/events/stats"} {
		if r := e.do("GET", path, bobTok, nil); r.status != http.StatusForbidden || r.errCode() != domain.CodeForbidden {
			t.Errorf("non-admin %s: %d %s", path, r.status, r.raw)
		}
	}
}

// A followed replay ends when the gateway shuts down, not only when its client leaves.
func TestAdminFollowedReplayEndsAtShutdown(t *testing.T) {
	e := newEnvWith(t, nil, func(d *Deps) { d.Admins, d.Operations = []string{"root"}, ops.NewAdmin(newFakeOps()) })
	tok, _ := e.user("root")
	req, _ := http.NewRequest("GET", e.srv.URL+"/api/v1/admin/events?follow=true", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	done := make(chan error, 1)
	go func() {
		_, err := io.ReadAll(resp.Body)
		done <- err
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	e.gw.Shutdown(ctx)
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("a followed replay outlived the gateway's shutdown")
	}
}

// Every job leaves an audit line when it starts and when it ends (who, what, how it went), and
// every read of the event log one line.
func TestAdminJobsAreLogged(t *testing.T) {
	f := newFakeOps()
	close(f.release)
	var buf syncBuffer
	e := newEnvWith(t, nil, func(d *Deps) {
		d.Admins, d.Operations = []string{"root"}, ops.NewAdmin(f)
		d.Logger = slog.New(slog.NewJSONHandler(&buf, nil))
	})
	tok, _ := e.user("root")
	id := jobOf(t, e.mustDo(http.StatusAccepted, "POST", "/api/v1/admin/projections/search/rebuild", tok, nil)).str("id")
	e.waitJob(tok, id)
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(buf.String(), `"msg":"admin job ended"`) {
		if time.Now().After(deadline) {
			t.Fatalf("no end line: %s", buf.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
	e.mustDo(http.StatusOK, "GET", "/api/v1/admin/events/stats?type=MessageSent", tok, nil)
	for _, want := range []string{`"msg":"admin reads the event log"`, `"query":"type=MessageSent"`, `"admin":"root"`, `"msg":"admin job started"`, `"started_by":"root"`, `"kind":"rebuild"`, `"projection":"search"`, `"state":"succeeded"`, `"job":"` + id + `"`} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("log lacks %s:\n%s", want, buf.String())
		}
	}
}

// syncBuffer is a bytes.Buffer safe for a writer and a reader in different goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
