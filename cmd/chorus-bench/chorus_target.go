package main

import (
	"context"
	"encoding/json"
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
)

// chorusProcess is a running all-in-one bin/chorus on a fresh data directory and database.
type chorusProcess struct {
	base      string // http://host:port
	kafkaAddr string
	dbName    string
	pid       int
	stop      func() // stops the process and removes what it made
}

// startProcess starts the all-in-one process on a fresh data directory and database and waits
// until it is ready. extraEnv is appended to the benchmark's environment.
func startProcess(ctx context.Context, o options, extraEnv ...string) (p *chorusProcess, err error) {
	dir, err := os.MkdirTemp("", "chorus-bench-")
	if err != nil {
		return nil, err
	}
	var cleanup []func()
	stop := func() {
		for i := len(cleanup) - 1; i >= 0; i-- {
			cleanup[i]()
		}
	}
	cleanup = append(cleanup, func() { os.RemoveAll(dir) })
	defer func() {
		if err != nil {
			stop()
		}
	}()
	httpAddr, kafkaAddr := freePort(ctx), freePort(ctx)
	dbName := "chorus_bench_" + strings.ReplaceAll(uuid.NewString()[:8], "-", "")
	dbURL := strings.Replace(o.Database, "/postgres?", "/"+dbName+"?", 1)
	logf, err := os.Create(filepath.Join(dir, "chorus.log"))
	if err != nil {
		return nil, err
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
	cmd.Env = append(cmd.Env, extraEnv...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", o.Binary, err)
	}
	cleanup = append(cleanup, func() {
		_ = cmd.Process.Signal(os.Interrupt)
		_ = cmd.Wait()
		dropDatabase(o.Database, dbName)
	})
	base := "http://" + httpAddr
	if err := waitReady(ctx, base, 90*time.Second); err != nil {
		log, _ := os.ReadFile(logf.Name())
		if len(log) > 4000 {
			log = log[len(log)-4000:]
		}
		return nil, fmt.Errorf("%w; the end of its log:\n%s", err, log)
	}
	fmt.Printf("chorus: %s (pprof at %s/debug/pprof/)\n", httpAddr, base)
	return &chorusProcess{base: base, kafkaAddr: kafkaAddr, dbName: dbName, pid: cmd.Process.Pid, stop: stop}, nil
}

// startChorus starts the all-in-one process on a fresh data directory and database and connects
// the members; it returns the target and the embedded broker's address.
func startChorus(ctx context.Context, o options) (t *target, kafkaAddr string, err error) {
	p, err := startProcess(ctx, o)
	if err != nil {
		return nil, "", err
	}
	cleanup := []func(){p.stop}
	stop := func() {
		for i := len(cleanup) - 1; i >= 0; i-- {
			cleanup[i]()
		}
	}
	defer func() {
		if err != nil {
			stop()
		}
	}()
	base, kafkaAddr, dbName := p.base, p.kafkaAddr, p.dbName
	redisUsed := "embedded Redis"
	if o.Redis != "" {
		redisUsed = "Redis at " + o.Redis
	}
	fmt.Printf("setup: %d rooms x %d members = %d sockets, all-in-one process (embedded broker, %s, local Postgres)\n", o.Rooms, o.Members, o.Rooms*o.Members, redisUsed)

	pr := &probe{}
	clients, err := setup(ctx, base, o.Rooms, o.Members, pr)
	members := make([]member, len(clients))
	for i, c := range clients {
		members[i] = c
	}
	cleanup = append(cleanup, func() {
		for _, m := range members {
			m.close()
		}
	})
	if err != nil {
		return nil, "", err
	}
	meters := []cpuMeter{processMeter("chorus (all-in-one process)", p.pid), postgresBackendsMeter(dbName)}
	if o.Redis != "" {
		fmt.Println("  (the Redis at", o.Redis, "is not metered: run --peer with the embedded Redis)")
	}
	return &target{name: "chorus", members: members, probe: pr, meters: meters, stop: stop, metrics: base + "/metrics"}, kafkaAddr, nil
}

// chorusMember is one connected member of a Chorus room.
type chorusMember struct {
	id      string
	room    string
	ws      *websocket.Conn
	probe   *probe
	wmu     sync.Mutex
	seq     atomic.Int64
	mu      sync.Mutex
	pending map[string]pendingSend // frame id → the send waiting for its ack
	closing atomic.Bool
}

type pendingSend struct {
	at   time.Time
	done func(time.Duration, bool)
}

func setup(ctx context.Context, base string, rooms, members int, pr *probe) ([]*chorusMember, error) {
	api1 := base + "/api/v1"
	var clients []*chorusMember
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
			c := &chorusMember{id: login.User.ID, room: roomID, ws: ws, probe: pr, pending: map[string]pendingSend{}}
			go c.read()
			clients = append(clients, c)
		}
	}
	return clients, nil
}

// read consumes frames: acks time the member's own sends, messages from others time delivery.
func (c *chorusMember) read() {
	for {
		_, data, err := c.ws.ReadMessage()
		if err != nil {
			if !c.closing.Load() {
				c.probe.disconnected()
			}
			c.mu.Lock()
			failed := c.pending
			c.pending = map[string]pendingSend{}
			c.mu.Unlock()
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
			p, ok := c.pending[f.ID]
			delete(c.pending, f.ID)
			c.mu.Unlock()
			if ok && f.Type == "error" {
				c.probe.failed("error frame " + f.Code)
			}
			if ok {
				p.done(now.Sub(p.at), f.Type == "ack")
			}
		case "message":
			if f.Message.SenderID == c.id {
				continue
			}
			// content is "bench <unix nanos>" stamped at send time on this same host
			if ns, err := strconv.ParseInt(strings.TrimPrefix(f.Message.Content, "bench "), 10, 64); err == nil {
				c.probe.delivered(now.Sub(time.Unix(0, ns)))
			}
		}
	}
}

func (c *chorusMember) send(now time.Time, done func(time.Duration, bool)) error {
	id := strconv.FormatInt(c.seq.Add(1), 10)
	c.mu.Lock()
	c.pending[id] = pendingSend{at: now, done: done}
	c.mu.Unlock()
	frame := fmt.Sprintf(`{"type":"send_message","id":%q,"room_id":%q,"content":"bench %d"}`, id, c.room, now.UnixNano())
	c.wmu.Lock()
	err := c.ws.WriteMessage(websocket.TextMessage, []byte(frame))
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
	_ = c.ws.Close()
}
