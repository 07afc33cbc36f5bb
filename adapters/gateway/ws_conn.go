package gateway

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/gorilla/websocket"
	"golang.org/x/time/rate"
)

const (
	// writeWait bounds one frame write to a client.
	writeWait = 10 * time.Second
	// closeGrace bounds the close handshake: flushing the queue and sending the close frame,
	// then (twice as long) waiting for the client's close frame.
	closeGrace = time.Second
	// maxInFlight bounds the commands one socket has waiting for replies. Past it the reader
	// stops reading, which pushes back on the client through TCP instead of queueing without end.
	maxInFlight = 64
)

var pingFrame = []byte(`{"type":"ping"}`)

// conn is one client socket. A reader goroutine decodes frames and starts a goroutine per
// command (so one slow reply does not hold up the next command); a writer goroutine is the only
// one writing data frames, fed by a bounded queue so that no producer ever waits on the client.
//
// An idle socket should cost little (docs/benchmarks.md, "what an idle socket costs"): the writer goroutine
// runs only while there is something to write (the queue, a replay's frame, the heartbeat, the
// close), the queue is a slice that grows with what waits and is dropped when it empties, and
// the heartbeat is a timer rather than a goroutine.
type conn struct {
	g *Gateway
	// ws is set by attach once the upgrade is done. The socket is registered and subscribed
	// before that (so it misses no push sent after the client saw the upgrade succeed), and
	// closeWith/abort may run before there is a connection to apply them to.
	ws atomic.Pointer[websocket.Conn]
	// batch is ws's network connection, which gathers a queue's frames into one write; set
	// with ws, before the writer starts (nil: every frame is written alone).
	batch  *batchedConn
	userID uuid.UUID
	// onBehalfOf is the current frame's on_behalf_of (uuid.Nil: none), written and read only by
	// the reading goroutine (handleFrame, startCommand).
	onBehalfOf uuid.UUID
	// id names the socket in the shared presence record.
	id string
	// ctx ends when the socket is done, which cancels its pending dispatches.
	ctx    context.Context
	cancel context.CancelFunc

	// bulk lets one frame at a time through from a producer that may wait (a resume's replay),
	// so that a long replay never fills the queue, which live pushes need: a replay holds it
	// from handing its frame over (bulkFrame) until the writer takes that frame.
	bulk chan struct{}
	// heartbeat queues a {"type":"ping"} every HeartbeatInterval (set by run).
	heartbeat *time.Timer
	// writerDone is closed when the writer is done for good: it sent the close frame, or a
	// write failed.
	writerDone chan struct{}

	// limiter bounds the frames the client may send (nil: no limit). Reader only.
	limiter *rate.Limiter
	// presenceAt is when the socket last refreshed its presence entry. Reader only.
	presenceAt time.Time
	// lastActive is when the socket was last active (unix ms): written by the reader, read by
	// the flush of the last seen times (presence_reconcile.go).
	lastActive atomic.Int64

	// mu serializes everything that enqueues, so that an ack and the pushes held back for it
	// enter the queue in that order, and guards the queue and the writer's state.
	mu   sync.Mutex
	dead bool // the queue overflowed: drop further frames
	// queue holds the frames waiting for the writer, at most cfg.SendQueue; nil when empty.
	queue  [][]byte
	queued int // bytes in queue
	// bulkFrame is a replay's frame waiting for the writer (see bulk).
	bulkFrame []byte
	// started: run started, so a writer may run (frames queued before wait for it).
	started bool
	// writing: a writer goroutine runs; it is the only one writing data frames.
	writing bool
	// writerEnded: the writer is done for good (writerDone is closed); frames are dropped.
	writerEnded bool
	// pending holds, per command in flight on this socket, the pushes it caused that arrived
	// before its ack was queued: "a client receives its own messages after its ack".
	pending map[uuid.UUID]*heldFrames

	closing   chan struct{} // closed when the socket starts closing
	closeOnce sync.Once
	closeCode int // set before closing is closed
	closeText string

	// stopMu makes "stop extending the read deadline" atomic with the check the reader makes
	// before extending it, so a closing socket's bounded deadline is never pushed back.
	stopMu   sync.Mutex
	stopping bool

	slots chan struct{}  // one per command in flight
	cmds  sync.WaitGroup // command goroutines

	// The session the socket lives by (sessions.go): its token's hash and end, and the timer
	// that closes the socket then. Set before the socket runs; a reauth or a logout changes it.
	sessMu    sync.Mutex
	sessHash  [sha256.Size]byte
	sessEnds  time.Time
	sessTimer *time.Timer
	sessDone  bool // the socket ended: the timer stays stopped

	// Guarded by hub.mu.
	rooms   map[uuid.UUID]struct{}
	removed bool
}

