package projtx_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/chorus-chat/chorus/adapters/postgres/pgtest"
	"github.com/chorus-chat/chorus/projections/projtx"
)

// A projector's transaction commits without waiting for the WAL flush, and only it: the
// connection goes back to the pool with the server's setting.
func TestBeginTurnsSynchronousCommitOffForTheTransactionOnly(t *testing.T) {
	ctx := context.Background()
	cfg := pgtest.New(t).Config()
	cfg.MaxConns = 1 // the transaction's connection is the one looked at after
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	tx, err := projtx.Begin(ctx, pool)
	if err != nil {
		t.Fatal(err)
	}
	var inTx string
	if err := tx.QueryRow(ctx, "SHOW synchronous_commit").Scan(&inTx); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if inTx != "off" {
		t.Fatalf("synchronous_commit = %q in a projector transaction, want off", inTx)
	}
	conn, err := pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	var after string
	if err := conn.QueryRow(ctx, "SHOW synchronous_commit").Scan(&after); err != nil {
		t.Fatal(err)
	}
	if after != "on" {
		t.Fatalf("synchronous_commit = %q after the transaction, want the server's on", after)
	}
}
