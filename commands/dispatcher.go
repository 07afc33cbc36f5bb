package commands

import (
	"context"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/chorus-chat/chorus/domain"
)

// CommandLog hands a command to the command topic, with the address its reply must go to.
type CommandLog interface {
	Append(ctx context.Context, cmd domain.Command, replyTo string) error
}

// Dispatcher sends commands and waits for their replies. Replies arrive through Resolve, called
// by whatever listens on this gateway's reply address.
type Dispatcher struct {
	log     CommandLog
	replyTo string
	timeout time.Duration

	mu      sync.Mutex
	waiters map[uuid.UUID][]chan Reply
}

// NewDispatcher makes a dispatcher whose replies come back to replyTo.
func NewDispatcher(log CommandLog, replyTo string, timeout time.Duration) *Dispatcher {
	return &Dispatcher{log: log, replyTo: replyTo, timeout: timeout, waiters: map[uuid.UUID][]chan Reply{}}
}

// Dispatch appends cmd and waits for its reply. A rejection is a Reply with Accepted false and a
// nil error; ErrTimeout and ErrUnavailable are the failures a client may retry with the same id.
func (d *Dispatcher) Dispatch(ctx context.Context, cmd domain.Command) (Reply, error) {
	ch := make(chan Reply, 1)
	d.mu.Lock()
	d.waiters[cmd.ID] = append(d.waiters[cmd.ID], ch)
	d.mu.Unlock()
	defer d.forget(cmd.ID, ch)

	// One bound for the append and the reply: an append that hangs (a broker cut off by the
	// network, not refusing) must not hold the client past it. It may still go through, so that
	// is a timeout (the command may be applied), not unavailable.
	t := time.NewTimer(d.timeout)
	defer t.Stop()
	appended := make(chan error, 1)
	go func() { appended <- d.log.Append(ctx, cmd, d.replyTo) }()
	select {
	case err := <-appended:
		if err != nil {
			if ctx.Err() != nil {
				return Reply{}, ctx.Err()
			}
			return Reply{}, ErrUnavailable
		}
	case r := <-ch: // the record reached the log and was decided before its acknowledgement came back
		return r, nil
	case <-t.C:
		return Reply{}, ErrTimeout
	case <-ctx.Done():
		return Reply{}, ctx.Err()
	}
	select {
	case r := <-ch:
		return r, nil
	case <-t.C:
		return Reply{}, ErrTimeout
	case <-ctx.Done():
		return Reply{}, ctx.Err()
	}
}

// Resolve hands a reply to everyone waiting for its command.
func (d *Dispatcher) Resolve(r Reply) {
	d.mu.Lock()
	chs := d.waiters[r.CommandID]
	delete(d.waiters, r.CommandID)
	d.mu.Unlock()
	for _, ch := range chs {
		select {
		case ch <- r:
		default:
		}
	}
}

func (d *Dispatcher) forget(id uuid.UUID, ch chan Reply) {
	d.mu.Lock()
	defer d.mu.Unlock()
	chs := d.waiters[id]
	for i, c := range chs {
		if c == ch {
			chs = append(chs[:i], chs[i+1:]...)
			break
		}
	}
	if len(chs) == 0 {
		delete(d.waiters, id)
	} else {
		d.waiters[id] = chs
	}
}
