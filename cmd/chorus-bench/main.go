// Command chorus-bench measures the all-in-one Chorus process at a fixed offered load and at its
// highest sustained rate, and a bare Kafka produce→consume round trip on the same broker, then
// prints the figures. It starts bin/chorus itself, on a fresh data directory and database.
// It is a benchmark, not a test: `make bench` runs it.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/alecthomas/kong"
	"github.com/google/uuid"
	"github.com/gorilla/websocket"
)

type options struct {
	Binary     string        `help:"The chorus binary." default:"bin/chorus"`
	Rooms      int           `help:"Rooms." default:"10"`
	Members    int           `help:"Connected members per room (each its own user and socket)." default:"10"`
	Rate       int           `help:"Offered load, messages per second over all clients." default:"1000"`
	Duration   time.Duration `help:"Length of the fixed-load phase." default:"20s"`
	Saturate   time.Duration `help:"Length of the highest-rate phase (0 skips it)." default:"10s"`
	InFlight   int           `help:"Outstanding sends per client in the highest-rate phase." default:"16"`
	Database   string        `help:"Postgres server URL (a fresh database is created on it)." default:"postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"`
	Roundtrips int           `help:"Bare Kafka round trips to time." default:"2000"`
	Redis      string        `help:"Redis URL for the process (empty: its embedded Redis)." default:""`
}

func main() {
	var o options
	kong.Parse(&o, kong.Name("chorus-bench"), kong.Description("Benchmark the all-in-one Chorus process."))
	// Interrupted, the benchmark still stops the server and drops its database (run's defers).
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, o)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "chorus-bench:", err)
		os.Exit(1)
	}
}

func freePort(ctx context.Context) string {
	l, err := new(net.ListenConfig).Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func run(ctx context.Context, o options) error {
	dir, err := os.MkdirTemp("", "chorus-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	httpAddr, kafkaAddr := freePort(ctx), freePort(ctx)
	dbName := "chorus_bench_" + strings.ReplaceAll(uuid.NewString()[:8], "-", "")
	dbURL := strings.Replace(o.Database, "/postgres?", "/"+dbName+"?", 1)
	logf, err := os.Create(filepath.Join(dir, "chorus.log"))
	if err != nil {
		return err
	}
	cmd := exec.CommandContext(context.WithoutCancel(ctx), o.Binary)
	cmd.Env = append(os.Environ(),
		"CHORUS_HTTP_ADDR="+httpAddr, "CHORUS_DATA_DIR="+dir, "CHORUS_DATABASE_URL="+dbURL,
		"CHORUS_EMBEDDED_KAFKA_ADDR="+kafkaAddr, "CHORUS_BCRYPT_COST=4", "CHORUS_LOG_LEVEL=warn",
		"CHORUS_PPROF=true",
		// The load generator sends far more frames per socket than a person does: lift the
		// per-connection frame limit so that it measures the system, not the limiter.
		"CHORUS_WS_FRAME_RATE=1000000", "CHORUS_WS_FRAME_BURST=1000000", "CHORUS_AUTH_RATE=-1", "CHORUS_HTTP_RATE=-1", "CHORUS_USER_COMMAND_RATE=-1", "CHORUS_KAFKA_BROKERS=", "CHORUS_REDIS_URL="+o.Redis, "CHORUS_REDIS_PREFIX=bench-"+dbName,
	)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", o.Binary, err)
	}
	defer func() {
		_ = cmd.Process.Signal(os.Interrupt)
		_ = cmd.Wait()
		dropDatabase(o.Database, dbName)
	}()
	base := "http://" + httpAddr
	if err := waitReady(ctx, base, 60*time.Second); err != nil {
		return err
	}
	fmt.Printf("chorus: %s (pprof at %s/debug/pprof/)\n", httpAddr, base)
	fmt.Printf("machine: %s/%s, %d CPUs, %s\n", runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), cpuModel())
	redisUsed := "embedded Redis"
	if o.Redis != "" {
		redisUsed = "Redis at " + o.Redis
	}
	fmt.Printf("setup: %d rooms x %d members = %d sockets, all-in-one process (embedded broker, %s, local Postgres)\n", o.Rooms, o.Members, o.Rooms*o.Members, redisUsed)

	clients, err := setup(ctx, base, o.Rooms, o.Members)
	if err != nil {
		return err
	}
	defer func() {
		for _, c := range clients {
			c.ws.Close()
		}
	}()

	fixed := phase(clients, o.Duration, o.Rate, 0)
	fmt.Printf("\nfixed load: offered %d msg/s for %s\n", o.Rate, o.Duration)
	fixed.print()
	if o.Saturate > 0 {
		sat := phase(clients, o.Saturate, 0, o.InFlight)
		fmt.Printf("\nhighest sustained rate: %d outstanding sends per socket for %s\n", o.InFlight, o.Saturate)
		sat.print()
	}
	rt, err := kafkaRoundTrip(kafkaAddr, o.Roundtrips)
	if err != nil {
		return err
	}
	fmt.Printf("\nbare Kafka produce→consume round trip on the same broker (%d records, one at a time): p50 %s  p99 %s\n",
		o.Roundtrips, rt.pct(50), rt.pct(99))
	return nil
}

