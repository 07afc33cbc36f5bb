package redis

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	"github.com/google/uuid"
	goredis "github.com/redis/go-redis/v9"

	"github.com/chorus-chat/chorus/adapters/metrics"
)

// Sessions tells every gateway that a session ends early: a logout ends it now, a refresh at
// the end of its grace. Each gateway drops the session from its token cache and closes (or
// shortens) the sockets opened with it. Pub/sub is enough for the common case; a gateway that
// misses a message (its Redis connection was down) still has Postgres, which its cache asks
// again within 30 s, and its own periodic check of its sockets' sessions.
type Sessions struct {
	conn    *Conn
	pub     goredis.UniversalClient
	channel string
	log     *slog.Logger
	met     *metrics.Metrics // nil: not measured (UseMetrics)
}

// sessionEnd is the message on the channel. Only the token's SHA-256 travels, never the token.
type sessionEnd struct {
	UserID    uuid.UUID `json:"user_id"`
	TokenHash string    `json:"token_hash"` // hex
	EndsAt    time.Time `json:"ends_at"`
}

// NewSessions makes the session channel under the connection's prefix.
func NewSessions(conn *Conn, log *slog.Logger) *Sessions {
	return &Sessions{conn: conn, pub: conn.Client(), channel: conn.Key("sessions"), log: log}
}

// UseMetrics has the channel count its failed publishes and subscriptions in m.
func (s *Sessions) UseMetrics(m *metrics.Metrics) *Sessions {
	s.met = m
	return s
}

// Close closes the publishing client.
func (s *Sessions) Close() error { return s.pub.Close() }

// EndSession announces that the session of tokenHash (the token's SHA-256), of user, ends at
// endsAt.
func (s *Sessions) EndSession(ctx context.Context, user uuid.UUID, tokenHash [sha256.Size]byte, endsAt time.Time) error {
	b, err := json.Marshal(sessionEnd{UserID: user, TokenHash: hex.EncodeToString(tokenHash[:]), EndsAt: endsAt})
	if err != nil {
		return fmt.Errorf("encode session end: %w", err)
	}
	if err := s.pub.Publish(ctx, s.channel, b).Err(); err != nil {
		s.met.RedisError("publish_sessions")
		return fmt.Errorf("publish session end: %w", err)
	}
	return nil
}

// Listen calls fn for every session end announced after it returns, until ctx ends.
func (s *Sessions) Listen(ctx context.Context, fn func(user uuid.UUID, tokenHash [sha256.Size]byte, endsAt time.Time)) error {
	return subscribe(ctx, s.conn, s.channel, s.met, "subscribe_sessions", s.log, func(payload []byte) {
		var e sessionEnd
		var hash [sha256.Size]byte
		err := json.Unmarshal(payload, &e)
		if err == nil && len(e.TokenHash) != 2*sha256.Size {
			err = fmt.Errorf("token hash of %d hex digits", len(e.TokenHash))
		}
		if err == nil {
			_, err = hex.Decode(hash[:], []byte(e.TokenHash))
		}
		if err != nil {
			s.log.Warn("bad session end on channel", "channel", s.channel, "err", err)
			return
		}
		fn(e.UserID, hash, e.EndsAt)
	})
}
