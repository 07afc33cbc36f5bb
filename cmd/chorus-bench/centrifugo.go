package main

import (
	"context"
	"debug/buildinfo"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/centrifugal/centrifuge-go"
	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"
)

// The peer: Centrifugo v6 with the same shape as Chorus's run: a channel per room
// ("room:<r>") with history and recovery on, every member its own connection (JSON protocol
// over WebSocket, token auth with HMAC-signed JWTs) subscribed to its room, publishing over the
// client protocol. The ack is the publish reply; delivery is the publication received by the
// other members.

// centrifugoConfig is the JSON configuration of Centrifugo v6 the benchmark starts it with.
func centrifugoConfig(port int, secret string, redisAddr, redisPrefix string) map[string]any {
	engine := map[string]any{"type": "memory"}
	if redisAddr != "" {
		engine = map[string]any{"type": "redis", "redis": map[string]any{"address": redisAddr, "prefix": redisPrefix}}
	}
	return map[string]any{
		"http_server": map[string]any{"address": "127.0.0.1", "port": port},
		"log":         map[string]any{"level": "warn"},
		"client": map[string]any{
			"token":           map[string]any{"hmac_secret_key": secret},
			"allowed_origins": []string{"*"},
		},
		"engine": engine,
		"channel": map[string]any{
			"namespaces": []map[string]any{{
				"name":                         "room",
				"history_size":                 1000,
				"history_ttl":                  "300s",
				"force_recovery":               true,
				"allow_subscribe_for_client":   true,
				"allow_publish_for_subscriber": true,
			}},
		},
	}
}

// startCentrifugo starts the centrifugo binary with the given engine ("memory" or "redis") and
// connects the members.
func startCentrifugo(ctx context.Context, o options, engine string) (t *target, err error) {
	dir, err := os.MkdirTemp("", "chorus-peer-bench-")
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
	addr := freePort(ctx)
	_, portS, _ := net.SplitHostPort(addr)
	var port int
	_, _ = fmt.Sscan(portS, &port)
	secret := uuid.NewString()
	var redisAddr, prefix string
	var rdb *redis.Client
	if engine == "redis" {
		redisAddr, prefix = o.CentrifugoRedis, "chorus-peer-bench-"+uuid.NewString()[:8]
		rdb = redis.NewClient(&redis.Options{Addr: redisAddr})
		cleanup.add(func() {
			n := dropKeys(rdb, prefix)
			fmt.Printf("  (removed %d Redis keys under %s)\n", n, prefix)
			_ = rdb.Close()
		})
	}
	cfg, _ := json.MarshalIndent(centrifugoConfig(port, secret, redisAddr, prefix), "", "  ")
	cfgPath := filepath.Join(dir, "config.json")
	if err := os.WriteFile(cfgPath, cfg, 0o600); err != nil {
		return nil, err
	}
	logf, err := os.Create(filepath.Join(dir, "centrifugo.log"))
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(context.WithoutCancel(ctx), o.Centrifugo, "--config", cfgPath)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s (make bench-peer installs it): %w", o.Centrifugo, err)
	}
	cleanup.add(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		_ = cmd.Wait()
	})
	if err := waitListening(ctx, addr, 30*time.Second); err != nil {
		log, _ := os.ReadFile(logf.Name())
		return nil, fmt.Errorf("centrifugo: %w\n%s", err, log)
	}
	fmt.Printf("centrifugo: %s, %s engine (%s)\n", addr, engine, centrifugoVersion(o.Centrifugo))

	pr := &probe{}
	var members []member
	cleanup.add(func() {
		for _, m := range members {
			m.close()
		}
	})
	url := "ws://" + addr + "/connection/websocket"
	for r := 0; r < o.Rooms; r++ {
		for m := 0; m < o.Members; m++ {
			c, err := connectCentrifuge(url, secret, fmt.Sprintf("u%d_%d", r, m), fmt.Sprintf("room:%d", r), pr)
			if err != nil {
				return nil, err
			}
			members = append(members, c)
		}
	}
	meters := []cpuMeter{processMeter("centrifugo", cmd.Process.Pid)}
	if rdb != nil {
		meters = append(meters, redisMeter(rdb))
	}
	return &target{name: "centrifugo " + engine, members: members, probe: pr, meters: meters, stop: cleanup.run}, nil
}

