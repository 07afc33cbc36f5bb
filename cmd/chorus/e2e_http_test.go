package main_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chorus-chat/chorus/adapters/postgres/pgtest"
	"github.com/gorilla/websocket"
)

// The HTTP hardening of issue 8 against the real process, configured through its environment:
// connections that send half a request or idle are closed within the configured timeouts while
// a socket and a followed event replay outlive them; made-up methods do not grow /metrics; a
// position no command answered is 400 at once; pages of other origins are refused a socket and
// get CORS only where configured.
func TestE2EHTTPHardening(t *testing.T) {
	skipShort(t)
	h := newHarness(t)
	addr := freeAddr(t)
	base := "http://" + addr
	sfx := randomHex(3)
	admin := "hard_admin_" + sfx
	const (
		readTimeout  = 1 * time.Second
		writeTimeout = 9 * time.Second // more than the command timeout plus 5 s, as the server demands
	)
	p := h.start("all-in-one", map[string]string{
		"CHORUS_HTTP_ADDR":                  addr,
		"CHORUS_EMBEDDED_KAFKA_ADDR":        "127.0.0.1:0",
		"CHORUS_DATABASE_URL":               pgtest.URL(t),
		"CHORUS_DATA_DIR":                   h.dir + "/data",
		"CHORUS_PARTITIONS":                 fmt.Sprint(clusterPartitions),
		"CHORUS_KAFKA_SESSION_TIMEOUT":      "2s",
		"CHORUS_KAFKA_HEARTBEAT":            "300ms",
		"CHORUS_BROKER_MIN_SESSION_TIMEOUT": "500ms",
		"CHORUS_BCRYPT_COST":                "4",
		"CHORUS_COMMAND_TIMEOUT":            "3s",
		"CHORUS_ADMIN_USERS":                admin,
		"CHORUS_HTTP_READ_HEADER_TIMEOUT":   readTimeout.String(),
		"CHORUS_HTTP_READ_TIMEOUT":          readTimeout.String(),
		"CHORUS_HTTP_IDLE_TIMEOUT":          readTimeout.String(),
		"CHORUS_HTTP_WRITE_TIMEOUT":         writeTimeout.String(),
		"CHORUS_WS_ALLOWED_ORIGINS":         "https://chat.example",
		"CHORUS_CORS_ORIGINS":               "https://chat.example",
	})
	h.waitReady(p)
	warmUpGateway(t, base)
	boss := newAccount(t, base, admin)
	user := newAccount(t, base, "hard_user_"+sfx)
	room, created := user.createRoom(t, "hardening-"+sfx)
	user.waitPosition(t, room.ID, created)

	// A followed replay and a socket opened now must still work after the write timeout.
	fctx, fcancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer fcancel()
	freq, _ := http.NewRequestWithContext(fctx, "GET", base+"/api/v1/admin/events?follow=true&type=MessageSent&room="+room.ID, nil)
	freq.Header.Set("Authorization", "Bearer "+boss.token)
	fresp, err := http.DefaultClient.Do(freq)
	if err != nil || fresp.StatusCode != http.StatusOK {
		t.Fatalf("follow: %v %v", fresp, err)
	}
	defer fresp.Body.Close()
	followed := bufio.NewScanner(fresp.Body)
	followed.Buffer(make([]byte, 1<<20), 1<<20)
	ws := dialWS(t, "lasting", base, user.token)
	opened := time.Now()

	// Half a request and an idle keep-alive are closed within the read and idle timeouts (on
	// main they were open after 200 s).
	rawConn := func() net.Conn {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	closedWithin := func(what string, c net.Conn, limit time.Duration) string {
		t.Helper()
		start := time.Now()
		_ = c.SetReadDeadline(start.Add(limit))
		b, err := io.ReadAll(c)
		if err != nil {
			t.Fatalf("%s: connection still open after %v (%v), read %q", what, time.Since(start).Round(time.Millisecond), err, b)
		}
		t.Logf("%s: closed after %v", what, time.Since(start).Round(time.Millisecond))
		return string(b)
	}
	halfBody := rawConn()
	_, _ = io.WriteString(halfBody, "POST /api/v1/auth/register HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"username\":")
	halfHeaders := rawConn()
	_, _ = io.WriteString(halfHeaders, "GET /healthz HTTP/1.1\r\nHost: x\r\n")
	idle := rawConn()
	_, _ = io.WriteString(idle, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
	if resp, err := http.ReadResponse(bufio.NewReader(idle), nil); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("keep-alive request: %v %v", resp, err)
	} else {
		_, _ = io.Copy(io.Discard, resp.Body)
	}
	if got := closedWithin("half a body", halfBody, 4*readTimeout); strings.Contains(got, "201 Created") {
		t.Fatalf("half a body was taken for a registration: %q", got)
	}
	closedWithin("half the headers", halfHeaders, 4*readTimeout)
	closedWithin("idle keep-alive", idle, 4*readTimeout)

	// Positions no accepted command answered: 400 at once, not a 5 s wait.
	for _, bad := range []string{"chat-events:3", "no-such-topic:0:1", fmt.Sprintf("chat-events:%d:0", clusterPartitions), "chat-commands:0:0", "chat-events:0:999999999"} {
		start := time.Now()
		expectError(t, base, user.token, "GET", "/api/v1/rooms/"+room.ID+"?position="+url.QueryEscape(bad), nil, http.StatusBadRequest, "validation_failed")
		if took := time.Since(start); took > 2*time.Second {
			t.Errorf("position %q refused after %v", bad, took)
		}
	}
	call(t, base, user.token, "GET", "/api/v1/rooms/"+room.ID+"?position="+url.QueryEscape(created), nil, http.StatusOK, nil)

	// Made-up methods and paths do not add series to /metrics.
	metricsSize := func() int {
		resp, err := httpClient.Get(base + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return strings.Count(string(b), "\nchorus_http_")
	}
	junk := func(from, to int) {
		for i := from; i < to; i++ {
			for _, r := range [][2]string{{fmt.Sprintf("MADE%d", i), "/api/v1/rooms"}, {"GET", fmt.Sprintf("/junk/%d", i)}} {
				req, _ := http.NewRequest(r[0], base+r[1], nil)
				resp, err := httpClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
			}
		}
	}
	junk(0, 5)
	metricsSize() // the scrape itself is a series, from the first one on
	before := metricsSize()
	junk(5, 200)
	if after := metricsSize(); after != before {
		t.Errorf("HTTP series of /metrics went from %d to %d with made-up methods and paths", before, after)
	}

	// A page of another origin gets no socket, and says so; the configured origin does.
	hdr := http.Header{"Authorization": {"Bearer " + user.token}, "Origin": {"https://evil.example"}}
	if _, resp, err := websocket.DefaultDialer.Dial(wsURL(base), hdr); err == nil || resp == nil || resp.StatusCode != http.StatusForbidden {
		t.Fatalf("socket from another origin: %v %v", resp, err)
	} else {
		b, _ := io.ReadAll(resp.Body)
		if !strings.Contains(string(b), `"code":"forbidden"`) || !strings.Contains(string(b), "CHORUS_WS_ALLOWED_ORIGINS") {
			t.Fatalf("refusal %s", b)
		}
	}
	hdr.Set("Origin", "https://chat.example")
	if c, resp, err := websocket.DefaultDialer.Dial(wsURL(base), hdr); err != nil {
		t.Fatalf("socket from the allowed origin: %v %v", resp, err)
	} else {
		c.Close()
	}
	pre, _ := http.NewRequest("OPTIONS", base+"/api/v1/rooms", nil)
	pre.Header.Set("Origin", "https://chat.example")
	pre.Header.Set("Access-Control-Request-Method", "POST")
	pre.Header.Set("Access-Control-Request-Headers", "authorization,idempotency-key")
	if resp, err := httpClient.Do(pre); err != nil || resp.Header.Get("Access-Control-Allow-Origin") != "https://chat.example" {
		t.Fatalf("CORS preflight: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}

	// Past the write timeout the socket still answers and the followed replay still streams.
	time.Sleep(time.Until(opened.Add(writeTimeout + time.Second)))
	if err := ws.sendJSON(map[string]any{"type": "send_message", "id": "late", "room_id": room.ID, "content": "after the timeouts"}); err != nil {
		t.Fatal(err)
	}
	ack, _, err := ws.waitFor(10*time.Second, answerTo("late"))
	if err != nil || ack.Type != "ack" {
		t.Fatalf("socket after %v: %v %v", time.Since(opened), ack, err)
	}
	sent, err := ack.ackMessage()
	if err != nil {
		t.Fatal(err)
	}
	if !followed.Scan() || !strings.Contains(followed.Text(), sent.Message.ID) {
		t.Fatalf("followed replay after %v: %q, %v", time.Since(opened), followed.Text(), followed.Err())
	}
}
