package gateway

import (
	"context"
	"log/slog"
	"time"

	"github.com/google/uuid"

	"github.com/chorus-chat/chorus/domain"
	"github.com/chorus-chat/chorus/projections"
	"github.com/chorus-chat/chorus/projections/readmodel"
)

// RealtimeConfig tunes the gateway's ephemeral features: presence, typing, frame rate limits
// and resume. It is part of Config; zero fields take the value of DefaultRealtimeConfig.
type RealtimeConfig struct {
	// FrameRate is how many frames a second one socket may send on average, FrameBurst how many
	// at once; a frame over the limit is answered rate_limited and dropped. A negative
	// FrameRate turns the limit off.
	FrameRate  float64
	FrameBurst int
	// TypingInterval is the least time between two typing frames relayed for one user in one
	// room (per gateway); the ones in between are dropped without an answer.
	TypingInterval time.Duration
	// ResumeLimit is how many missed changes a resume replays per room, at most
	// readmodel.MaxChangesLimit; a room with more is answered recovered: false.
	ResumeLimit int
	// PresenceTTL is how long a socket's presence entry lives unless refreshed. A socket
	// refreshes it when it is active and the entry is a quarter of that old, and an open socket
	// is active at least every ConnectionTimeout, so it is at least twice ConnectionTimeout. It
	// is how long a user whose gateway crashed still shows online.
	PresenceTTL time.Duration
	// PresenceSweepInterval is how often the gateway looks for expired presence entries (of
	// crashed gateways) and announces their users offline.
	PresenceSweepInterval time.Duration
	// PresenceFlushInterval is how often the gateway writes its sockets' users' last activity to
	// Deps.LastSeen, and how often its reconciler looks for sessions left open
	// (presence_reconcile.go).
	PresenceFlushInterval time.Duration
}

// DefaultRealtimeConfig is the seed's: 20 frames/s with bursts of 40, one typing frame a second,
// 1000 changes per room on resume, a 300 s presence ttl swept every 10 s, last activity written
// every 5 s.
func DefaultRealtimeConfig() RealtimeConfig {
	return RealtimeConfig{
		FrameRate: 20, FrameBurst: 40, TypingInterval: time.Second, ResumeLimit: 1000,
		PresenceTTL: 300 * time.Second, PresenceSweepInterval: 10 * time.Second,
		PresenceFlushInterval: 5 * time.Second,
	}
}

func (c RealtimeConfig) withDefaults(connectionTimeout time.Duration) RealtimeConfig {
	d := DefaultRealtimeConfig()
	if c.FrameRate == 0 {
		c.FrameRate = d.FrameRate
	}
	if c.FrameBurst <= 0 {
		c.FrameBurst = d.FrameBurst
	}
	if c.TypingInterval <= 0 {
		c.TypingInterval = d.TypingInterval
	}
	if c.ResumeLimit <= 0 {
		c.ResumeLimit = d.ResumeLimit
	}
	c.ResumeLimit = min(c.ResumeLimit, readmodel.MaxChangesLimit)
	if c.PresenceTTL <= 0 {
		c.PresenceTTL = d.PresenceTTL
	}
	c.PresenceTTL = max(c.PresenceTTL, 2*connectionTimeout)
	if c.PresenceSweepInterval <= 0 {
		c.PresenceSweepInterval = d.PresenceSweepInterval
	}
	if c.PresenceFlushInterval <= 0 {
		c.PresenceFlushInterval = d.PresenceFlushInterval
	}
	return c
}

