package gateway

import (
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/gorilla/websocket"

	"github.com/chorus-chat/chorus/projections"
)

// A burst over the per-socket frame limit is answered rate_limited frame by frame (echoing each
// id); the socket stays open and is served again once the bucket refills.
func TestWSFrameRateLimit(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.FrameRate, c.FrameBurst = 5, 5 })
	token, _ := e.user("rhea")
	ws := e.dial(token)
	const n = 30
	for i := range n {
		send(t, ws, map[string]any{"type": "ping", "id": fmt.Sprint("p", i)})
	}
	pongs, limited := 0, 0
	for i := range n {
		f := read(t, ws)
		if f.str("id") != fmt.Sprint("p", i) {
			t.Fatalf("answer %d is %v, want one with id p%d", i, f, i)
		}
		switch {
		case f.str("type") == "pong":
			pongs++
		case f.str("type") == "error" && f.str("code") == codeRateLimited && f.str("message") != "":
			limited++
		default:
			t.Fatalf("answer %d: %v", i, f)
		}
	}
	// The burst of 5, and maybe a token or two refilled while the 30 frames were read.
	if pongs < 5 || pongs > 10 || limited != n-pongs {
		t.Fatalf("%d pongs and %d rate_limited for %d frames", pongs, limited, n)
	}
	time.Sleep(400 * time.Millisecond) // two tokens
	send(t, ws, `{"type":"ping","id":"after"}`)
	expect(t, ws, "pong", "after")
	if e.gw.Connections() != 1 {
		t.Fatalf("%d connections", e.gw.Connections())
	}
}

func TestWSFrameRateLimitIsPerSocket(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.FrameRate, c.FrameBurst = 1, 2 })
	token, _ := e.user("rhea")
	a, b := e.dial(token), e.dial(token)
	for range 3 {
		send(t, a, `{"type":"ping","id":"a"}`)
	}
	expect(t, a, "pong", "a")
	expect(t, a, "pong", "a")
	if f := expect(t, a, "error", "a"); f.str("code") != codeRateLimited {
		t.Fatalf("got %v", f)
	}
	send(t, b, `{"type":"ping","id":"b"}`)
	expect(t, b, "pong", "b")
}

// countingConn counts the bytes read from the network: what the server put on the wire.
type countingConn struct {
	net.Conn
	n *atomic.Int64
}

func (c countingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// With compression on, a client that offers permessage-deflate gets it: the extension is in
// the handshake, and a large compressible frame crosses the wire in a fraction of its size.
// With it off, or a client that does not offer it, frames go uncompressed.
func TestWSCompressionIsNegotiated(t *testing.T) {
	big := strings.Repeat("all work and no play makes jack a dull boy ", 1000) // 43 KB
	for _, tc := range []struct {
		name           string
		server, client bool
		compressed     bool
	}{
		{"on", true, true, true},
		{"server off", false, true, false},
		{"client does not offer", true, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, func(c *Config) { c.EnableCompression = tc.server })
			token, userID := e.user("cora")
			room := e.room(token, map[string]any{"name": "r"})
			var wire atomic.Int64
			d := websocket.Dialer{
				EnableCompression: tc.client,
				NetDial: func(network, addr string) (net.Conn, error) {
					c, err := net.Dial(network, addr)
					if err != nil {
						return nil, err
					}
					return countingConn{Conn: c, n: &wire}, nil
				},
			}
			ws, resp, err := d.Dial(e.wsURL("?token="+token), nil)
			if err != nil {
				t.Fatal(err)
			}
			defer ws.Close()
			ext := resp.Header.Get("Sec-WebSocket-Extensions")
			if got := strings.Contains(ext, "permessage-deflate"); got != tc.compressed {
				t.Fatalf("Sec-WebSocket-Extensions %q, want deflate %v", ext, tc.compressed)
			}
			drain(t, ws)
			before := wire.Load()
			frame := encodeFrame(projections.MessageFrame{Type: "message", Message: projections.Message{
				ID: uuid.New(), RoomID: room, SenderID: userID, Content: big, Seq: 1,
			}})
			e.gw.Deliver(projections.Push{RoomID: room, Kind: projections.PushMessage, Frame: frame})
			if f := expect(t, ws, "message", ""); f.obj("message").str("content") != big {
				t.Fatal("the frame arrived damaged")
			}
			sent := wire.Load() - before
			if tc.compressed && sent > int64(len(frame))/10 {
				t.Fatalf("a %d-byte frame took %d bytes on the wire with compression", len(frame), sent)
			}
			if !tc.compressed && sent < int64(len(frame)) {
				t.Fatalf("a %d-byte frame took only %d bytes on the wire without compression", len(frame), sent)
			}
			// Compressed frames from the client are read too.
			send(t, ws, `{"type":"ping","id":"c","pad":"`+strings.Repeat("z", 20000)+`"}`)
			expect(t, ws, "pong", "c")
		})
	}
}

// The upgrade refuses a socket beyond MaxConnections with 503, and takes one again when a
// socket closes.
func TestWSMaxConnectionsFreesOnClose(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.MaxConnections = 2 })
	token, _ := e.user("mona")
	a := e.dial(token)
	e.dial(token)
	_, resp, err := websocket.DefaultDialer.Dial(e.wsURL("?token="+token), nil)
	if err == nil || resp == nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("third socket: %v %v, want 503", err, resp)
	}
	a.Close()
	eventually(t, "a socket freed", func() bool { return e.gw.Connections() == 1 })
	e.dial(token)
}
