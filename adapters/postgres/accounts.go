package postgres

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/chorus-chat/chorus/projections/readmodel"
)

const (
	// sessionCacheFreshness bounds how long a cached session is trusted without asking
	// Postgres again: a session removed from the table stays usable in this process for at
	// most this long. Expiry is always checked against the cached expiry time.
	sessionCacheFreshness = 30 * time.Second
	// sessionCacheStaleLimit is how long past its fetch a cached session still answers while
	// Postgres cannot be reached (never past the session's expiry).
	sessionCacheStaleLimit = 5 * time.Minute
	// sessionLookupTimeout bounds the lookup of a session that is not cached.
	sessionLookupTimeout = 2 * time.Second
	// sessionCacheMax bounds the cache's memory; past it, new sessions are simply not cached.
	sessionCacheMax = 100_000
	// tokenBytes is the entropy of a session token.
	tokenBytes = 32
)

// Accounts keeps credentials and sessions. Password hashes reach the credentials table only
// through the read-model projector, which copies a registration attempt once the log records
// that registration (see SaveRegistrationAttempt).
type Accounts struct {
	pool *pgxpool.Pool

	mu       sync.RWMutex
	sessions map[[sha256.Size]byte]cachedSession
}

type cachedSession struct {
	userID    uuid.UUID
	expiresAt time.Time
	fetchedAt time.Time
}

// NewAccounts returns Accounts over pool.
func NewAccounts(pool *pgxpool.Pool) *Accounts {
	return &Accounts{pool: pool, sessions: make(map[[sha256.Size]byte]cachedSession)}
}

// SaveRegistrationAttempt stores the password hash of a registration before its command is sent.
// commandID is the RegisterUser command's id; when the UserRegistered of that command is
// projected, the hash becomes the user's credentials. Saving the same command id again keeps
// the first hash, as a command id always stands for its first attempt.
func (a *Accounts) SaveRegistrationAttempt(ctx context.Context, commandID, userID uuid.UUID, passwordHash string) error {
	_, err := a.pool.Exec(ctx, `
		INSERT INTO registration_attempts (command_id, user_id, password_hash)
		VALUES ($1, $2, $3)
		ON CONFLICT (command_id) DO NOTHING`, commandID, userID, passwordHash)
	if err != nil {
		return fmt.Errorf("save registration attempt: %w", err)
	}
	return nil
}

// Credentials returns the user id and password hash registered under username, which is
// matched without regard to case. It returns readmodel.ErrNotFound if there is no such user or
// the user's registration has not been projected yet.
func (a *Accounts) Credentials(ctx context.Context, username string) (uuid.UUID, string, error) {
	var (
		userID uuid.UUID
		hash   string
	)
	err := a.pool.QueryRow(ctx, `
		SELECT c.user_id, c.password_hash
		FROM users u JOIN credentials c ON c.user_id = u.id
		WHERE u.username_lower = $1`, strings.ToLower(username)).Scan(&userID, &hash)
	if errors.Is(err, pgx.ErrNoRows) {
		return uuid.Nil, "", fmt.Errorf("credentials of %q: %w", username, readmodel.ErrNotFound)
	}
	if err != nil {
		return uuid.Nil, "", fmt.Errorf("credentials of %q: %w", username, err)
	}
	return userID, hash, nil
}

// CreateSession starts a session for userID lasting ttl and returns its bearer token. Only the
// token's SHA-256 is stored.
func (a *Accounts) CreateSession(ctx context.Context, userID uuid.UUID, ttl time.Duration) (string, time.Time, error) {
	raw := make([]byte, tokenBytes)
	if _, err := rand.Read(raw); err != nil {
		return "", time.Time{}, fmt.Errorf("create session: token: %w", err)
	}
	token := base64.RawURLEncoding.EncodeToString(raw)
	hash := sha256.Sum256([]byte(token))
	// Postgres keeps microseconds; truncating here makes the returned expiry the stored one.
	expiresAt := time.Now().Add(ttl).UTC().Truncate(time.Microsecond)
	_, err := a.pool.Exec(ctx, `
		INSERT INTO sessions (token_hash, user_id, expires_at) VALUES ($1, $2, $3)`,
		hash[:], userID, expiresAt)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("create session: %w", err)
	}
	return token, expiresAt, nil
}