func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "unknown CPU"
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "model name") {
			if i := strings.IndexByte(line, ':'); i >= 0 {
				return strings.TrimSpace(line[i+1:])
			}
		}
	}
	return "unknown CPU"
}

func waitReady(ctx context.Context, base string, d time.Duration) error {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/readyz", nil)
		if err != nil {
			return err
		}
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return nil
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	return fmt.Errorf("chorus not ready after %s", d)
}

func dropDatabase(serverURL, name string) {
	_ = exec.CommandContext(context.Background(), "psql", serverURL, "-c", "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)").Run()
}

// api calls the HTTP API and decodes the answer into out.
func api(ctx context.Context, method, url, token string, body any, out any) error {
	var rd *bytes.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	} else {
		rd = bytes.NewReader(nil)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		var e map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&e)
		return fmt.Errorf("%s %s: %d %v", method, url, resp.StatusCode, e)
	}
	if out != nil {
		return json.NewDecoder(resp.Body).Decode(out)
	}
	return nil
}

// client is one connected member.
type client struct {
	id     string
	room   string
	ws     *websocket.Conn
	wmu    sync.Mutex
	seq    atomic.Int64
	mu     sync.Mutex
	sent   map[string]time.Time // frame id → send time
	slots  chan struct{}        // in-flight bound in the saturation phase
	onAck  func(time.Duration)
	onMsg  func(time.Duration)
	errors atomic.Int64
}

func setup(ctx context.Context, base string, rooms, members int) ([]*client, error) {
	api1 := base + "/api/v1"
	var clients []*client
	for r := 0; r < rooms; r++ {
		var roomID string
		for m := 0; m < members; m++ {
			name := fmt.Sprintf("b%d_%d_%s", r, m, uuid.NewString()[:6])
			if err := api(ctx, "POST", api1+"/auth/register", "", map[string]string{"username": name, "password": "benchmark-pw"}, nil); err != nil {
				return nil, err
			}
			var login struct {
				Token string `json:"token"`
				User  struct {
					ID string `json:"id"`
				} `json:"user"`
			}
			if err := api(ctx, "POST", api1+"/auth/login", "", map[string]string{"username": name, "password": "benchmark-pw"}, &login); err != nil {
				return nil, err
			}
			if m == 0 {
				var created struct {
					Room struct {
						ID string `json:"id"`
					} `json:"room"`
					Position string `json:"position"`
				}
				if err := api(ctx, "POST", api1+"/rooms", login.Token, map[string]string{"name": fmt.Sprintf("bench room %d", r)}, &created); err != nil {
					return nil, err
				}
				roomID = created.Room.ID
				// the join below must see the room in the read model
				if err := api(ctx, "GET", api1+"/rooms/"+roomID+"?position="+created.Position, login.Token, nil, nil); err != nil {
					return nil, err
				}
			} else {
				var joined struct {
					Position string `json:"position"`
				}
				if err := api(ctx, "POST", api1+"/rooms/"+roomID+"/join", login.Token, nil, &joined); err != nil {
					return nil, err
				}
				if err := api(ctx, "GET", api1+"/rooms/"+roomID+"/members?position="+joined.Position, login.Token, nil, nil); err != nil {
					return nil, err
				}
			}
			ws, resp, err := websocket.DefaultDialer.DialContext(ctx, strings.Replace(base, "http", "ws", 1)+"/ws?token="+login.Token, nil)
			if resp != nil {
				resp.Body.Close()
			}
			if err != nil {
				return nil, fmt.Errorf("websocket: %w", err)
			}
			c := &client{id: login.User.ID, room: roomID, ws: ws, sent: map[string]time.Time{}}
			go c.read()
			clients = append(clients, c)
		}
	}
	return clients, nil
}

