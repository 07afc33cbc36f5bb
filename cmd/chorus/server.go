package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	_ "net/http/pprof" // served under /debug/pprof only with CHORUS_PPROF=true
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/IBM/sarama"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/labstack/echo/v4"

	"github.com/chorus-chat/chorus/adapters/gateway"
	"github.com/chorus-chat/chorus/adapters/kafka"
	"github.com/chorus-chat/chorus/adapters/metrics"
	"github.com/chorus-chat/chorus/adapters/ops"
	"github.com/chorus-chat/chorus/adapters/postgres"
	"github.com/chorus-chat/chorus/adapters/redis"
	"github.com/chorus-chat/chorus/adapters/webui"
	"github.com/chorus-chat/chorus/commands"
	"github.com/chorus-chat/chorus/projections"
	"github.com/chorus-chat/chorus/projections/directory"
	"github.com/chorus-chat/chorus/projections/notify"
	"github.com/chorus-chat/chorus/projections/onlinetime"
	"github.com/chorus-chat/chorus/projections/orgproxies"
	"github.com/chorus-chat/chorus/projections/orgrooms"
	"github.com/chorus-chat/chorus/projections/readmodel"
	"github.com/chorus-chat/chorus/projections/search"
)

// runServer starts the embedded dependencies that are not configured, the roles asked for and
// the HTTP listener (/healthz, /readyz and, with the gateway role, the API), and on ctx's end
// drains and stops within the shutdown timeout.
func runServer(ctx context.Context, cfg Config, roles map[string]bool, log *slog.Logger) error {
	log = log.With("instance", cfg.InstanceID)
	var cleanups []func()
	defer func() {
		for i := len(cleanups) - 1; i >= 0; i-- {
			cleanups[i]()
		}
	}()

	brokers := cfg.KafkaBrokers
	if len(brokers) == 0 {
		if err := os.MkdirAll(cfg.DataDir, 0o755); err != nil {
			return fmt.Errorf("data dir: %w", err)
		}
		b, err := startEmbeddedBroker(cfg, cfg.EmbeddedKafkaAddr)
		if err != nil {
			return err
		}
		cleanups = append(cleanups, b.Close) // a clean close persists the broker's metadata
		brokers = []string{b.Addr()}
		log.Info("embedded Kafka-protocol broker started", "addr", b.Addr(), "data_dir", filepath.Join(cfg.DataDir, "kafka"), "sync_writes", cfg.KafkaSyncWrites)
	}
	redisURL, pushMaxLen := cfg.RedisURL, cfg.PushStreamMaxLen
	if redisURL == "" {
		if pushMaxLen == 0 {
			pushMaxLen = redis.EmbeddedPushStreamMaxLen
		}
		r, err := redis.StartEmbedded(cfg.EmbeddedRedisAddr)
		if err != nil {
			return err
		}
		cleanups = append(cleanups, r.Close)
		redisURL = r.URL()
		log.Info("embedded Redis started", "url", redisURL)
	}
	if pushMaxLen == 0 {
		pushMaxLen = redis.PushStreamMaxLen
	}
	kcfg := kafkaConfig(cfg, brokers)
	var err error
	if kcfg.Partitions, err = settleTopics(kcfg, log); err != nil {
		return err
	}
	met := metrics.New() // this process's registry, served as /metrics

	startCtx, cancelStart := context.WithTimeout(ctx, 60*time.Second)
	defer cancelStart()
	pool, err := postgres.Open(startCtx, cfg.DatabaseURL)
	if err != nil {
		return err
	}
	cleanups = append(cleanups, pool.Close)
	warnings, err := kafka.CheckCluster(kcfg)
	if err != nil {
		return err
	}
	for _, w := range warnings {
		log.Warn("unsafe Kafka setting", "problem", w)
	}
	rconn, err := redis.Dial(startCtx, redisURL, cfg.RedisPrefix)
	if err != nil {
		return err
	}
	pushesOf := func() *redis.Pushes {
		return redis.NewPushes(rconn, pushMaxLen, log).Shards(cfg.PushShards).UseMetrics(met)
	}
	store := readmodel.NewStore(pool)
	health, err := newHealth(kcfg, pool, rconn)
	if err != nil {
		return err
	}
	cleanups = append(cleanups, health.close)

	// Roles run until roleCtx ends; the HTTP side is drained first.
	roleCtx, cancelRoles := context.WithCancel(context.Background())
	defer cancelRoles()
	var wg sync.WaitGroup
	run := func(name string, fn func(context.Context) error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := fn(roleCtx); err != nil {
				log.Error("role stopped", "role", name, "err", err)
			}
		}()
	}

	replies := redis.NewReplies(rconn, log)
	replies.UseMetrics(met)
	cleanups = append(cleanups, func() { _ = replies.Close() })
	if roles[roleCommands] {
		proc := kafka.NewCommandProcessor(kcfg, replies, log.With("role", roleCommands))
		proc.UseMetrics(met)
		run(roleCommands, proc.Run)
	}
	env := ops.Env{
		Pool: pool, ReadModel: store, Log: log,
		Search: search.NewStore(pool, kcfg.Topics.ChatEvents),
		Notify: notify.NewStore(pool, kcfg.Topics.ChatEvents, kcfg.Topics.SystemEvents, kcfg.Topics.OrgEvents),
		// Shared by the directory's projector and the gateway's organization reads.
		Directory: directory.NewStore(pool, kcfg.Topics.OrgEvents),
		OrgRooms:  orgrooms.NewStore(pool),
		// Shared by the manager's projector and the gateway's proxy authorizations.
		OrgProxies: orgproxies.NewStore(pool),
		Pushes: func() (projections.PushPublisher, error) {
			pub, err := pushesOf().Publisher()
			if err != nil {
				return nil, err
			}
			cleanups = append(cleanups, func() { _ = pub.Close() })
			return pub, nil
		},
	}
	if roles[roleProjectors] {
		if err := runProjectors(cfg, kcfg, env, pushesOf, run, &cleanups, met, health.watch, log); err != nil {
			return err
		}
		if err := runManagerRelays(roleCtx, cfg, kcfg, env, replies, run, &cleanups, log); err != nil {
			return err
		}
	}

	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.GET("/healthz", func(c echo.Context) error { return c.JSON(http.StatusOK, map[string]string{"status": "ok"}) })
	e.GET("/readyz", health.handler)
	serveMetrics(e, met)
	if cfg.Pprof {
		e.GET("/debug/pprof/*", echo.WrapHandler(http.DefaultServeMux))
	}
	var gw *gateway.Gateway
	if roles[roleGateway] {
		// The gateway is built once with all it works with. With the projectors role in this
		// process too, it shares the stores with the projectors: a batch applied wakes the
		// queries waiting for it at once.
		deps := &gateway.Deps{
			Logger: log.With("role", roleGateway), Metrics: met,
			Search: env.Search, Notifications: env.Notify, Directory: env.Directory, Admins: cfg.AdminUsers,
			OrgProxies: env.OrgProxies,
			OnlineTime: onlinetime.NewStore(env.Pool),
			Overview:   overview{instance: cfg.InstanceID, roles: roleNames(roles), health: health, met: met},
		}
		cl, err := kafka.NewCommandLog(kcfg, log)
		if err != nil {
			return err
		}
		cl.UseMetrics(met)
		cleanups = append(cleanups, func() { _ = cl.Close() })
		replyTo := replies.Channel(cfg.InstanceID)
		disp := commands.NewDispatcher(cl, replyTo, cfg.CommandTimeout)
		if err := replies.Listen(roleCtx, replyTo, disp.Resolve); err != nil {
			return err
		}
		gcfg := gateway.DefaultConfig()
		gcfg.MaxConnections, gcfg.FrameLimit = cfg.MaxConnections, cfg.FrameLimit
		gcfg.HeartbeatInterval, gcfg.ConnectionTimeout = cfg.HeartbeatInterval, cfg.ConnectionTimeout
		gcfg.EnableCompression, gcfg.SessionTTL, gcfg.BcryptCost = cfg.EnableCompression, cfg.SessionTTL, cfg.BcryptCost
		gcfg.RealtimeConfig = realtimeConfig(cfg)
		gcfg.WriteTimeout = cfg.HTTPWriteTimeout
		gcfg.AllowedOrigins, gcfg.CORSOrigins = cfg.WSAllowedOrigins, cfg.CORSOrigins
		// The topics the command processors append to (kafka's topicOf): every position they answer.
		gcfg.Positions = gateway.PositionSpace{
			Topics:     kcfg.Topics.EventTopics(),
			Partitions: kcfg.Partitions,
		}
		gcfg.RefreshGrace = cfg.SessionRefreshGrace
		gcfg.RateLimits = gateway.RateLimits{RequestRate: cfg.HTTPRate, RequestBurst: cfg.HTTPBurst, AuthRate: cfg.AuthRate, AuthBurst: cfg.AuthBurst}
		gcfg.Budgets = commands.Budgets{
			CommandRate: cfg.UserCommandRate, CommandBurst: cfg.UserCommandBurst,
			CreateRoomRate: cfg.UserRoomCreateRate, CreateRoomBurst: cfg.UserRoomCreateBurst,
			MaxRoomsPerUser: cfg.MaxRoomsPerUser, PasswordAttempts: cfg.RoomPasswordTries, PasswordWindow: cfg.RoomPasswordWindow,
		}
		gcfg.BcryptWorkers, gcfg.BcryptWait = cfg.BcryptWorkers, cfg.BcryptWait
		deps.Dispatcher, deps.ReadModel, deps.Accounts = disp, store, postgres.NewAccounts(pool)
		deps.LogEnds = logEnds{health.client}
		limits := redis.NewLimits(rconn)
		cleanups = append(cleanups, func() { _ = limits.Close() })
		deps.Limits = limits
		// Logouts and refreshes reach every gateway's token cache and sockets.
		sessions := redis.NewSessions(rconn, log).UseMetrics(met)
		cleanups = append(cleanups, func() { _ = sessions.Close() })
		deps.SessionBus = sessions
		if err := setupRealtime(deps, store, pool, rconn, pushesOf, &cleanups, log); err != nil {
			return err
		}
		if err := setupOperations(startCtx, cfg.DatabaseURL, kcfg, deps, &cleanups); err != nil {
			return err
		}
		gw = gateway.New(gcfg, *deps)
		gw.Routes(e)
		if cfg.WebUI {
			ui, err := webui.New()
			if err != nil {
				return err
			}
			ui.Register(e) // the web client at /, the admin console at /admin
		}
		// The pushes this gateway's sockets need (all of them with one shard) reach gw.Deliver.
		feed, err := pushesOf().Route(roleCtx, gw)
		if err != nil {
			return err
		}
		gw.UseFeed(feed)
		if err := sessions.Listen(roleCtx, gw.EndSession); err != nil {
			return err
		}
		run("gateway-session-recheck", gw.RunSessionRecheck)
		run("gateway-realtime", gw.RunRealtime)
	}

	ln, err := new(net.ListenConfig).Listen(startCtx, "tcp", cfg.HTTPAddr)
	if err != nil {
		return fmt.Errorf("listen %s: %w", cfg.HTTPAddr, err)
	}
	srv := httpServer(cfg, e)
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	log.Info("chorus started", "http", ln.Addr().String(), "roles", roleNames(roles), "brokers", brokers, "partitions", kcfg.Partitions)

	select {
	case <-ctx.Done():
	case err := <-serveErr:
		if !errors.Is(err, http.ErrServerClosed) {
			log.Error("http server failed", "err", err)
		}
	}
	log.Info("chorus stopping")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	if gw != nil {
		gw.Shutdown(shutdownCtx)
	}
	_ = srv.Shutdown(shutdownCtx)
	cancelRoles()
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-shutdownCtx.Done():
		log.Warn("roles did not stop in time")
	}
	log.Info("chorus stopped")
	return nil
}

