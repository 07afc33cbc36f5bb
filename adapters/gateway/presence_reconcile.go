package gateway

import (
	"context"
	"time"

	"github.com/google/uuid"

	"github.com/chorus-chat/chorus/adapters/postgres"
	"github.com/chorus-chat/chorus/domain"
)

// Reconciling online sessions with presence. A session ends when its user's last socket closes
// (Leave) or, when their gateway died, when a sweeper finds the expired entry in Redis. When a
// gateway dies and Redis loses its entries too (Redis restarted; the all-in-one server, whose
// embedded Redis dies with it), nothing of that is left, and the session would stay open until
// the user comes online again. So:
//
//   - every gateway writes, every PresenceFlushInterval and in one statement, the last activity
//     (any frame, ping or pong) of the users of its sockets whose activity moved since its last
//     write (LastSeen.Seen: a Postgres table, which outlives Redis). A heartbeat costs the socket
//     an atomic store; 10,000 sockets a statement of at most 10,000 rows every few seconds. A
//     write that fails is retried with the next one.
//   - every gateway's sweeper loop reconciles, every PresenceFlushInterval: it pages
//     through the online-time projection's open sessions whose user was last seen (or which
//     started) more than PresenceTTL + reconcileMargin ago, skips the users Redis shows live or
//     that have a socket on this gateway, and sends record_presence offline, cause reconciled,
//     naming the session (Since), at the user's last activity. The user aggregate ends the
//     session named only if it is still the open one, so however many gateways reconcile at
//     once it ends once, and never a session opened since.
//
// A live socket is active at least every ConnectionTimeout (at most half the TTL) and its
// gateway writes that within PresenceFlushInterval, so its user is never idle by this bound,
// whatever Redis forgot. Only when a gateway cannot write to Postgres for longer than the bound
// and Redis lost its users too may a live session be ended; the socket's next refresh then
// finds no entry in Redis and opens a new session (Touch announces the user online again).
// What is lost: a crashed gateway's activity since its last write, at most
// PresenceFlushInterval: a reconciled session may end that much before the user's last
// activity.

// LastSeen is the users' last activity where it outlives Redis, and the online sessions that
// have been idle since before a bound (postgres.LastSeen).
type LastSeen interface {
	// Seen records the last activity of each user given (a time earlier than the stored one
	// changes nothing).
	Seen(ctx context.Context, seen map[uuid.UUID]time.Time) error
	// IdleSessions pages through the open sessions whose user was seen neither since idleBefore
	// nor since their start, in the order of (Since, UserID), after the session after.
	IdleSessions(ctx context.Context, idleBefore time.Time, after postgres.IdleSession, limit int) ([]postgres.IdleSession, error)
}

const (
	// reconcileBatch is how many idle sessions one query pages.
	reconcileBatch = 500
	// lastSeenTimeout bounds a write of the last seen times or a query of the reconciler.
	lastSeenTimeout = 10 * time.Second
)

// reconcileMargin is how much longer than the presence TTL a session must have been idle before
// a reconciler ends it: enough for a live socket's activity to reach Postgres and for the
// sweeper (which ends an expired entry's session at its last refresh, when Redis kept it) to
// come first.
func (c RealtimeConfig) reconcileMargin() time.Duration {
	return 2*c.PresenceFlushInterval + c.PresenceSweepInterval
}

// ReconcileBound is how long after its user's last activity a session left open (its gateway
// dead, its entries lost by Redis) is sent to end at the latest: the presence TTL and the
// margin, plus one reconcile interval (the flush interval).
func (c RealtimeConfig) ReconcileBound() time.Duration {
	return c.PresenceTTL + c.reconcileMargin() + c.PresenceFlushInterval
}

// reconcileState is the sweeper goroutine's own.
type reconcileState struct {
	// sent are the sessions (user and start) whose offline was queued, and when: not sent
	// again while the projection catches up with it.
	sent map[reconcileKey]time.Time
}

type reconcileKey struct {
	user  uuid.UUID
	since int64 // unix µs, as Postgres keeps it
}

// runLastSeen writes the last activity of this gateway's sockets' users every
// PresenceFlushInterval until ctx ends.
func (g *Gateway) runLastSeen(ctx context.Context) {
	t := time.NewTicker(g.cfg.PresenceFlushInterval)
	defer t.Stop()
	written := map[uuid.UUID]int64{}
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			g.flushLastSeen(ctx, written)
		}
	}
}

