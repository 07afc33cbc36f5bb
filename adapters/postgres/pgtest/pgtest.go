// Package pgtest gives integration tests a database of their own on a real Postgres server:
// a fresh, randomly named database that is dropped when the test ends.
//
// The server is the one CHORUS_TEST_DATABASE_URL names, else CHORUS_DATABASE_URL, else
// postgres.DefaultURL; only the database name of that URL is replaced.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/chorus-chat/chorus/adapters/postgres"
)

// URL returns the URL of a database that does not exist yet, with a random name, and arranges
// for that database to be dropped (if it was created) when t ends.
func URL(t testing.TB) string {
	t.Helper()
	base := os.Getenv("CHORUS_TEST_DATABASE_URL")
	if base == "" {
		base = os.Getenv("CHORUS_DATABASE_URL")
	}
	if base == "" {
		base = postgres.DefaultURL
	}
	cfg, err := pgx.ParseConfig(base)
	if err != nil {
		t.Fatalf("pgtest: parse %q: %v", base, err)
	}
	b := make([]byte, 8)
	if _, err := rand.Read(b); err != nil {
		t.Fatalf("pgtest: random name: %v", err)
	}
	name := "chorus_test_" + hex.EncodeToString(b)

	admin := cfg.Copy()
	admin.Database = "postgres"
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.ConnectConfig(ctx, admin)
		if err != nil {
			t.Errorf("pgtest: drop %s: %v", name, err)
			return
		}
		defer conn.Close(ctx)
		// FORCE ends sessions a failed test may have left behind.
		if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
			t.Errorf("pgtest: drop %s: %v", name, err)
		}
	})

	return withDatabase(t, base, name)
}

// withDatabase returns connection string s naming database name instead of its own.
func withDatabase(t testing.TB, s, name string) string {
	t.Helper()
	if !strings.HasPrefix(s, "postgres://") && !strings.HasPrefix(s, "postgresql://") {
		// keyword=value form: a later keyword overrides an earlier one.
		return s + " dbname=" + name
	}
	u, err := url.Parse(s)
	if err != nil {
		t.Fatalf("pgtest: parse %q: %v", s, err)
	}
	u.Path = "/" + name
	u.RawPath = ""
	return u.String()
}

// New opens (creates and migrates, through postgres.Open) a fresh database for t and closes
// it and drops it when t ends.
func New(t testing.TB) *pgxpool.Pool {
	t.Helper()
	dbURL := URL(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	pool, err := postgres.Open(ctx, dbURL)
	if err != nil {
		t.Fatalf("pgtest: open %s: %v (is Postgres running?)", dbURL, err)
	}
	t.Cleanup(pool.Close) // registered after the drop, so it runs before it
	return pool
}
