package gateway

import (
	"context"
	"errors"
	"hash/fnv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"github.com/chorus-chat/chorus/domain"
)

// Online time: the presence transitions this gateway makes (a user's first live socket
// anywhere, the end of their last) are recorded in the event log as record_presence commands to
// the user's aggregate (domain/user_presence.go). They are sent from queues, never from a
// socket's goroutine, so a slow broker never holds a socket up. A user's transitions always go
// through the same queue, in order. Each command's id is derived from the transition, so the
// retries of a failed or timed-out send append nothing twice.
//
// What may be lost: a transition that finds its queue full (presenceLogQueue transitions
// waiting, when the broker has been unreachable for long) is dropped and counted
// (chorus_presence_records_total{outcome="dropped"}), and so is one still failing after
// presenceLogGiveUp of retries ("failed"). A lost online leaves that session out of the reports;
// a lost offline leaves it open until the user's next online ends it there (superseded), which
// counts the time between as online. Transitions still queued when the gateway stops are sent
// during Shutdown, within its deadline.

const (
	presenceLogWorkers = 4
	presenceLogQueue   = 4096 // per worker
	presenceLogGiveUp  = 2 * time.Minute
	presenceLogBackoff = 100 * time.Millisecond
	presenceLogMaxWait = 5 * time.Second
)

// Outcomes of a transition, the label of the metric.
const (
	presenceRecorded = "recorded"
	presenceRejected = "rejected"
	presenceFailed   = "failed"
	presenceDropped  = "dropped"
)

type presenceRecord struct {
	user uuid.UUID
	conn string
	p    domain.RecordPresence
}

// presenceLog holds the queues; nil records nothing (no presence).
type presenceLog struct {
	queues  []chan presenceRecord
	pending atomic.Int64
}

func newPresenceLog() *presenceLog {
	l := &presenceLog{queues: make([]chan presenceRecord, presenceLogWorkers)}
	for i := range l.queues {
		l.queues[i] = make(chan presenceRecord, presenceLogQueue)
	}
	return l
}

// recordPresence queues a transition; it never blocks.
func (g *Gateway) recordPresence(user uuid.UUID, conn string, p domain.RecordPresence) {
	l := g.rt.log
	if l == nil {
		return
	}
	h := fnv.New32a()
	_, _ = h.Write(user[:])
	l.pending.Add(1)
	select {
	case l.queues[h.Sum32()%uint32(len(l.queues))] <- presenceRecord{user: user, conn: conn, p: p}:
	default:
		l.pending.Add(-1)
		g.met.PresenceRecord(presenceDropped)
		g.log.Warn("presence log queue full; transition dropped", "user_id", user, "online", p.Online)
	}
}

// runPresenceLog sends the queued transitions until ctx ends; Shutdown has flushed them before.
func (g *Gateway) runPresenceLog(ctx context.Context) {
	var wg sync.WaitGroup
	for _, q := range g.rt.log.queues {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-ctx.Done():
					return
				case r := <-q:
					g.sendPresence(ctx, r)
					g.rt.log.pending.Add(-1)
				}
			}
		}()
	}
	wg.Wait()
}

// sendPresence sends one transition, retrying what may succeed later (the broker unreachable, a
// timeout) with a growing pause, until presenceLogGiveUp has passed.
func (g *Gateway) sendPresence(ctx context.Context, r presenceRecord) {
	giveUp := time.Now().Add(presenceLogGiveUp)
	wait := presenceLogBackoff
	for {
		err := g.app.RecordPresence(ctx, r.user, r.conn, r.p)
		var rejected *domain.Error
		switch {
		case err == nil:
			g.met.PresenceRecord(presenceRecorded)
			return
		case errors.As(err, &rejected):
			// A decision, not a fault: retrying gets the same answer.
			g.met.PresenceRecord(presenceRejected)
			g.log.Warn("presence transition rejected", "user_id", r.user, "code", rejected.Code, "err", err)
			return
		case ctx.Err() != nil || time.Now().After(giveUp):
			g.met.PresenceRecord(presenceFailed)
			g.log.Warn("presence transition not recorded; given up", "user_id", r.user, "online", r.p.Online, "err", err)
			return
		}
		select {
		case <-ctx.Done():
		case <-time.After(wait):
		}
		wait = min(2*wait, presenceLogMaxWait)
	}
}

// flushPresenceLog waits until every queued transition was sent (or given up), or ctx ends.
func (g *Gateway) flushPresenceLog(ctx context.Context) {
	l := g.rt.log
	if l == nil {
		return
	}
	t := time.NewTicker(10 * time.Millisecond)
	defer t.Stop()
	for l.pending.Load() > 0 {
		select {
		case <-ctx.Done():
			g.log.Warn("presence transitions still queued at shutdown", "pending", l.pending.Load())
			return
		case <-t.C:
		}
	}
}
