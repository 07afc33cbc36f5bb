package gateway

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
	"github.com/labstack/echo/v4"
	"golang.org/x/crypto/bcrypt"

	"github.com/chorus-chat/chorus/adapters/metrics"
	"github.com/chorus-chat/chorus/commands"
	"github.com/chorus-chat/chorus/projections"
	"github.com/chorus-chat/chorus/projections/queries"
)

// Config tunes the gateway. Zero fields take the value of DefaultConfig.
type Config struct {
	// MaxConnections bounds the open sockets of this gateway; an upgrade beyond it gets 503.
	MaxConnections int
	// FrameLimit is the largest client frame in bytes; a larger one closes the socket with 1009.
	FrameLimit int64
	// SendQueue is how many frames, and SendQueueBytes how many bytes of frames, may wait for
	// one socket; a client that lets either fill is too slow to keep up and is disconnected.
	// The queue holds only what waits (an idle socket none), so the bounds cost nothing until a
	// client falls behind; 1 MiB is also Centrifugo's default per-client queue.
	SendQueue      int
	SendQueueBytes int
	// HeartbeatInterval is how often the server sends a {"type":"ping"} frame.
	HeartbeatInterval time.Duration
	// ConnectionTimeout closes a socket from which nothing was read for that long.
	ConnectionTimeout time.Duration
	// EnableCompression offers permessage-deflate to clients.
	EnableCompression bool
	// PositionWait bounds how long a query waits for the read model to reach ?position=.
	PositionWait time.Duration
	// WriteTimeout is the HTTP server's write timeout (CHORUS_HTTP_WRITE_TIMEOUT). It bounds a
	// whole response, which a streamed one (the event replay, with follow=true for ever) outlives:
	// such a response moves the connection's write deadline this far ahead before each write, so
	// that only a client that stops reading is cut off.
	WriteTimeout time.Duration
	// AllowedOrigins are the Origin values (scheme://host[:port], or "*" for any) a browser's
	// socket may come from besides the gateway's own host (CHORUS_WS_ALLOWED_ORIGINS). A socket
	// carries its token, so a page of any other origin must not open one on the user's behalf.
	AllowedOrigins []string
	// CORSOrigins are the origins (or "*") whose pages may call the HTTP API from a browser
	// (CHORUS_CORS_ORIGINS); empty: no CORS headers, browsers allow only the same origin.
	CORSOrigins []string
	// Positions are the topics and partitions a ?position= may name (the event topics the
	// command processors append to); zero: any that parses. A position elsewhere cannot have
	// come from this server, so it is refused rather than waited for.
	Positions PositionSpace
	// SessionTTL is the lifetime of a login token.
	SessionTTL time.Duration
	// SessionRecheck is how often the gateway asks the accounts store whether its sockets'
	// sessions still stand, in case it missed an announced logout (as its token cache would
	// within 30 s).
	SessionRecheck time.Duration
	// RefreshGrace is how long a refreshed token keeps working (at most until its own
	// expiry): time for the client to hand the new one to its open sockets.
	RefreshGrace time.Duration
	// BcryptCost is the cost of password (and room password) hashes.
	BcryptCost int
	// BcryptWorkers bounds the hashes computed at once (bcrypt_pool.go); 0: half the CPUs, at
	// least one. BcryptWait is how long a hash waits for a worker before it is refused.
	BcryptWorkers int
	BcryptWait    time.Duration
	// RealtimeConfig tunes presence, typing, frame rate limits and resume (presence.go).
	RealtimeConfig
	// RateLimits bounds HTTP requests per user and, for register and login, per address
	// (http_ratelimit.go).
	RateLimits RateLimits
	// Budgets bound each user across every gateway: commands, room creations, rooms owned,
	// wrong room passwords (commands.Budgets).
	Budgets commands.Budgets
}

// DefaultConfig is the configuration of the contract.
func DefaultConfig() Config {
	return Config{
		MaxConnections:    10000,
		FrameLimit:        64 << 10,
		SendQueue:         4096,
		SendQueueBytes:    1 << 20,
		HeartbeatInterval: 30 * time.Second,
		ConnectionTimeout: 60 * time.Second,
		PositionWait:      5 * time.Second,
		WriteTimeout:      60 * time.Second,
		SessionTTL:        24 * time.Hour,
		RefreshGrace:      time.Minute,
		SessionRecheck:    30 * time.Second,
		BcryptCost:        bcrypt.DefaultCost,
		BcryptWait:        time.Second,
		RealtimeConfig:    DefaultRealtimeConfig(),
		RateLimits:        DefaultRateLimits(),
		Budgets:           commands.DefaultBudgets(),
	}
}

// withDefaults fills the zero fields, so that a partly filled Config (as tests write) works.
func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if c.MaxConnections <= 0 {
		c.MaxConnections = d.MaxConnections
	}
	if c.FrameLimit <= 0 {
		c.FrameLimit = d.FrameLimit
	}
	if c.SendQueueBytes <= 0 {
		c.SendQueueBytes = d.SendQueueBytes
	}
	if c.SendQueue <= 0 {
		c.SendQueue = d.SendQueue
	}
	if c.HeartbeatInterval <= 0 {
		c.HeartbeatInterval = d.HeartbeatInterval
	}
	if c.ConnectionTimeout <= 0 {
		c.ConnectionTimeout = d.ConnectionTimeout
	}
	if c.PositionWait <= 0 {
		c.PositionWait = d.PositionWait
	}
	if c.WriteTimeout <= 0 {
		c.WriteTimeout = d.WriteTimeout
	}
	if c.SessionTTL <= 0 {
		c.SessionTTL = d.SessionTTL
	}
	if c.RefreshGrace <= 0 {
		c.RefreshGrace = d.RefreshGrace
	}
	if c.SessionRecheck <= 0 {
		c.SessionRecheck = d.SessionRecheck
	}
	if c.BcryptCost == 0 {
		c.BcryptCost = d.BcryptCost
	}
	c.RealtimeConfig = c.RealtimeConfig.withDefaults(c.ConnectionTimeout)
	c.RateLimits = c.RateLimits.withDefaults()
	if c.BcryptWorkers <= 0 {
		c.BcryptWorkers = defaultBcryptWorkers()
	}
	if c.BcryptWait <= 0 {
		c.BcryptWait = d.BcryptWait
	}
	return c
}

// Deps are what a gateway works with, given once to New: the gateway has no setters, so that
// what it runs with is said in one place (cmd/chorus builds it; tests build their own). The
// first three are required; every other field may be left zero, with the effect its comment
// says.
type Deps struct {
	// Dispatcher sends commands and waits for their replies (a *commands.Dispatcher).
	Dispatcher commands.Sender
	// ReadModel answers the queries and the checks commands need.
	ReadModel ReadModel
	// Accounts holds the password hashes and the sessions.
	Accounts Accounts
	// Logger may be nil (slog.Default is used).
	Logger *slog.Logger

	// Notifications serves the notification calls; nil answers them 503 unavailable.
	Notifications queries.NotificationStore
	// Search answers GET /search/messages; nil answers it 503 unavailable.
	Search queries.Searcher
	// Directory is the organization directory: it answers the organizations' reads and the
	// organizations in profiles, and the organization changes read back what they changed.
	// nil: those reads answer 503 unavailable, profiles show no organizations and the changes
	// answer only their position.
	Directory Directory
	// OrgProxies answers what became of an organization's proxy authorizations (the
	// orgproxies manager's store); nil: an admin's grant or revocation answers 202 pending. If
	// it is also a queries.OrgProxies (orgproxies.Store is), it serves GET /orgs/{id}/proxies;
	// else that answers 503.
	OrgProxies commands.OrgProxies
	// Operations runs the admin operations on the projections (http_ops.go); nil answers them
	// 503. Its jobs run on until they end or Shutdown interrupts them (a rebuild interrupted
	// leaves the live projection untouched and resumes on the next run).
	Operations Operations
	// Overview answers GET /admin/overview (http_overview.go); nil answers it 503.
	Overview Overview
	// Admins name the server's admins by username (in any letter case, as usernames are unique
	// without regard to case): they, and only they, may publish system events, run the admin
	// operations and see other users' emails.
	Admins []string

	// Limits is the shared store of the per-user budgets (commands.Budgets). Without it (tests)
	// the budgets and the password attempt limit are off, and the room quota is held per
	// gateway only.
	Limits commands.Limits
	// LogEnds lets a ?position= beyond the end of its partition be refused (400) instead of
	// waited for: no accepted command answered it. nil: not asked.
	LogEnds LogEnds
	// SessionBus has logouts and refreshes announced to every gateway (nil: to this one only).
	// The caller also arranges that every gateway's EndSession runs on each announcement.
	SessionBus SessionBus
	// Metrics measures requests, sockets, frames and pushes; nil measures nothing.
	Metrics *metrics.Metrics

	// Presence records the gateway's sockets, announces users online and offline to the
	// members of their rooms, and gives the live statuses of the User views it answers; run
	// RunRealtime (the sweeper) with it. nil: no presence.
	Presence Presence
	// Pushes relays the pushes the gateway originates (typing) through the shared push stream,
	// so that every gateway delivers them; RunRealtime publishes them. nil: they are delivered
	// to this gateway's sockets only.
	Pushes PushPublisher
	// MessageChanges enables resume; nil answers every room of a resume recovered: false.
	MessageChanges queries.MessageChanges
	// OnlineTime computes the online-time reports (onlinetime.Store); nil answers them 503.
	OnlineTime queries.OnlineTimeReports
	// LastSeen keeps the users' last activity where it outlives Redis (postgres.LastSeen): with
	// Presence, the gateway writes its sockets' there and its reconciler ends the online
	// sessions left open by a dead gateway whose entries Redis lost (presence_reconcile.go).
	// nil: neither.
	LastSeen LastSeen
}

// Gateway serves the HTTP API and the WebSocket endpoint of one process.
type Gateway struct {
	cfg Config
	// app runs the commands: the HTTP handlers and the frame handlers only decode their input,
	// call its use cases and encode the answer.
	app *commands.Application
	// queries answers the reads the same way: their input checks, who may read what, and the
	// views, are package queries'.
	queries *queries.Application
	rm      ReadModel
	acc     Accounts
	log     *slog.Logger

	// ops runs the admin operations on the projections; nil answers 503.
	ops *jobs
	// overviews answers GET /admin/overview; nil answers 503.
	overviews Overview

	// userLimits and authLimits bound HTTP requests per user and per address (nil: no limit).
	userLimits, authLimits *limiters

	// logEnds tells where the event topics end, for ?position=; nil: not asked.
	logEnds LogEnds
	// bcrypt bounds the password hashes computed at once.
	bcrypt *bcryptPool

	// sessions announces logouts and refreshes to the other gateways; nil: this gateway acts
	// on them alone.
	sessions SessionBus

	upgrader websocket.Upgrader
	hub      *hub
	// conns counts sockets from the capacity check to the end of their goroutines, so that
	// MaxConnections also covers upgrades in progress.
	conns atomic.Int64

	// dummyHash is compared against when a login names an unknown user, so that the answer
	// takes as long as for a wrong password and does not reveal which usernames exist.
	dummyOnce sync.Once
	dummyHash []byte

	// rt holds presence, typing and resume (presence.go).
	rt realtime

	// feed routes the pushes this gateway's sockets need to it (UseFeed); nil: every push
	// reaches Deliver, read by the caller.
	feed PushFeed

	// met measures requests, sockets and pushes; nil measures nothing.
	met *metrics.Metrics
}

// UseFeed has the gateway tell feed which rooms and users its sockets need, before it serves.
func (g *Gateway) UseFeed(feed PushFeed) { g.feed = feed }

// New builds a gateway from its configuration and its dependencies.
func New(cfg Config, d Deps) *Gateway {
	log := d.Logger
	if log == nil {
		log = slog.Default()
	}
	cfg = cfg.withDefaults()
	g := &Gateway{
		cfg: cfg, rm: d.ReadModel, acc: d.Accounts, log: log.With("component", "gateway"),
		logEnds: d.LogEnds, sessions: d.SessionBus, met: d.Metrics, overviews: d.Overview,
		hub:        newHub(),
		userLimits: newLimiters(cfg.RateLimits.RequestRate, cfg.RateLimits.RequestBurst),
		authLimits: newLimiters(cfg.RateLimits.AuthRate, cfg.RateLimits.AuthBurst),
		bcrypt:     newBcryptPool(cfg.BcryptWorkers, cfg.BcryptWait),
	}
	g.rt.presence = d.Presence
	if d.Presence != nil {
		g.rt.log = newPresenceLog()
		g.rt.lastSeen = d.LastSeen
	}
	// The read model keeps the proxy grants (readmodel.Store does); one that does not refuses
	// every command sent on behalf of another user.
	proxies, _ := d.ReadModel.(commands.Proxies)
	proxyReads, _ := d.ReadModel.(queries.Proxies)
	proxyLookups, _ := d.ReadModel.(commands.ProxyLookups)
	sender := d.Dispatcher
	if d.Metrics != nil {
		sender = countedSender{Sender: d.Dispatcher, met: d.Metrics}
	}
	// The store that answers what became of an authorization also lists them (orgproxies.Store).
	orgProxyReads, _ := d.OrgProxies.(queries.OrgProxies)
	g.app = commands.NewApplication(commands.Deps{
		Sender: sender, ReadModel: d.ReadModel, Directory: d.Directory, Registrations: d.Accounts, Proxies: proxies, OrgProxies: d.OrgProxies,
		ProxyLookups: proxyLookups,
		Passwords:    passwords{g}, Statuses: statuses{g}, Limits: d.Limits, Metrics: d.Metrics,
		Budgets: cfg.Budgets, PositionWait: cfg.PositionWait, Logger: g.log,
	})
	g.queries = queries.NewApplication(queries.Deps{
		ReadModel: d.ReadModel, Search: d.Search, Notifications: d.Notifications, Directory: d.Directory, MessageChanges: d.MessageChanges,
		OnlineTime: d.OnlineTime, Proxies: proxyReads, OrgProxies: orgProxyReads, Names: g.app, Admins: d.Admins, Statuses: statuses{g}, WaitPosition: g.waitForPosition, Logger: g.log,
	})
	if d.Pushes != nil {
		g.rt.pub = d.Pushes
		g.rt.out = make(chan projections.Push, 4096)
	}
	if d.Operations != nil {
		g.ops = newJobs(d.Operations, g.log)
	}
	g.upgrader = websocket.Upgrader{
		HandshakeTimeout:  10 * time.Second,
		CheckOrigin:       g.originAllowed,
		EnableCompression: cfg.EnableCompression,
		// Idle sockets hold no write buffer: with thousands of mostly quiet sockets this is
		// most of the per-connection memory.
		WriteBufferPool: &sync.Pool{},
		// A read buffer of its own, smaller than the HTTP server's 4 KB one gorilla would
		// otherwise keep: every socket holds it for as long as it is open, and client frames are
		// small JSON (a larger frame is read past the buffer, straight into the frame's).
		ReadBufferSize: 1024,
		Error:          g.handshakeError,
	}
	return g
}

// Routes mounts the HTTP API under /api/v1 and the WebSocket endpoint GET /ws, and installs
// the error handler that gives every error, echo's own included, the contract's JSON shape.
func (g *Gateway) Routes(e *echo.Echo) {
	e.HTTPErrorHandler = g.handleHTTPError
	e.Use(g.observe) // X-Request-ID and request metrics (metrics.go)
	if cors := g.cors(); cors != nil {
		e.Use(cors) // origin.go
	}

	// Middleware is given per route rather than per group: echo makes a group with middleware
	// catch every unknown path below it, which would answer 401 instead of 404 for them.
	public := []echo.MiddlewareFunc{g.recoverPanic}
	auth := []echo.MiddlewareFunc{g.recoverPanic, g.limitAddress}
	authed := []echo.MiddlewareFunc{g.recoverPanic, g.authenticate, g.limitUser}
	query := []echo.MiddlewareFunc{g.recoverPanic, g.boundQuery, g.authenticate, g.limitUser, g.atPosition}
	bounded := []echo.MiddlewareFunc{g.recoverPanic, g.boundQuery, g.authenticate, g.limitUser}

	api := e.Group("/api/v1")
	api.POST("/auth/register", g.register, auth...)
	api.POST("/auth/login", g.login, auth...)
	api.POST("/auth/logout", g.logout, authed...)
	api.POST("/auth/refresh", g.refresh, authed...)

	api.GET("/users/me", g.me, query...)
	api.PATCH("/users/me", g.updateProfile, authed...)
	api.GET("/users/me/proxies", g.listProxies, query...)
	api.POST("/users/me/proxies", g.grantProxy, authed...) // http_proxies.go
	api.DELETE("/users/:id/proxies/:grant_id", g.revokeProxy, authed...)
	api.GET("/users/:id", g.userByID, query...)
	api.GET("/users", g.searchUsers, query...)
	api.GET("/search/messages", g.searchMessages, bounded...) // waits for ?position= on the search index itself

	api.GET("/notifications", g.listNotifications, bounded...)
	api.POST("/notifications/:id/read", g.markNotificationRead, authed...)
	api.POST("/admin/system-events", g.publishSystemEvent, authed...)
	api.GET("/admin/overview", g.overview, authed...)
	api.GET("/admin/events", g.replayEvents, authed...)
	api.GET("/admin/events/stats", g.eventStats, authed...)
	api.GET("/admin/projections", g.projectionStatus, authed...)
	api.POST("/admin/projections/:name/rebuild", g.startRebuild, authed...)
	api.POST("/admin/projections/:name/verify", g.startVerify, authed...)
	api.GET("/admin/jobs", g.listJobs, authed...)
	api.GET("/admin/jobs/:id", g.getJob, authed...)
	api.DELETE("/admin/jobs/:id", g.cancelJob, authed...)

	api.POST("/rooms", g.createRoom, authed...)
	api.GET("/rooms", g.listRooms, query...)
	api.GET("/rooms/:id", g.getRoom, query...)
	api.PATCH("/rooms/:id", g.updateRoom, authed...)
	api.DELETE("/rooms/:id", g.deleteRoom, authed...)
	api.POST("/rooms/:id/join", g.joinRoom, authed...)
	api.POST("/rooms/:id/leave", g.leaveRoom, authed...)
	api.GET("/rooms/:id/members", g.roomMembers, query...)
	api.POST("/rooms/:id/messages", g.sendMessage, authed...)
	api.GET("/rooms/:id/messages", g.history, query...)
	api.PATCH("/rooms/:id/messages/:mid", g.editMessage, authed...)
	api.DELETE("/rooms/:id/messages/:mid", g.deleteMessage, authed...)
	api.PUT("/rooms/:id/members/:user_id/role", g.setRole, authed...)
	api.DELETE("/rooms/:id/members/:user_id", g.kickMember, authed...)
	api.PUT("/rooms/:id/bans/:user_id", g.banMember, authed...)
	api.DELETE("/rooms/:id/bans/:user_id", g.unbanMember, authed...)
	api.POST("/rooms/:id/invitations", g.inviteUser, authed...)
	api.POST("/rooms/:id/read", g.markRead, authed...)

	g.orgRoutes(api, authed...)      // http_orgs.go
	g.orgReadRoutes(api, bounded...) // http_orgs_reads.go: they wait for ?position= on the directory itself

	e.GET("/ws", g.serveWS, public...)
}

// Connections is the number of open (or opening) sockets.
func (g *Gateway) Connections() int { return int(g.conns.Load()) }

// Shutdown interrupts the admin jobs (a rebuild stays resumable), refuses new sockets, closes
// every open one with 1001 (going away) and waits for their goroutines. When ctx ends first the
// remaining sockets are cut off without a close handshake.
func (g *Gateway) Shutdown(ctx context.Context) {
	if g.ops != nil {
		g.ops.shutdown(ctx)
	}
	conns := g.hub.close()
	for _, c := range conns {
		c.closeWith(websocket.CloseGoingAway, "server shutting down")
	}
	done := make(chan struct{})
	go func() { g.hub.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		for _, c := range conns {
			c.abort("shutdown deadline")
		}
		<-done
	}
	// The sockets' last offlines are queued now: send them while the dispatcher still runs.
	g.flushPresenceLog(ctx)
}

// dummy returns the hash compared against for unknown users (built once, at the configured cost).
func (g *Gateway) dummy() []byte {
	g.dummyOnce.Do(func() {
		h, err := bcrypt.GenerateFromPassword([]byte("chorus-no-such-user"), g.cfg.BcryptCost)
		if err != nil {
			g.log.Error("build dummy password hash", "err", err)
		}
		g.dummyHash = h
	})
	return g.dummyHash
}
