package gateway

import (
	"context"
	"time"

	"github.com/google/uuid"

	"github.com/chorus-chat/chorus/domain"
	"github.com/chorus-chat/chorus/projections"
	"github.com/chorus-chat/chorus/projections/readmodel"
)

// A new socket's rooms come from the read model, but joins, leaves and deletions reach the
// gateway through the push stream, which another projector writes: either may be ahead. A join
// whose push went by before the socket was registered, read from a read model that has not
// applied it yet, would leave the socket out of the room for its whole life (and a leave the
// other way round would keep it in). So the gateway remembers, per user, the log position of
// the newest membership push it saw about them, and per deleted room that it was deleted,
// until the read model has caught up with them (the ledger); and a socket is set up in three
// steps, each atomic with Deliver under hub.mu:
//
//  1. register: the socket joins the user index and starts recording the membership changes
//     of its user that arrive from now on; the ledger says which positions came before.
//  2. The gateway waits for the read model to reach those positions, then reads the rooms.
//  3. loaded: the socket is subscribed to the rooms read, minus deleted ones, and the changes
//     recorded since step 1 are replayed in order over them.
//
// Every membership change is thus either in the read (step 2 waited for it) or replayed (it
// came after step 1), whichever projector was first.

// ledgerPruneEvery is how often at most the ledger drops what the read model has caught up with.
const ledgerPruneEvery = 5 * time.Second

type partitionKey struct {
	topic string
	part  int32
}

// ledger is guarded by hub.mu.
type ledger struct {
	// users: per user, per partition, the offset of the newest user_joined or user_left about
	// them seen on the push stream.
	users map[uuid.UUID]map[partitionKey]int64
	// deleted: the rooms whose room_deleted went by, and where it sits in the log. A deleted room
	// stays deleted, so a new socket simply leaves it out instead of waiting.
	deleted map[uuid.UUID]domain.Position

	pruning  bool
	prunedAt time.Time
}

// membershipChange is a join (in) or a leave of one room, as a socket being set up records it.
type membershipChange struct {
	room uuid.UUID
	in   bool
}

// loadingConn is a socket between register and loaded.
type loadingConn struct {
	since   time.Time
	changes []membershipChange
}

// noteLocked records a membership push in the ledger. A push without a position (written by
// an older projector) cannot be waited for and is only applied to the open sockets.
func (l *ledger) noteLocked(p projections.Push) {
	if p.Position == "" {
		return
	}
	pos, err := domain.ParsePosition(p.Position)
	if err != nil {
		return
	}
	if p.Kind == projections.PushRoomDeleted {
		l.deleted[p.RoomID] = pos
		return
	}
	parts := l.users[p.UserID]
	if parts == nil {
		parts = map[partitionKey]int64{}
		l.users[p.UserID] = parts
	}
	k := partitionKey{pos.Topic, pos.Partition}
	if off, ok := parts[k]; !ok || pos.Offset > off {
		parts[k] = pos.Offset
	}
}

// register adds a socket under its user, so that membership pushes of that user reach it from
// now on, and starts recording them for loaded. It returns the positions the read model must
// include before the socket's rooms are read, and false once the hub is closed.
func (h *hub) register(c *conn) ([]domain.Position, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil, false
	}
	addTo(h.users, c.userID, c)
	h.loading[c] = &loadingConn{since: time.Now()}
	var wait []domain.Position
	for k, off := range h.ledger.users[c.userID] {
		wait = append(wait, domain.Position{Topic: k.topic, Partition: k.part, Offset: off})
	}
	return wait, true
}

// loaded subscribes a registered socket to the rooms read for its user (after the positions
// register returned were reached), leaving out rooms known deleted, then replays the
// membership changes recorded since register, in the order they came.
func (h *hub) loaded(c *conn, rooms []uuid.UUID) {
	h.mu.Lock()
	defer h.mu.Unlock()
	lc := h.loading[c]
	delete(h.loading, c)
	if c.removed || lc == nil {
		return
	}
	for _, r := range rooms {
		if _, gone := h.ledger.deleted[r]; !gone {
			h.subscribeLocked(c, r)
		}
	}
	for _, ch := range lc.changes {
		if _, gone := h.ledger.deleted[ch.room]; ch.in && !gone {
			h.subscribeLocked(c, ch.room)
		} else {
			h.unsubscribeLocked(c, ch.room)
		}
	}
}

