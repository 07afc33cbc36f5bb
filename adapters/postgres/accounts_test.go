package postgres_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/chorus-chat/chorus/adapters/postgres"
	"github.com/chorus-chat/chorus/adapters/postgres/pgtest"
	"github.com/chorus-chat/chorus/domain"
	"github.com/chorus-chat/chorus/projections/readmodel"
)

// registered returns the log record of the UserRegistered that command cmdID produces.
func registered(t *testing.T, cmdID uuid.UUID, username string, offset int64) readmodel.Record {
	t.Helper()
	id := domain.UserIDFor(username)
	cmd := domain.NewCommand(cmdID, id, id, username, time.Now(), domain.RegisterUser{Username: username})
	events, err := domain.NewAggregate(domain.AggregateUser, id).Decide(cmd, time.Now())
	if err != nil {
		t.Fatalf("decide register %s: %v", username, err)
	}
	return readmodel.Record{Topic: "user-events", Offset: offset, Event: events[0]}
}

func TestCredentialsComeFromTheWinningRegistration(t *testing.T) {
	ctx := context.Background()
	pool := pgtest.New(t)
	accounts := postgres.NewAccounts(pool)
	store := readmodel.NewStore(pool)

	// Two racers try to register "Alice"; the second one's command is the one the log accepts.
	alice := domain.UserIDFor("Alice")
	loser, winner := uuid.New(), uuid.New()
	if err := accounts.SaveRegistrationAttempt(ctx, loser, alice, "hash-of-loser"); err != nil {
		t.Fatalf("SaveRegistrationAttempt: %v", err)
	}
	if err := accounts.SaveRegistrationAttempt(ctx, winner, alice, "hash-of-winner"); err != nil {
		t.Fatalf("SaveRegistrationAttempt: %v", err)
	}
	// A retry of the winning command keeps its first hash.
	if err := accounts.SaveRegistrationAttempt(ctx, winner, alice, "hash-of-retry"); err != nil {
		t.Fatalf("SaveRegistrationAttempt again: %v", err)
	}

	if _, _, err := accounts.Credentials(ctx, "alice"); !errors.Is(err, readmodel.ErrNotFound) {
		t.Fatalf("Credentials before registration is projected = %v, want ErrNotFound", err)
	}

	// bob registered with no saved attempt: he gets no credentials at all.
	recs := []readmodel.Record{registered(t, winner, "Alice", 0), registered(t, uuid.New(), "bob", 1)}
	if err := store.ApplyBatch(ctx, readmodel.Projection, recs); err != nil {
		t.Fatalf("ApplyBatch: %v", err)
	}

	for _, name := range []string{"Alice", "alice", "ALICE"} {
		id, hash, err := accounts.Credentials(ctx, name)
		if err != nil {
			t.Fatalf("Credentials(%s): %v", name, err)
		}
		if id != alice || hash != "hash-of-winner" {
			t.Errorf("Credentials(%s) = %s, %q; want %s, hash-of-winner", name, id, hash, alice)
		}
	}
	if _, _, err := accounts.Credentials(ctx, "bob"); !errors.Is(err, readmodel.ErrNotFound) {
		t.Errorf("Credentials(bob) = %v, want ErrNotFound", err)
	}
	if _, _, err := accounts.Credentials(ctx, "nobody"); !errors.Is(err, readmodel.ErrNotFound) {
		t.Errorf("Credentials(nobody) = %v, want ErrNotFound", err)
	}

	// A later attempt on the taken name (its command will be refused) changes nothing, even
	// if the read model is rebuilt from the log.
	if err := accounts.SaveRegistrationAttempt(ctx, uuid.New(), alice, "hash-of-latecomer"); err != nil {
		t.Fatalf("SaveRegistrationAttempt: %v", err)
	}
	if _, err := pool.Exec(ctx, `TRUNCATE users, projection_checkpoints`); err != nil {
		t.Fatal(err)
	}
	if err := store.ApplyBatch(ctx, readmodel.Projection, recs); err != nil {
		t.Fatalf("ApplyBatch (rebuild): %v", err)
	}
	if _, hash, err := accounts.Credentials(ctx, "alice"); err != nil || hash != "hash-of-winner" {
		t.Errorf("Credentials(alice) after rebuild = %q, %v; want hash-of-winner", hash, err)
	}
}