// flushLastSeen writes the users whose sockets were active since their last write (written
// holds, per user of this gateway's sockets, the time last written, in unix ms).
func (g *Gateway) flushLastSeen(ctx context.Context, written map[uuid.UUID]int64) {
	active := g.hub.lastActive()
	for u := range written {
		if _, ok := active[u]; !ok {
			delete(written, u)
		}
	}
	seen := make(map[uuid.UUID]time.Time)
	for u, ms := range active {
		if ms > written[u] {
			seen[u] = time.UnixMilli(ms)
		}
	}
	if len(seen) == 0 {
		return
	}
	wctx, cancel := context.WithTimeout(ctx, lastSeenTimeout)
	defer cancel()
	if err := g.rt.lastSeen.Seen(wctx, seen); err != nil {
		if ctx.Err() == nil {
			g.log.Warn("writing the users' last activity failed; retried at the next flush", "users", len(seen), "err", err)
		}
		return
	}
	for u, at := range seen {
		written[u] = at.UnixMilli()
	}
}

// lastActive is the last activity (unix ms) of each user with a socket here.
func (h *hub) lastActive() map[uuid.UUID]int64 {
	h.mu.RLock()
	defer h.mu.RUnlock()
	out := make(map[uuid.UUID]int64, len(h.users))
	for u, conns := range h.users {
		var last int64
		for c := range conns {
			last = max(last, c.lastActive.Load())
		}
		if last > 0 {
			out[u] = last
		}
	}
	return out
}

// hasUser tells whether user has a socket here.
func (h *hub) hasUser(user uuid.UUID) bool {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return len(h.users[user]) > 0
}

// reconcilePresence ends the online sessions left open (see the top of the file); it runs on the
// sweeper's goroutine, every PresenceFlushInterval.
func (g *Gateway) reconcilePresence(ctx context.Context) {
	if g.rt.lastSeen == nil {
		return
	}
	st := &g.rt.reconcile
	now := time.Now()
	if st.sent == nil {
		st.sent = map[reconcileKey]time.Time{}
	}
	for k, at := range st.sent {
		if now.Sub(at) > g.cfg.PresenceTTL {
			delete(st.sent, k)
		}
	}
	idleBefore := now.Add(-(g.cfg.PresenceTTL + g.cfg.reconcileMargin()))
	var after postgres.IdleSession
	sent := 0
	defer func() {
		if sent > 0 {
			g.met.PresenceReconciled(sent)
			g.log.Info("online sessions left open ended at their users' last activity", "sessions", sent, "cause", domain.OfflineReconciled)
		}
	}()
	for ctx.Err() == nil {
		qctx, cancel := context.WithTimeout(ctx, lastSeenTimeout)
		idle, err := g.rt.lastSeen.IdleSessions(qctx, idleBefore, after, reconcileBatch)
		cancel()
		if err != nil {
			if ctx.Err() == nil {
				g.log.Warn("looking for online sessions left open failed", "err", err)
			}
			return
		}
		if len(idle) == 0 {
			return
		}
		after = idle[len(idle)-1]
		users := make([]uuid.UUID, 0, len(idle))
		for _, s := range idle {
			users = append(users, s.UserID)
		}
		pctx, cancel := context.WithTimeout(ctx, presenceTimeout)
		live, err := g.rt.presence.Online(pctx, users)
		cancel()
		if err != nil {
			// Without Redis nobody can tell a live user from a gone one: try again later.
			if ctx.Err() == nil {
				g.log.Warn("presence lookup for the reconciler failed", "err", err)
			}
			return
		}
		for _, s := range idle {
			k := reconcileKey{user: s.UserID, since: s.Since.UnixMicro()}
			if live[s.UserID] || g.hub.hasUser(s.UserID) || !st.sent[k].IsZero() {
				continue
			}
			st.sent[k] = now
			since := s.Since.UTC()
			g.recordPresence(s.UserID, "reconciled:"+since.Format(time.RFC3339Nano), domain.RecordPresence{
				At: s.LastActive.UTC(), Cause: domain.OfflineReconciled, Since: &since,
			})
			sent++
		}
		if len(idle) < reconcileBatch {
			return
		}
	}
}
