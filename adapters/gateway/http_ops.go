package gateway

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"github.com/chorus-chat/chorus/adapters/kafka"
	"github.com/chorus-chat/chorus/adapters/ops"
	"github.com/chorus-chat/chorus/domain"
)

// Operations is what the admin endpoints under /api/v1/admin/events, /admin/projections and
// /admin/jobs run: package ops over the deployment's database and Kafka (ops.Runner), as
// chorusctl runs it.
type Operations interface {
	Replay(ctx context.Context, q ops.EventQuery, format string, follow bool, caughtUp func() error, w io.Writer) (kafka.ReplayStats, error)
	EventStats(ctx context.Context, q ops.EventQuery) (ops.EventStats, error)
	Status(ctx context.Context, o ops.StatusOptions) (ops.StatusReport, error)
	Rebuild(ctx context.Context, projection string, o ops.RebuildOptions) (ops.RebuildResult, error)
	Verify(ctx context.Context, projection string, o ops.VerifyOptions) (ops.VerifyResult, error)
}

// Error codes of the admin operations.
const (
	codeProjectionNotFound = "projection_not_found"
	codeJobNotFound        = "job_not_found"
	// codeOperationInProgress: a rebuild or verify of the projection is running already.
	codeOperationInProgress = "operation_in_progress"
)

// newJobs runs the admin operations with o. Jobs run on until they end or Shutdown interrupts
// them.
func newJobs(o Operations, log *slog.Logger) *jobs {
	ctx, cancel := context.WithCancel(context.Background())
	return &jobs{run: o, ctx: ctx, cancel: cancel, byID: map[uuid.UUID]*job{}, log: log.With("component", "admin-jobs")}
}

// jobs are the rebuilds and verifies this gateway started, newest last. They live in this
// process only: another gateway does not know them (the projection status, which reads the
// database, shows a rebuild wherever it runs).
type jobs struct {
	run    Operations
	log    *slog.Logger    // an audit line when a job starts and ends
	ctx    context.Context // ended by Shutdown
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu    sync.Mutex
	byID  map[uuid.UUID]*job
	order []*job
}

// maxFinishedJobs bounds the finished jobs kept for GET /admin/jobs.
const maxFinishedJobs = 100

// Job states.
const (
	jobRunning   = "running"
	jobSucceeded = "succeeded"
	jobFailed    = "failed"
	jobCanceled  = "canceled"
)

// job is one rebuild or verify.
type job struct {
	ID         uuid.UUID
	Kind       string // rebuild, verify
	Projection string
	StartedBy  string
	StartedAt  time.Time

	done, total atomic.Int64
	cancel      context.CancelFunc

	mu         sync.Mutex
	state      string
	finishedAt *time.Time
	result     any
	err        *apiError
	canceled   bool
}

func (j *job) Expect(n int64) { j.total.Add(n) }
func (j *job) Add(n int64)    { j.done.Add(n) }

// jobView is a job as the API shows it.
type jobView struct {
	ID         uuid.UUID   `json:"id"`
	Kind       string      `json:"kind"`
	Projection string      `json:"projection"`
	State      string      `json:"state"`
	StartedBy  string      `json:"started_by"`
	StartedAt  time.Time   `json:"started_at"`
	FinishedAt *time.Time  `json:"finished_at"`
	Progress   jobProgress `json:"progress"`
	Result     any         `json:"result"`
	Error      *jobError   `json:"error"`
}

// jobError is why a job failed or stopped: a contract code and, admins being who they are,
// the whole message.
type jobError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

type jobProgress struct {
	// Done and Total count log offsets (transaction markers included) applied and to apply.
	Done  int64 `json:"done"`
	Total int64 `json:"total"`
}

func (j *job) view() jobView {
	j.mu.Lock()
	defer j.mu.Unlock()
	v := jobView{ID: j.ID, Kind: j.Kind, Projection: j.Projection, State: j.state, StartedBy: j.StartedBy, StartedAt: j.StartedAt,
		FinishedAt: j.finishedAt, Progress: jobProgress{Done: j.done.Load(), Total: j.total.Load()}, Result: j.result}
	if j.err != nil {
		v.Error = &jobError{Code: j.err.Code, Message: j.err.Message}
	}
	return v
}

