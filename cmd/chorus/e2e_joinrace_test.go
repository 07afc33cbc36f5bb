package main_test

import (
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/chorus-chat/chorus/adapters/postgres/pgtest"
)

// A socket opened right after a join must get every later push of the room, even when the
// read-model projector is behind the push projector (issue 8): the read-model projector runs in
// a process of its own (CHORUS_PROJECTIONS) that the test stops with SIGSTOP while the push
// projector, in the gateway's process, goes on. Likewise a socket opened after a leave must not
// get the room the read model still lists.
func TestE2ESocketAfterJoinWhileTheReadModelLags(t *testing.T) {
	skipShort(t)
	dbURL := pgtest.URL(t)
	prefix := "chorus-e2e-" + randomHex(6)
	cleanRedisPrefix(t, redisURL, prefix)
	h := newHarness(t)

	brokerAddr := freeAddr(t)
	broker := h.start("broker", map[string]string{
		"CHORUS_DATA_DIR":                   filepath.Join(h.dir, "broker-data"),
		"CHORUS_HTTP_ADDR":                  freeAddr(t),
		"CHORUS_PARTITIONS":                 fmt.Sprint(clusterPartitions),
		"CHORUS_BROKER_MIN_SESSION_TIMEOUT": "500ms",
	}, "broker", "--addr", brokerAddr)
	h.waitListening(broker, brokerAddr)
	vars := func(id, projections string) map[string]string {
		return map[string]string{
			"CHORUS_HTTP_ADDR":     freeAddr(t),
			"CHORUS_KAFKA_BROKERS": brokerAddr,
			"CHORUS_REDIS_URL":     redisURL,
			"CHORUS_REDIS_PREFIX":  prefix,
			"CHORUS_DATABASE_URL":  dbURL,
			"CHORUS_DATA_DIR":      filepath.Join(h.dir, id+"-data"),
			"CHORUS_PARTITIONS":    fmt.Sprint(clusterPartitions),
			// Long enough that the stopped read-model projector keeps its partitions: it
			// resumes where it stopped instead of waiting for a rebalance.
			"CHORUS_KAFKA_SESSION_TIMEOUT": "15s",
			"CHORUS_KAFKA_HEARTBEAT":       "300ms",
			"CHORUS_BCRYPT_COST":           "4",
			"CHORUS_INSTANCE_ID":           id + "-" + randomHex(3),
			"CHORUS_PROJECTIONS":           projections,
		}
	}
	server := h.start("server", vars("server", "push,search,notifications"), "--roles", "gateway,commands,projectors")
	readModel := h.start("readmodel", vars("readmodel", "readmodel"), "--roles", "projectors")
	h.waitReady(server)
	h.waitReady(readModel)
	base := "http://" + server.httpAddr
	warmUpGateway(t, base)

	stopped := false
	signal := func(sig syscall.Signal) {
		t.Helper()
		cmd, _ := readModel.current()
		if err := cmd.Process.Signal(sig); err != nil {
			t.Fatalf("signal %v to the read-model projector: %v", sig, err)
		}
		stopped = sig == syscall.SIGSTOP
	}
	t.Cleanup(func() { // before the harness stops the processes (cleanups run last first)
		if stopped {
			signal(syscall.SIGCONT)
		}
	})

	sfx := randomHex(3)
	alice := newAccount(t, base, "alice_"+sfx)
	bob := newAccount(t, base, "bob_"+sfx)
	// Opened before the room exists, these are subscribed by the join pushes themselves: they
	// tell when the push projector has delivered a change to the gateway.
	aliceBefore := dialWS(t, "alice's first socket", base, alice.token)
	bobBefore := dialWS(t, "bob's first socket", base, bob.token)

	signal(syscall.SIGSTOP)
	room, _ := alice.createRoom(t, "race-"+sfx)
	bob.join(t, room.ID)
	if _, _, err := bobBefore.waitFor(10*time.Second, ofType("user_joined", map[string]string{"room_id": room.ID, "user_id": bob.user.ID})); err != nil {
		t.Fatalf("the push projector did not deliver bob's join: %v", err)
	}
	// Both joins have gone by on the push stream; the read model has applied neither.
	aliceDial, bobDial := dialLater(base, alice.token), dialLater(base, bob.token)
	time.Sleep(time.Second)
	signal(syscall.SIGCONT)
	aliceWS, bobWS := dialedWS(t, "alice's socket", aliceDial), dialedWS(t, "bob's socket", bobDial)

	var sent struct {
		Message apiMessage `json:"message"`
	}
	call(t, base, alice.token, "POST", "/api/v1/rooms/"+room.ID+"/messages", map[string]any{"content": "after the join"}, http.StatusCreated, &sent)
	for _, ws := range []*wsClient{aliceWS, bobWS} {
		if _, _, err := ws.waitFor(10*time.Second, messagePush(sent.Message.ID)); err != nil {
			t.Fatalf("a socket opened after the join did not get the room's message: %v", err)
		}
	}

	// The other way round: bob leaves while the read model still lists him as a member.
	signal(syscall.SIGSTOP)
	call(t, base, bob.token, "POST", "/api/v1/rooms/"+room.ID+"/leave", nil, http.StatusOK, nil)
	if _, _, err := aliceBefore.waitFor(10*time.Second, ofType("user_left", map[string]string{"room_id": room.ID, "user_id": bob.user.ID})); err != nil {
		t.Fatalf("the push projector did not deliver bob's leave: %v", err)
	}
	bobDial = dialLater(base, bob.token)
	time.Sleep(time.Second)
	signal(syscall.SIGCONT)
	bobAfter := dialedWS(t, "bob's socket after the leave", bobDial)

	call(t, base, alice.token, "POST", "/api/v1/rooms/"+room.ID+"/messages", map[string]any{"content": "after the leave"}, http.StatusCreated, &sent)
	if _, _, err := aliceBefore.waitFor(10*time.Second, messagePush(sent.Message.ID)); err != nil {
		t.Fatalf("alice did not get her message: %v", err)
	}
	// Delivered to every subscribed socket of the gateway at once: once alice has it, bob's
	// socket would have it too.
	if f, _, err := bobAfter.waitFor(500*time.Millisecond, messagePush(sent.Message.ID)); err == nil {
		t.Fatalf("a socket opened after the leave got the room's message: %s", f.raw)
	}
}