// Presence is the shared record of which users have an open socket on any gateway (Redis:
// adapters/redis.Presence). Each socket keeps an entry that expires unless refreshed.
// Transitions are announced with pushes that the implementation appends to the push stream
// atomically with the change, so that every gateway delivers them in the order they happened;
// the builders are called only when a transition is due.
type Presence interface {
	// Touch records socket conn of user as alive for ttl more; when that makes the user
	// online it appends online's push and reports true.
	Touch(ctx context.Context, user uuid.UUID, conn string, ttl time.Duration, online func() (projections.Push, error)) (bool, error)
	// Leave forgets socket conn; when the user has no live socket left it appends offline's push
	// and reports off. It reports forgotten when conn's entry was gone and nothing else showed
	// the user online (Redis restarted and lost them, or a sweeper ended conn already).
	Leave(ctx context.Context, user uuid.UUID, conn string, offline func() (projections.Push, error)) (off, forgotten bool, err error)
	// Sweep forgets up to limit expired entries, announcing offline as Leave does; it
	// reports how many it found and how many users it announced offline, and tells ended of
	// each of these: the connection whose entry was their last and when it expired.
	Sweep(ctx context.Context, limit int, offline func(user uuid.UUID) (projections.Push, error),
		ended func(user uuid.UUID, conn string, expiredAt time.Time)) (found, announced int, err error)
	// Online tells which of users have a live socket.
	Online(ctx context.Context, users []uuid.UUID) (map[uuid.UUID]bool, error)
}

// PushPublisher appends pushes to the shared push stream that every gateway reads and
// Delivers (adapters/redis.PushPublisher).
type PushPublisher interface {
	Publish(pushes []projections.Push) error
}

// realtime holds the gateway's optional collaborators for ephemeral state, set once by New and
// read without locks after.
type realtime struct {
	presence Presence
	pub      PushPublisher
	// out queues the pushes this gateway originates (typing) for the publisher loop of
	// RunRealtime, so that no socket waits on Redis to relay them.
	out    chan projections.Push
	typing typingGate
	// log records the presence transitions for online time (presence_log.go); nil without
	// presence.
	log *presenceLog
	// lastSeen keeps the users' last activity, and reconcile what the reconciler sent
	// (presence_reconcile.go); lastSeen is nil without presence or without Deps.LastSeen.
	lastSeen  LastSeen
	reconcile reconcileState
}

// Push kinds and statuses the gateway originates.
const (
	pushPresence    = "presence"
	pushTyping      = "typing"
	statusOnline    = "online"
	statusOffline   = "offline"
	presenceTimeout = 2 * time.Second // bounds one presence call to Redis
	sweepBatch      = 100
	// heartbeatRefresh is the least time between two presence refreshes that heartbeat frames
	// force, so that a client sending many cannot turn each into a Redis call.
	heartbeatRefresh = time.Second
	// presenceRetry is how soon a socket tries again after a failed refresh.
	presenceRetry = 5 * time.Second
)

type presenceFrame struct {
	Type   string    `json:"type"`
	UserID uuid.UUID `json:"user_id"`
	Status string    `json:"status"`
}

// RunRealtime publishes the pushes this gateway originates and sweeps expired presence entries
// every PresenceSweepInterval, until ctx ends. It must run for UsePushPublisher and
// UsePresence to take full effect; it returns nil when ctx ends.
func (g *Gateway) RunRealtime(ctx context.Context) error {
	done := make(chan struct{})
	if g.rt.out != nil {
		go func() {
			defer close(done)
			g.publishLoop(ctx)
		}()
	} else {
		close(done)
	}
	defer func() { <-done }()
	if g.rt.log != nil {
		logDone := make(chan struct{})
		go func() {
			defer close(logDone)
			g.runPresenceLog(ctx)
		}()
		defer func() { <-logDone }()
	}
	if g.rt.presence == nil {
		<-ctx.Done()
		return nil
	}
	if g.rt.lastSeen != nil {
		seenDone := make(chan struct{})
		go func() {
			defer close(seenDone)
			g.runLastSeen(ctx)
		}()
		defer func() { <-seenDone }()
	}
	t := time.NewTicker(g.cfg.PresenceSweepInterval)
	defer t.Stop()
	var reconcile <-chan time.Time // nil without LastSeen: never
	if g.rt.lastSeen != nil {
		r := time.NewTicker(g.cfg.PresenceFlushInterval)
		defer r.Stop()
		reconcile = r.C
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			g.sweepPresence(ctx)
		case <-reconcile:
			g.reconcilePresence(ctx)
		}
	}
}