type heldFrames struct {
	n      int // commands with this id in flight on the socket (a client may repeat one)
	frames [][]byte
}

func newConn(g *Gateway, userID uuid.UUID) *conn {
	ctx, cancel := context.WithCancel(context.Background())
	var lim *rate.Limiter
	if g.cfg.FrameRate > 0 {
		lim = rate.NewLimiter(rate.Limit(g.cfg.FrameRate), g.cfg.FrameBurst)
	}
	return &conn{
		g: g, userID: userID, id: uuid.NewString(), ctx: ctx, cancel: cancel,
		bulk:       make(chan struct{}, 1),
		writerDone: make(chan struct{}),
		limiter:    lim,
		pending:    map[uuid.UUID]*heldFrames{},
		closing:    make(chan struct{}),
		slots:      make(chan struct{}, maxInFlight),
		rooms:      map[uuid.UUID]struct{}{},
	}
}

// attach gives the socket its upgraded connection and applies a close that was decided
// before there was one (e.g. Shutdown during the upgrade). run may start after it.
func (c *conn) attach(ws *websocket.Conn) {
	c.ws.Store(ws)
	if c.isStopping() {
		c.applyClose(ws)
	}
}

// sock is the connection; set for as long as the reader and the writer run.
func (c *conn) sock() *websocket.Conn { return c.ws.Load() }

// run drives the socket to its end and releases everything it holds.
//
// run, readLoop and the functions they call while the socket waits for the client keep small
// stack frames, in functions of their own that are not inlined: the runtime halves a
// goroutine's stack at a GC when less than a quarter of it is in use, and an idle socket's
// reader, parked in gorilla's NextReader, then fits in 4 KB rather than 8 (chorus-bench --idle
// prints the stack memory per socket).
func (c *conn) run() {
	c.start()
	c.readLoop()
	c.end()
}

// start begins run: the counters, the writer's state and the heartbeat, presence.
//
//go:noinline
func (c *conn) start() {
	c.g.met.WebSocketOpened()
	c.mu.Lock()
	c.started = true
	c.heartbeat = time.AfterFunc(c.g.cfg.HeartbeatInterval, c.beat)
	c.kickLocked() // the frames queued before the upgrade, or a close decided then
	c.mu.Unlock()
	c.presenceOnline()
}

// end closes the socket once its reads ended and releases everything it holds.
//
//go:noinline
func (c *conn) end() {
	defer c.g.hub.wg.Done()
	defer c.g.conns.Add(-1)
	defer c.g.met.WebSocketClosed()
	c.stopSessionTimer()
	rooms := c.g.hub.roomsOf(c) // whom to tell if the user goes offline
	c.g.hub.remove(c)
	c.closeWith(websocket.CloseNormalClosure, "") // no-op when a reason was already given
	<-c.writerDone
	c.heartbeat.Stop()
	_ = c.sock().Close()
	c.cancel()
	c.cmds.Wait()
	c.presenceOffline(rooms)
}