// requireAdmin answers 403 unless the caller is one of the server's admins; it returns the
// caller's id and username.
func (g *Gateway) requireAdmin(c echo.Context, what string) (uuid.UUID, string, error) {
	actor := currentUser(c)
	name, err := g.actorName(c.Request().Context(), actor)
	if err != nil {
		return uuid.Nil, "", err
	}
	if !g.admins[strings.ToLower(name)] {
		return uuid.Nil, "", newError(domain.CodeForbidden, "only the server's admins can %s", what)
	}
	return actor, name, nil
}

// opsOf checks the caller and that operations are served.
func (g *Gateway) opsOf(c echo.Context) (*jobs, string, error) {
	_, name, err := g.requireAdmin(c, "run operations on the projections")
	if err != nil {
		return nil, "", err
	}
	if g.ops == nil {
		return nil, "", newError(codeUnavailable, "this gateway does not run operations (it has no database or Kafka for them)")
	}
	return g.ops, name, nil
}

// eventQuery checks the caller (opsOf), logs the read, and reads an event query from the query
// string: topic, from, to, type, room, user (topic and type repeatable or comma-separated, as
// chorusctl's flags).
func (g *Gateway) eventQuery(c echo.Context) (*jobs, ops.EventQuery, error) {
	js, admin, err := g.opsOf(c)
	if err != nil {
		return nil, ops.EventQuery{}, err
	}
	// Reading the log is reading everyone's messages: it leaves an audit line.
	js.log.Info("admin reads the event log", "path", c.Path(), "query", c.QueryString(), "admin", admin)
	list := func(name string) []string {
		var out []string
		for _, v := range c.QueryParams()[name] {
			out = append(out, strings.Split(v, ",")...)
		}
		return out
	}
	q, err := ops.NewEventQuery(ops.EventQuerySpec{Topics: list("topic"), From: c.QueryParam("from"), To: c.QueryParam("to"),
		Types: list("type"), Room: c.QueryParam("room"), User: c.QueryParam("user")}, nil)
	if err != nil {
		return nil, q, errValidation("%s", strings.TrimPrefix(err.Error(), ops.ErrInvalidQuery.Error()+": "))
	}
	return js, q, nil
}

// replayEvents: GET /admin/events: chorusctl events replay, streamed: JSON lines (the
// contract's envelopes, secrets removed) or CSV, in event time order. A failure after the first
// bytes cuts the response off (it has no end then), so a client never takes a partial replay for
// a whole one. With follow=true it goes on with the events committed afterwards (sent as soon as
// the replay has caught up with them) until the client goes away.
func (g *Gateway) replayEvents(c echo.Context) error {
	js, q, err := g.eventQuery(c)
	if err != nil {
		return err
	}
	format := c.QueryParam("format")
	if format == "" {
		format = ops.FormatJSONL
	}
	contentType := map[string]string{ops.FormatJSONL: "application/x-ndjson", ops.FormatCSV: "text/csv; charset=utf-8"}[format]
	if contentType == "" {
		return errValidation("format must be jsonl or csv")
	}
	var follow bool
	switch c.QueryParam("follow") {
	case "", "false":
	case "true":
		if !q.To.IsZero() {
			return errValidation("follow and to exclude each other")
		}
		follow = true
	default:
		return errValidation("follow must be true or false")
	}
	w := &lazyStream{c: c, contentType: contentType, wait: g.cfg.WriteTimeout}
	caughtUp := func() error {
		if !w.started {
			w.start() // a followed replay with nothing yet still answers at once
		}
		w.extend()
		w.c.Response().Flush()
		return nil
	}
	// A followed replay also ends when the gateway shuts down (the HTTP server would wait for
	// it until its deadline).
	ctx, cancel := context.WithCancel(c.Request().Context())
	defer cancel()
	defer context.AfterFunc(js.ctx, cancel)()
	_, err = js.run.Replay(ctx, q, format, follow, caughtUp, w)
	// A replay that matched little may have run for long since its last write: the end of the
	// response (or its error) needs a deadline of its own.
	w.extend()
	if err != nil {
		if !w.started {
			return opsError(err)
		}
		g.log.Warn("event replay cut off", "err", err)
		panic(http.ErrAbortHandler)
	}
	if !w.started {
		w.start()
	}
	return nil
}