// read consumes frames: acks time the sender's own sends, messages from others time delivery.
func (c *client) read() {
	for {
		_, data, err := c.ws.ReadMessage()
		if err != nil {
			return
		}
		var f struct {
			Type    string `json:"type"`
			ID      string `json:"id"`
			Message struct {
				SenderID string `json:"sender_id"`
				Content  string `json:"content"`
			} `json:"message"`
		}
		if json.Unmarshal(data, &f) != nil {
			continue
		}
		now := time.Now()
		switch f.Type {
		case "ack", "error":
			c.mu.Lock()
			t, ok := c.sent[f.ID]
			delete(c.sent, f.ID)
			onAck := c.onAck
			c.mu.Unlock()
			if !ok {
				continue
			}
			if c.slots != nil {
				select {
				case <-c.slots:
				default:
				}
			}
			if f.Type == "error" {
				c.errors.Add(1)
				continue
			}
			if onAck != nil {
				onAck(now.Sub(t))
			}
		case "message":
			if f.Message.SenderID == c.id {
				continue
			}
			// content is "bench <unix nanos>" stamped at send time on this same host
			if ns, err := strconv.ParseInt(strings.TrimPrefix(f.Message.Content, "bench "), 10, 64); err == nil {
				c.mu.Lock()
				onMsg := c.onMsg
				c.mu.Unlock()
				if onMsg != nil {
					onMsg(now.Sub(time.Unix(0, ns)))
				}
			}
		}
	}
}

func (c *client) send() error {
	id := strconv.FormatInt(c.seq.Add(1), 10)
	now := time.Now()
	c.mu.Lock()
	c.sent[id] = now
	c.mu.Unlock()
	frame := fmt.Sprintf(`{"type":"send_message","id":%q,"room_id":%q,"content":"bench %d"}`, id, c.room, now.UnixNano())
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.ws.WriteMessage(websocket.TextMessage, []byte(frame))
}

type samples struct {
	mu sync.Mutex
	d  []time.Duration
}

func (s *samples) add(d time.Duration) { s.mu.Lock(); s.d = append(s.d, d); s.mu.Unlock() }

func (s *samples) pct(p int) time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.d) == 0 {
		return 0
	}
	slices.Sort(s.d)
	i := (len(s.d)*p + 99) / 100
	if i > 0 {
		i--
	}
	return s.d[i].Round(10 * time.Microsecond)
}

type result struct {
	dur        time.Duration
	sent, acks int
	errors     int64
	ack, deliv *samples
}

func (r result) print() {
	fmt.Printf("  sent %d, accepted %d (%.0f accepted msg/s), rejected/errored %d\n", r.sent, r.acks, float64(r.acks)/r.dur.Seconds(), r.errors)
	fmt.Printf("  ack latency       p50 %-10s p99 %s\n", r.ack.pct(50), r.ack.pct(99))
	fmt.Printf("  delivery latency  p50 %-10s p99 %s   (send → receipt by another member, %d receipts)\n", r.deliv.pct(50), r.deliv.pct(99), len(r.deliv.d))
}

// phase runs one load phase: a fixed total rate (rate > 0) spread over the clients, or as fast
// as each client's in-flight bound allows (inFlight > 0).
func phase(clients []*client, d time.Duration, rate, inFlight int) result {
	ack, deliv := &samples{}, &samples{}
	var acks atomic.Int64
	var sent atomic.Int64
	for _, c := range clients {
		c.mu.Lock()
		c.onAck = func(x time.Duration) { acks.Add(1); ack.add(x) }
		c.onMsg = deliv.add
		c.sent = map[string]time.Time{}
		c.mu.Unlock()
		c.errors.Store(0)
		c.slots = nil
		if inFlight > 0 {
			c.slots = make(chan struct{}, inFlight)
		}
	}
	start := time.Now()
	deadline := start.Add(d)
	var wg sync.WaitGroup
	for _, c := range clients {
		wg.Add(1)
		go func(c *client) {
			defer wg.Done()
			if rate > 0 {
				every := time.Duration(float64(time.Second) * float64(len(clients)) / float64(rate))
				next := time.Now().Add(time.Duration(uuid.New().ID()%uint32(every)) * time.Nanosecond)
				for {
					time.Sleep(time.Until(next))
					if time.Now().After(deadline) {
						return
					}
					if c.send() == nil {
						sent.Add(1)
					}
					next = next.Add(every)
				}
			}
			for time.Now().Before(deadline) {
				select {
				case c.slots <- struct{}{}:
				case <-time.After(time.Until(deadline)):
					return
				}
				if c.send() == nil {
					sent.Add(1)
				}
			}
		}(c)
	}
	wg.Wait()
	time.Sleep(2 * time.Second) // let the last acks and deliveries arrive
	var errs int64
	for _, c := range clients {
		errs += c.errors.Load()
		c.mu.Lock()
		c.onAck, c.onMsg = nil, nil
		c.mu.Unlock()
	}
	return result{dur: d, sent: int(sent.Load()), acks: int(acks.Load()), errors: errs, ack: ack, deliv: deliv}
}