// closeWith starts an orderly close: the writer flushes what is queued and sends a close frame
// with code, and the reader waits a bounded time for the client's close frame. Only the
// first call counts.
func (c *conn) closeWith(code int, text string) {
	c.closeOnce.Do(func() {
		c.closeCode, c.closeText = code, text
		c.stopMu.Lock()
		c.stopping = true
		c.stopMu.Unlock()
		if ws := c.ws.Load(); ws != nil {
			c.applyClose(ws)
		}
		close(c.closing)
		// The writer flushes the queue and sends the close frame; started from a goroutine of
		// its own since the caller may hold c.mu (enqueueLocked's abort).
		go func() {
			c.mu.Lock()
			defer c.mu.Unlock()
			c.kickLocked()
		}()
	})
}

// applyClose bounds how long the reader keeps waiting once the socket is closing, or cuts
// the connection when it was aborted.
func (c *conn) applyClose(ws *websocket.Conn) {
	if c.closeCode == websocket.CloseAbnormalClosure {
		_ = ws.Close()
		return
	}
	_ = ws.SetReadDeadline(time.Now().Add(3 * closeGrace))
}

// abort cuts the connection at once, without a close handshake: for a client that does not
// read, a close frame would only wait behind everything else it did not read. Closing the
// TCP connection also unblocks a writer stuck on it.
func (c *conn) abort(reason string) {
	c.closeWith(websocket.CloseAbnormalClosure, reason)
	if ws := c.ws.Load(); ws != nil {
		_ = ws.Close()
	}
}

// extendDeadline records activity: the socket stays open for ConnectionTimeout more.
func (c *conn) extendDeadline() {
	c.stopMu.Lock()
	defer c.stopMu.Unlock()
	if !c.stopping {
		_ = c.sock().SetReadDeadline(time.Now().Add(c.g.cfg.ConnectionTimeout))
	}
}

func (c *conn) isStopping() bool {
	c.stopMu.Lock()
	defer c.stopMu.Unlock()
	return c.stopping
}

func (c *conn) readLoop() {
	ws := c.sock()
	c.setControlHandlers(ws)
	for {
		c.extendDeadline()
		mt, r, err := ws.NextReader()
		if err != nil {
			c.readFailed(err)
			return
		}
		if !c.readFrame(mt, r) {
			return
		}
	}
}

// setControlHandlers makes the client's WebSocket pings and pongs count as activity.
//
//go:noinline
func (c *conn) setControlHandlers(ws *websocket.Conn) {
	ws.SetPongHandler(func(string) error {
		c.extendDeadline()
		c.presenceActive(false)
		return nil
	})
	ws.SetPingHandler(func(data string) error {
		c.extendDeadline()
		c.presenceActive(false)
		err := ws.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(writeWait))
		if errors.Is(err, websocket.ErrCloseSent) || isTimeout(err) {
			return nil
		}
		return err
	})
}

// readFrame reads and handles one client frame; false when the reads are over.
//
//go:noinline
func (c *conn) readFrame(mt int, r io.Reader) bool {
	if c.isStopping() {
		// Closing: skip whatever still comes until the client's close frame.
		return true
	}
	if c.sessionOver(time.Now()) {
		// The timer may not have fired yet: a frame after the session's end is not run.
		c.endSession(reasonSessionExpired)
		return true
	}
	c.presenceActive(false)
	// Read the limit ourselves rather than with SetReadLimit, which would close the socket
	// without the frame_too_large error the contract promises.
	limit := c.g.cfg.FrameLimit
	data, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		c.readFailed(err)
		return false
	}
	c.g.met.FrameIn()
	if int64(len(data)) > limit {
		c.enqueue(errorFrame(nil, codeFrameTooLarge, "frame is larger than the limit"))
		c.closeWith(websocket.CloseMessageTooBig, "frame too large")
		return true
	}
	if c.limiter != nil && !c.limiter.Allow() {
		// Answered, not cut off: a client that bursts slows down and keeps its socket.
		c.enqueue(errorFrame(frameID(data), codeRateLimited, "too many frames; slow down"))
		return true
	}
	if mt != websocket.TextMessage {
		c.enqueue(errorFrame(nil, codeInvalidFrame, "frames must be text (JSON)"))
		return true
	}
	// RFC 6455 (8.1): a text frame that is not UTF-8 fails the connection with 1007. Gorilla
	// does not check, and encoding/json would turn the bad bytes into U+FFFD and store that.
	if !utf8.Valid(data) {
		c.enqueue(errorFrame(nil, codeInvalidFrame, "frame is not valid UTF-8"))
		c.closeWith(websocket.CloseInvalidFramePayloadData, "invalid UTF-8")
		return true
	}
	c.handleFrame(data)
	return true
}

