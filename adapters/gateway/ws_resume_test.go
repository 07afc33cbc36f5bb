package gateway

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/gorilla/websocket"

	"github.com/chorus-chat/chorus/projections"
	"github.com/chorus-chat/chorus/projections/readmodel"
)

// changeFeed stands in for the read model's MessageChangesAfter: each room's changes in order,
// as the test appends them, answered with the same rule (everything after the send of the
// greatest seq up to lastSeenSeq).
type changeFeed struct {
	mu    sync.Mutex
	rooms map[uuid.UUID][]readmodel.MessageChange
	fail  map[uuid.UUID]bool
}

func newChangeFeed() *changeFeed {
	return &changeFeed{rooms: map[uuid.UUID][]readmodel.MessageChange{}, fail: map[uuid.UUID]bool{}}
}

func (f *changeFeed) add(room uuid.UUID, kind string, m projections.Message) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.rooms[room] = append(f.rooms[room], readmodel.MessageChange{Kind: kind, Message: m})
}

// send appends n messages to a room and returns them.
func (f *changeFeed) send(room uuid.UUID, n int) []projections.Message {
	var out []projections.Message
	f.mu.Lock()
	seq := int64(0)
	for _, c := range f.rooms[room] {
		seq = max(seq, c.Message.Seq)
	}
	f.mu.Unlock()
	for i := range n {
		m := projections.Message{ID: uuid.New(), RoomID: room, SenderID: uuid.New(), Content: fmt.Sprint("m", seq+int64(i)+1), MessageType: "text", Seq: seq + int64(i) + 1, CreatedAt: time.Now().UTC()}
		f.add(room, projections.PushMessage, m)
		out = append(out, m)
	}
	return out
}

func (f *changeFeed) MessageChangesAfter(_ context.Context, room uuid.UUID, lastSeen int64, limit int) ([]readmodel.MessageChange, bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail[room] {
		return nil, false, errors.New("database exploded")
	}
	all := f.rooms[room]
	from := 0
	for i, c := range all {
		if c.Kind == projections.PushMessage && c.Message.Seq <= lastSeen {
			from = i + 1
		}
	}
	rest := all[from:]
	if len(rest) > limit {
		return append([]readmodel.MessageChange(nil), rest[:limit]...), false, nil
	}
	return append([]readmodel.MessageChange(nil), rest...), true, nil
}

// resumeEnv is a gateway whose resume reads feed.
func resumeEnv(t *testing.T, feed *changeFeed, tune func(*Config)) *env {
	return newRealtimeEnv(t, nil, tune, setup{deps: func(d *Deps) { d.MessageChanges = feed }})
}

// readUntilResumed collects the frames up to the resumed frame and returns both.
func readUntilResumed(t *testing.T, ws *websocket.Conn) ([]frame, frame) {
	t.Helper()
	var got []frame
	for {
		f := read(t, ws)
		if f.str("type") == "resumed" {
			return got, f
		}
		got = append(got, f)
	}
}

func recovered(t *testing.T, resumed frame, room uuid.UUID) bool {
	t.Helper()
	r, ok := resumed.obj("rooms")[room.String()].(map[string]any)
	if !ok {
		t.Fatalf("resumed %v has no entry for %s", resumed, room)
	}
	return r["recovered"].(bool)
}