// centrifugoVersion is the module version the binary was built from (go install stamps no
// version into `centrifugo version`).
func centrifugoVersion(bin string) string {
	info, err := buildinfo.ReadFile(bin)
	if err != nil {
		return "version unknown"
	}
	return info.Main.Path + " " + info.Main.Version + ", " + info.GoVersion
}

func waitListening(ctx context.Context, addr string, d time.Duration) error {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		c, err := new(net.Dialer).DialContext(ctx, "tcp", addr)
		if err == nil {
			c.Close()
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("not listening on %s after %s", addr, d)
}

// dropKeys deletes every key under prefix and says how many there were.
func dropKeys(rdb *redis.Client, prefix string) int {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	n := 0
	iter := rdb.Scan(ctx, 0, prefix+"*", 1000).Iterator()
	for iter.Next(ctx) {
		if rdb.Del(ctx, iter.Val()).Err() == nil {
			n++
		}
	}
	return n
}

// centrifugeMember is one member: a connection of its own, subscribed to its room's channel.
type centrifugeMember struct {
	user    string
	probe   *probe
	client  *centrifuge.Client
	sub     *centrifuge.Subscription
	closing atomic.Bool
}

// stamp is a published message: its sender and its send time.
type stamp struct {
	User string `json:"u"`
	Sent int64  `json:"t"`
}

func connectCentrifuge(url, secret, user, channel string, pr *probe) (*centrifugeMember, error) {
	token, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
		"sub": user, "exp": time.Now().Add(24 * time.Hour).Unix(),
	}).SignedString([]byte(secret))
	if err != nil {
		return nil, err
	}
	m := &centrifugeMember{user: user, probe: pr}
	m.client = centrifuge.NewJsonClient(url, centrifuge.Config{Token: token})
	m.client.OnDisconnected(func(e centrifuge.DisconnectedEvent) {
		if !m.closing.Load() {
			pr.disconnected(fmt.Sprintf("disconnect %d %s", e.Code, e.Reason))
		}
	})
	m.sub, err = m.client.NewSubscription(channel, centrifuge.SubscriptionConfig{Recoverable: true})
	if err != nil {
		return nil, err
	}
	m.sub.OnPublication(func(e centrifuge.PublicationEvent) {
		now := time.Now()
		var s stamp
		if json.Unmarshal(e.Data, &s) != nil || s.User == user {
			return
		}
		pr.delivered(now.Sub(time.Unix(0, s.Sent)))
	})
	subscribed := make(chan struct{}, 1)
	m.sub.OnSubscribed(func(centrifuge.SubscribedEvent) {
		select {
		case subscribed <- struct{}{}:
		default:
		}
	})
	if err := m.client.Connect(); err != nil {
		return nil, err
	}
	if err := m.sub.Subscribe(); err != nil {
		m.client.Close()
		return nil, err
	}
	select {
	case <-subscribed:
		return m, nil
	case <-time.After(10 * time.Second):
		m.client.Close()
		return nil, fmt.Errorf("centrifugo: %s not subscribed to %s after 10 s", user, channel)
	}
}

func (m *centrifugeMember) send(now time.Time, done func(time.Duration, bool)) error {
	data, _ := json.Marshal(stamp{User: m.user, Sent: now.UnixNano()})
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, err := m.sub.Publish(ctx, data)
		if err != nil {
			m.probe.failed(err.Error())
		}
		done(time.Since(now), err == nil)
	}()
	return nil
}

func (m *centrifugeMember) close() {
	m.closing.Store(true)
	m.client.Close()
}