// readFailed decides how a socket whose reads ended is closed.
func (c *conn) readFailed(err error) {
	var ce *websocket.CloseError
	switch {
	case errors.As(err, &ce):
		// The client closed; gorilla has answered its close frame already.
		c.closeWith(websocket.CloseNormalClosure, "")
	case isTimeout(err) && !c.isStopping():
		c.closeWith(websocket.CloseNormalClosure, "idle timeout")
	default:
		c.abort("read failed")
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// kickLocked starts the writer if there is something for it to do and none runs. c.mu held.
func (c *conn) kickLocked() {
	if !c.started || c.writing || c.writerEnded {
		return
	}
	select {
	case <-c.closing:
	default:
		if len(c.queue) == 0 && c.bulkFrame == nil {
			return
		}
	}
	c.writing = true
	go c.writeLoop()
}

// nextLocked takes the next frame for the writer: the queue's first, else a replay's. c.mu held.
func (c *conn) nextLocked() []byte {
	if len(c.queue) > 0 {
		b := c.queue[0]
		c.queue[0] = nil
		c.queue = c.queue[1:]
		c.queued -= len(b)
		if len(c.queue) == 0 {
			c.queue, c.queued = nil, 0 // an idle socket keeps no queue
		}
		return b
	}
	if b := c.bulkFrame; b != nil {
		c.bulkFrame = nil
		<-c.bulk // the replay may hand over its next frame
		return b
	}
	return nil
}

// next is nextLocked under c.mu; when there is nothing to write it also ends this writer
// (writing false) unless the socket is closing, all under the same lock as the check, so that
// an enqueue either sees this writer running or starts the next.
func (c *conn) next() (b []byte, closing bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	select {
	case <-c.closing:
		return nil, true
	default:
	}
	if b = c.nextLocked(); b == nil {
		c.writing = false
	}
	return b, false
}

// writeLoop is the writer: it writes what is queued and returns when nothing is left, or, once
// the socket is closing, flushes the queue and sends the close frame and ends for good.
func (c *conn) writeLoop() {
	for {
		b, closing := c.next()
		if closing {
			c.finish()
			c.endWriter()
			return
		}
		if b == nil {
			return
		}
		if err := c.writeBatch(b); err != nil {
			c.abort("write failed")
			c.endWriter()
			return
		}
	}
}

// endWriter marks the writer done for good: no other starts, and run may close the connection.
func (c *conn) endWriter() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.writerEnded = true
	c.queue, c.queued = nil, 0
	if c.bulkFrame != nil {
		c.bulkFrame = nil
		<-c.bulk
	}
	close(c.writerDone)
}

// beat queues the heartbeat's ping, even past the queue's bound (the ping is the server's, not
// the client's falling behind), and sets the next.
func (c *conn) beat() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.writerEnded {
		return
	}
	c.queue = append(c.queue, pingFrame)
	c.queued += len(pingFrame)
	c.kickLocked()
	c.heartbeat.Reset(c.g.cfg.HeartbeatInterval)
}

// writeBatch writes first and whatever else is queued by then (up to maxBatchFrames), in one
// write to the network when the connection batches (batchedConn).
func (c *conn) writeBatch(first []byte) error {
	deadline := time.Now().Add(writeWait)
	if c.batch == nil {
		return c.write(first, deadline)
	}
	c.batch.hold()
	err := c.write(first, deadline)
	for n := 1; err == nil && n < maxBatchFrames; n++ {
		c.mu.Lock()
		b := c.nextLocked()
		c.mu.Unlock()
		if b == nil {
			break
		}
		err = c.write(b, deadline)
	}
	if ferr := c.batch.flush(); err == nil {
		err = ferr
	}
	return err
}