// changeMembership records a user_joined (in) or user_left in the ledger and applies it to the
// user's sockets here. One critical section with register, so that a socket sees each change
// once: in the ledger or recorded.
func (h *hub) changeMembership(p projections.Push, in bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.ledger.noteLocked(p)
	for c := range h.users[p.UserID] {
		h.memberLocked(c, p.RoomID, in)
	}
}

// memberLocked subscribes c to room (in) or unsubscribes it, and records the change for a socket
// being set up (loaded replays it over the rooms it reads).
func (h *hub) memberLocked(c *conn, room uuid.UUID, in bool) {
	if in {
		h.subscribeLocked(c, room)
	} else {
		h.unsubscribeLocked(c, room)
	}
	if lc := h.loading[c]; lc != nil {
		lc.changes = append(lc.changes, membershipChange{room: room, in: in})
	}
}

// deleteRoom records a room_deleted and unsubscribes every socket from the room.
func (h *hub) deleteRoom(p projections.Push) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.ledger.noteLocked(p)
	for c := range h.rooms[p.RoomID] {
		h.unsubscribeLocked(c, p.RoomID) // deleting from the set being ranged over is safe
	}
}

// startPrune tells whether the ledger is due for pruning, and if so marks it as being pruned.
func (h *hub) startPrune(now time.Time) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	l := &h.ledger
	if l.pruning || now.Sub(l.prunedAt) < ledgerPruneEvery || (len(l.users) == 0 && len(l.deleted) == 0) {
		return false
	}
	l.pruning = true
	return true
}

// pruneLedger forgets the membership changes the read model includes: a socket's read of its
// rooms shows them from now on. A failed read of the checkpoints keeps everything for the
// next try.
func (g *Gateway) pruneLedger() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	readAt := time.Now()
	cps, err := g.rm.Checkpoints(ctx, readmodel.Projection)
	h := g.hub
	h.mu.Lock()
	defer h.mu.Unlock()
	l := &h.ledger
	l.pruning, l.prunedAt = false, time.Now()
	if err != nil {
		g.log.Warn("cannot read the read model's checkpoints; membership ledger kept", "err", err)
		return
	}
	for user, parts := range l.users {
		for k, off := range parts {
			if cps[k.topic][k.part] > off {
				delete(parts, k)
			}
		}
		if len(parts) == 0 {
			delete(l.users, user)
		}
	}
	// A socket registered before the checkpoints were read may have read its rooms from an
	// older read model that still lists a deleted room: loaded must still leave it out.
	for _, lc := range h.loading {
		if lc.since.Before(readAt) {
			return
		}
	}
	for room, pos := range l.deleted {
		if cps[pos.Topic][pos.Partition] > pos.Offset {
			delete(l.deleted, room)
		}
	}
}

// maybePruneLedger prunes the ledger in the background when it is due.
func (g *Gateway) maybePruneLedger() {
	if g.hub.startPrune(time.Now()) {
		go g.pruneLedger()
	}
}

// ledgerSize is how many users and deleted rooms the ledger holds (for tests).
func (h *hub) ledgerSize() (users, deleted int) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return len(h.ledger.users), len(h.ledger.deleted)
}

