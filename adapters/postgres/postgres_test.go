package postgres_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/chorus-chat/chorus/adapters/postgres"
	"github.com/chorus-chat/chorus/adapters/postgres/pgtest"
	"github.com/chorus-chat/chorus/migrations"
)

func TestOpenConcurrentlyOnFreshDatabase(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	url := pgtest.URL(t) // does not exist yet

	const processes = 5
	pools := make([]*pgxpool.Pool, processes)
	errs := make([]error, processes)
	var wg sync.WaitGroup
	for i := range processes {
		wg.Go(func() { pools[i], errs[i] = postgres.Open(ctx, url) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("Open #%d: %v", i, err)
		}
	}
	for _, p := range pools {
		if p != nil {
			defer p.Close()
		}
	}
	if t.Failed() {
		return
	}

	files, err := migrations.FS.ReadDir(".")
	if err != nil {
		t.Fatal(err)
	}
	var applied, latest int64
	err = pools[0].QueryRow(ctx, `SELECT count(*), max(version_id) FROM goose_db_version WHERE version_id > 0`).Scan(&applied, &latest)
	if err != nil {
		t.Fatalf("read goose versions: %v", err)
	}
	if applied != int64(len(files)) || latest != int64(len(files)) {
		t.Errorf("applied %d migrations up to version %d, want each of the %d once", applied, latest, len(files))
	}
	for _, table := range []string{"users", "credentials", "registration_attempts", "sessions", "rooms",
		"room_members", "messages", "projection_checkpoints"} {
		var exists bool
		if err := pools[0].QueryRow(ctx, `SELECT to_regclass($1) IS NOT NULL`, table).Scan(&exists); err != nil || !exists {
			t.Errorf("table %s: exists %v, %v", table, exists, err)
		}
	}

	// Opening the migrated database again is a no-op that succeeds.
	again, err := postgres.Open(ctx, url)
	if err != nil {
		t.Fatalf("Open of a migrated database: %v", err)
	}
	again.Close()
}

func TestOpenReportsUnreachableServer(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// Port 1 refuses connections; Open must say so rather than hang or create anything.
	if pool, err := postgres.Open(ctx, "postgres://postgres@127.0.0.1:1/chorus?sslmode=disable&connect_timeout=2"); err == nil {
		pool.Close()
		t.Fatal("Open of an unreachable server succeeded")
	}
}
