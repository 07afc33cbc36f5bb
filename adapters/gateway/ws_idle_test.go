package gateway

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/chorus-chat/chorus/projections"
)

// The writer runs only while there is something to write and the send queue grows and
// shrinks with what waits (ws_conn.go): a socket still gets every frame in order across many
// bursts with quiet gaps and heartbeats between them, holds no queue once quiet, and a client
// that does not read is still cut off at the default bound.
func TestWSFramesInOrderAcrossBurstsAndHeartbeats(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.HeartbeatInterval = 5 * time.Millisecond })
	tok, userID := e.user("bursty")
	room := e.room(tok, map[string]any{"name": "r"})
	ws := e.dial(tok)

	const bursts = 40
	total := 0
	for b := range bursts {
		total += b%7*20 + 1
	}
	got := make(chan []int64, 1)
	pings := make(chan int, 1)
	go func() {
		var seqs []int64
		n := 0
		for len(seqs) < total {
			_ = ws.SetReadDeadline(time.Now().Add(10 * time.Second))
			_, data, err := ws.ReadMessage()
			if err != nil {
				break
			}
			var f struct {
				Type    string `json:"type"`
				Message struct {
					Seq int64 `json:"seq"`
				} `json:"message"`
			}
			_ = json.Unmarshal(data, &f)
			switch f.Type {
			case "ping":
				n++
			case "message":
				seqs = append(seqs, f.Message.Seq)
			}
		}
		got <- seqs
		pings <- n
	}()
	seq := int64(0)
	for b := range bursts {
		for range b%7*20 + 1 {
			seq++
			frame, _ := json.Marshal(projections.MessageFrame{Type: "message", Message: projections.Message{
				ID: uuid.New(), RoomID: room, SenderID: userID, Content: fmt.Sprint(seq), Seq: seq,
			}})
			e.gw.Deliver(projections.Push{RoomID: room, Kind: projections.PushMessage, CommandID: uuid.New(), Frame: frame})
		}
		time.Sleep(time.Duration(b%4) * 4 * time.Millisecond) // quiet gaps: the writer ends and starts again
	}
	seqs := <-got
	if len(seqs) != total {
		t.Fatalf("got %d messages, want %d", len(seqs), total)
	}
	for i, s := range seqs {
		if s != int64(i+1) {
			t.Fatalf("message %d has seq %d: out of order", i, s)
		}
	}
	if n := <-pings; n == 0 {
		t.Fatal("no heartbeat between the bursts")
	}
	// Quiet again: the socket keeps no queue and no writer (the next ping starts one).
	cs := e.gw.hub.socketsOf(userID)
	if len(cs) != 1 {
		t.Fatalf("%d sockets", len(cs))
	}
	eventually(t, "an idle socket holds no queue", func() bool {
		c := cs[0]
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.queue == nil && cap(c.queue) == 0
	})
	send(t, ws, `{"type":"ping","id":"after"}`)
	for {
		if f := read(t, ws); f.str("type") == "pong" {
			break
		}
	}
}

func TestWSClientThatDoesNotReadIsCutAtTheDefaultQueue(t *testing.T) {
	e := newEnv(t, nil) // the default SendQueue
	tok, userID := e.user("deaf")
	room := e.room(tok, map[string]any{"name": "r"})
	e.dial(tok) // never read
	big := strings.Repeat("x", 32<<10)
	deadline := time.Now().Add(30 * time.Second)
	for i := 0; e.gw.Connections() == 1; i++ {
		if time.Now().After(deadline) {
			t.Fatalf("a client that does not read is still connected after %d pushes", i)
		}
		frame, _ := json.Marshal(projections.MessageFrame{Type: "message", Message: projections.Message{
			ID: uuid.New(), RoomID: room, SenderID: userID, Content: big, Seq: int64(i + 1),
		}})
		e.gw.Deliver(projections.Push{RoomID: room, Kind: projections.PushMessage, CommandID: uuid.New(), Frame: frame})
		if i%64 == 63 {
			time.Sleep(time.Millisecond) // let the writer fill the kernel's buffers
		}
	}
}
