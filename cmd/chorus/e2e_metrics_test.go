package main_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// sample is one series of a scrape: its labels and value.
type sample struct {
	labels map[string]string
	value  float64
}

var (
	sampleLine = regexp.MustCompile(`^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)`)
	labelPair  = regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"`)
)

// scrape reads a process's /metrics in the text format into series by metric name.
func scrape(t *testing.T, addr string) map[string][]sample {
	t.Helper()
	resp, err := httpClient.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatalf("scrape %s: %v", addr, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("scrape %s: status %d", addr, resp.StatusCode)
	}
	out := map[string][]sample{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		m := sampleLine.FindStringSubmatch(sc.Text())
		if m == nil {
			continue // comments and blank lines
		}
		v, err := strconv.ParseFloat(m[3], 64)
		if err != nil {
			t.Fatalf("scrape %s: bad value in %q", addr, sc.Text())
		}
		labels := map[string]string{}
		for _, p := range labelPair.FindAllStringSubmatch(m[2], -1) {
			labels[p[1]] = p[2]
		}
		out[m[1]] = append(out[m[1]], sample{labels: labels, value: v})
	}
	return out
}

// sum adds the values of the series of name whose labels include want.
func sum(series map[string][]sample, name string, want map[string]string) (total float64, found bool) {
	for _, s := range series[name] {
		match := true
		for k, v := range want {
			if s.labels[k] != v {
				match = false
			}
		}
		if match {
			total, found = total+s.value, true
		}
	}
	return total, found
}

// eventually polls cond until it holds or 15 s pass.
func eventually(t *testing.T, what string, cond func() (bool, string)) {
	t.Helper()
	eventuallyWithin(t, what, 15*time.Second, cond)
}