// lazyStream sends the status and headers with the first bytes, so that an error before any
// event (a topic that does not exist, say) still gets a proper error answer.
type lazyStream struct {
	c           echo.Context
	contentType string
	started     bool
	// wait is how long one write may take (Config.WriteTimeout).
	wait time.Duration
}

// extend moves the connection's write deadline, which the HTTP server set for the whole
// response, to wait from now: the stream may last longer than any one response should, but each
// write still has to get through (the server's read deadline is no concern: it is lifted once
// the handler runs).
func (w *lazyStream) extend() {
	_ = http.NewResponseController(w.c.Response()).SetWriteDeadline(time.Now().Add(w.wait))
}

func (w *lazyStream) start() {
	w.started = true
	h := w.c.Response().Header()
	h.Set(echo.HeaderContentType, w.contentType)
	h.Set("Cache-Control", "no-store")
	w.c.Response().WriteHeader(http.StatusOK)
}

func (w *lazyStream) Write(p []byte) (int, error) {
	w.extend()
	if w.started {
		return w.c.Response().Write(p)
	}
	w.start()
	n, err := w.c.Response().Write(p)
	if err == nil {
		// The first events go out at once: the client sees the replay has begun (and, should it
		// be cut off later, that it was cut off rather than never answered).
		w.c.Response().Flush()
	}
	return n, err
}

// eventStats: GET /admin/events/stats: chorusctl events stats.
func (g *Gateway) eventStats(c echo.Context) error {
	js, q, err := g.eventQuery(c)
	if err != nil {
		return err
	}
	st, err := js.run.EventStats(c.Request().Context(), q)
	// Counting a long log can outlast the server's write timeout, which started with the
	// request: the answer gets a deadline of its own.
	_ = http.NewResponseController(c.Response()).SetWriteDeadline(time.Now().Add(g.cfg.WriteTimeout))
	if err != nil {
		return opsError(err)
	}
	return c.JSON(http.StatusOK, st)
}

// projectionStatus: GET /admin/projections[?projection=a,b]: chorusctl projections status.
func (g *Gateway) projectionStatus(c echo.Context) error {
	js, _, err := g.opsOf(c)
	if err != nil {
		return err
	}
	o := ops.DefaultStatusOptions
	for _, p := range strings.Split(c.QueryParam("projection"), ",") {
		if p = strings.TrimSpace(p); p != "" {
			o.Projections = append(o.Projections, p)
		}
	}
	rep, err := js.run.Status(c.Request().Context(), o)
	if err != nil {
		return opsError(err)
	}
	return c.JSON(http.StatusOK, rep)
}

// opsError gives the ops package's errors their codes.
func opsError(err error) error {
	switch {
	case errors.Is(err, ops.ErrUnknownProjection):
		return newError(codeProjectionNotFound, "%s", err.Error())
	case errors.Is(err, ops.ErrBusy):
		return newError(codeOperationInProgress, "%s", err.Error())
	case errors.Is(err, ops.ErrNotMigrated):
		return newError(codeUnavailable, "%s", err.Error())
	case errors.Is(err, ops.ErrInvalidQuery):
		return errValidation("%s", strings.TrimPrefix(err.Error(), ops.ErrInvalidQuery.Error()+": "))
	}
	var nt kafka.TopicNotFoundError
	if errors.As(err, &nt) {
		return newError(codeNotFound, "%s", nt.Error())
	}
	return err
}

// jobBody is what the bodies of the job requests share.
type jobBody struct {
	Batch int `json:"batch"`
}