// publishLoop publishes the queued pushes, what is ready in one call.
func (g *Gateway) publishLoop(ctx context.Context) {
	batch := make([]projections.Push, 0, 256)
	for {
		batch = batch[:0]
		select {
		case <-ctx.Done():
			return
		case p := <-g.rt.out:
			batch = append(batch, p)
		}
	more:
		for len(batch) < cap(batch) {
			select {
			case p := <-g.rt.out:
				batch = append(batch, p)
			default:
				break more
			}
		}
		// Ephemeral: a push that cannot be published now is worthless later.
		if err := g.rt.pub.Publish(batch); err != nil {
			g.log.Warn("publish gateway pushes failed; dropped", "pushes", len(batch), "err", err)
		}
	}
}

// relay sends a push this gateway originates to every gateway. It never blocks: when the
// queue is full (Redis is slow or down) the push is dropped, as befits typing indicators.
func (g *Gateway) relay(p projections.Push) {
	if g.rt.pub == nil {
		g.Deliver(p)
		return
	}
	select {
	case g.rt.out <- p:
	default:
		g.log.Debug("gateway push queue full; dropped", "kind", p.Kind)
	}
}

// sweepPresence announces offline the users whose every entry expired: their gateway died
// without leaving them. Any gateway may find an entry; exactly one announces each offline.
func (g *Gateway) sweepPresence(ctx context.Context) {
	build := func(user uuid.UUID) (projections.Push, error) {
		rooms, err := g.rm.RoomIDsOf(ctx, user)
		if err != nil {
			return projections.Push{}, err
		}
		return presencePush(user, statusOffline, rooms), nil
	}
	for ctx.Err() == nil {
		found, announced, err := g.rt.presence.Sweep(ctx, sweepBatch, build, func(user uuid.UUID, conn string, expiredAt time.Time) {
			// The entry's last refresh, the last sign of life of the user's last socket:
			// every gateway gives its entries the same ttl.
			g.recordPresence(user, conn, domain.RecordPresence{At: expiredAt.Add(-g.cfg.PresenceTTL), Cause: domain.OfflineExpired})
		})
		if err != nil {
			if ctx.Err() == nil {
				g.log.Warn("presence sweep failed", "err", err)
			}
			return
		}
		if announced > 0 {
			g.log.Info("presence entries expired; users announced offline", "entries", found, "users", announced)
		}
		if found < sweepBatch {
			return
		}
	}
}

// presencePush announces a user's status to the members of rooms (not to the user's own
// sockets). With no rooms there is nobody to tell: the push is empty and not sent.
func presencePush(user uuid.UUID, status string, rooms []uuid.UUID) projections.Push {
	if len(rooms) == 0 {
		return projections.Push{}
	}
	return projections.Push{
		Target: projections.TargetRooms, RoomIDs: rooms, Kind: pushPresence, ExceptUserID: user,
		Frame: encodeFrame(presenceFrame{Type: pushPresence, UserID: user, Status: status}),
	}
}

// presenceOnline records a socket that just opened; its user may become online.
func (c *conn) presenceOnline() {
	now := time.Now()
	c.lastActive.Store(now.UnixMilli())
	c.refreshPresence(now)
}

// presenceActive refreshes the socket's entry on activity (any frame, a WebSocket ping or pong)
// once it is a quarter of its ttl old; a heartbeat frame forces it (within heartbeatRefresh).
// It runs on the reader goroutine, which also leaves the entry when the socket ends, so a
// refresh never lands after the leave.
func (c *conn) presenceActive(heartbeat bool) {
	p := c.g.rt.presence
	if p == nil {
		return
	}
	now := time.Now()
	c.lastActive.Store(now.UnixMilli()) // for the last seen times (presence_reconcile.go)
	every := c.g.cfg.PresenceTTL / 4
	if heartbeat {
		every = heartbeatRefresh
	}
	if now.Sub(c.presenceAt) < every {
		return
	}
	c.refreshPresence(now)
}

