package gateway

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"github.com/chorus-chat/chorus/adapters/ops/admin"
	"github.com/chorus-chat/chorus/domain"
)

// Operations is what the admin endpoints under /api/v1/admin/events, /admin/projections and
// /admin/jobs run: package ops over the deployment's database and Kafka (ops.Admin), as
// chorusctl runs it, in package admin's terms. Results are shown as they are (JSON).
type Operations interface {
	// CheckEventQuery tells whether q can be run (an error wrapping admin.ErrInvalidQuery if
	// not) and whether it has an end.
	CheckEventQuery(q admin.EventQuery) (ends bool, err error)
	Replay(ctx context.Context, q admin.EventQuery, format string, follow bool, caughtUp func() error, w io.Writer) error
	EventStats(ctx context.Context, q admin.EventQuery) (any, error)
	// Status is the status of the projections named (none: every one).
	Status(ctx context.Context, projections []string) (any, error)
	Rebuild(ctx context.Context, projection string, r admin.RebuildRequest, p admin.Progress) (any, error)
	Verify(ctx context.Context, projection string, r admin.VerifyRequest, p admin.Progress) (any, error)
	// Rebuildable are the projections Rebuild and Verify take.
	Rebuildable() []string
}

// Error codes of the admin operations.
const (
	codeProjectionNotFound = "projection_not_found"
	codeJobNotFound        = "job_not_found"
	// codeOperationInProgress: a rebuild or verify of the projection is running already.
	codeOperationInProgress = "operation_in_progress"
)

// newJobs serves the admin operations with o. Jobs run on until they end or Shutdown interrupts
// them (a rebuild interrupted leaves the live projection untouched and resumes on the next run).
func newJobs(o Operations, log *slog.Logger) *jobs {
	log = log.With("component", "admin-jobs")
	return &jobs{run: o, log: log, queue: admin.NewJobs(log, jobFailure)}
}

// jobs are the admin operations this gateway serves and the rebuilds and verifies it started
// (admin.Jobs).
type jobs struct {
	run   Operations
	log   *slog.Logger // an audit line when an admin reads the event log
	queue *admin.Jobs
}

// jobFailure is why a job failed or stopped, as its view shows it.
func jobFailure(err error, canceled bool) admin.Failure {
	if canceled {
		return admin.Failure{Code: codeUnavailable, Message: "canceled: " + err.Error()}
	}
	var ae *apiError
	if errors.As(opsError(err), &ae) {
		return admin.Failure{Code: ae.Code, Message: ae.Message}
	}
	return admin.Failure{Code: codeInternal, Message: err.Error()}
}

// shutdown interrupts the running jobs and waits for them to unwind (or ctx to end).
func (js *jobs) shutdown(ctx context.Context) { js.queue.Shutdown(ctx) }