// httpServer is the HTTP server of the process with its timeouts: a connection that sends half a
// request, reads its answer too slowly or idles between requests is closed. A WebSocket is not
// cut by them (hijacking a connection clears its deadlines; the socket keeps its own), nor is
// the event replay stream (it moves its write deadline before each write: gateway.Config.WriteTimeout).
func httpServer(cfg Config, h http.Handler) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: cfg.HTTPReadHeaderTimeout,
		ReadTimeout:       cfg.HTTPReadTimeout,
		WriteTimeout:      cfg.HTTPWriteTimeout,
		IdleTimeout:       cfg.HTTPIdleTimeout,
	}
}

// logEnds answers where a partition's log ends, for the gateway's ?position= check, from the
// process's Kafka client. GetOffset asks read-uncommitted, so this is the high-water mark, which
// passes an event as soon as it is written, not the last stable offset, which passes it only once
// the transaction's markers are: a position a client just got is never beyond it.
type logEnds struct{ client sarama.Client }

func (l logEnds) LogEnd(_ context.Context, topic string, partition int32) (int64, error) {
	return l.client.GetOffset(topic, partition, sarama.OffsetNewest)
}

func roleNames(roles map[string]bool) []string {
	var out []string
	for _, r := range []string{roleGateway, roleCommands, roleProjectors} {
		if roles[r] {
			out = append(out, r)
		}
	}
	return out
}