func (b jobBody) check() error {
	if b.Batch < 0 || b.Batch > maxOpsBatch {
		return errValidation("batch must be between 1 and %d (0: the default)", maxOpsBatch)
	}
	return nil
}

// rebuildRequest is the optional body of POST /admin/projections/{name}/rebuild.
type rebuildRequest struct {
	Restart bool `json:"restart"`
	Drop    bool `json:"drop"`
	jobBody
}

// verifyRequest is the optional body of POST /admin/projections/{name}/verify.
type verifyRequest struct {
	Examples *int `json:"examples"`
	jobBody
}

// jobRequest checks the caller (opsOf) and reads the optional body of a job request into req.
func (g *Gateway) jobRequest(c echo.Context, req interface{ check() error }) (*jobs, string, error) {
	js, admin, err := g.opsOf(c)
	if err != nil {
		return nil, "", err
	}
	if err := readBody(c, req, true); err != nil {
		return nil, "", err
	}
	if err := req.check(); err != nil {
		return nil, "", err
	}
	return js, admin, nil
}

// startRebuild: POST /admin/projections/{name}/rebuild: chorusctl projections rebuild, as a
// job: 202 with the job, to follow at GET /admin/jobs/{id}.
func (g *Gateway) startRebuild(c echo.Context) error {
	var req rebuildRequest
	js, admin, err := g.jobRequest(c, &req)
	if err != nil {
		return err
	}
	if req.Restart && req.Drop {
		return errValidation("restart and drop exclude each other")
	}
	name := c.Param("name")
	return js.start(c, "rebuild", name, admin, func(ctx context.Context, j *job) (any, error) {
		return js.run.Rebuild(ctx, name, ops.RebuildOptions{Restart: req.Restart, Drop: req.Drop, Batch: req.Batch, Progress: j})
	})
}

// startVerify: POST /admin/projections/{name}/verify: chorusctl projections verify, as a job.
func (g *Gateway) startVerify(c echo.Context) error {
	var req verifyRequest
	js, admin, err := g.jobRequest(c, &req)
	if err != nil {
		return err
	}
	examples := 5
	if req.Examples != nil {
		examples = *req.Examples
	}
	if examples < 0 || examples > 100 {
		return errValidation("examples must be between 0 and 100")
	}
	name := c.Param("name")
	return js.start(c, "verify", name, admin, func(ctx context.Context, j *job) (any, error) {
		return js.run.Verify(ctx, name, ops.VerifyOptions{Examples: examples, Batch: req.Batch, Progress: j})
	})
}

// maxOpsBatch bounds the events per transaction an admin may ask for.
const maxOpsBatch = 50_000

// start checks the projection, refuses a second job on it, and runs work in the background.
func (js *jobs) start(c echo.Context, kind, name, admin string, work func(context.Context, *job) (any, error)) error {
	if _, err := ops.SpecOf(name); err != nil {
		return newError(codeProjectionNotFound, "projection %q cannot be rebuilt: only %s can", name, strings.Join(ops.SpecNames(), ", "))
	}
	js.mu.Lock()
	for _, o := range js.order {
		if o.Projection == name && o.view().State == jobRunning {
			js.mu.Unlock()
			return newError(codeOperationInProgress, "job %s (%s of %s) is running: wait for it or cancel it (DELETE /api/v1/admin/jobs/%s)", o.ID, o.Kind, name, o.ID)
		}
	}
	ctx, cancel := context.WithCancel(js.ctx)
	j := &job{ID: uuid.New(), Kind: kind, Projection: name, StartedBy: admin, StartedAt: time.Now().UTC(), state: jobRunning, cancel: cancel}
	js.byID[j.ID] = j
	js.order = append(js.order, j)
	js.prune()
	js.mu.Unlock()

	js.log.Info("admin job started", "job", j.ID, "kind", kind, "projection", name, "started_by", admin)
	js.wg.Add(1)
	go func() {
		defer js.wg.Done()
		defer cancel()
		res, err := work(ctx, j)
		now := time.Now().UTC()
		defer func() {
			v := j.view()
			attrs := []any{"job", j.ID, "kind", kind, "projection", name, "state", v.State, "took", now.Sub(j.StartedAt).String()}
			if v.Error != nil {
				attrs = append(attrs, "code", v.Error.Code, "err", v.Error.Message)
			}
			js.log.Info("admin job ended", attrs...)
		}()
		j.mu.Lock()
		defer j.mu.Unlock()
		j.finishedAt = &now
		switch {
		case err == nil:
			j.state, j.result = jobSucceeded, res
		case j.canceled || js.ctx.Err() != nil:
			// Interrupted, by DELETE or by the gateway shutting down.
			j.state, j.result = jobCanceled, res
			j.err = &apiError{Code: codeUnavailable, Message: "canceled: " + err.Error()}
		default:
			j.state, j.result = jobFailed, res
			var ae *apiError
			if errors.As(opsError(err), &ae) {
				j.err = ae
			} else {
				j.err = &apiError{Code: codeInternal, Message: err.Error()}
			}
		}
	}()
	c.Response().Header().Set(echo.HeaderLocation, "/api/v1/admin/jobs/"+j.ID.String())
	return c.JSON(http.StatusAccepted, map[string]any{"job": j.view()})
}

