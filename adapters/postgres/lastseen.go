package postgres

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
)

// LastSeen is the durable hint of presence (table presence_last_seen): when each user was last
// seen active on a socket of any gateway. Gateways write it in bulk every few seconds; it
// outlives Redis, so that the sessions left open when a gateway died and Redis lost its
// presence entries can still be ended at their user's last activity (the gateways'
// reconcilers: adapters/gateway/presence_reconcile.go). It reads the online-time projection's
// open sessions (online_sessions) for that.
type LastSeen struct {
	pool *pgxpool.Pool
}

// NewLastSeen returns LastSeen over pool, whose database must be migrated.
func NewLastSeen(pool *pgxpool.Pool) *LastSeen { return &LastSeen{pool: pool} }

// Seen records that each user of seen was active at the time given, in one statement. A time
// earlier than the one stored changes nothing (another gateway saw the user later). The rows
// are locked in the order of their ids, so gateways writing at once never deadlock.
func (s *LastSeen) Seen(ctx context.Context, seen map[uuid.UUID]time.Time) error {
	if len(seen) == 0 {
		return nil
	}
	users := make([]uuid.UUID, 0, len(seen))
	for u := range seen {
		users = append(users, u)
	}
	slices.SortFunc(users, func(a, b uuid.UUID) int { return bytes.Compare(a[:], b[:]) })
	at := make([]time.Time, len(users))
	for i, u := range users {
		at[i] = seen[u]
	}
	_, err := s.pool.Exec(ctx, `
		INSERT INTO presence_last_seen (user_id, seen_at)
		SELECT u, a FROM unnest($1::uuid[], $2::timestamptz[]) AS x(u, a) ORDER BY u
		ON CONFLICT (user_id) DO UPDATE SET seen_at = EXCLUDED.seen_at
		WHERE presence_last_seen.seen_at < EXCLUDED.seen_at`, users, at)
	if err != nil {
		return fmt.Errorf("postgres: presence last seen: %w", err)
	}
	return nil
}

// IdleSession is an open session of the online-time projection whose user has not been seen
// since before the bound asked for: Since is its start, LastActive the user's last activity
// known (the later of the start and the last time written by Seen).
type IdleSession struct {
	UserID     uuid.UUID
	Since      time.Time
	LastActive time.Time
}

// IdleSessions returns up to limit open sessions that started before idleBefore and whose user
// was not seen since before it either, in the order of (Since, UserID), after the session after
// (its zero value: from the first), for a caller to page through them.
func (s *LastSeen) IdleSessions(ctx context.Context, idleBefore time.Time, after IdleSession, limit int) ([]IdleSession, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT o.user_id, o.started_at, GREATEST(o.started_at, h.seen_at)
		FROM online_sessions o LEFT JOIN presence_last_seen h ON h.user_id = o.user_id
		WHERE o.ended_at IS NULL AND o.started_at < $1 AND (h.seen_at IS NULL OR h.seen_at < $1)
		  AND (o.started_at, o.user_id) > ($2, $3)
		ORDER BY o.started_at, o.user_id
		LIMIT $4`, idleBefore, after.Since, after.UserID, limit)
	if err != nil {
		return nil, fmt.Errorf("postgres: idle sessions: %w", err)
	}
	defer rows.Close()
	var out []IdleSession
	for rows.Next() {
		var x IdleSession
		if err := rows.Scan(&x.UserID, &x.Since, &x.LastActive); err != nil {
			return nil, fmt.Errorf("postgres: idle sessions: %w", err)
		}
		out = append(out, x)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres: idle sessions: %w", err)
	}
	return out, nil
}
