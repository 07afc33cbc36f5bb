package main_test

// End-to-end tests: the chorus binary runs as separate OS processes (see e2e_harness_test.go)
// and the tests talk to it as clients would, through the public contract (docs/protocol.md).
//
//	go test -count=1 -run 'E2E' ./cmd/chorus/ -v

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/gorilla/websocket"

	"github.com/chorus-chat/chorus/adapters/kafka"
	"github.com/chorus-chat/chorus/adapters/postgres/pgtest"
)

// TestE2ECluster runs the distributed deployment (broker, two gateways, two command processors,
// projectors) and checks what users of different gateways notice.
func TestE2ECluster(t *testing.T) {
	skipShort(t)
	c := startCluster(t, nil)
	c.warmUp()
	sfx := randomHex(3)

	t.Run("CrossGatewayDelivery", func(t *testing.T) { testCrossGatewayDelivery(t, c, sfx) })
	t.Run("ConcurrentSendersNoneLost", func(t *testing.T) { testConcurrentSenders(t, c, sfx) })
	t.Run("BadInput", func(t *testing.T) { testBadInput(t, c, sfx) })
	// Last: it stops gateway 2.
	t.Run("GatewaySIGTERM", func(t *testing.T) { testGatewaySIGTERM(t, c, sfx) })
}

// Scenario 1: a message sent over WebSocket on gateway 1 reaches a member connected to
// gateway 2 (and back), and the sender gets its ack before its own message push.
func testCrossGatewayDelivery(t *testing.T, c *cluster, sfx string) {
	alice := newAccount(t, c.gwURL(0), "alice_"+sfx)
	bob := newAccount(t, c.gwURL(1), "bob_"+sfx)
	room, created := alice.createRoom(t, "cross-gateway-"+sfx)
	alice.waitPosition(t, room.ID, created)
	joined := bob.join(t, room.ID)
	bob.waitPosition(t, room.ID, joined) // bob is a member in the read model: his socket subscribes

	aws := dialWS(t, "alice@gateway1", alice.base, alice.token)
	bws := dialWS(t, "bob@gateway2", bob.base, bob.token)

	exchange := func(from, to *wsClient, sender account, frameID, content string) {
		t.Helper()
		if err := from.sendJSON(map[string]any{"type": "send_message", "id": frameID, "room_id": room.ID, "content": content}); err != nil {
			t.Fatalf("%s: send: %v", from.name, err)
		}
		// The sender: ack (echoing the frame id) first, then its own message push.
		var ack messageAnswer
		var own apiMessage
		gotAck, gotOwn := false, false
		for !gotAck || !gotOwn {
			f, err := from.next(10 * time.Second)
			if err != nil {
				t.Fatalf("%s: waiting for ack and own push of %q (ack %v, push %v): %v", from.name, frameID, gotAck, gotOwn, err)
			}
			switch {
			case f.Type == "error" && f.ID == frameID:
				t.Fatalf("%s: send_message %q answered with an error: %s", from.name, frameID, f.raw)
			case f.Type == "ack" && f.ID == frameID:
				if ack, err = f.ackMessage(); err != nil {
					t.Fatalf("%s: ack: %v", from.name, err)
				}
				gotAck = true
			case f.Type == "message":
				m, err := f.pushed()
				if err != nil || m.Content != content {
					continue
				}
				if !gotAck {
					t.Fatalf("%s: own message pushed before the ack of %q: %s", from.name, frameID, f.raw)
				}
				own, gotOwn = m, true
			}
		}
		if ack.Message.Content != content || ack.Message.RoomID != room.ID || ack.Message.SenderID != sender.user.ID || ack.Message.Seq < 1 {
			t.Fatalf("%s: ack carries %+v", from.name, ack.Message)
		}
		if own.ID != ack.Message.ID || own.Seq != ack.Message.Seq {
			t.Fatalf("%s: own push %+v differs from ack %+v", from.name, own, ack.Message)
		}
		// The other member, on the other gateway.
		f, _, err := to.waitFor(10*time.Second, messagePush(ack.Message.ID))
		if err != nil {
			t.Fatalf("%s: message %s from %s never arrived: %v", to.name, ack.Message.ID, from.name, err)
		}
		m, _ := f.pushed()
		if m.Content != content || m.Seq != ack.Message.Seq || m.RoomID != room.ID || m.SenderID != sender.user.ID {
			t.Fatalf("%s: pushed %+v, sender was acked %+v", to.name, m, ack.Message)
		}
	}
	exchange(aws, bws, alice, "a-1", "hello from gateway 1 "+sfx)
	exchange(bws, aws, bob, "b-1", "hello back from gateway 2 "+sfx)
}

