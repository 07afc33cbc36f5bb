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
		if got, ends, err := accounts.Session(ctx, token); err != nil || got != user || !ends.Equal(expiresAt) {
			t.Fatalf("Session = %s, %v, %v; want %s, %v", got, ends, err, user, expiresAt)
		}
	}
	// Another process (no cache) agrees.
	if got, _, err := postgres.NewAccounts(pool).Session(ctx, token); err != nil || got != user {
		t.Fatalf("Session from a fresh Accounts = %s, %v; want %s", got, err, user)
	}

	other, _, err := accounts.CreateSession(ctx, user, time.Hour)
	if err != nil {
		t.Fatalf("CreateSession: %v", err)
	}
	if other == token {
		t.Error("two sessions got the same token")
	}
	if _, _, err := accounts.Session(ctx, token+"x"); !errors.Is(err, readmodel.ErrNotFound) {
		t.Errorf("Session(unknown token) = %v, want ErrNotFound", err)
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
	if got, _, err := accounts.Session(ctx, token); err != nil || got != user { // now cached
		t.Fatalf("Session before expiry = %s, %v", got, err)
	}
	time.Sleep(400 * time.Millisecond)
	if _, _, err := accounts.Session(ctx, token); !errors.Is(err, readmodel.ErrNotFound) {
		t.Errorf("Session after expiry (cached) = %v, want ErrNotFound", err)
	}
	if _, _, err := postgres.NewAccounts(pool).Session(ctx, token); !errors.Is(err, readmodel.ErrNotFound) {
		t.Errorf("Session after expiry (uncached) = %v, want ErrNotFound", err)
	}

	n, err := accounts.PruneExpired(ctx, 24*time.Hour)
	if err != nil || n != 1 {
		t.Errorf("PruneExpired = %d, %v; want the one expired session", n, err)
	}
}

func TestRevokeSession(t *testing.T) {
	ctx := context.Background()
	pool := pgtest.New(t)
	accounts := postgres.NewAccounts(pool)
	other := postgres.NewAccounts(pool) // another gateway, with a cache of its own
	user := uuid.New()

	token, _, err := accounts.CreateSession(ctx, user, time.Hour)
	if err != nil {
		t.Fatalf("CreateSession: %v", err)
	}
	kept, _, err := accounts.CreateSession(ctx, user, time.Hour)
	if err != nil {
		t.Fatalf("CreateSession: %v", err)
	}
	if _, _, err := other.Session(ctx, token); err != nil { // cached there
		t.Fatalf("Session: %v", err)
	}
	if got, err := accounts.RevokeSession(ctx, token); err != nil || got != user {
		t.Fatalf("RevokeSession = %s, %v; want %s", got, err, user)
	}
	if _, _, err := accounts.Session(ctx, token); !errors.Is(err, readmodel.ErrNotFound) {
		t.Errorf("Session after revoke = %v, want ErrNotFound", err)
	}
	if _, err := accounts.RevokeSession(ctx, token); !errors.Is(err, readmodel.ErrNotFound) {
		t.Errorf("second RevokeSession = %v, want ErrNotFound", err)
	}
	// The other process trusts its cache until it is told to forget.
	if _, _, err := other.Session(ctx, token); err != nil {
		t.Fatalf("cached Session on the other process = %v, want still cached", err)
	}
	other.ForgetSession(sha256.Sum256([]byte(token)))
	if _, _, err := other.Session(ctx, token); !errors.Is(err, readmodel.ErrNotFound) {
		t.Errorf("Session on the other process after ForgetSession = %v, want ErrNotFound", err)
	}
	// Only that session ended.
	if got, _, err := accounts.Session(ctx, kept); err != nil || got != user {
		t.Errorf("the user's other session = %s, %v", got, err)
	}
}

func TestRefreshSession(t *testing.T) {
	ctx := context.Background()
	pool := pgtest.New(t)
	accounts := postgres.NewAccounts(pool)
	user := uuid.New()

	old, oldEnds, err := accounts.CreateSession(ctx, user, time.Hour)
	if err != nil {
		t.Fatalf("CreateSession: %v", err)
	}
	token, ends, cut, err := accounts.RefreshSession(ctx, old, 2*time.Hour, 300*time.Millisecond)
	if err != nil {
		t.Fatalf("RefreshSession: %v", err)
	}
	if token == old || !ends.After(oldEnds) || time.Until(ends) < 119*time.Minute {
		t.Errorf("new session %q ends %v; old %q ended %v", token, ends, old, oldEnds)
	}
	if d := time.Until(cut); d <= 0 || d > 300*time.Millisecond {
		t.Errorf("old session now ends in %v, want within the grace", d)
	}
	if got, e, err := accounts.Session(ctx, token); err != nil || got != user || !e.Equal(ends) {
		t.Errorf("Session(new) = %s, %v, %v", got, e, err)
	}
	if _, e, err := accounts.Session(ctx, old); err != nil || !e.Equal(cut) {
		t.Errorf("Session(old) within the grace = %v, %v; want it to end at %v", e, err, cut)
	}
	time.Sleep(time.Until(cut) + 50*time.Millisecond)
	if _, _, err := accounts.Session(ctx, old); !errors.Is(err, readmodel.ErrNotFound) {
		t.Errorf("Session(old) after the grace = %v, want ErrNotFound", err)
	}
	if _, _, _, err := accounts.RefreshSession(ctx, old, time.Hour, time.Second); !errors.Is(err, readmodel.ErrNotFound) {
		t.Errorf("RefreshSession(ended token) = %v, want ErrNotFound", err)
	}
	// A grace longer than what is left does not extend the old session.
	short, shortEnds, err := accounts.CreateSession(ctx, user, 200*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, cut, err := accounts.RefreshSession(ctx, short, time.Hour, time.Hour); err != nil || !cut.Equal(shortEnds) {
		t.Errorf("RefreshSession with a long grace: old ends %v (%v), want unchanged %v", cut, err, shortEnds)
	}
}

func TestSessionEnds(t *testing.T) {
	ctx := context.Background()
	pool := pgtest.New(t)
	accounts := postgres.NewAccounts(pool)
	user := uuid.New()
	live, liveEnds, err := accounts.CreateSession(ctx, user, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	revoked, _, err := accounts.CreateSession(ctx, user, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	expired, _, err := accounts.CreateSession(ctx, user, time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := accounts.Session(ctx, revoked); err != nil { // cached: SessionEnds must not trust it
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `DELETE FROM sessions WHERE token_hash = $1`, func() []byte { h := sha256.Sum256([]byte(revoked)); return h[:] }()); err != nil {
		t.Fatal(err)
	}
	time.Sleep(10 * time.Millisecond)
	hashes := [][sha256.Size]byte{sha256.Sum256([]byte(live)), sha256.Sum256([]byte(revoked)), sha256.Sum256([]byte(expired)), sha256.Sum256([]byte("unknown"))}
	ends, err := accounts.SessionEnds(ctx, hashes)
	if err != nil {
		t.Fatalf("SessionEnds: %v", err)
	}
	if len(ends) != 1 || !ends[hashes[0]].Equal(liveEnds) {
		t.Errorf("SessionEnds = %v, want only the live session, ending %v", ends, liveEnds)
	}
}
