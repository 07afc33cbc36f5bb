package main

import (
	"log/slog"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/chorus-chat/chorus/adapters/gateway"
	"github.com/chorus-chat/chorus/adapters/postgres"
	"github.com/chorus-chat/chorus/adapters/redis"
	"github.com/chorus-chat/chorus/projections/readmodel"
)

// realtimeConfig is the gateway's configuration of presence, typing, frame rate limits and
// resume, from the environment.
func realtimeConfig(cfg Config) gateway.RealtimeConfig {
	return gateway.RealtimeConfig{
		FrameRate: cfg.FrameRate, FrameBurst: cfg.FrameBurst, TypingInterval: cfg.TypingInterval,
		ResumeLimit: cfg.ResumeLimit, PresenceTTL: cfg.PresenceTTL, PresenceSweepInterval: cfg.PresenceSweepInterval,
		PresenceFlushInterval: cfg.PresenceFlushInterval,
	}
}

// setupRealtime gives the gateway its ephemeral state: presence in Redis (announced on the push
// stream that every gateway reads), with the users' last activity in Postgres for the
// reconciler, a publisher for the pushes it originates (typing), and the read model's message
// changes for resume. The caller runs the gateway's RunRealtime (its publisher, presence
// sweeper and reconciler) as a role until the roles stop (after the gateway's sockets are
// closed, so their offline announcements go out). Closers are appended to cleanups.
func setupRealtime(deps *gateway.Deps, store *readmodel.Store, pool *pgxpool.Pool, rconn *redis.Conn, pushesOf func() *redis.Pushes,
	cleanups *[]func(), log *slog.Logger,
) error {
	deps.LastSeen = postgres.NewLastSeen(pool)
	pushes := pushesOf()
	presence := redis.NewPresence(rconn, pushes)
	*cleanups = append(*cleanups, func() { _ = presence.Close() })
	pub, err := pushes.Publisher()
	if err != nil {
		return err
	}
	*cleanups = append(*cleanups, func() { _ = pub.Close() })
	deps.Presence, deps.Pushes, deps.MessageChanges = presence, pub, store
	return nil
}
