package gateway

import (
	"sync"

	"github.com/google/uuid"

	"github.com/chorus-chat/chorus/domain"
	"github.com/chorus-chat/chorus/projections"
)

// hub indexes this gateway's sockets by user and by subscribed room. Deliver reads the room
// index for every push, so it is guarded by an RWMutex and kept as nested sets: a delivery
// takes a read lock, walks one set and allocates nothing.
//
// Lock order: hub.mu before conn.mu (Deliver enqueues while holding the read lock); nothing
// takes hub.mu while holding a conn's lock.
type hub struct {
	mu     sync.RWMutex
	closed bool
	users  map[uuid.UUID]map[*conn]struct{}
	rooms  map[uuid.UUID]map[*conn]struct{}
	// ledger and loading set new sockets up whichever projector is ahead (membership.go).
	ledger  ledger
	loading map[*conn]*loadingConn
	// wg counts sockets from reserve to the end of their goroutines, for Shutdown.
	wg sync.WaitGroup
}

func newHub() *hub {
	return &hub{
		users: map[uuid.UUID]map[*conn]struct{}{}, rooms: map[uuid.UUID]map[*conn]struct{}{},
		ledger:  ledger{users: map[uuid.UUID]map[partitionKey]int64{}, deleted: map[uuid.UUID]domain.Position{}},
		loading: map[*conn]*loadingConn{},
	}
}

// reserve counts a socket about to be opened in wg, so that Shutdown also waits for upgrades
// in progress. It fails once the hub is closed. Counting under the lock means Shutdown's Wait,
// which starts after close took the lock, never races an Add. A successful reserve is
// balanced by one wg.Done, from the socket's run or from the upgrade that failed.
func (h *hub) reserve() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return false
	}
	h.wg.Add(1)
	return true
}

// socketsOf is a snapshot of a user's local sockets.
func (h *hub) socketsOf(user uuid.UUID) []*conn {
	h.mu.RLock()
	defer h.mu.RUnlock()
	out := make([]*conn, 0, len(h.users[user]))
	for c := range h.users[user] {
		out = append(out, c)
	}
	return out
}

// sockets is a snapshot of every local socket.
func (h *hub) sockets() []*conn {
	h.mu.RLock()
	defer h.mu.RUnlock()
	var out []*conn
	for _, set := range h.users {
		for c := range set {
			out = append(out, c)
		}
	}
	return out
}

func (h *hub) subscribeLocked(c *conn, room uuid.UUID) {
	c.rooms[room] = struct{}{}
	addTo(h.rooms, room, c)
}

func (h *hub) unsubscribeLocked(c *conn, room uuid.UUID) {
	delete(c.rooms, room)
	removeFrom(h.rooms, room, c)
}

// remove forgets a socket entirely (its goroutines still call wg.Done when they end).
func (h *hub) remove(c *conn) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if c.removed {
		return
	}
	c.removed = true
	delete(h.loading, c)
	for r := range c.rooms {
		removeFrom(h.rooms, r, c)
	}
	clear(c.rooms)
	removeFrom(h.users, c.userID, c)
}

// close refuses further sockets and returns the open ones.
func (h *hub) close() []*conn {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.closed = true
	var out []*conn
	for _, set := range h.users {
		for c := range set {
			out = append(out, c)
		}
	}
	return out
}

// broadcast queues a push's frame on every socket its target names and says on how many.
// Enqueueing never blocks (a full queue disconnects that socket), so holding the read lock is
// cheap.
func (h *hub) broadcast(p projections.Push) (sockets int) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	send := func(c *conn) {
		if pushTo(c, p) {
			sockets++
		}
	}
	switch p.Target {
	case projections.TargetUser:
		for c := range h.users[p.UserID] {
			send(c)
		}
	case projections.TargetUsers:
		for _, u := range p.UserIDs {
			for c := range h.users[u] {
				send(c)
			}
		}
	case projections.TargetAll:
		for _, set := range h.users {
			for c := range set {
				send(c)
			}
		}
	case projections.TargetRooms:
		seen := make(map[*conn]bool)
		for _, r := range p.RoomIDs {
			for c := range h.rooms[r] {
				if !seen[c] {
					seen[c] = true
					send(c)
				}
			}
		}
	default:
		for c := range h.rooms[p.RoomID] {
			send(c)
		}
	}
	return sockets
}

// pushTo queues a push's frame on c unless c is the excepted user's, and says whether it did.
func pushTo(c *conn, p projections.Push) bool {
	if p.ExceptUserID != uuid.Nil && c.userID == p.ExceptUserID {
		return false
	}
	c.push(p.Frame, p.CommandID)
	return true
}

// Deliver sends a push to the local sockets subscribed to its room. It is called from the one
// goroutine reading the shared push stream and never blocks on a socket.
//
// For user_joined the joining user's sockets are subscribed first, so they get the frame (and
// every later message of the room); for user_left they get the frame, then are unsubscribed.
// For room_deleted every socket subscribed to the room gets the frame, then is unsubscribed.
// All three are also remembered for the sockets being set up (membership.go).
func (g *Gateway) Deliver(p projections.Push) {
	h := g.hub
	var reached int
	if p.Target == projections.TargetJoined {
		return // the feed's signal (adapters/redis routes.go), never a socket's frame
	}
	switch p.Kind {
	case projections.PushUserJoined:
		h.changeMembership(p, true)
		reached = h.broadcast(p)
		g.maybePruneLedger()
	case projections.PushUserLeft:
		reached = h.broadcast(p)
		h.changeMembership(p, false)
		g.maybePruneLedger()
	case projections.PushRoomDeleted:
		// Every socket of the room hears it, then nothing more comes from the room.
		reached = h.broadcast(p)
		h.deleteRoom(p)
		g.maybePruneLedger()
	default:
		reached = h.broadcast(p)
	}
	if reached > 0 {
		g.met.PushLocal()
	}
}

func addTo(index map[uuid.UUID]map[*conn]struct{}, key uuid.UUID, c *conn) {
	set := index[key]
	if set == nil {
		set = make(map[*conn]struct{})
		index[key] = set
	}
	set[c] = struct{}{}
}

// removeFrom drops c from a set, and the set when it empties so that the index does not keep
// every room ever seen.
func removeFrom(index map[uuid.UUID]map[*conn]struct{}, key uuid.UUID, c *conn) {
	set := index[key]
	delete(set, c)
	if len(set) == 0 {
		delete(index, key)
	}
}
