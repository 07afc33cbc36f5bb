package gateway

import (
	"bytes"
	"errors"
	"net"
	"sync"
	"testing"
	"time"
)

// recordingConn records every write that reaches the network.
type recordingConn struct {
	net.Conn
	mu     sync.Mutex
	writes [][]byte
}

func (c *recordingConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.writes = append(c.writes, bytes.Clone(p))
	return len(p), nil
}

func (c *recordingConn) got() [][]byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.writes
}

func TestBatchedConnGathersWritesUntilFlush(t *testing.T) {
	under := &recordingConn{}
	b := newBatchedConn(under)

	// Outside a batch a write goes out at once.
	if _, err := b.Write([]byte("handshake")); err != nil || len(under.got()) != 1 {
		t.Fatalf("a write outside a batch: %v, %d writes", err, len(under.got()))
	}
	// Inside one, nothing goes out until the flush, then everything in one write, in order.
	b.hold()
	for _, f := range []string{"one", "two", "three"} {
		if _, err := b.Write([]byte(f)); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(under.got()); n != 1 {
		t.Fatalf("%d writes reached the network before the flush", n-1)
	}
	if err := b.flush(); err != nil {
		t.Fatal(err)
	}
	if w := under.got(); len(w) != 2 || string(w[1]) != "onetwothree" {
		t.Fatalf("after the flush: %q", w)
	}
	// Between batches the socket holds no buffer (idle sockets must stay small).
	if b.w != nil {
		t.Fatal("the batch's buffer is kept after the flush")
	}
	// A batch bigger than the buffer goes out in pieces, nothing lost.
	b.hold()
	big := bytes.Repeat([]byte("x"), 3*batchBytes+5)
	if _, err := b.Write(big); err != nil {
		t.Fatal(err)
	}
	if err := b.flush(); err != nil {
		t.Fatal(err)
	}
	var total int
	for _, w := range under.got()[2:] {
		total += len(w)
	}
	if total != len(big) {
		t.Fatalf("%d of %d bytes written", total, len(big))
	}
	// After the batch, writes go out at once again.
	if _, err := b.Write([]byte("pong")); err != nil || string(under.got()[len(under.got())-1]) != "pong" {
		t.Fatalf("a write after the batch: %v", err)
	}
}

// A batch writes under the deadline asked for within it: not under an older one that has passed
// (the batch's frames go out), and a reader that does not read makes the batch's write fail at
// that deadline rather than hang.
func TestBatchedConnWritesUnderTheBatchsDeadline(t *testing.T) {
	server, client := net.Pipe()
	defer client.Close()
	b := newBatchedConn(server)
	defer b.Close()

	if err := b.SetWriteDeadline(time.Now().Add(-time.Second)); err != nil { // an old batch's
		t.Fatal(err)
	}
	b.hold()
	if err := b.SetWriteDeadline(time.Now().Add(5 * time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Write([]byte("frame")); err != nil {
		t.Fatal(err)
	}
	read := make(chan string, 1)
	go func() {
		buf := make([]byte, 16)
		n, _ := client.Read(buf)
		read <- string(buf[:n])
	}()
	if err := b.flush(); err != nil {
		t.Fatalf("the batch's write failed under its own deadline: %v", err)
	}
	if got := <-read; got != "frame" {
		t.Fatalf("read %q", got)
	}

	b.hold()
	if err := b.SetWriteDeadline(time.Now().Add(100 * time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Write([]byte("nobody reads this")); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- b.flush() }()
	select {
	case err := <-done:
		var ne net.Error
		if !errors.As(err, &ne) || !ne.Timeout() {
			t.Fatalf("flush to a reader that does not read: %v, want a timeout", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the batch's write hung past its deadline")
	}
}