// Session returns the user a session token belongs to and when the session ends, or
// readmodel.ErrNotFound if the token is unknown, expired or revoked. Answers are cached in
// process for a short while, so that a busy gateway does not ask Postgres on every request;
// ForgetSession drops an entry when another gateway revokes or shortens the session.
func (a *Accounts) Session(ctx context.Context, token string) (uuid.UUID, time.Time, error) {
	hash := sha256.Sum256([]byte(token))
	now := time.Now()

	a.mu.RLock()
	c, ok := a.sessions[hash]
	a.mu.RUnlock()
	if ok && now.Sub(c.fetchedAt) < sessionCacheFreshness {
		if now.Before(c.expiresAt) {
			return c.userID, c.expiresAt, nil
		}
		a.forget(hash)
		return uuid.Nil, time.Time{}, fmt.Errorf("session: %w", readmodel.ErrNotFound)
	}

	var (
		userID    uuid.UUID
		expiresAt time.Time
	)
	// Bounded: a database cut off by the network (not refusing) would hold the request until the
	// client gives up; past the bound it counts as unreachable.
	qctx, cancel := context.WithTimeout(ctx, sessionLookupTimeout)
	defer cancel()
	err := a.pool.QueryRow(qctx, `
		SELECT user_id, expires_at FROM sessions
		WHERE token_hash = $1 AND expires_at > now()`, hash[:]).Scan(&userID, &expiresAt)
	if errors.Is(err, pgx.ErrNoRows) {
		// Unknown tokens are not cached: anyone can send many of them, and a cache of them
		// would grow without bound or evict the sessions worth keeping.
		a.forget(hash)
		return uuid.Nil, time.Time{}, fmt.Errorf("session: %w", readmodel.ErrNotFound)
	}
	if err != nil {
		// Postgres is out of reach: a session this gateway saw lately stays good until its
		// expiry (a logout removes it from the cache), so that commands, which need Kafka and
		// not Postgres, go on being accepted through an outage of the database.
		if ok && IsUnavailable(err) && now.Sub(c.fetchedAt) < sessionCacheStaleLimit && now.Before(c.expiresAt) {
			return c.userID, c.expiresAt, nil
		}
		return uuid.Nil, time.Time{}, fmt.Errorf("session: %w", err)
	}
	a.remember(hash, cachedSession{userID: userID, expiresAt: expiresAt, fetchedAt: now})
	return userID, expiresAt, nil
}

// RevokeSession ends a session now (logout). It returns the session's user, or
// readmodel.ErrNotFound if the token is unknown, expired or already revoked.
func (a *Accounts) RevokeSession(ctx context.Context, token string) (uuid.UUID, error) {
	hash := sha256.Sum256([]byte(token))
	var userID uuid.UUID
	err := a.pool.QueryRow(ctx, `
		DELETE FROM sessions WHERE token_hash = $1 AND expires_at > now()
		RETURNING user_id`, hash[:]).Scan(&userID)
	a.forget(hash)
	if errors.Is(err, pgx.ErrNoRows) {
		return uuid.Nil, fmt.Errorf("revoke session: %w", readmodel.ErrNotFound)
	}
	if err != nil {
		return uuid.Nil, fmt.Errorf("revoke session: %w", err)
	}
	return userID, nil
}

