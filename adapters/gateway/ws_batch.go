package gateway

import (
	"bufio"
	"net"
	"net/http"
	"sync"
	"time"
)

// batchedConn is a socket's network connection that can hold writes back: while the writer
// drains a socket's queue, the frames gather in a buffer and go out in one write when the queue
// is empty (or the buffer full). Under load a socket has many frames queued at once (a busy
// room sends one per message), and a write system call per frame was 8% of the all-in-one
// process's CPU at saturation (docs/benchmarks.md). Writes outside a batch (the handshake,
// gorilla's control frames from other goroutines) go out at once, or with the batch if one is
// open.
//
// gorilla sets the connection's write deadline before every frame. Within a batch the deadline
// is only noted and set on the connection before the batch's next write to the network: one
// deadline per write system call rather than one per frame (setting one re-arms a runtime timer
// under a lock: 3–4% of the all-in-one process at 1,000 msg/s, docs/benchmarks.md).
type batchedConn struct {
	net.Conn
	mu      sync.Mutex
	w       *bufio.Writer
	holding bool
	// deadline is the write deadline last asked for in the batch; pending says it is not set on
	// the connection yet.
	deadline time.Time
	pending  bool
}

func newBatchedConn(c net.Conn) *batchedConn {
	return &batchedConn{Conn: c}
}

func (b *batchedConn) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.holding {
		return b.Conn.Write(p)
	}
	return b.w.Write(p)
}

// SetWriteDeadline sets the connection's write deadline, or within a batch notes it for the
// batch's next write to the network.
func (b *batchedConn) SetWriteDeadline(t time.Time) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.holding {
		b.deadline, b.pending = t, true
		return nil
	}
	return b.Conn.SetWriteDeadline(t)
}

// applyDeadline sets the deadline noted in the batch, if any, on the connection; b.mu is held.
func (b *batchedConn) applyDeadline() error {
	if !b.pending {
		return nil
	}
	b.pending = false
	return b.Conn.SetWriteDeadline(b.deadline)
}

// networkWriter is what a batch's buffer writes to: the connection, under the deadline the batch
// asked for. It is called with b.mu held (from Write or flush).
type networkWriter struct{ b *batchedConn }

func (w networkWriter) Write(p []byte) (int, error) {
	if err := w.b.applyDeadline(); err != nil {
		return 0, err
	}
	return w.b.Conn.Write(p)
}

// batchBuffers lend a batch its buffer for as long as it is open: an idle socket holds none
// (with thousands of mostly quiet sockets, buffers kept per socket would be most of their
// memory, which is also why the upgrader's write buffers are pooled).
var batchBuffers = sync.Pool{New: func() any { return bufio.NewWriterSize(nil, batchBytes) }}

// hold starts a batch: writes are buffered until flush.
func (b *batchedConn) hold() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.w == nil {
		b.w = batchBuffers.Get().(*bufio.Writer)
		b.w.Reset(networkWriter{b})
	}
	b.holding = true
}

// flush ends the batch, writes what it gathered and gives the buffer back.
func (b *batchedConn) flush() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.holding = false
	if b.w == nil {
		return b.applyDeadline()
	}
	err := b.w.Flush()
	b.w.Reset(nil)
	batchBuffers.Put(b.w)
	b.w = nil
	// A deadline asked for after the batch's last write still holds for the next.
	if derr := b.applyDeadline(); err == nil {
		err = derr
	}
	return err
}

// batchBytes is the buffer of a batch; a batch larger than that goes out in pieces of this size.
const batchBytes = 32 << 10

// maxBatchFrames bounds the frames of one batch, so that a socket with a queue that never
// empties still flushes regularly.
const maxBatchFrames = 64

// batchingWriter hands the upgrader a connection wrapped in a batchedConn.
type batchingWriter struct {
	http.ResponseWriter
	conn *batchedConn
}

func (w *batchingWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	h, ok := w.ResponseWriter.(http.Hijacker)
	if !ok {
		return nil, nil, http.ErrNotSupported
	}
	c, brw, err := h.Hijack()
	if err != nil {
		return nil, nil, err
	}
	w.conn = newBatchedConn(c)
	return w.conn, brw, nil
}