// requireAdmin answers 403 unless the caller is one of the server's admins; it returns the
// caller's id and username.
func (g *Gateway) requireAdmin(c echo.Context, what string) (uuid.UUID, string, error) {
	actor := currentUser(c)
	name, err := g.actorName(c.Request().Context(), actor)
	if err != nil {
		return uuid.Nil, "", err
	}
	if !g.queries.IsAdminName(name) {
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
func (g *Gateway) eventQuery(c echo.Context) (*jobs, admin.EventQuery, bool, error) {
	js, adminName, err := g.opsOf(c)
	if err != nil {
		return nil, admin.EventQuery{}, false, err
	}
	// Reading the log is reading everyone's messages: it leaves an audit line.
	js.log.Info("admin reads the event log", "path", c.Path(), "query", c.QueryString(), "admin", adminName)
	list := func(name string) []string {
		var out []string
		for _, v := range c.QueryParams()[name] {
			out = append(out, strings.Split(v, ",")...)
		}
		return out
	}
	q := admin.EventQuery{Topics: list("topic"), From: c.QueryParam("from"), To: c.QueryParam("to"),
		Types: list("type"), Room: c.QueryParam("room"), User: c.QueryParam("user")}
	ends, err := js.run.CheckEventQuery(q)
	if err != nil {
		return nil, q, false, errValidation("%s", strings.TrimPrefix(err.Error(), admin.ErrInvalidQuery.Error()+": "))
	}
	return js, q, ends, nil
}

// replayEvents: GET /admin/events: chorusctl events replay, streamed: JSON lines (the
// contract's envelopes, secrets removed) or CSV, in event time order. A failure after the first
// bytes cuts the response off (it has no end then), so a client never takes a partial replay for
// a whole one. With follow=true it goes on with the events committed afterwards (sent as soon as
// the replay has caught up with them) until the client goes away.
func (g *Gateway) replayEvents(c echo.Context) error {
	js, q, ends, err := g.eventQuery(c)
	if err != nil {
		return err
	}
	format := c.QueryParam("format")
	if format == "" {
		format = admin.FormatJSONL
	}
	contentType := map[string]string{admin.FormatJSONL: "application/x-ndjson", admin.FormatCSV: "text/csv; charset=utf-8"}[format]
	if contentType == "" {
		return errValidation("format must be jsonl or csv")
	}
	var follow bool
	switch c.QueryParam("follow") {
	case "", "false":
	case "true":
		if ends {
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
	defer context.AfterFunc(js.queue.Context(), cancel)()
	err = js.run.Replay(ctx, q, format, follow, caughtUp, w)
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
	js, q, _, err := g.eventQuery(c)
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
	var names []string
	for _, p := range strings.Split(c.QueryParam("projection"), ",") {
		if p = strings.TrimSpace(p); p != "" {
			names = append(names, p)
		}
	}
	rep, err := js.run.Status(c.Request().Context(), names)
	if err != nil {
		return opsError(err)
	}
	return c.JSON(http.StatusOK, rep)
}

// opsError gives the admin operations' errors their codes.
func opsError(err error) error {
	switch {
	case errors.Is(err, admin.ErrUnknownProjection):
		return newError(codeProjectionNotFound, "%s", err.Error())
	case errors.Is(err, admin.ErrBusy):
		return newError(codeOperationInProgress, "%s", err.Error())
	case errors.Is(err, admin.ErrNotMigrated):
		return newError(codeUnavailable, "%s", err.Error())
	case errors.Is(err, admin.ErrInvalidQuery):
		return errValidation("%s", strings.TrimPrefix(err.Error(), admin.ErrInvalidQuery.Error()+": "))
	}
	var nf admin.NotFoundError
	if errors.As(err, &nf) {
		return newError(codeNotFound, "%s", nf.Error())
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
	js, adminName, err := g.jobRequest(c, &req)
	if err != nil {
		return err
	}
	if req.Restart && req.Drop {
		return errValidation("restart and drop exclude each other")
	}
	name := c.Param("name")
	return js.start(c, "rebuild", name, adminName, func(ctx context.Context, p admin.Progress) (any, error) {
		return js.run.Rebuild(ctx, name, admin.RebuildRequest{Restart: req.Restart, Drop: req.Drop, Batch: req.Batch}, p)
	})
}

// startVerify: POST /admin/projections/{name}/verify: chorusctl projections verify, as a job.
func (g *Gateway) startVerify(c echo.Context) error {
	var req verifyRequest
	js, adminName, err := g.jobRequest(c, &req)
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
	return js.start(c, "verify", name, adminName, func(ctx context.Context, p admin.Progress) (any, error) {
		return js.run.Verify(ctx, name, admin.VerifyRequest{Examples: examples, Batch: req.Batch}, p)
	})
}

// maxOpsBatch bounds the events per transaction an admin may ask for.
const maxOpsBatch = 50_000

// start checks the projection, refuses a second job on it, and runs work in the background.
func (js *jobs) start(c echo.Context, kind, name, adminName string, work func(context.Context, admin.Progress) (any, error)) error {
	if names := js.run.Rebuildable(); !slices.Contains(names, name) {
		return newError(codeProjectionNotFound, "projection %q cannot be rebuilt: only %s can", name, strings.Join(names, ", "))
	}
	v, err := js.queue.Start(kind, name, adminName, work)
	var running *admin.RunningError
	if errors.As(err, &running) {
		o := running.Job
		return newError(codeOperationInProgress, "job %s (%s of %s) is running: wait for it or cancel it (DELETE /api/v1/admin/jobs/%s)", o.ID, o.Kind, name, o.ID)
	}
	if err != nil {
		return err
	}
	c.Response().Header().Set(echo.HeaderLocation, "/api/v1/admin/jobs/"+v.ID.String())
	return c.JSON(http.StatusAccepted, map[string]any{"job": v})
}

// listJobs: GET /admin/jobs: this gateway's jobs, newest first.
func (g *Gateway) listJobs(c echo.Context) error {
	js, _, err := g.opsOf(c)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"jobs": js.queue.List()})
}

// jobID reads the job id of the path.
func jobID(c echo.Context) (uuid.UUID, error) {
	id, err := uuid.Parse(c.Param("id"))
	if err != nil {
		return id, errValidation("job id must be a UUID")
	}
	return id, nil
}

func errJobNotFound(id uuid.UUID) error {
	return newError(codeJobNotFound, "no job %s on this gateway (jobs live in the gateway that started them)", id)
}

// getJob: GET /admin/jobs/{id}.
func (g *Gateway) getJob(c echo.Context) error {
	js, _, err := g.opsOf(c)
	if err != nil {
		return err
	}
	id, err := jobID(c)
	if err != nil {
		return err
	}
	v, ok := js.queue.Get(id)
	if !ok {
		return errJobNotFound(id)
	}
	return c.JSON(http.StatusOK, map[string]any{"job": v})
}

// cancelJob: DELETE /admin/jobs/{id}: interrupts a running job (a rebuild stays resumable) and
// answers 202 with the job, which ends canceled shortly after; a finished job answers 200 as
// it is.
func (g *Gateway) cancelJob(c echo.Context) error {
	js, _, err := g.opsOf(c)
	if err != nil {
		return err
	}
	id, err := jobID(c)
	if err != nil {
		return err
	}
	v, running, ok := js.queue.Cancel(id)
	switch {
	case !ok:
		return errJobNotFound(id)
	case !running:
		return c.JSON(http.StatusOK, map[string]any{"job": v})
	}
	return c.JSON(http.StatusAccepted, map[string]any{"job": v})
}
