package main

import (
	"io"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	"github.com/chorus-chat/chorus/adapters/ops"
)

// progress is a progress bar on standard error, shown only when it is a terminal: events per
// second and time left, over the offsets between the range's start and end (transaction markers
// count as events here, so the count slightly overstates the events).
type progress struct {
	enabled bool
	w       io.Writer
	desc    string
	n       atomic.Int64

	mu    sync.Mutex
	bar   *progressbar.ProgressBar
	stop  chan struct{}
	done  chan struct{}
	ended bool
}

func newProgress(e *env, want bool, desc string) *progress {
	return &progress{enabled: want && isTerminal(e.stderr), w: e.stderr, desc: desc}
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// Expect and Add make it an ops.Progress, for rebuild and verify: the first Expect draws the
// bar, later ones (more passes) raise its total.
func (p *progress) Expect(n int64) {
	p.mu.Lock()
	bar := p.bar
	p.mu.Unlock()
	if bar == nil {
		p.start(ops.ReplayRange{Total: n})
		return
	}
	if n > 0 {
		bar.ChangeMax64(bar.GetMax64() + n)
	}
}

func (p *progress) Add(n int64) {
	p.n.Add(n)
	if afterBatch != nil {
		afterBatch()
	}
}

// afterBatch, if set (by tests), runs after every batch a rebuild or verify applies.
var afterBatch func()

// counter is what the replay advances.
func (p *progress) counter() *atomic.Int64 { return &p.n }

// shown tells whether a bar was drawn.
func (p *progress) shown() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.bar != nil
}

// start draws the bar for the range and keeps it current until finish.
func (p *progress) start(r ops.ReplayRange) {
	if !p.enabled || r.Total == 0 {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ended {
		return
	}
	p.bar = progressbar.NewOptions64(r.Total,
		progressbar.OptionSetWriter(p.w),
		progressbar.OptionSetDescription(p.desc),
		progressbar.OptionShowCount(),
		progressbar.OptionShowIts(),
		progressbar.OptionSetItsString("events"),
		progressbar.OptionSetPredictTime(true),
		progressbar.OptionSetElapsedTime(true),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionSetWidth(30),
		progressbar.OptionClearOnFinish(),
	)
	p.stop, p.done = make(chan struct{}), make(chan struct{})
	go func() {
		defer close(p.done)
		t := time.NewTicker(150 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-p.stop:
				return
			case <-t.C:
				_ = p.bar.Set64(min(p.n.Load(), p.bar.GetMax64()))
			}
		}
	}()
}

// finish removes the bar (once; later calls do nothing).
func (p *progress) finish() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ended {
		return
	}
	p.ended = true
	if p.bar == nil {
		return
	}
	close(p.stop)
	<-p.done
	_ = p.bar.Finish()
}
