package gateway

import (
	"context"
	"fmt"
	"runtime"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// bcryptPool runs the slow password hashes (register, login, room passwords) on a bounded
// number of goroutines at once, so that a flood of them (a user guessing a room's password, a
// burst of logins) leaves the other cores to everybody else's requests. A hash that cannot
// start within its wait is refused with unavailable rather than queued without end.
type bcryptPool struct {
	slots chan struct{}
	wait  time.Duration
	// running and peak count the hashes in progress, for the metrics-free check that the bound
	// holds (tests).
	running, peak atomic.Int64
}

// defaultBcryptWorkers is half the CPUs Go may use, at least one.
func defaultBcryptWorkers() int { return max(1, runtime.GOMAXPROCS(0)/2) }

func newBcryptPool(workers int, wait time.Duration) *bcryptPool {
	return &bcryptPool{slots: make(chan struct{}, workers), wait: wait}
}

// errBcryptBusy: every worker stayed busy for the whole wait.
var errBcryptBusy = &apiError{Code: codeUnavailable, Message: "too many password checks in progress; retry in a moment", RetryAfter: time.Second}

// run runs fn on a worker slot, waiting at most p.wait (and while ctx lives) for one.
func (p *bcryptPool) run(ctx context.Context, fn func()) error {
	select {
	case p.slots <- struct{}{}:
	default:
		t := time.NewTimer(p.wait)
		defer t.Stop()
		select {
		case p.slots <- struct{}{}:
		case <-t.C:
			return errBcryptBusy
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	defer func() { <-p.slots }()
	n := p.running.Add(1)
	defer p.running.Add(-1)
	for {
		peak := p.peak.Load()
		if n <= peak || p.peak.CompareAndSwap(peak, n) {
			break
		}
	}
	fn()
	return nil
}

// hash is the bcrypt hash of a password already checked to be at most
// commands.MaxPasswordBytes.
func (g *Gateway) hash(ctx context.Context, pw string) (string, error) {
	var (
		h   []byte
		err error
	)
	if perr := g.bcrypt.run(ctx, func() { h, err = bcrypt.GenerateFromPassword([]byte(pw), g.cfg.BcryptCost) }); perr != nil {
		return "", perr
	}
	if err != nil {
		return "", fmt.Errorf("hash password: %w", err)
	}
	return string(h), nil
}

// passwordMatches compares a password with a bcrypt hash on the pool.
func (g *Gateway) passwordMatches(ctx context.Context, hash []byte, pw string) (bool, error) {
	var ok bool
	err := g.bcrypt.run(ctx, func() { ok = bcrypt.CompareHashAndPassword(hash, []byte(pw)) == nil })
	return ok, err
}
