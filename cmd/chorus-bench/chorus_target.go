package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/gorilla/websocket"
	"github.com/redis/go-redis/v9"
)

// chorusProcess is a running all-in-one bin/chorus on a fresh data directory and database.
type chorusProcess struct {
	base      string // http://host:port
	kafkaAddr string
	dbName    string
	pid       int
	stop      func() // stops the process and removes what it made
}

// benchEnv is what every Chorus process of a benchmark runs with besides its own addresses.
// The load generator sends far more frames per socket than a person does: the per-connection
// frame limit and the per-user limits are lifted so that it measures the system, not the
// limiters.
var benchEnv = []string{
	"CHORUS_BCRYPT_COST=4", "CHORUS_LOG_LEVEL=warn", "CHORUS_PPROF=true",
	"CHORUS_WS_FRAME_RATE=1000000", "CHORUS_WS_FRAME_BURST=1000000", "CHORUS_AUTH_RATE=-1", "CHORUS_HTTP_RATE=-1", "CHORUS_USER_COMMAND_RATE=-1",
}

// launch starts o.Binary with args and the environment's variables, benchEnv and env, its
// output in dir/<name>.log (whose path it returns); interrupt stops it.
func launch(ctx context.Context, o options, dir, name string, env []string, args ...string) (*exec.Cmd, string, error) {
	logf, err := os.Create(filepath.Join(dir, name+".log"))
	if err != nil {
		return nil, "", err
	}
	defer logf.Close()
	cmd := exec.CommandContext(context.WithoutCancel(ctx), o.Binary, args...)
	cmd.Env = append(append(os.Environ(), benchEnv...), env...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		return nil, "", fmt.Errorf("start %s %s: %w", o.Binary, name, err)
	}
	return cmd, logf.Name(), nil
}

// interrupt stops a launched process as SIGINT does a person's: it drains and exits.
func interrupt(cmd *exec.Cmd) {
	_ = cmd.Process.Signal(os.Interrupt)
	_ = cmd.Wait()
}

// waitReadyOrLog waits for a process's /readyz, and when it does not come says so with the
// end of the process's log.
func waitReadyOrLog(ctx context.Context, base, logPath string) error {
	if err := waitReady(ctx, base, 90*time.Second); err != nil {
		log, _ := os.ReadFile(logPath)
		if len(log) > 4000 {
			log = log[len(log)-4000:]
		}
		return fmt.Errorf("%s: %w; the end of its log:\n%s", logPath, err, log)
	}
	return nil
}

// newDatabaseName is a fresh database's name; its URL is o.Database's server with it.
func newDatabaseName(o options) (name, url string) {
	name = "chorus_bench_" + strings.ReplaceAll(uuid.NewString()[:8], "-", "")
	return name, strings.Replace(o.Database, "/postgres?", "/"+name+"?", 1)
}

// startProcess starts the all-in-one process on a fresh data directory and database and waits
// until it is ready. extraEnv is appended to the benchmark's environment.
func startProcess(ctx context.Context, o options, extraEnv ...string) (p *chorusProcess, err error) {
	dir, err := os.MkdirTemp("", "chorus-bench-")
	if err != nil {
		return nil, err
	}
	var cleanup undo
	cleanup.add(func() { os.RemoveAll(dir) })
	defer func() {
		if err != nil {
			cleanup.run()
		}
	}()
	httpAddr, kafkaAddr := freePort(ctx), freePort(ctx)
	dbName, dbURL := newDatabaseName(o)
	env := append([]string{
		"CHORUS_HTTP_ADDR=" + httpAddr, "CHORUS_DATA_DIR=" + dir, "CHORUS_DATABASE_URL=" + dbURL,
		"CHORUS_EMBEDDED_KAFKA_ADDR=" + kafkaAddr,
		"CHORUS_KAFKA_BROKERS=", "CHORUS_REDIS_URL=" + o.Redis, "CHORUS_REDIS_PREFIX=bench-" + dbName,
	}, extraEnv...)
	cmd, logPath, err := launch(ctx, o, dir, "chorus", env)
	if err != nil {
		return nil, err
	}
	cleanup.add(func() {
		interrupt(cmd)
		dropDatabase(o.Database, dbName)
	})
	base := "http://" + httpAddr
	if err := waitReadyOrLog(ctx, base, logPath); err != nil {
		return nil, err
	}
	fmt.Printf("chorus: %s (pprof at %s/debug/pprof/)\n", httpAddr, base)
	return &chorusProcess{base: base, kafkaAddr: kafkaAddr, dbName: dbName, pid: cmd.Process.Pid, stop: cleanup.run}, nil
}