// RefreshSession starts a new session of the token's user lasting ttl and cuts the old one
// short: it now ends at the latest grace from now, so that requests and sockets still using it
// have time to switch. Both happen in one transaction. It returns the new token, its end and
// the old session's new end, or readmodel.ErrNotFound if the old token is unknown, expired or
// revoked.
func (a *Accounts) RefreshSession(ctx context.Context, token string, ttl, grace time.Duration) (string, time.Time, time.Time, error) {
	raw := make([]byte, tokenBytes)
	if _, err := rand.Read(raw); err != nil {
		return "", time.Time{}, time.Time{}, fmt.Errorf("refresh session: token: %w", err)
	}
	newToken := base64.RawURLEncoding.EncodeToString(raw)
	newHash := sha256.Sum256([]byte(newToken))
	oldHash := sha256.Sum256([]byte(token))
	now := time.Now()
	expiresAt := now.Add(ttl).UTC().Truncate(time.Microsecond)
	var oldEnds time.Time
	err := pgx.BeginFunc(ctx, a.pool, func(tx pgx.Tx) error {
		var userID uuid.UUID
		err := tx.QueryRow(ctx, `
			UPDATE sessions SET expires_at = LEAST(expires_at, $2)
			WHERE token_hash = $1 AND expires_at > now()
			RETURNING user_id, expires_at`, oldHash[:], now.Add(grace).UTC()).Scan(&userID, &oldEnds)
		if errors.Is(err, pgx.ErrNoRows) {
			return readmodel.ErrNotFound
		}
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `INSERT INTO sessions (token_hash, user_id, expires_at) VALUES ($1, $2, $3)`,
			newHash[:], userID, expiresAt)
		return err
	})
	a.forget(oldHash)
	if err != nil {
		return "", time.Time{}, time.Time{}, fmt.Errorf("refresh session: %w", err)
	}
	return newToken, expiresAt, oldEnds, nil
}

// SessionEnds returns when each of the sessions named by hashes (tokens' SHA-256) ends; the
// ones that are unknown, expired or revoked are absent. It always asks Postgres: a gateway
// checks its sockets' sessions with it in case it missed an announced logout.
func (a *Accounts) SessionEnds(ctx context.Context, hashes [][sha256.Size]byte) (map[[sha256.Size]byte]time.Time, error) {
	keys := make([][]byte, len(hashes))
	for i := range hashes {
		keys[i] = hashes[i][:]
	}
	rows, err := a.pool.Query(ctx, `
		SELECT token_hash, expires_at FROM sessions
		WHERE token_hash = ANY($1) AND expires_at > now()`, keys)
	if err != nil {
		return nil, fmt.Errorf("session ends: %w", err)
	}
	defer rows.Close()
	out := make(map[[sha256.Size]byte]time.Time, len(hashes))
	for rows.Next() {
		var (
			key  []byte
			ends time.Time
		)
		if err := rows.Scan(&key, &ends); err != nil {
			return nil, fmt.Errorf("session ends: %w", err)
		}
		out[[sha256.Size]byte(key)] = ends
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("session ends: %w", err)
	}
	return out, nil
}

// ForgetSession drops a session from this process's cache, so that the next use of its token
// asks Postgres: another gateway revoked or shortened it. hash is the token's SHA-256.
func (a *Accounts) ForgetSession(hash [sha256.Size]byte) { a.forget(hash) }

func (a *Accounts) remember(hash [sha256.Size]byte, c cachedSession) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.sessions) >= sessionCacheMax {
		// Make room by dropping what would be refetched anyway; if every entry is still
		// fresh, leave the newcomer uncached rather than grow.
		for k, v := range a.sessions {
			if c.fetchedAt.Sub(v.fetchedAt) >= sessionCacheFreshness || !c.fetchedAt.Before(v.expiresAt) {
				delete(a.sessions, k)
			}
		}
		if len(a.sessions) >= sessionCacheMax {
			return
		}
	}
	a.sessions[hash] = c
}

func (a *Accounts) forget(hash [sha256.Size]byte) {
	a.mu.Lock()
	delete(a.sessions, hash)
	a.mu.Unlock()
}

// PruneExpired deletes expired sessions and registration attempts older than maxAttemptAge
// (those whose command was rejected or never sent; accepted ones are removed when projected).
// It returns how many rows it deleted. Call it now and then; nothing depends on it for
// correctness.
func (a *Accounts) PruneExpired(ctx context.Context, maxAttemptAge time.Duration) (int64, error) {
	s, err := a.pool.Exec(ctx, `DELETE FROM sessions WHERE expires_at <= now()`)
	if err != nil {
		return 0, fmt.Errorf("prune sessions: %w", err)
	}
	r, err := a.pool.Exec(ctx, `DELETE FROM registration_attempts WHERE created_at < now() - make_interval(secs => $1)`,
		maxAttemptAge.Seconds())
	if err != nil {
		return s.RowsAffected(), fmt.Errorf("prune registration attempts: %w", err)
	}
	return s.RowsAffected() + r.RowsAffected(), nil
}