// prune forgets the oldest finished jobs beyond maxFinishedJobs. Called with mu held.
func (js *jobs) prune() {
	finished := 0
	for _, j := range js.order {
		if j.view().State != jobRunning {
			finished++
		}
	}
	for i := 0; finished > maxFinishedJobs && i < len(js.order); {
		if j := js.order[i]; j.view().State != jobRunning {
			delete(js.byID, j.ID)
			js.order = slices.Delete(js.order, i, i+1)
			finished--
			continue
		}
		i++
	}
}

// listJobs: GET /admin/jobs: this gateway's jobs, newest first.
func (g *Gateway) listJobs(c echo.Context) error {
	js, _, err := g.opsOf(c)
	if err != nil {
		return err
	}
	js.mu.Lock()
	out := make([]jobView, 0, len(js.order))
	for i := len(js.order) - 1; i >= 0; i-- {
		out = append(out, js.order[i].view())
	}
	js.mu.Unlock()
	return c.JSON(http.StatusOK, map[string]any{"jobs": out})
}

func (js *jobs) find(c echo.Context) (*job, error) {
	id, err := uuid.Parse(c.Param("id"))
	if err != nil {
		return nil, errValidation("job id must be a UUID")
	}
	js.mu.Lock()
	defer js.mu.Unlock()
	j, ok := js.byID[id]
	if !ok {
		return nil, newError(codeJobNotFound, "no job %s on this gateway (jobs live in the gateway that started them)", id)
	}
	return j, nil
}

// getJob: GET /admin/jobs/{id}.
func (g *Gateway) getJob(c echo.Context) error {
	js, _, err := g.opsOf(c)
	if err != nil {
		return err
	}
	j, err := js.find(c)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"job": j.view()})
}

// cancelJob: DELETE /admin/jobs/{id}: interrupts a running job (a rebuild stays resumable) and
// answers 202 with the job, which ends canceled shortly after; a finished job answers 200 as
// it is.
func (g *Gateway) cancelJob(c echo.Context) error {
	js, _, err := g.opsOf(c)
	if err != nil {
		return err
	}
	j, err := js.find(c)
	if err != nil {
		return err
	}
	j.mu.Lock()
	running := j.state == jobRunning
	if running {
		j.canceled = true
	}
	j.mu.Unlock()
	if !running {
		return c.JSON(http.StatusOK, map[string]any{"job": j.view()})
	}
	j.cancel()
	return c.JSON(http.StatusAccepted, map[string]any{"job": j.view()})
}

// shutdown interrupts the running jobs and waits for them to unwind (or ctx to end).
func (js *jobs) shutdown(ctx context.Context) {
	js.cancel()
	done := make(chan struct{})
	go func() { js.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
	}
}