// startChorus starts the all-in-one process on a fresh data directory and database and connects
// the members; it returns the target and the embedded broker's address.
func startChorus(ctx context.Context, o options) (t *target, kafkaAddr string, err error) {
	p, err := startProcess(ctx, o)
	if err != nil {
		return nil, "", err
	}
	cleanup := undo{p.stop}
	defer func() {
		if err != nil {
			cleanup.run()
		}
	}()
	base, kafkaAddr, dbName := p.base, p.kafkaAddr, p.dbName
	redisUsed := "embedded Redis"
	if o.Redis != "" {
		redisUsed = "Redis at " + o.Redis
	}
	fmt.Printf("setup: %d rooms x %d members = %d sockets, all-in-one process (embedded broker, %s, local Postgres)\n", o.Rooms, o.Members, o.Rooms*o.Members, redisUsed)

	pr := &probe{resumes: true}
	clients, err := setup(ctx, []string{base}, nil, o.Rooms, o.Members, pr)
	members := make([]member, len(clients))
	for i, c := range clients {
		members[i] = c
	}
	cleanup.add(func() {
		for _, m := range members {
			m.close()
		}
	})
	if err != nil {
		return nil, "", err
	}
	meters := []cpuMeter{processMeter("chorus (all-in-one process)", p.pid), postgresBackendsMeter(dbName)}
	// Another Redis (--redis) is metered too (INFO cpu, as for Centrifugo's Redis engine) and
	// the keys the run made under its prefix are removed after it.
	if o.Redis != "" {
		opts, err := redis.ParseURL(o.Redis)
		if err != nil {
			return nil, "", fmt.Errorf("--redis: %w", err)
		}
		rdb := redis.NewClient(opts)
		prefix := "bench-" + dbName
		// first in the list: it runs last, once the process has stopped writing
		cleanup = append(undo{func() {
			n := dropKeys(rdb, prefix) + dropKeys(rdb, "rate:"+prefix)
			fmt.Printf("  (removed %d Redis keys under %s)\n", n, prefix)
			_ = rdb.Close()
		}}, cleanup...)
		meters = append(meters, redisMeter(rdb))
	}
	return &target{name: "chorus", members: members, probe: pr, meters: meters, stop: cleanup.run, metrics: base + "/metrics"}, kafkaAddr, nil
}

// chorusMember is one connected member of a Chorus room. When the server cuts its socket it
// opens another (same token) and sends `resume` with the last seq it has of its room, as a
// client does; the sends that were waiting for their ack on the cut socket fail (a client would
// retry them; the benchmark does not).
type chorusMember struct {
	id    string
	room  string
	url   string // the WebSocket URL, token included
	api   string // the HTTP API's base URL
	token string
	probe *probe
	wmu   sync.Mutex // serialises writes
	frame atomic.Int64
	mu    sync.Mutex
	ws    *websocket.Conn // nil while reconnecting
	// pending is the sends of ws waiting for their ack, by frame id.
	pending map[string]pendingSend
	closing atomic.Bool

	// The reader's own state (run's goroutine only).
	lastSeq int64 // the highest message seq received in the room
	// resuming is the id of the resume frame sent on the current socket until its resumed
	// answer; resumeFrom the seq it asked from (a socket cut again meanwhile asks from it
	// again: the live frames received before the replay's end may have run ahead of it).
	resuming   string
	resumeFrom int64
	// since is when the current socket opened after a cut: a message sent before it and
	// received during the resume is counted as recovered, not as a live delivery.
	since time.Time
	// seen is the message ids received in the phase seenIn, so that a message received live
	// and again through the replay or history (or pushed twice) counts once.
	smu    sync.Mutex
	seen   map[string]struct{}
	seenIn *observed
}

type pendingSend struct {
	at   time.Time
	done func(time.Duration, bool)
}

