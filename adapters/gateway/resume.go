package gateway

import (
	"encoding/json"
	"errors"

	"github.com/google/uuid"

	"github.com/chorus-chat/chorus/projections"
	"github.com/chorus-chat/chorus/projections/queries"
	"github.com/chorus-chat/chorus/projections/readmodel"
)

type resumeFields struct {
	Rooms map[string]int64 `json:"rooms"`
}

type resumedRoom struct {
	Recovered bool `json:"recovered"`
}

type resumedFrame struct {
	Type  string                 `json:"type"`
	ID    json.RawMessage        `json:"id,omitempty"`
	Rooms map[string]resumedRoom `json:"rooms"`
}

// resume answers `resume {rooms: {room_id: last_seen_seq}}` from a reconnecting client: for each
// room its user is a member of, the message, message_updated and message_deleted frames it
// missed, in the room's order, then one `resumed {rooms: {room_id: {recovered}}}` (echoing the
// frame's id). A room with more than ResumeLimit changes missed, or that the user may not read,
// gets no frames and recovered: false: the client reloads it from history.
//
// Live pushes keep flowing meanwhile, so a frame may come both live and replayed, and a live
// frame may come before older replayed ones: clients apply frames by message id and seq.
func (c *conn) resume(id json.RawMessage, data []byte) {
	var f resumeFields
	if !c.decodeFields(data, id, &f) {
		return
	}
	if f.Rooms == nil {
		c.enqueue(errorFrame(id, codeInvalidFrame, "rooms is required: an object of room id to last seen seq"))
		return
	}
	rooms := make(map[uuid.UUID]int64, len(f.Rooms))
	for k, seq := range f.Rooms {
		r, err := uuid.Parse(k)
		if err != nil {
			c.enqueue(errorFrame(id, codeInvalidFrame, "rooms: "+quoteShort(k)+" is not a valid room id"))
			return
		}
		if seq < 0 {
			c.enqueue(errorFrame(id, codeInvalidFrame, "rooms: a last seen seq cannot be negative"))
			return
		}
		rooms[r] = seq
	}
	c.startTask(func() { c.replay(id, rooms) })
}

// replay runs on its own goroutine. It hands its frames to the writer one at a time (bulk), so a
// long replay neither fills the socket's send queue, which live pushes need, nor holds the
// reader. What a room replays, and whether it is recovered, is queries.Resume's to say.
func (c *conn) replay(id json.RawMessage, rooms map[uuid.UUID]int64) {
	recovered, err := c.g.queries.Resume(c.ctx, c.userID, queries.Resume{Rooms: rooms, Limit: c.g.cfg.ResumeLimit},
		func(changes []readmodel.MessageChange) bool {
			for _, ch := range changes {
				if !c.sendBulk(changeFrame(ch)) {
					return false
				}
			}
			return true
		})
	switch {
	case errors.Is(err, queries.ErrStopped):
		return // the socket is closing
	case err != nil:
		c.enqueue(c.errorFrameOf(id, err))
		return
	}
	answer := resumedFrame{Type: "resumed", ID: id, Rooms: make(map[string]resumedRoom, len(recovered))}
	for r, ok := range recovered {
		answer.Rooms[r.String()] = resumedRoom{Recovered: ok}
	}
	c.sendBulk(encodeFrame(answer))
}

// changeFrame is the push frame that announced a change.
func changeFrame(ch readmodel.MessageChange) []byte {
	m := ch.Message
	switch ch.Kind {
	case projections.PushMessageDeleted:
		return encodeFrame(projections.MessageDeletedFrame{Type: ch.Kind, RoomID: m.RoomID, MessageID: m.ID, Seq: m.Seq})
	case projections.PushMessageUpdated:
		return encodeFrame(projections.MessageFrame{Type: ch.Kind, Message: m})
	default:
		return encodeFrame(projections.MessageFrame{Type: projections.PushMessage, Message: m})
	}
}

// startTask runs fn on its own goroutine, counted like a command: within the socket's limit of
// work in flight, and waited for when the socket ends.
func (c *conn) startTask(fn func()) {
	select {
	case c.slots <- struct{}{}:
	case <-c.closing:
		return
	}
	c.cmds.Add(1)
	go func() {
		defer func() {
			<-c.slots
			c.cmds.Done()
		}()
		fn()
	}()
}

// sendBulk hands a frame to the writer, waiting for it to be taken (so a replay never fills the
// send queue); false once the socket is closing.
func (c *conn) sendBulk(b []byte) bool {
	if b == nil {
		return true
	}
	select {
	case c.bulk <- struct{}{}: // the previous frame was written
	case <-c.closing:
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.writerEnded {
		<-c.bulk
		return false
	}
	c.bulkFrame = b
	c.kickLocked()
	return true
}
