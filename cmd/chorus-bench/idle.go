package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/gorilla/websocket"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// The idle-socket measurement (--idle N): what an open, authenticated, quiet WebSocket costs
// the server. For each of "compression not offered" and "offered" (gorilla's
// Dialer.EnableCompression), a fresh all-in-one process gets N users (one socket each, every
// user a member of one room of --idle-room members, as a real client sits in its rooms); after
// a forced GC and the process's RSS holding still, the figures are read, the N sockets opened,
// left quiet for --idle-wait (each client sends the protocol's {"type":"ping"} every 25 s, as a
// real one keeps its socket open), and the figures read again the same way. The difference
// divided by N is the cost of one socket.

// idleFigures are what is read from the server before and after the sockets are opened.
type idleFigures struct {
	rss        int64 // /proc/<pid>/status VmRSS, bytes
	heap       float64
	stack      float64
	goroutines float64
}

func runIdle(ctx context.Context, o options) error {
	type row struct {
		name   string
		before idleFigures
		after  idleFigures
		neg    int
	}
	var rows []row
	for _, compress := range []bool{false, true} {
		name := "compression not offered"
		if compress {
			name = "compression offered"
		}
		fmt.Printf("\nidle sockets, %s: %d sockets (one per user, rooms of %d members), quiet for %s\n", name, o.Idle, o.IdleRoom, o.IdleWait)
		before, after, neg, err := idleRun(ctx, o, compress)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		rows = append(rows, row{name, before, after, neg})
	}
	n := float64(o.Idle)
	fmt.Printf("\nper idle socket (%d sockets; after − before, each read after a forced GC once RSS held still):\n", o.Idle)
	fmt.Printf("  %-26s %12s %12s %12s %12s %14s\n", "", "RSS KB", "Go heap KB", "stacks KB", "goroutines", "deflate agreed")
	for _, r := range rows {
		fmt.Printf("  %-26s %12.1f %12.1f %12.1f %12.2f %14d\n", r.name,
			float64(r.after.rss-r.before.rss)/n/1024, (r.after.heap-r.before.heap)/n/1024,
			(r.after.stack-r.before.stack)/n/1024, (r.after.goroutines-r.before.goroutines)/n, r.neg)
	}
	return nil
}

// idleRun measures one fresh process; neg is how many sockets agreed on permessage-deflate.
func idleRun(ctx context.Context, o options, compress bool) (before, after idleFigures, neg int, err error) {
	p, err := startProcess(ctx, o)
	if err != nil {
		return before, after, 0, err
	}
	defer p.stop()
	t0 := time.Now()
	tokens, err := idleUsers(ctx, p.base, o.Idle, o.IdleRoom)
	if err != nil {
		return before, after, 0, err
	}
	fmt.Printf("  %d users registered and in their rooms in %s\n", len(tokens), time.Since(t0).Round(time.Second))
	if before, err = settled(ctx, p); err != nil {
		return before, after, 0, err
	}
	if err := saveProfiles(ctx, o, p, compress, "before"); err != nil {
		return before, after, 0, err
	}
	fmt.Printf("  before: RSS %s, Go heap in use %s, stacks %s, %0.f goroutines\n", mb(float64(before.rss)), mb(before.heap), mb(before.stack), before.goroutines)

	t0 = time.Now()
	socks, neg, err := openIdle(ctx, p.base, tokens, compress)
	defer func() {
		for _, s := range socks {
			s.close()
		}
	}()
	if err != nil {
		return before, after, neg, err
	}
	fmt.Printf("  %d sockets open in %s (%d with permessage-deflate agreed); quiet for %s\n", len(socks), time.Since(t0).Round(time.Second), neg, o.IdleWait)
	select {
	case <-time.After(o.IdleWait):
	case <-ctx.Done():
		return before, after, neg, ctx.Err()
	}
	if after, err = settled(ctx, p); err != nil {
		return before, after, neg, err
	}
	if err := saveProfiles(ctx, o, p, compress, "after"); err != nil {
		return before, after, neg, err
	}
	cut := 0
	for _, s := range socks {
		if s.cut.Load() {
			cut++
		}
	}
	fmt.Printf("  after:  RSS %s, Go heap in use %s, stacks %s, %0.f goroutines; sockets closed by the server %d\n", mb(float64(after.rss)), mb(after.heap), mb(after.stack), after.goroutines, cut)
	if cut > 0 {
		return before, after, neg, fmt.Errorf("%d idle sockets were closed by the server", cut)
	}
	return before, after, neg, nil
}