// setup registers rooms × members users, each room made by its first member and joined by the
// others, and connects each member's socket. The HTTP calls go to gateways[0]; the socket of
// member m of room r to gateways[place(r, m)] (gateways[0] when place is nil).
func setup(ctx context.Context, gateways []string, place func(room, member int) int, rooms, members int, pr *probe) ([]*chorusMember, error) {
	api1 := gateways[0] + "/api/v1"
	var clients []*chorusMember
	for r := 0; r < rooms; r++ {
		var roomID string
		for m := 0; m < members; m++ {
			base := gateways[0]
			if place != nil {
				base = gateways[place(r, m)]
			}
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
			c := &chorusMember{id: login.User.ID, room: roomID, url: strings.Replace(base, "http", "ws", 1) + "/ws?token=" + login.Token,
				api: api1, token: login.Token, probe: pr, pending: map[string]pendingSend{}}
			ws, err := c.dial(ctx)
			if err != nil {
				return nil, fmt.Errorf("websocket: %w", err)
			}
			c.ws = ws
			go c.run(ws)
			clients = append(clients, c)
		}
	}
	return clients, nil
}

var errReconnecting = errors.New("socket cut: reconnecting")

func (c *chorusMember) dial(ctx context.Context) (*websocket.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	ws, resp, err := websocket.DefaultDialer.DialContext(ctx, c.url, nil)
	if resp != nil {
		resp.Body.Close()
	}
	return ws, err
}

// run reads the member's sockets one after the other until the member is closed.
func (c *chorusMember) run(ws *websocket.Conn) {
	for {
		c.read(ws)
		if c.closing.Load() {
			return
		}
		if ws = c.reconnect(); ws == nil {
			return
		}
	}
}

// reconnect opens a new socket (backing off while the server refuses) and sends resume on it;
// nil when the member is closed meanwhile.
func (c *chorusMember) reconnect() *websocket.Conn {
	wait := 50 * time.Millisecond
	for {
		if c.closing.Load() {
			return nil
		}
		ws, err := c.dial(context.Background())
		if err == nil {
			c.mu.Lock()
			if c.closing.Load() {
				c.mu.Unlock()
				_ = ws.Close()
				return nil
			}
			c.ws = ws
			c.mu.Unlock()
			c.probe.reconnected()
			c.since = time.Now()
			from := c.lastSeq
			if c.resuming != "" {
				from = c.resumeFrom
			}
			c.resuming = "resume-" + strconv.FormatInt(c.frame.Add(1), 10)
			c.resumeFrom = from
			frame := fmt.Sprintf(`{"type":"resume","id":%q,"rooms":{%q:%d}}`, c.resuming, c.room, from)
			c.wmu.Lock()
			_ = ws.WriteMessage(websocket.TextMessage, []byte(frame)) // a failure shows in the reader
			c.wmu.Unlock()
			return ws
		}
		time.Sleep(wait)
		wait = min(2*wait, 2*time.Second)
	}
}

// read consumes one socket's frames until it fails: acks time the member's own sends, messages
// from others time delivery (or count as recovered when they come through a resume).
func (c *chorusMember) read(ws *websocket.Conn) {
	for {
		_, data, err := ws.ReadMessage()
		if err != nil {
			if !c.closing.Load() {
				reason := ""
				var ce *websocket.CloseError
				if errors.As(err, &ce) {
					reason = fmt.Sprintf("close %d %s", ce.Code, ce.Text)
				}
				c.probe.disconnected(reason)
			}
			c.mu.Lock()
			c.ws = nil
			failed := c.pending
			c.pending = map[string]pendingSend{}
			c.mu.Unlock()
			_ = ws.Close()
			for _, p := range failed {
				c.probe.failed("socket closed before the ack")
				p.done(0, false)
			}
			return
		}
		var f struct {
			Type    string `json:"type"`
			ID      string `json:"id"`
			Code    string `json:"code"`
			Message struct {
				ID       string `json:"id"`
				Seq      int64  `json:"seq"`
				SenderID string `json:"sender_id"`
				Content  string `json:"content"`
			} `json:"message"`
			Rooms map[string]struct {
				Recovered bool `json:"recovered"`
			} `json:"rooms"`
			Result struct {
				Message struct {
					ID string `json:"id"`
				} `json:"message"`
			} `json:"result"`
		}
		if json.Unmarshal(data, &f) != nil {
			continue
		}
		now := time.Now()
		switch f.Type {
		case "ack", "error":
			if f.ID != "" && f.ID == c.resuming { // resume refused
				c.resuming = ""
				c.probe.failed("resume answered error " + f.Code)
				if o := c.probe.cur.Load(); o != nil {
					o.fallbacks.Add(1)
				}
				continue
			}
			c.mu.Lock()
			p, ok := c.pending[f.ID]
			delete(c.pending, f.ID)
			c.mu.Unlock()
			if ok && f.Type == "error" {
				c.probe.failed("error frame " + f.Code)
			}
			if ok {
				if f.Type == "ack" {
					c.probe.accepted(f.Result.Message.ID)
				}
				p.done(now.Sub(p.at), f.Type == "ack")
			}
		case "resumed":
			if f.ID != c.resuming {
				continue
			}
			c.resuming = ""
			if r, ok := f.Rooms[c.room]; ok && !r.Recovered {
				// more missed than resume replays: reload the room from history, as a
				// client does (on a goroutine of its own: the socket keeps being read)
				if o := c.probe.cur.Load(); o != nil {
					o.fallbacks.Add(1)
				}
				go c.history(c.resumeFrom)
			}
		case "message":
			c.lastSeq = max(c.lastSeq, f.Message.Seq)
			if f.Message.SenderID == c.id {
				continue
			}
			c.received(f.Message.ID, f.Message.Content, now)
		}
	}
}

