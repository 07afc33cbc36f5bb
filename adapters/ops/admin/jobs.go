package admin

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
)

// Job states.
const (
	JobRunning   = "running"
	JobSucceeded = "succeeded"
	JobFailed    = "failed"
	JobCanceled  = "canceled"
)

// MaxFinishedJobs bounds the finished jobs Jobs keeps.
const MaxFinishedJobs = 100

// Jobs are the rebuilds and verifies one gateway started, newest last. They live in this
// process only: another gateway does not know them (the projection status, which reads the
// database, shows a rebuild wherever it runs). Jobs run on until they end or Shutdown
// interrupts them (a rebuild interrupted leaves the live projection untouched and resumes on
// the next run).
type Jobs struct {
	log *slog.Logger // an audit line when a job starts and ends
	// failure says why a job failed (canceled: interrupted, by Cancel or Shutdown), for its view.
	failure func(err error, canceled bool) Failure
	ctx     context.Context // ended by Shutdown
	cancel  context.CancelFunc
	wg      sync.WaitGroup

	mu    sync.Mutex
	byID  map[uuid.UUID]*job
	order []*job
}

// NewJobs runs jobs that log to log; failure gives a failed job's code and message.
func NewJobs(log *slog.Logger, failure func(err error, canceled bool) Failure) *Jobs {
	ctx, cancel := context.WithCancel(context.Background())
	return &Jobs{log: log, failure: failure, ctx: ctx, cancel: cancel, byID: map[uuid.UUID]*job{}}
}

// Context ends when Shutdown is called: what else should end with the jobs (a followed
// replay) can follow it.
func (js *Jobs) Context() context.Context { return js.ctx }

// View is a job as the API shows it.
type View struct {
	ID         uuid.UUID  `json:"id"`
	Kind       string     `json:"kind"`
	Projection string     `json:"projection"`
	State      string     `json:"state"`
	StartedBy  string     `json:"started_by"`
	StartedAt  time.Time  `json:"started_at"`
	FinishedAt *time.Time `json:"finished_at"`
	Progress   Count      `json:"progress"`
	Result     any        `json:"result"`
	Error      *Failure   `json:"error"`
}

// Failure is why a job failed or stopped: a contract code and, admins being who they are, the
// whole message.
type Failure struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// Count is how far a job is.
type Count struct {
	// Done and Total count log offsets (transaction markers included) applied and to apply.
	Done  int64 `json:"done"`
	Total int64 `json:"total"`
}

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
	err        *Failure
	canceled   bool
}

func (j *job) Expect(n int64) { j.total.Add(n) }
func (j *job) Add(n int64)    { j.done.Add(n) }

func (j *job) view() View {
	j.mu.Lock()
	defer j.mu.Unlock()
	return View{ID: j.ID, Kind: j.Kind, Projection: j.Projection, State: j.state, StartedBy: j.StartedBy, StartedAt: j.StartedAt,
		FinishedAt: j.finishedAt, Progress: Count{Done: j.done.Load(), Total: j.total.Load()}, Result: j.result, Error: j.err}
}

// RunningError: a job of the projection is running already.
type RunningError struct {
	Job View
}

func (e *RunningError) Error() string {
	return fmt.Sprintf("job %s (%s of %s) is running", e.Job.ID, e.Job.Kind, e.Job.Projection)
}

// Start runs work in the background as a job of kind on projection, started by startedBy, and
// returns its view; a *RunningError if a job of the projection is running.
func (js *Jobs) Start(kind, projection, startedBy string, work func(context.Context, Progress) (any, error)) (View, error) {
	js.mu.Lock()
	for _, o := range js.order {
		if o.Projection == projection && o.view().State == JobRunning {
			js.mu.Unlock()
			return View{}, &RunningError{Job: o.view()}
		}
	}
	ctx, cancel := context.WithCancel(js.ctx)
	j := &job{ID: uuid.New(), Kind: kind, Projection: projection, StartedBy: startedBy, StartedAt: time.Now().UTC(), state: JobRunning, cancel: cancel}
	js.byID[j.ID] = j
	js.order = append(js.order, j)
	js.prune()
	js.mu.Unlock()

	js.log.Info("admin job started", "job", j.ID, "kind", kind, "projection", projection, "started_by", startedBy)
	js.wg.Add(1)
	go func() {
		defer js.wg.Done()
		defer cancel()
		res, err := work(ctx, j)
		now := time.Now().UTC()
		defer func() {
			v := j.view()
			attrs := []any{"job", j.ID, "kind", kind, "projection", projection, "state", v.State, "took", now.Sub(j.StartedAt).String()}
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
			j.state, j.result = JobSucceeded, res
		case j.canceled || js.ctx.Err() != nil:
			// Interrupted, by Cancel or by Shutdown.
			j.state, j.result = JobCanceled, res
			f := js.failure(err, true)
			j.err = &f
		default:
			j.state, j.result = JobFailed, res
			f := js.failure(err, false)
			j.err = &f
		}
	}()
	return j.view(), nil
}

// prune forgets the oldest finished jobs beyond MaxFinishedJobs. Called with mu held.
func (js *Jobs) prune() {
	finished := 0
	for _, j := range js.order {
		if j.view().State != JobRunning {
			finished++
		}
	}
	for i := 0; finished > MaxFinishedJobs && i < len(js.order); {
		if j := js.order[i]; j.view().State != JobRunning {
			delete(js.byID, j.ID)
			js.order = slices.Delete(js.order, i, i+1)
			finished--
			continue
		}
		i++
	}
}

// List is the jobs, newest first.
func (js *Jobs) List() []View {
	js.mu.Lock()
	defer js.mu.Unlock()
	out := make([]View, 0, len(js.order))
	for i := len(js.order) - 1; i >= 0; i-- {
		out = append(out, js.order[i].view())
	}
	return out
}

func (js *Jobs) find(id uuid.UUID) (*job, bool) {
	js.mu.Lock()
	defer js.mu.Unlock()
	j, ok := js.byID[id]
	return j, ok
}

// Get is the job id, if this process knows it.
func (js *Jobs) Get(id uuid.UUID) (View, bool) {
	j, ok := js.find(id)
	if !ok {
		return View{}, false
	}
	return j.view(), true
}

// Cancel interrupts job id if it is running (a rebuild stays resumable; the job ends canceled
// shortly after) and returns it; running says whether it was. ok is false if this process does
// not know the job.
func (js *Jobs) Cancel(id uuid.UUID) (v View, running, ok bool) {
	j, ok := js.find(id)
	if !ok {
		return View{}, false, false
	}
	j.mu.Lock()
	running = j.state == JobRunning
	if running {
		j.canceled = true
	}
	j.mu.Unlock()
	if running {
		j.cancel()
	}
	return j.view(), running, true
}

// Shutdown interrupts the running jobs and waits for them to unwind (or ctx to end).
func (js *Jobs) Shutdown(ctx context.Context) {
	js.cancel()
	done := make(chan struct{})
	go func() { js.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
	}
}