func mb(b float64) string { return fmt.Sprintf("%.1f MB", b/(1<<20)) }

// idleUsers registers n users and puts them in rooms of roomSize (the first of each creates
// it, the others join); it returns their tokens.
func idleUsers(ctx context.Context, base string, n, roomSize int) ([]string, error) {
	api1 := base + "/api/v1"
	tokens := make([]string, n)
	rooms := make([]string, (n+roomSize-1)/roomSize)
	prefix := uuid.NewString()[:6]
	// register and log in; the first user of each room creates it
	err := parallel(ctx, n, 8, func(i int) error {
		name := fmt.Sprintf("idle%d_%s", i, prefix)
		if err := api(ctx, "POST", api1+"/auth/register", "", map[string]string{"username": name, "password": "benchmark-pw"}, nil); err != nil {
			return err
		}
		var login struct {
			Token string `json:"token"`
		}
		if err := api(ctx, "POST", api1+"/auth/login", "", map[string]string{"username": name, "password": "benchmark-pw"}, &login); err != nil {
			return err
		}
		tokens[i] = login.Token
		if i%roomSize != 0 {
			return nil
		}
		var created struct {
			Room struct {
				ID string `json:"id"`
			} `json:"room"`
			Position string `json:"position"`
		}
		if err := api(ctx, "POST", api1+"/rooms", login.Token, map[string]string{"name": fmt.Sprintf("idle room %d", i/roomSize)}, &created); err != nil {
			return err
		}
		rooms[i/roomSize] = created.Room.ID
		// the joins must see the room in the read model
		return api(ctx, "GET", api1+"/rooms/"+created.Room.ID+"?position="+created.Position, login.Token, nil, nil)
	})
	if err != nil {
		return nil, err
	}
	err = parallel(ctx, n, 8, func(i int) error {
		if i%roomSize == 0 {
			return nil
		}
		room := rooms[i/roomSize]
		var joined struct {
			Position string `json:"position"`
		}
		if err := api(ctx, "POST", api1+"/rooms/"+room+"/join", tokens[i], nil, &joined); err != nil {
			return err
		}
		return api(ctx, "GET", api1+"/rooms/"+room+"/members?position="+joined.Position, tokens[i], nil, nil)
	})
	return tokens, err
}

// parallel runs f(0..n-1) on workers goroutines and returns the first error.
func parallel(ctx context.Context, n, workers int, f func(i int) error) error {
	var next atomic.Int64
	var first error
	var once sync.Once
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n || ctx.Err() != nil {
					return
				}
				if err := f(i); err != nil {
					once.Do(func() { first = err })
					next.Store(int64(n))
					return
				}
			}
		}()
	}
	wg.Wait()
	if first == nil {
		first = ctx.Err()
	}
	return first
}

// idleSocket is one quiet client: it reads (and drops) what the server sends and sends
// {"type":"ping"} every 25 s, which keeps the socket open past CHORUS_WS_CONNECTION_TIMEOUT.
type idleSocket struct {
	ws      *websocket.Conn
	closing atomic.Bool
	cut     atomic.Bool
	done    chan struct{}
}

func (s *idleSocket) close() {
	if s.closing.Swap(true) {
		return
	}
	close(s.done)
	_ = s.ws.Close()
}

