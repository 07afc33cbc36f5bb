package gateway

import (
	"encoding/json"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/chorus-chat/chorus/domain"
	"github.com/chorus-chat/chorus/projections"
)

type typingFrame struct {
	Type   string    `json:"type"`
	RoomID uuid.UUID `json:"room_id"`
	UserID uuid.UUID `json:"user_id"`
}

// typing answers a `typing {room_id}` frame: relayed to the room's other members as
// `typing {room_id, user_id}` through the push stream (every gateway delivers it), at most one
// per TypingInterval for a user and room. Clients send typing often, so a frame within the
// interval is dropped without an answer, and a relayed one is not acknowledged either; only a
// socket not subscribed to the room (its user is no member) gets an error.
func (c *conn) typing(id json.RawMessage, data []byte) {
	var f roomFrame
	if !c.decodeFields(data, id, &f) {
		return
	}
	room, ok := c.roomID(id, f.RoomID)
	if !ok {
		return
	}
	if !c.g.hub.subscribed(c, room) {
		c.enqueue(errorFrame(id, domain.CodeNotAMember, "only members of the room can send typing to it"))
		return
	}
	if !c.g.rt.typing.allow(c.userID, room, time.Now(), c.g.cfg.TypingInterval) {
		return
	}
	c.g.relay(projections.Push{
		RoomID: room, Kind: pushTyping, ExceptUserID: c.userID,
		Frame: encodeFrame(typingFrame{Type: pushTyping, RoomID: room, UserID: c.userID}),
	})
}

// typingGate remembers when each user's typing was last relayed in each room (on this gateway:
// a user with sockets on several gateways may be relayed once per gateway and interval).
type typingGate struct {
	mu    sync.Mutex
	last  map[typingKey]time.Time
	swept time.Time
}

type typingKey struct{ user, room uuid.UUID }

// typingSweepEvery is how often the gate forgets entries older than the interval, so that it
// holds only the users typing now.
const typingSweepEvery = 10 * time.Second

// allow reports whether a typing frame of user in room at now is relayed, and if so records it.
func (t *typingGate) allow(user, room uuid.UUID, now time.Time, every time.Duration) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.last == nil {
		t.last = make(map[typingKey]time.Time)
	}
	if now.Sub(t.swept) > typingSweepEvery {
		for k, at := range t.last {
			if now.Sub(at) >= every {
				delete(t.last, k)
			}
		}
		t.swept = now
	}
	k := typingKey{user, room}
	if at, ok := t.last[k]; ok && now.Sub(at) < every {
		return false
	}
	t.last[k] = now
	return true
}