// Scenario 2: 20 clients, half on each gateway, send 25 messages each into one room over
// WebSocket; all 500 are acked and the history holds exactly those 500, in seq order.
func testConcurrentSenders(t *testing.T, c *cluster, sfx string) {
	const clients, perClient = 20, 25
	accs := make([]account, clients)
	for i := range accs {
		accs[i] = newAccount(t, c.gwURL(i%2), fmt.Sprintf("load%02d_%s", i, sfx))
	}
	room, created := accs[0].createRoom(t, "load-"+sfx)
	accs[0].waitPosition(t, room.ID, created)
	for _, a := range accs[1:] {
		a.waitPosition(t, room.ID, a.join(t, room.ID))
	}
	sockets := make([]*wsClient, clients)
	for i, a := range accs {
		sockets[i] = dialWS(t, fmt.Sprintf("client%02d@gateway%d", i, i%2+1), a.base, a.token)
	}

	type ackRec struct {
		frameID, content string
		ans              messageAnswer
	}
	var (
		mu      sync.Mutex
		acks    []ackRec
		lastPos = make([]string, clients)
		errs    []error
		wg      sync.WaitGroup
	)
	start := time.Now()
	for i := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ws := sockets[i]
			for j := range perClient {
				id := fmt.Sprintf("c%02d-%02d", i, j)
				content := fmt.Sprintf("load %s client %02d message %02d", sfx, i, j)
				for attempt := 0; ; attempt++ {
					if err := ws.sendJSON(map[string]any{"type": "send_message", "id": id, "room_id": room.ID, "content": content}); err != nil {
						mu.Lock()
						errs = append(errs, fmt.Errorf("%s: send %s: %w", ws.name, id, err))
						mu.Unlock()
						return
					}
					f, _, err := ws.waitFor(20*time.Second, answerTo(id))
					if err == nil && f.Type == "error" && f.Code == "rate_limited" && attempt < 100 {
						time.Sleep(100 * time.Millisecond) // not dispatched: sending again is safe
						continue
					}
					var ans messageAnswer
					if err == nil && f.Type != "ack" {
						err = fmt.Errorf("answered %s", f.raw)
					}
					if err == nil {
						ans, err = f.ackMessage()
					}
					if err == nil && ans.Message.Content != content {
						err = fmt.Errorf("ack carries content %q", ans.Message.Content)
					}
					mu.Lock()
					if err != nil {
						errs = append(errs, fmt.Errorf("%s: send_message %s: %w", ws.name, id, err))
					} else {
						acks = append(acks, ackRec{frameID: id, content: content, ans: ans})
						lastPos[i] = ans.Position
					}
					mu.Unlock()
					if err != nil {
						return
					}
					break
				}
			}
		}()
	}
	wg.Wait()
	t.Logf("%d acks in %v", len(acks), time.Since(start).Round(time.Millisecond))
	if len(errs) > 0 {
		t.Fatalf("%d sends failed; first: %v", len(errs), errors.Join(errs[:min(len(errs), 5)]...))
	}
	if len(acks) != clients*perClient {
		t.Fatalf("got %d acks, want %d", len(acks), clients*perClient)
	}
	byID := map[string]ackRec{}
	seqs := map[int64]string{}
	for _, a := range acks {
		if _, dup := byID[a.ans.Message.ID]; dup {
			t.Fatalf("message id %s acked twice", a.ans.Message.ID)
		}
		byID[a.ans.Message.ID] = a
		if other, dup := seqs[a.ans.Message.Seq]; dup {
			t.Fatalf("seq %d acked for %s and %s", a.ans.Message.Seq, other, a.frameID)
		}
		seqs[a.ans.Message.Seq] = a.frameID
	}

	// Read-your-writes: every client's last command is in the view before the history is read.
	for _, p := range lastPos {
		accs[0].waitPosition(t, room.ID, p)
	}
	// The whole history, paged both ways: forward from after_seq=0 and back with before_seq.
	pos := acks[len(acks)-1].ans.Position
	checkHistory := func(how string, hist []apiMessage) {
		t.Helper()
		byID := maps.Clone(byID)
		if len(hist) != clients*perClient {
			t.Errorf("history paged %s holds %d messages, want %d (first seq %d, last seq %d)", how, len(hist), clients*perClient, firstSeq(hist), lastSeq(hist))
		}
		for i, m := range hist {
			if i > 0 && m.Seq <= hist[i-1].Seq {
				t.Errorf("history paged %s: not strictly increasing at %d: seq %d after %d", how, i, m.Seq, hist[i-1].Seq)
				return
			}
			a, ok := byID[m.ID]
			if !ok {
				t.Errorf("history paged %s: message %s (%q) was never acked or is there twice", how, m.ID, m.Content)
				return
			}
			if m.Seq != a.ans.Message.Seq || m.Content != a.content || m.SenderID != a.ans.Message.SenderID {
				t.Errorf("history paged %s has %+v, ack said %+v", how, m, a.ans.Message)
				return
			}
			delete(byID, m.ID)
		}
		if len(byID) != 0 {
			t.Errorf("history paged %s: %d acked messages missing", how, len(byID))
		}
	}
	checkHistory("backward with before_seq", accs[0].fullHistoryBackward(t, room.ID, pos))
	checkHistory("forward from after_seq=0", accs[0].fullHistory(t, room.ID, pos))
}