// loadRooms is steps 2 and 3 for a registered socket: wait for the read model to include the
// membership changes of its user that came before, read its rooms, subscribe.
func (g *Gateway) loadRooms(ctx context.Context, c *conn, wait []domain.Position) error {
	deadline := time.Now().Add(g.cfg.PositionWait) // one bound for all the user's partitions
	for _, pos := range wait {
		if err := g.rm.WaitFor(ctx, pos, time.Until(deadline)); err != nil {
			if ctx.Err() != nil {
				return ctx.Err() // the client went away
			}
			g.log.Warn("websocket refused: the read model has not reached the user's latest membership change",
				"user_id", c.userID, "position", pos.String(), "err", err)
			return &apiError{Code: codeNotCaughtUp, Message: "your latest room membership change is not readable yet; reconnect in a moment"}
		}
	}
	rooms, err := g.rm.RoomIDsOf(ctx, c.userID)
	if err != nil {
		return err
	}
	if g.feed != nil {
		release, err := g.feed.Read(ctx, rooms, nil)
		if err != nil {
			g.log.Warn("websocket refused: cannot read the pushes of the user's rooms", "user_id", c.userID, "err", err)
			return errPushesUnavailable
		}
		defer release()
	}
	g.hub.loaded(c, rooms)
	return nil
}

// errPushesUnavailable refuses a socket whose pushes cannot be read (Redis is down).
var errPushesUnavailable = &apiError{Code: codeUnavailable, Message: "real-time delivery is unavailable; reconnect in a moment"}

// registerSocket is step 1 for a new socket. With routed pushes, the user's shard is read from
// before the socket is registered (it carries the user's join signals and pushes), and the
// positions to wait for include the user's membership changes that this gateway did not read
// (routed to shards it does not read), as the publisher keeps them.
func (g *Gateway) registerSocket(ctx context.Context, c *conn) ([]domain.Position, bool, error) {
	if g.feed == nil {
		wait, ok := g.hub.register(c)
		return wait, ok, nil
	}
	release, err := g.feed.Read(ctx, nil, []uuid.UUID{c.userID})
	if err != nil {
		g.log.Warn("websocket refused: cannot read the user's pushes", "user_id", c.userID, "err", err)
		return nil, false, errPushesUnavailable
	}
	wait, ok := g.hub.register(c)
	release()
	if !ok {
		return nil, false, nil
	}
	more, err := g.feed.MembershipPositions(ctx, c.userID)
	if err != nil {
		g.log.Warn("websocket refused: cannot read the user's membership positions", "user_id", c.userID, "err", err)
		return nil, true, errPushesUnavailable
	}
	return append(wait, more...), true, nil
}

// HasUser says whether a socket of user is here (open or being set up): the routed pushes'
// feed acts on the user's join signals only then.
func (g *Gateway) HasUser(user uuid.UUID) bool {
	h := g.hub
	h.mu.RLock()
	defer h.mu.RUnlock()
	return len(h.users[user]) > 0
}

// Interest names every room a socket here is subscribed to and every user with a socket here:
// the routed pushes' feed reads their shards.
func (g *Gateway) Interest(room, user func(uuid.UUID)) {
	h := g.hub
	h.mu.RLock()
	defer h.mu.RUnlock()
	for r := range h.rooms {
		room(r)
	}
	for u := range h.users {
		user(u)
	}
}

// JoinedUnread is a join this gateway read only after its user_joined had gone by on the room's
// shard (routed pushes): the user's sockets that are not subscribed to the room are subscribed,
// as Deliver does for a user_joined, and get the room's pushes from the join on (pushes, in
// order, the user_joined first); sockets subscribed already got what came after their
// subscription. A leave of the user or the room's deletion among them ends the subscription
// again.
func (g *Gateway) JoinedUnread(user, room uuid.UUID, pushes []projections.Push) {
	if len(pushes) == 0 {
		return
	}
	h := g.hub
	h.mu.Lock()
	defer h.mu.Unlock()
	h.ledger.noteLocked(pushes[0])
	var late []*conn
	for c := range h.users[user] {
		if _, in := c.rooms[room]; !in {
			late = append(late, c)
		}
	}
	for _, c := range late {
		h.memberLocked(c, room, true)
	}
	for _, p := range pushes {
		for _, c := range late {
			pushTo(c, p)
		}
		if (p.Kind == projections.PushUserLeft && p.UserID == user) || p.Kind == projections.PushRoomDeleted {
			for _, c := range late {
				h.memberLocked(c, room, false)
			}
			return
		}
	}
}