// health answers /readyz: 200 once the broker, the database and Redis all answer. It also
// reports the projections this process runs: a projection that keeps failing is listed as
// failing (and the whole answer as degraded) but does not make the process unready. Unready
// takes a process out of service or gets it restarted, and neither helps: a record that fails
// fails again after a restart, an unreachable database already fails the postgres check, and
// in a process with other roles the gateway would go down with it. The failure is for people
// and alerts: this answer, chorus_projection_failing and the projections status.
type health struct {
	client sarama.Client
	pool   *pgxpool.Pool
	redis  *redis.Conn

	mu         sync.Mutex
	projectors []*kafka.Projector
}

// watch adds a projector of this process to the answer.
func (h *health) watch(p *kafka.Projector) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.projectors = append(h.projectors, p)
}

// projectionHealth is one projection in /readyz's answer.
type projectionHealth struct {
	Status       string     `json:"status"` // ok or failing
	Failures     int64      `json:"failures,omitempty"`
	Since        *time.Time `json:"since,omitempty"`
	Error        string     `json:"error,omitempty"`
	DeadLettered int64      `json:"dead_lettered"`
}

// projections is the health of every projector of this process, and whether one is failing.
func (h *health) projections() (map[string]projectionHealth, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.projectors) == 0 {
		return nil, false
	}
	out := make(map[string]projectionHealth, len(h.projectors))
	failing := false
	for _, p := range h.projectors {
		ph := p.Health()
		v := projectionHealth{Status: "ok", DeadLettered: ph.DeadLettered}
		if ph.Failing {
			failing = true
			since := ph.Since
			v.Status, v.Failures, v.Since, v.Error = "failing", ph.Failures, &since, ph.LastError
		}
		out[ph.Projection] = v
	}
	return out, failing
}