func TestResumeReplaysMissedChangesInOrder(t *testing.T) {
	feed := newChangeFeed()
	e := resumeEnv(t, feed, nil)
	token, _ := e.user("rosa")
	room := e.room(token, map[string]any{"name": "r"})
	quiet := e.room(token, map[string]any{"name": "quiet"})
	ms := feed.send(room, 5)
	// Seen up to seq 2; then 3-5 were sent, 2 (already seen) was edited and 4 deleted.
	edited := ms[1]
	edited.Content, edited.EditedAt = "edited", &edited.CreatedAt
	feed.add(room, projections.PushMessageUpdated, edited)
	deleted := ms[3]
	deleted.Content, deleted.Deleted = "", true
	feed.add(room, projections.PushMessageDeleted, deleted)
	feed.send(quiet, 2)

	ws := e.dial(token)
	send(t, ws, map[string]any{"type": "resume", "id": "r1", "rooms": map[string]int64{room.String(): 2, quiet.String(): 2}})
	frames, resumed := readUntilResumed(t, ws)
	var got []string
	for _, f := range frames {
		switch f.str("type") {
		case "message", "message_updated":
			got = append(got, fmt.Sprintf("%s %v %s", f.str("type"), f.obj("message")["seq"], f.obj("message").str("content")))
		case "message_deleted":
			if f.str("room_id") != room.String() || f.str("message_id") != deleted.ID.String() {
				t.Fatalf("message_deleted %v", f)
			}
			got = append(got, fmt.Sprintf("message_deleted %v", f["seq"]))
		default:
			t.Fatalf("unexpected frame %v", f)
		}
	}
	want := []string{"message 3 m3", "message 4 m4", "message 5 m5", "message_updated 2 edited", "message_deleted 4"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("replayed %v, want %v", got, want)
	}
	if resumed.str("id") != "r1" || !recovered(t, resumed, room) || !recovered(t, resumed, quiet) || len(resumed.obj("rooms")) != 2 {
		t.Fatalf("resumed %v", resumed)
	}

	// Seen everything: nothing to replay, recovered. From 0: everything.
	send(t, ws, map[string]any{"type": "resume", "rooms": map[string]int64{quiet.String(): 2}})
	if frames, resumed := readUntilResumed(t, ws); len(frames) != 0 || !recovered(t, resumed, quiet) || resumed["id"] != nil {
		t.Fatalf("up to date: %v then %v", frames, resumed)
	}
	send(t, ws, map[string]any{"type": "resume", "rooms": map[string]int64{quiet.String(): 0}})
	if frames, _ := readUntilResumed(t, ws); len(frames) != 2 {
		t.Fatalf("from 0: %v", frames)
	}
}

// More missed than the bound, a room the user may not read, and a failing read all answer
// recovered: false without frames for that room; the other rooms are replayed.
func TestResumeUnrecoverableRooms(t *testing.T) {
	feed := newChangeFeed()
	e := resumeEnv(t, feed, func(c *Config) { c.ResumeLimit = 3 })
	token, _ := e.user("rosa")
	otherTok, _ := e.user("otto")
	busy := e.room(token, map[string]any{"name": "busy"})
	fine := e.room(token, map[string]any{"name": "fine"})
	broken := e.room(token, map[string]any{"name": "broken"})
	notMine := e.room(otherTok, map[string]any{"name": "not mine"})
	feed.send(busy, 4)
	feed.send(fine, 3)
	feed.send(notMine, 1)
	feed.send(broken, 1)
	feed.mu.Lock()
	feed.fail[broken] = true
	feed.mu.Unlock()
	unknown := uuid.New()

	ws := e.dial(token)
	send(t, ws, map[string]any{"type": "resume", "id": "r", "rooms": map[string]int64{
		busy.String(): 0, fine.String(): 0, notMine.String(): 0, broken.String(): 0, unknown.String(): 5,
	}})
	frames, resumed := readUntilResumed(t, ws)
	for _, f := range frames {
		if f.obj("message").str("room_id") != fine.String() {
			t.Fatalf("replayed a frame of another room than %s: %v", fine, f)
		}
	}
	if len(frames) != 3 {
		t.Fatalf("replayed %d frames, want the 3 of the fine room", len(frames))
	}
	for room, want := range map[uuid.UUID]bool{busy: false, fine: true, notMine: false, broken: false, unknown: false} {
		if got := recovered(t, resumed, room); got != want {
			t.Errorf("room %s: recovered %v, want %v", room, got, want)
		}
	}
}

func TestResumeInvalidFrames(t *testing.T) {
	e := resumeEnv(t, newChangeFeed(), nil)
	token, _ := e.user("rosa")
	ws := e.dial(token)
	room := uuid.NewString()
	for i, fr := range []string{
		`{"type":"resume","id":"x"}`,
		`{"type":"resume","id":"x","rooms":[1]}`,
		`{"type":"resume","id":"x","rooms":{"not-a-room":1}}`,
		`{"type":"resume","id":"x","rooms":{"` + room + `":-1}}`,
		`{"type":"resume","id":"x","rooms":{"` + room + `":"7"}}`,
	} {
		send(t, ws, fr)
		if f := expect(t, ws, "error", "x"); f.str("code") != codeInvalidFrame {
			t.Fatalf("frame %d: %v", i, f)
		}
	}
	send(t, ws, `{"type":"resume","id":"y","rooms":{}}`)
	if f := expect(t, ws, "resumed", "y"); len(f.obj("rooms")) != 0 {
		t.Fatalf("empty resume: %v", f)
	}
}