// eventuallyWithin polls cond every 100 ms until it holds or within passes; then the test
// fails with what and cond's last word.
func eventuallyWithin(t *testing.T, what string, within time.Duration, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		ok, got := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s; last: %s", what, within, got)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestE2EMetrics(t *testing.T) {
	skipShort(t)
	c := startCluster(t, map[string]string{"CHORUS_LOG_LEVEL": "debug"})
	c.warmUp()
	gw := c.gwURL(0)
	a := newAccount(t, gw, "metrics_"+randomHex(4))
	room, pos := a.createRoom(t, "metrics "+randomHex(3))
	a.waitPosition(t, room.ID, pos)

	// A socket of the room's owner: the gauge counts it, and it receives the pushes.
	ws := dialWS(t, "owner", gw, a.token)
	eventually(t, "websocket gauge counts the socket", func() (bool, string) {
		v, _ := sum(scrape(t, c.gw[0].httpAddr), "chorus_websocket_connections", nil)
		return v == 1, strconv.FormatFloat(v, 'f', -1, 64)
	})

	// Messages over HTTP, the last one with our own X-Request-ID.
	const sends = 5
	var lastID string
	for i := range sends {
		body, _ := json.Marshal(map[string]any{"content": "hello " + strconv.Itoa(i)})
		req, err := http.NewRequestWithContext(context.Background(), "POST", gw+"/api/v1/rooms/"+room.ID+"/messages", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+a.token)
		reqID := "e2e-metrics-" + randomHex(4)
		req.Header.Set("X-Request-ID", reqID)
		resp, err := httpClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var ans messageAnswer
		err = json.NewDecoder(resp.Body).Decode(&ans)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusCreated {
			t.Fatalf("send %d: status %d, %v", i, resp.StatusCode, err)
		}
		if got := resp.Header.Get("X-Request-ID"); got != reqID {
			t.Fatalf("send %d: X-Request-ID %q answered as %q", i, reqID, got)
		}
		lastID = ans.Message.ID
		if i == sends-1 {
			// The gateway's log line of the command carries the request's id as correlation id.
			eventually(t, "gateway logs the command with its correlation id", func() (bool, string) {
				for _, r := range c.gw[0].logRecords(0) {
					if r["correlation_id"] == reqID && r["command_id"] != nil && r["command_id"] != "" {
						return true, ""
					}
				}
				return false, "no log line with correlation_id " + reqID
			})
		}
	}
	if _, _, err := ws.waitFor(10*time.Second, messagePush(lastID)); err != nil {
		t.Fatalf("push of the last message: %v", err)
	}
	// A response without X-Request-ID gets one made up.
	res, err := http.Get(gw + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.Header.Get("X-Request-ID") == "" {
		t.Fatal("a response without X-Request-ID in the request has none")
	}

	// A command the processor rejects: joining a room that does not exist.
	expectError(t, gw, a.token, "POST", "/api/v1/rooms/"+"00000000-0000-4000-8000-"+randomHex(6)+"/join", nil, http.StatusNotFound, "room_not_found")

	// The command processors: every command accepted, the rejection with its code.
	wantAccepted := float64(2 + 1 + 1 + sends) // two warm-up registers, the account's register, create_room, the sends
	eventually(t, "command processors count the commands", func() (bool, string) {
		var accepted, rejected, latencies, batches float64
		var got []string
		for _, p := range c.cmd {
			s := scrape(t, p.httpAddr)
			v, _ := sum(s, "chorus_commands_total", map[string]string{"result": "accepted"})
			accepted += v
			v, _ = sum(s, "chorus_commands_total", map[string]string{"result": "rejected", "code": "room_not_found", "type": "join_room"})
			rejected += v
			v, _ = sum(s, "chorus_command_latency_seconds_count", nil)
			latencies += v
			v, _ = sum(s, "chorus_command_batch_size_count", nil)
			batches += v
		}
		got = append(got, "accepted="+ftoa(accepted), "rejected(room_not_found)="+ftoa(rejected),
			"latency_count="+ftoa(latencies), "batches="+ftoa(batches))
		return accepted >= wantAccepted && rejected >= 1 && latencies >= accepted+rejected && batches >= 1, strings.Join(got, " ")
	})

	// The gateway: requests by route and status, frames and pushes.
	s := scrape(t, c.gw[0].httpAddr)
	if v, _ := sum(s, "chorus_http_requests_total", map[string]string{"method": "POST", "route": "/api/v1/rooms/:id/messages", "status": "201"}); v < sends {
		t.Errorf("chorus_http_requests_total for the sends = %v, want ≥ %d", v, sends)
	}
	if v, _ := sum(s, "chorus_http_requests_total", map[string]string{"route": "/api/v1/rooms/:id/join", "status": "404"}); v < 1 {
		t.Errorf("chorus_http_requests_total for the rejected join = %v, want ≥ 1", v)
	}
	if v, _ := sum(s, "chorus_pushes_delivered_total", nil); v < sends {
		t.Errorf("chorus_pushes_delivered_total = %v, want ≥ %d", v, sends)
	}
	if v, _ := sum(s, "chorus_websocket_frames_total", map[string]string{"direction": "out"}); v < sends {
		t.Errorf("chorus_websocket_frames_total{direction=out} = %v, want ≥ %d", v, sends)
	}

	// The projectors: a lag series per partition they handled, down to the commit marker once
	// caught up.
	eventually(t, "projector lag per partition, caught up", func() (bool, string) {
		s := scrape(t, c.proj.httpAddr)
		var parts []string
		caughtUp := true
		for _, smp := range s["chorus_projector_lag"] {
			if smp.labels["projector"] != "chorus-projector-readmodel" || smp.labels["topic"] != "chat-events" {
				continue
			}
			p, err := strconv.Atoi(smp.labels["partition"])
			if err != nil || p < 0 || p >= clusterPartitions {
				return false, "bad partition label " + smp.labels["partition"]
			}
			parts = append(parts, smp.labels["partition"]+"="+ftoa(smp.value))
			// Caught up is 1, not 0: the high-water mark counts the marker that committed the
			// last transaction, which a read-committed consumer never receives.
			caughtUp = caughtUp && smp.value <= 1
		}
		records, _ := sum(s, "chorus_projector_records_total", map[string]string{"projector": "chorus-projector-readmodel"})
		return len(parts) >= 1 && caughtUp && records >= float64(1+sends), strings.Join(parts, ",") + " records=" + ftoa(records)
	})

	// Closing the socket takes the gauge back down.
	ws.close()
	eventually(t, "websocket gauge drops when the socket closes", func() (bool, string) {
		v, _ := sum(scrape(t, c.gw[0].httpAddr), "chorus_websocket_connections", nil)
		return v == 0, ftoa(v)
	})
}

func ftoa(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }
