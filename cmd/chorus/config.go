package main

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/caarlos0/env/v11"
	"github.com/google/uuid"

	"github.com/chorus-chat/chorus/adapters/gateway"
	"github.com/chorus-chat/chorus/adapters/kafka"
	"github.com/chorus-chat/chorus/adapters/ops"
	"github.com/chorus-chat/chorus/adapters/redis"
)

// Config is the process's configuration, read from the environment (the README lists every
// variable; the first five are the ones every deployment sets).
type Config struct {
	HTTPAddr    string `env:"CHORUS_HTTP_ADDR" envDefault:"127.0.0.1:8080"`
	DatabaseURL string `env:"CHORUS_DATABASE_URL" envDefault:"postgres://postgres@127.0.0.1:5432/chorus?sslmode=disable"`
	// KafkaBrokers empty: an embedded Kafka-protocol broker runs in this process.
	KafkaBrokers []string `env:"CHORUS_KAFKA_BROKERS" envSeparator:","`
	// RedisURL empty: an embedded Redis runs in this process.
	RedisURL string `env:"CHORUS_REDIS_URL"`
	DataDir  string `env:"CHORUS_DATA_DIR" envDefault:"./data"`

	// Partitions 0 (unset): the existing topics' count, kafka.DefaultPartitions for a deployment
	// without topics yet (settleTopics).
	Partitions  int32 `env:"CHORUS_PARTITIONS"`
	Replication int16 `env:"CHORUS_KAFKA_REPLICATION" envDefault:"1"`
	// Multi-broker settings (docs/operations.md, Running on a real Kafka cluster).
	MinInSyncReplicas  int16         `env:"CHORUS_KAFKA_MIN_INSYNC_REPLICAS" envDefault:"0"`
	TransactionTimeout time.Duration `env:"CHORUS_KAFKA_TRANSACTION_TIMEOUT" envDefault:"30s"`
	// TopicSuffix follows every topic name: the topics of a partition migration.
	TopicSuffix      string `env:"CHORUS_TOPIC_SUFFIX"`
	InstanceID       string `env:"CHORUS_INSTANCE_ID"`
	RedisPrefix      string `env:"CHORUS_REDIS_PREFIX" envDefault:"chorus"`
	PushStreamMaxLen int64  `env:"CHORUS_PUSH_STREAM_MAXLEN"`
	// PushShards routes pushes over this many streams (docs/scaling.md, routed pushes); 1: one
	// stream that every gateway reads whole. Every process of a deployment uses the same.
	PushShards        int           `env:"CHORUS_PUSH_SHARDS" envDefault:"1"`
	CommandTimeout    time.Duration `env:"CHORUS_COMMAND_TIMEOUT" envDefault:"5s"`
	KafkaSession      time.Duration `env:"CHORUS_KAFKA_SESSION_TIMEOUT" envDefault:"10s"`
	KafkaHeartbeat    time.Duration `env:"CHORUS_KAFKA_HEARTBEAT" envDefault:"1s"`
	EmbeddedKafkaAddr string        `env:"CHORUS_EMBEDDED_KAFKA_ADDR" envDefault:"127.0.0.1:9092"`
	EmbeddedRedisAddr string        `env:"CHORUS_EMBEDDED_REDIS_ADDR" envDefault:"127.0.0.1:0"`
	KafkaSyncWrites   bool          `env:"CHORUS_KAFKA_SYNC_WRITES" envDefault:"false"`
	MinSessionTimeout time.Duration `env:"CHORUS_BROKER_MIN_SESSION_TIMEOUT" envDefault:"1s"`
	LogLevel          string        `env:"CHORUS_LOG_LEVEL" envDefault:"info"`
	ShutdownTimeout   time.Duration `env:"CHORUS_SHUTDOWN_TIMEOUT" envDefault:"8s"`
	MaxConnections    int           `env:"CHORUS_WS_MAX_CONNECTIONS" envDefault:"10000"`
	FrameLimit        int64         `env:"CHORUS_WS_FRAME_LIMIT" envDefault:"65536"`
	HeartbeatInterval time.Duration `env:"CHORUS_WS_HEARTBEAT_INTERVAL" envDefault:"30s"`
	ConnectionTimeout time.Duration `env:"CHORUS_WS_CONNECTION_TIMEOUT" envDefault:"60s"`
	EnableCompression bool          `env:"CHORUS_WS_COMPRESSION" envDefault:"true"`
	SessionTTL        time.Duration `env:"CHORUS_SESSION_TTL" envDefault:"24h"`
	BcryptCost        int           `env:"CHORUS_BCRYPT_COST" envDefault:"10"`
	Pprof             bool          `env:"CHORUS_PPROF" envDefault:"false"`
	// WebUI: a gateway serves the web client at / and the admin console at /admin.
	WebUI bool `env:"CHORUS_WEB_UI" envDefault:"true"`
	// How long a refreshed token keeps working (adapters/gateway/sessions.go).
	SessionRefreshGrace time.Duration `env:"CHORUS_SESSION_REFRESH_GRACE" envDefault:"60s"`
	// Realtime (adapters/gateway/presence.go) and projector dead letters (cmd/chorus/realtime.go).
	FrameRate  float64 `env:"CHORUS_WS_FRAME_RATE" envDefault:"20"`
	FrameBurst int     `env:"CHORUS_WS_FRAME_BURST" envDefault:"40"`
	// HTTP request limits (adapters/gateway/http_ratelimit.go).
	HTTPRate              float64       `env:"CHORUS_HTTP_RATE" envDefault:"20"`
	HTTPBurst             int           `env:"CHORUS_HTTP_BURST" envDefault:"100"`
	AuthRate              float64       `env:"CHORUS_AUTH_RATE" envDefault:"5"`
	AuthBurst             int           `env:"CHORUS_AUTH_BURST" envDefault:"20"`
	TypingInterval        time.Duration `env:"CHORUS_TYPING_INTERVAL" envDefault:"1s"`
	ResumeLimit           int           `env:"CHORUS_RESUME_LIMIT" envDefault:"1000"`
	PresenceTTL           time.Duration `env:"CHORUS_PRESENCE_TTL" envDefault:"300s"`
	PresenceSweepInterval time.Duration `env:"CHORUS_PRESENCE_SWEEP_INTERVAL" envDefault:"10s"`
	// PresenceFlushInterval: how often a gateway writes its users' last activity to Postgres and
	// reconciles the sessions left open (adapters/gateway/presence_reconcile.go).
	PresenceFlushInterval time.Duration `env:"CHORUS_PRESENCE_FLUSH_INTERVAL" envDefault:"5s"`
	ProjectorAttempts     int           `env:"CHORUS_PROJECTOR_ATTEMPTS" envDefault:"5"`
	// SnapshotEvery: events a command processor appends to a partition between two snapshots of
	// its state (adapters/kafka/snapshots.go); 0 disables snapshots.
	SnapshotEvery int `env:"CHORUS_SNAPSHOT_EVERY" envDefault:"50000"`
	// HTTP server timeouts (httpServer): a client cannot hold a connection by sending half a
	// request, reading slowly or idling on a keep-alive. WebSockets (hijacked) and the event
	// replay stream set deadlines of their own.
	HTTPReadHeaderTimeout time.Duration `env:"CHORUS_HTTP_READ_HEADER_TIMEOUT" envDefault:"10s"`
	HTTPReadTimeout       time.Duration `env:"CHORUS_HTTP_READ_TIMEOUT" envDefault:"30s"`
	HTTPWriteTimeout      time.Duration `env:"CHORUS_HTTP_WRITE_TIMEOUT" envDefault:"60s"`
	HTTPIdleTimeout       time.Duration `env:"CHORUS_HTTP_IDLE_TIMEOUT" envDefault:"60s"`
	// WSAllowedOrigins: the Origin values (scheme://host[:port], or "*") a browser socket may
	// come from besides the gateway's own host; empty: only the same host.
	WSAllowedOrigins []string `env:"CHORUS_WS_ALLOWED_ORIGINS" envSeparator:","`
	// CORSOrigins: the origins (or "*") whose pages may call the HTTP API; empty: CORS is off.
	CORSOrigins []string `env:"CHORUS_CORS_ORIGINS" envSeparator:","`
	// AdminUsers are the usernames (any letter case) that may publish system events and run the
	// projection operations (/api/v1/admin/...).
	AdminUsers []string `env:"CHORUS_ADMIN_USERS" envSeparator:","`
	// Projections are the projections the projectors role runs (ops.Projections names); empty:
	// all of them. One projection can so run (and be stopped, or lag) in processes of its own.
	Projections []string `env:"CHORUS_PROJECTIONS" envSeparator:","`

	// Per-user budgets and quotas across every gateway, kept in Redis (commands/budgets.go).
	UserCommandRate     int           `env:"CHORUS_USER_COMMAND_RATE" envDefault:"20"`
	UserCommandBurst    int           `env:"CHORUS_USER_COMMAND_BURST" envDefault:"100"`
	UserRoomCreateRate  int           `env:"CHORUS_USER_ROOM_CREATE_RATE" envDefault:"10"`
	UserRoomCreateBurst int           `env:"CHORUS_USER_ROOM_CREATE_BURST" envDefault:"20"`
	MaxRoomsPerUser     int           `env:"CHORUS_MAX_ROOMS_PER_USER" envDefault:"500"`
	RoomPasswordTries   int           `env:"CHORUS_ROOM_PASSWORD_ATTEMPTS" envDefault:"5"`
	RoomPasswordWindow  time.Duration `env:"CHORUS_ROOM_PASSWORD_WINDOW" envDefault:"1m"`
	// The bcrypt pool (adapters/gateway/bcrypt_pool.go); 0 workers: half the CPUs, at least 1.
	BcryptWorkers int           `env:"CHORUS_BCRYPT_WORKERS" envDefault:"0"`
	BcryptWait    time.Duration `env:"CHORUS_BCRYPT_WAIT" envDefault:"1s"`
}