func TestSessions(t *testing.T) {
	ctx := context.Background()
	pool := pgtest.New(t)
	accounts := postgres.NewAccounts(pool)
	user := uuid.New()

	token, expiresAt, err := accounts.CreateSession(ctx, user, time.Hour)
	if err != nil {
		t.Fatalf("CreateSession: %v", err)
	}
	if raw, err := base64.RawURLEncoding.DecodeString(token); err != nil || len(raw) != 32 {
		t.Errorf("token %q is not 32 bytes of unpadded base64url (%v)", token, err)
	}
	if d := time.Until(expiresAt); d < 59*time.Minute || d > time.Hour {
		t.Errorf("expires_at in %v, want in an hour", d)
	}
	for range 2 { // from Postgres, then from the cache
		if got, err := accounts.SessionUser(ctx, token); err != nil || got != user {
			t.Fatalf("SessionUser = %s, %v; want %s", got, err, user)
		}
	}
	// Another process (no cache) agrees.
	if got, err := postgres.NewAccounts(pool).SessionUser(ctx, token); err != nil || got != user {
		t.Fatalf("SessionUser from a fresh Accounts = %s, %v; want %s", got, err, user)
	}

	other, _, err := accounts.CreateSession(ctx, user, time.Hour)
	if err != nil {
		t.Fatalf("CreateSession: %v", err)
	}
	if other == token {
		t.Error("two sessions got the same token")
	}
	if _, err := accounts.SessionUser(ctx, token+"x"); !errors.Is(err, readmodel.ErrNotFound) {
		t.Errorf("SessionUser(unknown token) = %v, want ErrNotFound", err)
	}

	// Only the token's hash is stored.
	var plain, hashed int
	sum := sha256.Sum256([]byte(token))
	if err := pool.QueryRow(ctx, `SELECT count(*) FILTER (WHERE token_hash = $1), count(*) FILTER (WHERE token_hash = $2) FROM sessions`,
		[]byte(token), sum[:]).Scan(&plain, &hashed); err != nil {
		t.Fatal(err)
	}
	if plain != 0 || hashed != 1 {
		t.Errorf("sessions rows: %d by plain token, %d by its hash; want 0 and 1", plain, hashed)
	}
}

func TestSessionsExpire(t *testing.T) {
	ctx := context.Background()
	pool := pgtest.New(t)
	accounts := postgres.NewAccounts(pool)
	user := uuid.New()

	token, _, err := accounts.CreateSession(ctx, user, 300*time.Millisecond)
	if err != nil {
		t.Fatalf("CreateSession: %v", err)
	}
	if got, err := accounts.SessionUser(ctx, token); err != nil || got != user { // now cached
		t.Fatalf("SessionUser before expiry = %s, %v", got, err)
	}
	time.Sleep(400 * time.Millisecond)
	if _, err := accounts.SessionUser(ctx, token); !errors.Is(err, readmodel.ErrNotFound) {
		t.Errorf("SessionUser after expiry (cached) = %v, want ErrNotFound", err)
	}
	if _, err := postgres.NewAccounts(pool).SessionUser(ctx, token); !errors.Is(err, readmodel.ErrNotFound) {
		t.Errorf("SessionUser after expiry (uncached) = %v, want ErrNotFound", err)
	}

	n, err := accounts.PruneExpired(ctx, 24*time.Hour)
	if err != nil || n != 1 {
		t.Errorf("PruneExpired = %d, %v; want the one expired session", n, err)
	}
}