// finish flushes the queue (e.g. a frame_too_large error before the 1009) and sends the close
// frame, all within closeGrace.
func (c *conn) finish() {
	if c.closeCode == websocket.CloseAbnormalClosure {
		// Aborted: the connection is cut, there is nobody left to write to (and 1006 must
		// never be sent on the wire).
		return
	}
	deadline := time.Now().Add(closeGrace)
	for {
		c.mu.Lock()
		var b []byte
		if len(c.queue) > 0 {
			b = c.nextLocked()
		}
		c.mu.Unlock()
		if b == nil {
			break
		}
		if c.write(b, deadline) != nil {
			return
		}
	}
	msg := websocket.FormatCloseMessage(c.closeCode, c.closeText)
	_ = c.sock().WriteControl(websocket.CloseMessage, msg, deadline)
}

func (c *conn) write(b []byte, deadline time.Time) error {
	ws := c.sock()
	if err := ws.SetWriteDeadline(deadline); err != nil {
		return err
	}
	c.g.met.FrameOut()
	return ws.WriteMessage(websocket.TextMessage, b)
}

// enqueue queues a frame for the writer.
func (c *conn) enqueue(b []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.enqueueLocked(b)
}

// enqueueLocked never blocks: a full queue (cfg.SendQueue frames or cfg.SendQueueBytes bytes
// waiting) means the client does not keep up, and waiting for it would stall Deliver and so
// every other socket. It is disconnected instead.
func (c *conn) enqueueLocked(b []byte) {
	if c.dead || c.writerEnded || b == nil {
		return
	}
	if len(c.queue) >= c.g.cfg.SendQueue || c.queued+len(b) > c.g.cfg.SendQueueBytes {
		c.dead = true
		c.g.log.Info("websocket client too slow; disconnecting", "user_id", c.userID, "frames", len(c.queue), "bytes", c.queued)
		c.queue, c.queued = nil, 0
		c.abort("send queue full")
		return
	}
	c.queue = append(c.queue, b)
	c.queued += len(b)
	c.kickLocked()
}

// push queues a pushed frame, or holds it back while the command that caused it is waiting
// for its ack on this socket.
func (c *conn) push(frame []byte, cmdID uuid.UUID) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.pending) > 0 && cmdID != uuid.Nil {
		if h := c.pending[cmdID]; h != nil {
			h.frames = append(h.frames, frame)
			c.g.met.PushDelivered()
			return
		}
	}
	c.g.met.PushDelivered()
	c.enqueueLocked(frame)
}

// hold marks a command as in flight on this socket; call before dispatching it.
func (c *conn) hold(cmdID uuid.UUID) {
	c.mu.Lock()
	defer c.mu.Unlock()
	h := c.pending[cmdID]
	if h == nil {
		h = &heldFrames{}
		c.pending[cmdID] = h
	}
	h.n++
}

// release queues a command's answer (ack or error), then the pushes held back for it.
func (c *conn) release(cmdID uuid.UUID, answer []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.enqueueLocked(answer)
	h := c.pending[cmdID]
	if h == nil {
		return
	}
	for _, f := range h.frames {
		c.enqueueLocked(f)
	}
	h.frames = nil
	if h.n--; h.n == 0 {
		delete(c.pending, cmdID)
	}
}

// frameID is the id of a client frame when it has a string one, for answering a frame that is
// otherwise not read (rate_limited).
func frameID(data []byte) json.RawMessage {
	var h frameHeader
	if json.Unmarshal(data, &h) != nil || len(h.ID) == 0 || h.ID[0] != '"' {
		return nil
	}
	return canonicalID(h.ID)
}

// canonicalID re-encodes a frame's string id: the echo is the same JSON string, but always
// valid UTF-8 (a text frame must be; invalid bytes become U+FFFD, as Go decodes them).
func canonicalID(raw json.RawMessage) json.RawMessage {
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return nil
	}
	b, _ := json.Marshal(s)
	return b
}