type dialOutcome struct {
	ws     *websocket.Conn
	status int
	err    error
}

// dialLater opens a socket in the background: its upgrade may wait for the read model.
func dialLater(base, token string) <-chan dialOutcome {
	out := make(chan dialOutcome, 1)
	go func() {
		d := websocket.Dialer{HandshakeTimeout: 15 * time.Second}
		ws, resp, err := d.Dial(wsURL(base), http.Header{"Authorization": {"Bearer " + token}})
		o := dialOutcome{ws: ws, err: err}
		if resp != nil {
			o.status = resp.StatusCode
		}
		out <- o
	}()
	return out
}

func dialedWS(t *testing.T, name string, ch <-chan dialOutcome) *wsClient {
	t.Helper()
	o := <-ch
	if o.err != nil {
		t.Fatalf("%s: dial: %v (HTTP %d)", name, o.err, o.status)
	}
	c := &wsClient{name: name, conn: o.ws, notify: make(chan struct{}, 1), done: make(chan struct{})}
	go c.readLoop()
	t.Cleanup(c.close)
	return c
}

// A projection name the server does not know stops the start, rather than leaving that
// projection (or a misspelt one) run by nobody.
func TestE2EUnknownProjectionRefusedAtStart(t *testing.T) {
	skipShort(t)
	h := newHarness(t)
	p := h.start("bad-projections", map[string]string{
		"CHORUS_HTTP_ADDR":   freeAddr(t),
		"CHORUS_PROJECTIONS": "readmodel, serach",
	}, "--roles", "projectors")
	_, done := p.current()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("chorus with an unknown projection in CHORUS_PROJECTIONS did not stop")
	}
	if st := p.exitState(); st == nil || st.ExitCode() != 2 {
		t.Fatalf("exit state %v, want code 2", st)
	}
	if log := string(p.logBytes()); !strings.Contains(log, `CHORUS_PROJECTIONS: unknown projection "serach"`) {
		t.Fatalf("the error does not name the projection:\n%s", log)
	}
}