func firstSeq(ms []apiMessage) int64 {
	if len(ms) == 0 {
		return 0
	}
	return ms[0].Seq
}

func lastSeq(ms []apiMessage) int64 {
	if len(ms) == 0 {
		return 0
	}
	return ms[len(ms)-1].Seq
}

// Scenario 5: bad input over the real stack gets the contract's answers.
func testBadInput(t *testing.T, c *cluster, sfx string) {
	carol := newAccount(t, c.gwURL(0), "carol_"+sfx)
	dave := newAccount(t, c.gwURL(1), "dave_"+sfx)

	t.Run("BadTokenAtUpgrade", func(t *testing.T) {
		d := websocket.Dialer{HandshakeTimeout: 10 * time.Second}
		for _, tc := range []struct {
			name   string
			url    string
			header http.Header
		}{
			{"bearer", wsURL(c.gwURL(0)), http.Header{"Authorization": {"Bearer not-a-valid-token"}}},
			{"query", wsURL(c.gwURL(1)) + "?token=not-a-valid-token", nil},
			{"none", wsURL(c.gwURL(0)), nil},
		} {
			conn, resp, err := d.Dial(tc.url, tc.header)
			if err == nil {
				conn.Close()
				t.Fatalf("%s: upgrade with a bad token succeeded", tc.name)
			}
			if resp == nil || resp.StatusCode != http.StatusUnauthorized {
				status := 0
				if resp != nil {
					status = resp.StatusCode
				}
				t.Fatalf("%s: upgrade with a bad token: %v (HTTP %d), want HTTP 401", tc.name, err, status)
			}
		}
	})

	t.Run("MalformedFrameKeepsSocket", func(t *testing.T) {
		ws := dialWS(t, "carol@gateway1", carol.base, carol.token)
		if err := ws.sendRaw([]byte(`{"type": "send_message", "room_id": `)); err != nil {
			t.Fatal(err)
		}
		f, _, err := ws.waitFor(5*time.Second, func(f wsFrame) bool { return f.Type == "error" })
		if err != nil {
			t.Fatalf("no error frame for a malformed frame: %v", err)
		}
		if f.Code != "invalid_frame" {
			t.Fatalf("malformed frame answered %s, want code invalid_frame", f.raw)
		}
		if err := ws.sendJSON(map[string]any{"type": "ping", "id": "p-1"}); err != nil {
			t.Fatalf("socket unusable after a malformed frame: %v", err)
		}
		f, _, err = ws.waitFor(5*time.Second, answerTo("p-1"))
		if err != nil || f.Type != "pong" {
			t.Fatalf("ping after a malformed frame: %v %s, want pong", err, f.raw)
		}
	})

	t.Run("OversizedFrame", func(t *testing.T) {
		ws := dialWS(t, "carol-big@gateway1", carol.base, carol.token)
		prefix := `{"type":"send_message","id":"big","room_id":"` + uuid.NewString() + `","content":"`
		big := prefix + strings.Repeat("x", 70<<10-len(prefix)-2) + `"}`
		if err := ws.sendRaw([]byte(big)); err != nil {
			t.Fatalf("write 70 KiB frame: %v", err)
		}
		f, _, err := ws.waitFor(5*time.Second, func(f wsFrame) bool { return f.Type == "error" })
		if err != nil {
			t.Fatalf("no error frame for a 70 KiB frame: %v", err)
		}
		if f.Code != "frame_too_large" {
			t.Fatalf("70 KiB frame answered %s, want frame_too_large", f.raw)
		}
		closed, cerr := ws.closeError(5 * time.Second)
		if !closed {
			t.Fatal("socket still open 5 s after an oversized frame")
		}
		var ce *websocket.CloseError
		if !errors.As(cerr, &ce) || ce.Code != websocket.CloseMessageTooBig {
			t.Fatalf("socket ended with %v, want close 1009", cerr)
		}
	})

	t.Run("UnknownRoom", func(t *testing.T) {
		expectError(t, carol.base, carol.token, "POST", "/api/v1/rooms/"+uuid.NewString()+"/messages",
			map[string]any{"content": "anyone?"}, http.StatusNotFound, "room_not_found")
	})

	t.Run("NonMemberHistory", func(t *testing.T) {
		room, pos := carol.createRoom(t, "members-only-"+sfx)
		expectError(t, dave.base, dave.token, "GET", "/api/v1/rooms/"+room.ID+"/messages?position="+url.QueryEscape(pos),
			nil, http.StatusForbidden, "not_a_member")
	})

	t.Run("UsernameTaken", func(t *testing.T) {
		name := "twice_" + sfx
		register(t, c.gwURL(0), name)
		expectError(t, c.gwURL(1), "", "POST", "/api/v1/auth/register",
			map[string]any{"username": name, "password": "another password"}, http.StatusConflict, "username_taken")
	})
}