// loadConfig reads the environment and checks what it can before anything starts.
func loadConfig() (Config, error) {
	var c Config
	if err := env.Parse(&c); err != nil {
		return c, fmt.Errorf("configuration: %w", err)
	}
	if _, set := os.LookupEnv("CHORUS_PARTITIONS"); set && c.Partitions < 1 {
		return c, fmt.Errorf("configuration: CHORUS_PARTITIONS must be at least 1 (unset: the existing topics' count, %d for a new deployment)", kafka.DefaultPartitions)
	}
	if err := c.checkKafka(); err != nil {
		return c, fmt.Errorf("configuration: %w", err)
	}
	if c.InstanceID == "" {
		host, _ := os.Hostname()
		c.InstanceID = fmt.Sprintf("%s-%d-%s", host, os.Getpid(), uuid.NewString()[:8])
	}
	for _, t := range []struct {
		name string
		d    time.Duration
	}{
		{"CHORUS_HTTP_READ_HEADER_TIMEOUT", c.HTTPReadHeaderTimeout}, {"CHORUS_HTTP_READ_TIMEOUT", c.HTTPReadTimeout},
		{"CHORUS_HTTP_WRITE_TIMEOUT", c.HTTPWriteTimeout}, {"CHORUS_HTTP_IDLE_TIMEOUT", c.HTTPIdleTimeout},
	} {
		// net/http reads 0 as "no timeout", which is what these exist to prevent.
		if t.d <= 0 {
			return c, fmt.Errorf("configuration: %s must be positive", t.name)
		}
	}
	// A command call may wait CHORUS_COMMAND_TIMEOUT for its reply and then up to 5 s for the
	// read model: a shorter write timeout would cut off answers the server did produce.
	if minWrite := c.CommandTimeout + gateway.DefaultConfig().PositionWait; c.HTTPWriteTimeout <= minWrite {
		return c, fmt.Errorf("configuration: CHORUS_HTTP_WRITE_TIMEOUT (%v) must be more than CHORUS_COMMAND_TIMEOUT plus 5s (%v)", c.HTTPWriteTimeout, minWrite)
	}
	// An empty URL starts the embedded Redis, whose URL is right by construction.
	redisURL := c.RedisURL
	if redisURL == "" {
		redisURL = "redis://127.0.0.1:6379"
	}
	if c.PushShards < 1 || c.PushShards > redis.MaxPushShards {
		return c, fmt.Errorf("configuration: CHORUS_PUSH_SHARDS (%d) must be between 1 and %d", c.PushShards, redis.MaxPushShards)
	}
	if err := redis.Check(redisURL, c.RedisPrefix); err != nil {
		return c, fmt.Errorf("configuration: CHORUS_REDIS_URL / CHORUS_REDIS_PREFIX: %w", err)
	}
	c.WSAllowedOrigins, c.CORSOrigins = trimList(c.WSAllowedOrigins), trimList(c.CORSOrigins)
	brokers := c.KafkaBrokers[:0]
	for _, b := range c.KafkaBrokers {
		if b = strings.TrimSpace(b); b != "" {
			brokers = append(brokers, b)
		}
	}
	c.KafkaBrokers = brokers
	projs := c.Projections[:0]
	for _, name := range c.Projections {
		if name = strings.TrimSpace(name); name == "" {
			continue
		}
		if !slices.ContainsFunc(ops.Projections, func(p ops.Projection) bool { return p.Name == name }) {
			return c, fmt.Errorf("configuration: CHORUS_PROJECTIONS: unknown projection %q (projections: %s)", name, projectionNames())
		}
		projs = append(projs, name)
	}
	c.Projections = projs
	return c, nil
}