// first says whether the message id is received for the first time in the phase o.
func (c *chorusMember) first(o *observed, id string) bool {
	c.smu.Lock()
	defer c.smu.Unlock()
	if o != c.seenIn {
		c.seen, c.seenIn = map[string]struct{}{}, o
	}
	if _, dup := c.seen[id]; dup {
		o.duplicates.Add(1)
		return false
	}
	c.seen[id] = struct{}{}
	o.receipt(id)
	return true
}

// history reads the room's messages after seq from the HTTP API, page by page, and counts the
// others' it had not received as recovered from history.
func (c *chorusMember) history(after int64) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for {
		var page struct {
			Messages []struct {
				ID       string `json:"id"`
				Seq      int64  `json:"seq"`
				SenderID string `json:"sender_id"`
			} `json:"messages"`
			HasMore bool `json:"has_more"`
		}
		url := fmt.Sprintf("%s/rooms/%s/messages?after_seq=%d&limit=200", c.api, c.room, after)
		if err := api(ctx, "GET", url, c.token, nil, &page); err != nil {
			c.probe.failed("history after a failed resume: " + err.Error())
			return
		}
		o := c.probe.cur.Load()
		for _, m := range page.Messages {
			after = max(after, m.Seq)
			if o != nil && m.SenderID != c.id && c.first(o, m.ID) {
				o.fromHistory.Add(1)
			}
		}
		if !page.HasMore || len(page.Messages) == 0 {
			return
		}
	}
}

// received counts one message from another member, once per message id and phase.
func (c *chorusMember) received(id, content string, now time.Time) {
	o := c.probe.cur.Load()
	if o == nil || !c.first(o, id) {
		return
	}
	// content is "bench <unix nanos>" stamped at send time on this same host
	ns, err := strconv.ParseInt(strings.TrimPrefix(content, "bench "), 10, 64)
	if err != nil {
		return
	}
	sent := time.Unix(0, ns)
	if c.resuming != "" && sent.Before(c.since) {
		o.recovered.Add(1) // missed while cut, replayed: its "latency" would be the outage
		return
	}
	o.deliv.add(now.Sub(sent))
}

func (c *chorusMember) send(now time.Time, done func(time.Duration, bool)) error {
	id := strconv.FormatInt(c.frame.Add(1), 10)
	c.mu.Lock()
	ws := c.ws
	if ws == nil {
		c.mu.Unlock()
		return errReconnecting
	}
	c.pending[id] = pendingSend{at: now, done: done}
	c.mu.Unlock()
	frame := fmt.Sprintf(`{"type":"send_message","id":%q,"room_id":%q,"content":"bench %d"}`, id, c.room, now.UnixNano())
	c.wmu.Lock()
	err := ws.WriteMessage(websocket.TextMessage, []byte(frame))
	c.wmu.Unlock()
	if err != nil {
		c.mu.Lock()
		_, mine := c.pending[id]
		delete(c.pending, id)
		c.mu.Unlock()
		if !mine { // the reader failed it already: done was called
			return nil
		}
	}
	return err
}

func (c *chorusMember) close() {
	c.closing.Store(true)
	c.mu.Lock()
	ws := c.ws
	c.mu.Unlock()
	if ws != nil {
		_ = ws.Close()
	}
}