// A gateway stops within 10 s of SIGTERM, exit code 0, and its clients see their sockets end.
func testGatewaySIGTERM(t *testing.T, c *cluster, sfx string) {
	erin := newAccount(t, c.gwURL(1), "erin_"+sfx)
	ws := dialWS(t, "erin@gateway2", erin.base, erin.token)
	took, inTime := c.gw[1].signalAndWait(syscall.SIGTERM, stopGrace)
	if !inTime {
		t.Fatalf("gateway 2 did not exit within %v of SIGTERM (killed)", stopGrace)
	}
	if st := c.gw[1].exitState(); st == nil || st.ExitCode() != 0 {
		t.Fatalf("gateway 2 exited with %v after SIGTERM, want exit code 0", st)
	}
	t.Logf("gateway 2 stopped %v after SIGTERM", took.Round(time.Millisecond))
	closed, cerr := ws.closeError(time.Second)
	if !closed {
		t.Fatal("a socket of the stopped gateway is still open")
	}
	t.Logf("its socket ended with: %v", cerr)
	// The other gateway still serves.
	call(t, c.gwURL(0), erin.token, "GET", "/api/v1/users/me", nil, http.StatusOK, nil)
}

// sendRetrying posts a message with a client_msg_id, retrying what a client may retry with the
// same id (504 timeout, 503, a transport failure) until deadline.
func sendRetrying(base, token, roomID, clientMsgID, content string, deadline time.Time) (ans messageAnswer, attempts int, err error) {
	body := map[string]any{"content": content, "client_msg_id": clientMsgID}
	for {
		attempts++
		ctx, cancel := context.WithDeadline(context.Background(), deadline)
		res, err := doJSON(ctx, base, token, "POST", "/api/v1/rooms/"+roomID+"/messages", body)
		cancel()
		retry := err != nil || res.Status == http.StatusGatewayTimeout || res.Status == http.StatusServiceUnavailable
		if !retry {
			if res.Status/100 != 2 {
				return ans, attempts, fmt.Errorf("send %s: %v", clientMsgID, res)
			}
			if err := json.Unmarshal(res.Body, &ans); err != nil || ans.Message.ID == "" {
				return ans, attempts, fmt.Errorf("send %s: undecodable answer %v", clientMsgID, res)
			}
			return ans, attempts, nil
		}
		if time.Now().After(deadline) {
			if err == nil {
				err = fmt.Errorf("last answer %v", res)
			}
			return ans, attempts, fmt.Errorf("send %s: gave up after %d attempts: %w", clientMsgID, attempts, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// Scenario 3: a command processor is killed (-9) in the middle of a stream of sends. Retrying
// timed-out sends with the same client_msg_id loses nothing and duplicates nothing, and the
// surviving processor serves every partition.
func TestE2ECommandProcessorCrash(t *testing.T) {
	skipShort(t)
	// A command timeout shorter than the takeover (session timeout 2 s, then the rebuild) makes
	// the sends caught by the kill time out, so that they are retried with the same
	// client_msg_id while their first attempt is still in the command log.
	c := startCluster(t, map[string]string{"CHORUS_COMMAND_TIMEOUT": "1500ms"})
	c.warmUp()
	sfx := randomHex(3)
	victim, survivor := c.cmd[0], c.cmd[1]

	const senders, perSender = 4, 30
	accs := make([]account, senders)
	for i := range accs {
		accs[i] = newAccount(t, c.gwURL(i%2), fmt.Sprintf("crash%d_%s", i, sfx))
	}
	// One room on every partition, so that whichever partitions the victim owns, some of the
	// sends need it.
	var rooms []apiRoom
	seen := map[int32]bool{}
	for n := 0; len(rooms) < clusterPartitions; n++ {
		if n == 100 {
			t.Fatalf("100 rooms did not cover %d partitions", clusterPartitions)
		}
		r, pos := accs[0].createRoom(t, fmt.Sprintf("crash-%s-%d", sfx, n))
		if p := kafka.PartitionFor(r.ID, clusterPartitions); !seen[p] {
			seen[p] = true
			rooms = append(rooms, r)
			accs[0].waitPosition(t, r.ID, pos)
		}
	}
	for _, a := range accs[1:] {
		for _, r := range rooms {
			a.waitPosition(t, r.ID, a.join(t, r.ID))
		}
	}

	type sent struct {
		sender     int
		room       apiRoom
		cmid       string
		ans        messageAnswer
		attempts   int
		afterKill  bool
		ackedEarly bool // acknowledged before the kill
	}
	var (
		mu       sync.Mutex
		results  []sent
		errs     []error
		acked    atomic.Int64
		killed   = make(chan struct{})
		wg       sync.WaitGroup
		total    = senders * perSender
		deadline = time.Now().Add(60 * time.Second)
	)
	isKilled := func() bool {
		select {
		case <-killed:
			return true
		default:
			return false
		}
	}
	start := time.Now()
	for i := range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			a := accs[i]
			for j := range perSender {
				r := rooms[(i+j)%len(rooms)]
				cmid := fmt.Sprintf("s%d-%03d-%s", i, j, sfx)
				after := isKilled()
				ans, attempts, err := sendRetrying(a.base, a.token, r.ID, cmid, cmid, deadline)
				early := !isKilled()
				mu.Lock()
				if err != nil {
					errs = append(errs, err)
				} else {
					results = append(results, sent{sender: i, room: r, cmid: cmid, ans: ans, attempts: attempts, afterKill: after, ackedEarly: early})
				}
				mu.Unlock()
				if err != nil {
					return
				}
				acked.Add(1)
				time.Sleep(20 * time.Millisecond)
			}
		}()
	}
	// kill -9 the victim after about a third of the sends.
	var survivorLogAtKill int
	for acked.Load() < int64(total/3) && time.Now().Before(deadline) {
		time.Sleep(2 * time.Millisecond)
	}
	survivorLogAtKill = len(survivor.logBytes())
	victimOwned := victim.partitionsTaken(0)
	victim.kill9()
	killAt := time.Now()
	close(killed)
	t.Logf("killed %s (-9) after %d of %d sends acked, %v in", victim.name, acked.Load(), total, killAt.Sub(start).Round(time.Millisecond))
	wg.Wait()
	t.Logf("all sends done %v after the kill", time.Since(killAt).Round(time.Millisecond))
	if len(errs) > 0 {
		t.Fatalf("%d sends failed despite retries; first: %v", len(errs), errors.Join(errs[:min(len(errs), 5)]...))
	}
	if len(results) != total {
		t.Fatalf("%d sends acknowledged, want %d", len(results), total)
	}
	retried, afterKill := 0, 0
	for _, s := range results {
		if s.attempts > 1 {
			retried++
		}
		if s.afterKill {
			afterKill++
		}
	}
	t.Logf("%d sends needed a retry; %d sends started after the kill; victim had taken partitions %v since it started", retried, afterKill, keys(victimOwned))
	if afterKill == 0 {
		t.Fatal("no send started after the kill: the stream did not outlast it")
	}

	// Every partition answers again: a fresh send per room (one room per partition).
	for _, r := range rooms {
		ans, attempts, err := sendRetrying(accs[1].base, accs[1].token, r.ID, "probe-"+r.ID, "probe "+sfx, time.Now().Add(15*time.Second))
		if err != nil {
			t.Fatalf("room on partition %d unserved after the kill: %v", kafka.PartitionFor(r.ID, clusterPartitions), err)
		}
		if attempts > 1 {
			t.Errorf("room on partition %d: probe after the stream needed %d attempts", kafka.PartitionFor(r.ID, clusterPartitions), attempts)
		}
		results = append(results, sent{sender: 1, room: r, cmid: "probe-" + r.ID, ans: ans, attempts: attempts, afterKill: true})
	}
	if took := survivor.partitionsTaken(survivorLogAtKill); len(took) == 0 {
		t.Errorf("%s logged no partition takeover after %s was killed", survivor.name, victim.name)
	} else {
		t.Logf("%s took over partitions %v after the kill", survivor.name, keys(took))
	}

	// The history: every acknowledged message exactly once, one message per client_msg_id
	// (the content is the client_msg_id), no seq twice.
	checkRooms := func() {
		t.Helper()
		for _, r := range rooms {
			want := map[string]sent{} // by message id
			wantCmids := map[string]bool{}
			for _, s := range results {
				if s.room.ID != r.ID {
					continue
				}
				accs[0].waitPosition(t, r.ID, s.ans.Position)
				if _, dup := want[s.ans.Message.ID]; dup {
					t.Fatalf("two sends were acknowledged with the same message id %s", s.ans.Message.ID)
				}
				want[s.ans.Message.ID] = s
				wantCmids[s.cmid] = true
			}
			page := accs[0].history(t, r.ID, url.Values{"limit": {"200"}})
			if page.HasMore {
				t.Fatalf("room %s: more than 200 messages", r.ID)
			}
			seqs := map[int64]bool{}
			perContent := map[string]int{}
			for i, m := range page.Messages {
				if seqs[m.Seq] {
					t.Fatalf("room %s: seq %d twice in history", r.ID, m.Seq)
				}
				seqs[m.Seq] = true
				if i > 0 && m.Seq <= page.Messages[i-1].Seq {
					t.Fatalf("room %s: history out of order at %d", r.ID, i)
				}
				perContent[m.Content]++
				s, ok := want[m.ID]
				if !ok {
					if !strings.HasPrefix(m.Content, "probe") {
						t.Errorf("room %s: history holds message %s (%q) that no send was acknowledged with", r.ID, m.ID, m.Content)
					}
					continue
				}
				if m.Seq != s.ans.Message.Seq {
					t.Errorf("room %s: message %s has seq %d, its send was acknowledged with %d", r.ID, m.ID, m.Seq, s.ans.Message.Seq)
				}
				delete(want, m.ID)
			}
			for id, s := range want {
				t.Errorf("room %s: acknowledged message %s (client_msg_id %s, acked before kill: %v) missing from history", r.ID, id, s.cmid, s.ackedEarly)
			}
			for cmid := range wantCmids {
				if strings.HasPrefix(cmid, "probe") {
					continue
				}
				if n := perContent[cmid]; n != 1 {
					t.Errorf("room %s: client_msg_id %s appears %d times in history, want 1", r.ID, cmid, n)
				}
			}
			if t.Failed() {
				t.FailNow()
			}
		}
	}
	checkRooms()

	// One more retry of acknowledged sends (one from before the kill, one from after) answers
	// 2xx with the original message and appends nothing.
	var early, late *sent
	for i := range results {
		s := &results[i]
		if s.ackedEarly && early == nil {
			early = s
		}
		if s.afterKill && !strings.HasPrefix(s.cmid, "probe") {
			late = s
		}
	}
	for _, s := range []*sent{early, late} {
		if s == nil {
			t.Fatal("no acknowledged send before and after the kill to retry")
		}
		ans, attempts, err := sendRetrying(accs[s.sender].base, accs[s.sender].token, s.room.ID, s.cmid, s.cmid, time.Now().Add(15*time.Second))
		if err != nil {
			t.Fatalf("retry of acknowledged %s: %v", s.cmid, err)
		}
		if ans.Message.ID != s.ans.Message.ID || ans.Message.Seq != s.ans.Message.Seq {
			t.Fatalf("retry of %s answered message %s seq %d, the original was %s seq %d (attempts %d)",
				s.cmid, ans.Message.ID, ans.Message.Seq, s.ans.Message.ID, s.ans.Message.Seq, attempts)
		}
		// A fresh send to the same room (same partition): once the view includes it, it would
		// include a duplicate the retry appended too.
		cmid := "after-retry-" + s.cmid
		fresh, _, err := sendRetrying(accs[s.sender].base, accs[s.sender].token, s.room.ID, cmid, cmid, time.Now().Add(15*time.Second))
		if err != nil {
			t.Fatalf("send after the retry of %s: %v", s.cmid, err)
		}
		results = append(results, sent{sender: s.sender, room: s.room, cmid: cmid, ans: fresh, attempts: 1, afterKill: true})
	}
	checkRooms()
}

func keys(m map[int]bool) []int {
	out := make([]int, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Ints(out)
	return out
}

// Scenario 4: the all-in-one process (embedded broker and Redis) keeps everything across a
// SIGTERM restart and across a kill -9 restart.
func TestE2EAllInOneRestart(t *testing.T) {
	skipShort(t)
	dbURL := pgtest.URL(t)
	h := newHarness(t)
	addr := freeAddr(t)
	base := "http://" + addr
	p := h.start("all-in-one", map[string]string{
		"CHORUS_HTTP_ADDR":                  addr,
		"CHORUS_EMBEDDED_KAFKA_ADDR":        "127.0.0.1:0", // any free port at each start: no port to lose to another process between restarts
		"CHORUS_DATABASE_URL":               dbURL,
		"CHORUS_DATA_DIR":                   h.dir + "/data",
		"CHORUS_PARTITIONS":                 fmt.Sprint(clusterPartitions),
		"CHORUS_KAFKA_SESSION_TIMEOUT":      "2s",
		"CHORUS_KAFKA_HEARTBEAT":            "300ms",
		"CHORUS_BROKER_MIN_SESSION_TIMEOUT": "500ms",
		"CHORUS_BCRYPT_COST":                "4",
	})
	h.waitReady(p)
	warmUpGateway(t, base)
	sfx := randomHex(3)
	name := "phoenix_" + sfx
	u := newAccount(t, base, name)
	room, created := u.createRoom(t, "restart-"+sfx)
	u.waitPosition(t, room.ID, created)

	var acked []messageAnswer
	send := func(cmid string, d time.Duration) messageAnswer {
		t.Helper()
		ans, _, err := sendRetrying(base, u.token, room.ID, cmid, "restart "+cmid, time.Now().Add(d))
		if err != nil {
			t.Fatal(err)
		}
		acked = append(acked, ans)
		return ans
	}
	for i := range 20 {
		send(fmt.Sprintf("before-%02d", i), 15*time.Second)
	}

	// SIGTERM: exits within 10 s with code 0.
	took, inTime := p.signalAndWait(syscall.SIGTERM, stopGrace)
	if !inTime {
		t.Fatalf("all-in-one did not exit within %v of SIGTERM", stopGrace)
	}
	if st := p.exitState(); st.ExitCode() != 0 {
		t.Fatalf("all-in-one exited with %v after SIGTERM, want exit code 0", st)
	}
	t.Logf("all-in-one stopped %v after SIGTERM", took.Round(time.Millisecond))

	restart := func() {
		t.Helper()
		if err := p.run(); err != nil {
			t.Fatalf("restart: %v", err)
		}
		h.waitReady(p)
		u.token = login(t, base, name) // the same password still works
	}
	// checkAll asserts that every acknowledged message is in the history, with its seq.
	checkAll := func(stage string) []apiMessage {
		t.Helper()
		last := acked[len(acked)-1]
		var hist []apiMessage
		deadline := time.Now().Add(30 * time.Second)
		for {
			res, err := doJSON(context.Background(), base, u.token, "GET",
				"/api/v1/rooms/"+room.ID+"/messages?limit=200&position="+url.QueryEscape(last.Position), nil)
			if err == nil && res.Status == http.StatusOK {
				var page historyPage
				if err := json.Unmarshal(res.Body, &page); err != nil {
					t.Fatalf("%s: history: %v", stage, err)
				}
				hist = page.Messages
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: history never caught up with the last acknowledged message: %v %v", stage, res, err)
			}
			time.Sleep(200 * time.Millisecond)
		}
		got := map[string]int64{}
		perContent := map[string]int{}
		for _, m := range hist {
			got[m.ID] = m.Seq
			if perContent[m.Content]++; perContent[m.Content] == 2 {
				t.Errorf("%s: %q (one client_msg_id) is in the history more than once", stage, m.Content)
			}
		}
		missing := 0
		for _, a := range acked {
			if seq, ok := got[a.Message.ID]; !ok {
				missing++
				t.Errorf("%s: acknowledged message %s (%q, seq %d) missing from history", stage, a.Message.ID, a.Message.Content, a.Message.Seq)
			} else if seq != a.Message.Seq {
				t.Errorf("%s: message %s has seq %d, was acknowledged with %d", stage, a.Message.ID, seq, a.Message.Seq)
			}
		}
		if missing > 0 || t.Failed() {
			t.FailNow()
		}
		return hist
	}
	maxSeq := func() int64 {
		var m int64
		for _, a := range acked {
			m = max(m, a.Message.Seq)
		}
		return m
	}

	restart()
	checkAll("after SIGTERM restart")
	prev := maxSeq()
	if ans := send("after-sigterm", 30*time.Second); ans.Message.Seq <= prev {
		t.Fatalf("new message after restart has seq %d, not above %d", ans.Message.Seq, prev)
	}

	// kill -9 in the middle of a stream of sends: what was acknowledged survives.
	var (
		stopped = make(chan struct{})
		done    = make(chan struct{})
		n       atomic.Int64
	)
	go func() {
		defer close(done)
		for i := 0; ; i++ {
			select {
			case <-stopped:
				return
			default:
			}
			cmid := fmt.Sprintf("crash-%03d", i)
			res, err := doJSON(context.Background(), base, u.token, "POST", "/api/v1/rooms/"+room.ID+"/messages",
				map[string]any{"content": "restart " + cmid, "client_msg_id": cmid})
			if err != nil || res.Status != http.StatusCreated {
				return // the process is gone
			}
			var ans messageAnswer
			if json.Unmarshal(res.Body, &ans) == nil {
				acked = append(acked, ans) // read by the test only after done
				n.Add(1)
			}
		}
	}()
	for wait := time.Now().Add(30 * time.Second); n.Load() < 10; {
		select {
		case <-done:
			t.Fatalf("the stream of sends stopped after %d acknowledged sends, before the kill", n.Load())
		default:
		}
		if time.Now().After(wait) {
			t.Fatalf("only %d sends acknowledged in 30 s", n.Load())
		}
		time.Sleep(time.Millisecond)
	}
	p.kill9()
	close(stopped)
	<-done
	t.Logf("killed all-in-one (-9) after %d acknowledged sends of the stream", n.Load())

	restart()
	checkAll("after kill -9 restart")
	// The processor's memory of command ids survived too: a retry of an acknowledged send (the
	// first of all, and the last before the kill) answers the original message and adds nothing.
	for _, a := range []messageAnswer{acked[0], acked[len(acked)-1]} {
		cmid := strings.TrimPrefix(a.Message.Content, "restart ")
		ans, _, err := sendRetrying(base, u.token, room.ID, cmid, a.Message.Content, time.Now().Add(30*time.Second))
		if err != nil {
			t.Fatalf("retry of %s after the crash restart: %v", cmid, err)
		}
		if ans.Message.ID != a.Message.ID || ans.Message.Seq != a.Message.Seq {
			t.Fatalf("retry of %s after the crash restart answered message %s seq %d, the original was %s seq %d",
				cmid, ans.Message.ID, ans.Message.Seq, a.Message.ID, a.Message.Seq)
		}
		if ans.Position != "" {
			u.waitPosition(t, room.ID, ans.Position)
		}
	}
	prev = maxSeq()
	if ans := send("after-kill", 30*time.Second); ans.Message.Seq <= prev {
		t.Fatalf("new message after the crash restart has seq %d, not above %d", ans.Message.Seq, prev)
	}
	// The view now includes everything up to the new message, so a duplicate the retries
	// appended would show.
	checkAll("after the retries and a new message")
}

// warmUpGateway waits until a register goes through base (see cluster.warmUp).
func warmUpGateway(t *testing.T, base string) {
	t.Helper()
	name := "warmup_" + randomHex(4)
	deadline := time.Now().Add(readyTimeout)
	for {
		res, err := doJSON(context.Background(), base, "", "POST", "/api/v1/auth/register",
			map[string]any{"username": name, "password": "warm-up-password"})
		if err == nil && (res.Status == http.StatusCreated || (res.Status == http.StatusConflict && res.errCode() == "username_taken")) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("commands do not flow through %s within %v: last answer %v %v", base, readyTimeout, res, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