func (c *conn) refreshPresence(now time.Time) {
	p := c.g.rt.presence
	if p == nil {
		return
	}
	c.presenceAt = now
	ctx, cancel := context.WithTimeout(context.Background(), presenceTimeout)
	defer cancel()
	on, err := p.Touch(ctx, c.userID, c.id, c.g.cfg.PresenceTTL, func() (projections.Push, error) {
		return presencePush(c.userID, statusOnline, c.g.hub.roomsOf(c)), nil
	})
	if on {
		// In milliseconds, as Redis keeps the entry's expiry: the offline a sweeper records from
		// it (its last refresh) is then never before this online.
		c.g.recordPresence(c.userID, c.id, domain.RecordPresence{Online: true, At: now.Truncate(time.Millisecond)})
	}
	if err != nil {
		c.g.log.Warn("presence refresh failed", "user_id", c.userID, "err", err)
		// Try again soon rather than a quarter ttl later.
		c.presenceAt = now.Add(presenceRetry - c.g.cfg.PresenceTTL/4)
	}
}

// presenceOffline forgets a socket that ended, given the rooms it was subscribed to; its user
// may become offline. When Redis cannot be reached the entry expires and a sweeper announces it.
func (c *conn) presenceOffline(rooms []uuid.UUID) {
	p := c.g.rt.presence
	if p == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), presenceTimeout)
	defer cancel()
	off, forgotten, err := p.Leave(ctx, c.userID, c.id, func() (projections.Push, error) {
		return presencePush(c.userID, statusOffline, rooms), nil
	})
	// Forgotten: Redis lost the user's entries (it restarted) before this socket refreshed its
	// own, so no sweeper will ever find it; nothing shows another socket of the user live
	// either. The session ends here, as for a last socket; if it had been ended already (a
	// sweeper found the entry expired) the user aggregate records nothing more, and another
	// socket of the user refreshing later opens a new one.
	if off || forgotten {
		c.g.recordPresence(c.userID, c.id, domain.RecordPresence{At: time.Now(), Cause: domain.OfflineLeft})
	}
	if err != nil {
		c.g.log.Warn("presence leave failed; the entry will expire", "user_id", c.userID, "err", err)
	}
}

// roomsOf is a copy of the rooms a socket is subscribed to.
func (h *hub) roomsOf(c *conn) []uuid.UUID {
	h.mu.RLock()
	defer h.mu.RUnlock()
	out := make([]uuid.UUID, 0, len(c.rooms))
	for r := range c.rooms {
		out = append(out, r)
	}
	return out
}

// subscribed tells whether a socket is subscribed to a room, i.e. its user is a member.
func (h *hub) subscribed(c *conn, room uuid.UUID) bool {
	h.mu.RLock()
	defer h.mu.RUnlock()
	_, ok := c.rooms[room]
	return ok
}

// withStatus sets the live presence status of users, in one lookup. Without presence (or when
// Redis fails: the listing is still worth answering) they keep the read model's status.
func (g *Gateway) withStatus(ctx context.Context, users ...*projections.User) {
	p := g.rt.presence
	if p == nil || len(users) == 0 {
		return
	}
	ids := make([]uuid.UUID, len(users))
	for i, u := range users {
		ids[i] = u.ID
	}
	online, err := p.Online(ctx, ids)
	if err != nil {
		g.log.LogAttrs(ctx, slog.LevelWarn, "presence lookup failed; statuses left as stored", slog.Any("err", err))
		return
	}
	for _, u := range users {
		u.Status = statusOffline
		if online[u.ID] {
			u.Status = statusOnline
		}
	}
}