// A replay far longer than the socket's send queue neither disconnects the client (it reads) nor
// holds up live pushes, which may interleave with it.
func TestResumeLongerThanTheSendQueue(t *testing.T) {
	feed := newChangeFeed()
	e := resumeEnv(t, feed, func(c *Config) { c.SendQueue = 4 })
	token, userID := e.user("rosa")
	room := e.room(token, map[string]any{"name": "r"})
	feed.send(room, 200)
	ws := e.dial(token)
	send(t, ws, map[string]any{"type": "resume", "rooms": map[string]int64{room.String(): 0}})
	e.gw.Deliver(projections.Push{RoomID: room, Kind: projections.PushMessage, Frame: encodeFrame(projections.MessageFrame{
		Type: "message", Message: projections.Message{ID: uuid.New(), RoomID: room, SenderID: userID, Content: "live", Seq: 201},
	})})
	frames, resumed := readUntilResumed(t, ws)
	replayed, live := 0, 0
	last := int64(0)
	for _, f := range frames {
		m := f.obj("message")
		if m.str("content") == "live" {
			live++
			continue
		}
		seq := int64(m["seq"].(float64))
		if seq != last+1 {
			t.Fatalf("replayed seq %d after %d", seq, last)
		}
		last = seq
		replayed++
	}
	if replayed != 200 || !recovered(t, resumed, room) {
		t.Fatalf("replayed %d, resumed %v", replayed, resumed)
	}
	if live == 0 {
		expect(t, ws, "message", "")
	}
	if e.gw.Connections() != 1 {
		t.Fatal("the resuming client was disconnected")
	}
	send(t, ws, `{"type":"ping","id":"p"}`)
	expect(t, ws, "pong", "p")
}

// Without a change reader (resume not wired) every room answers recovered: false.
func TestResumeWithoutChangesReader(t *testing.T) {
	e := newEnv(t, nil)
	token, _ := e.user("rosa")
	room := e.room(token, map[string]any{"name": "r"})
	ws := e.dial(token)
	send(t, ws, map[string]any{"type": "resume", "rooms": map[string]int64{room.String(): 0}})
	if _, resumed := readUntilResumed(t, ws); recovered(t, resumed, room) {
		t.Fatalf("resumed %v", resumed)
	}
}

// A client that claims a seq beyond the room's last (the push projector can run ahead of the
// read model, so it may have seen a message the read model does not hold yet) is answered as if
// it had seen the room's last message: the changes since that one, usually none, and
// recovered: true. Live pushes bring what follows.
func TestResumeBeyondTheRoomsLastSeq(t *testing.T) {
	feed := newChangeFeed()
	e := resumeEnv(t, feed, nil)
	token, _ := e.user("bea")
	room := e.room(token, map[string]any{"name": "ahead"})
	quiet := e.room(token, map[string]any{"name": "still"})
	ms := feed.send(room, 3)
	feed.send(quiet, 2)
	edited := ms[0]
	edited.Content, edited.EditedAt = "edited", &edited.CreatedAt
	feed.add(room, projections.PushMessageUpdated, edited) // after the last send

	ws := e.dial(token)
	for i, seqs := range []map[string]int64{
		{room.String(): 3, quiet.String(): 2},        // exactly the last
		{room.String(): 1 << 40, quiet.String(): 99}, // beyond it
	} {
		id := fmt.Sprint("r", i)
		send(t, ws, map[string]any{"type": "resume", "id": id, "rooms": seqs})
		frames, resumed := readUntilResumed(t, ws)
		if len(frames) != 1 || frames[0].str("type") != "message_updated" || frames[0].obj("message").str("content") != "edited" {
			t.Fatalf("resume %v: frames %v, want only the edit made after the last message", seqs, frames)
		}
		if resumed.str("id") != id || !recovered(t, resumed, room) || !recovered(t, resumed, quiet) {
			t.Fatalf("resume %v: %v, want both rooms recovered", seqs, resumed)
		}
	}
}
