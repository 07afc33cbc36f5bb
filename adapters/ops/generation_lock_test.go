package ops

import (
	"context"
	"testing"

	"github.com/chorus-chat/chorus/adapters/postgres/pgtest"
)

// The lock of a rebuild or verify is free the moment the operation ends: a rebuild run again
// right after one that failed (chorusctl at once, or the console's retry) must not find it
// still held by the first one's exiting connection and answer busy.
func TestGenerationLockIsFreeWhenItCloses(t *testing.T) {
	pool := pgtest.New(t)
	ctx := context.Background()
	other, err := pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Release()
	proj := &Projection{}
	proj.Name = "readmodel"
	for i := range 200 {
		g := &generation{Deps: Deps{Pool: pool}, proj: proj}
		if err := g.takeLock(ctx); err != nil {
			t.Fatalf("round %d: %v", i, err)
		}
		g.close()
		var ok bool
		if err := other.QueryRow(ctx, `SELECT pg_try_advisory_lock($1)`, lockKey(proj.Name)).Scan(&ok); err != nil {
			t.Fatal(err)
		}
		if !ok {
			t.Fatalf("round %d: the lock was still held right after the operation closed", i)
		}
		if _, err := other.Exec(ctx, `SELECT pg_advisory_unlock($1)`, lockKey(proj.Name)); err != nil {
			t.Fatal(err)
		}
	}
}