func newHealth(kcfg kafka.Config, pool *pgxpool.Pool, rc *redis.Conn) (*health, error) {
	client, err := sarama.NewClient(kcfg.Brokers, kcfg.Sarama())
	if err != nil {
		return nil, fmt.Errorf("kafka client: %w", err)
	}
	return &health{client: client, pool: pool, redis: rc}, nil
}

func (h *health) close() { _ = h.client.Close() }

func (h *health) handler(c echo.Context) error {
	body := h.report(c.Request().Context())
	status := http.StatusOK
	if !body["ready"].(bool) {
		status = http.StatusServiceUnavailable
	}
	return c.JSON(status, body)
}

// report is /readyz's answer: ready, the checks of the broker, the database and Redis, and the
// projections this process runs (with degraded) when it runs any.
func (h *health) report(ctx context.Context) map[string]any {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	checks := map[string]string{}
	ok := true
	if err := h.client.RefreshMetadata(); err != nil {
		checks["kafka"], ok = err.Error(), false
	} else {
		checks["kafka"] = "ok"
	}
	if err := h.pool.Ping(ctx); err != nil {
		checks["postgres"], ok = err.Error(), false
	} else {
		checks["postgres"] = "ok"
	}
	cl := h.redis.Client()
	defer cl.Close()
	if err := cl.Ping(ctx).Err(); err != nil {
		checks["redis"], ok = err.Error(), false
	} else {
		checks["redis"] = "ok"
	}
	body := map[string]any{"ready": ok, "checks": checks}
	if projs, failing := h.projections(); projs != nil {
		body["projections"], body["degraded"] = projs, failing
	}
	return body
}