// checkKafka checks the Kafka settings against each other; the brokers' own settings are
// checked at start (kafka.CheckCluster).
func (c Config) checkKafka() error {
	switch {
	case c.Replication < 1:
		return fmt.Errorf("CHORUS_KAFKA_REPLICATION must be at least 1")
	case c.MinInSyncReplicas < 0 || c.MinInSyncReplicas > c.Replication:
		return fmt.Errorf("CHORUS_KAFKA_MIN_INSYNC_REPLICAS (%d) must be between 1 and CHORUS_KAFKA_REPLICATION (%d), or 0 for replication minus one", c.MinInSyncReplicas, c.Replication)
	case c.TransactionTimeout < time.Second:
		return fmt.Errorf("CHORUS_KAFKA_TRANSACTION_TIMEOUT (%v) must be at least 1s", c.TransactionTimeout)
	case c.KafkaHeartbeat <= 0 || c.KafkaHeartbeat >= c.KafkaSession:
		return fmt.Errorf("CHORUS_KAFKA_HEARTBEAT (%v) must be positive and below CHORUS_KAFKA_SESSION_TIMEOUT (%v)", c.KafkaHeartbeat, c.KafkaSession)
	}
	if err := kafka.CheckTopicSuffix(c.TopicSuffix); err != nil {
		return fmt.Errorf("CHORUS_TOPIC_SUFFIX: %w", err)
	}
	return nil
}

func projectionNames() string {
	names := make([]string, len(ops.Projections))
	for i, p := range ops.Projections {
		names[i] = p.Name
	}
	return strings.Join(names, ", ")
}

// runs tells whether the projectors role of this process runs projection p.
func (c Config) runs(p ops.Projection) bool {
	return len(c.Projections) == 0 || slices.Contains(c.Projections, p.Name)
}

// trimList drops the blanks around and between a list's comma-separated items.
func trimList(in []string) []string {
	var out []string
	for _, s := range in {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// kafkaSnapshotEvery is SnapshotEvery as kafka.Config.SnapshotEvery reads it (there 0 is the
// default and a negative number disables).
func (c Config) kafkaSnapshotEvery() int {
	if c.SnapshotEvery <= 0 {
		return -1
	}
	return c.SnapshotEvery
}