func openIdle(ctx context.Context, base string, tokens []string, compress bool) ([]*idleSocket, int, error) {
	dialer := *websocket.DefaultDialer
	dialer.EnableCompression = compress
	url := strings.Replace(base, "http", "ws", 1) + "/ws?token="
	socks := make([]*idleSocket, len(tokens))
	var neg atomic.Int64
	err := parallel(ctx, len(tokens), 8, func(i int) error {
		ws, resp, err := dialer.DialContext(ctx, url+tokens[i], nil)
		if resp != nil {
			if strings.Contains(resp.Header.Get("Sec-WebSocket-Extensions"), "permessage-deflate") {
				neg.Add(1)
			}
			resp.Body.Close()
		}
		if err != nil {
			return fmt.Errorf("websocket: %w", err)
		}
		s := &idleSocket{ws: ws, done: make(chan struct{})}
		socks[i] = s
		go func() {
			for {
				if _, _, err := ws.NextReader(); err != nil {
					if !s.closing.Load() {
						s.cut.Store(true)
					}
					return
				}
			}
		}()
		go func() {
			// a random phase, so that the pings do not all arrive at once
			t := time.NewTimer(time.Duration(uuid.New().ID()%25000) * time.Millisecond)
			defer t.Stop()
			for {
				select {
				case <-s.done:
					return
				case <-t.C:
					_ = ws.SetWriteDeadline(time.Now().Add(10 * time.Second))
					_ = ws.WriteMessage(websocket.TextMessage, []byte(`{"type":"ping"}`))
					t.Reset(25 * time.Second)
				}
			}
		}()
		return nil
	})
	out := socks[:0]
	for _, s := range socks {
		if s != nil {
			out = append(out, s)
		}
	}
	return out, int(neg.Load()), err
}

// settled forces a GC in the server (the heap profile's gc=1) until its RSS holds still (it
// changes by less than 256 KB over 3 s, or 60 s passed), then reads the figures.
func settled(ctx context.Context, p *chorusProcess) (idleFigures, error) {
	var f idleFigures
	deadline := time.Now().Add(60 * time.Second)
	var last []int64
	for {
		if err := get(ctx, p.base+"/debug/pprof/heap?gc=1", io.Discard); err != nil {
			return f, fmt.Errorf("forcing a GC: %w", err)
		}
		rss, err := vmRSS(p.pid)
		if err != nil {
			return f, err
		}
		last = append(last, rss)
		if n := len(last); n >= 4 {
			d := last[n-1] - last[n-4]
			if d < 0 {
				d = -d
			}
			if d < 256<<10 || time.Now().After(deadline) {
				break
			}
		}
		select {
		case <-time.After(time.Second):
		case <-ctx.Done():
			return f, ctx.Err()
		}
	}
	g, err := gauges(ctx, p.base+"/metrics", "go_memstats_heap_inuse_bytes", "go_memstats_stack_inuse_bytes", "go_goroutines")
	if err != nil {
		return f, err
	}
	f.rss, err = vmRSS(p.pid)
	f.heap, f.stack, f.goroutines = g[0], g[1], g[2]
	return f, err
}

func get(ctx context.Context, url string, w io.Writer) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %d", url, resp.StatusCode)
	}
	_, err = io.Copy(w, resp.Body)
	return err
}

// vmRSS reads a process's resident set size from /proc/<pid>/status.
func vmRSS(pid int) (int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10, err
		}
	}
	return 0, errors.New("no VmRSS in /proc/" + strconv.Itoa(pid) + "/status")
}

// gauges reads unlabelled gauges from a Prometheus text endpoint, in the order named.
func gauges(ctx context.Context, url string, names ...string) ([]float64, error) {
	var b strings.Builder
	if err := get(ctx, url, &b); err != nil {
		return nil, err
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(strings.NewReader(b.String()))
	if err != nil {
		return nil, err
	}
	out := make([]float64, len(names))
	for i, n := range names {
		f := fams[n]
		if f == nil || len(f.GetMetric()) == 0 {
			return nil, fmt.Errorf("%s: no %s", url, n)
		}
		out[i] = f.GetMetric()[0].GetGauge().GetValue()
	}
	return out, nil
}

// saveProfiles saves the heap profile (and after, the goroutines) when --idle-profiles names a
// directory.
func saveProfiles(ctx context.Context, o options, p *chorusProcess, compress bool, when string) error {
	if o.IdleProfiles == "" {
		return nil
	}
	kind := "plain"
	if compress {
		kind = "deflate"
	}
	save := func(path, name string) error {
		f, err := os.Create(filepath.Join(o.IdleProfiles, name))
		if err != nil {
			return err
		}
		defer f.Close()
		return get(ctx, p.base+path, f)
	}
	if err := save("/debug/pprof/heap", kind+"-"+when+".heap"); err != nil {
		return err
	}
	if when == "after" {
		return save("/debug/pprof/goroutine?debug=1", kind+"-goroutines.txt")
	}
	return nil
}
