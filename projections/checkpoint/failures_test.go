package checkpoint_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/chorus-chat/chorus/adapters/postgres/pgtest"
	"github.com/chorus-chat/chorus/projections/checkpoint"
)

// The failure log keeps one row per projection and process while it fails, with the last
// error and count, and drops it on recovery.
func TestFailureLog(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	pool := pgtest.New(t)
	a, b := checkpoint.FailureLog{Pool: pool, Instance: "a"}, checkpoint.FailureLog{Pool: pool, Instance: "b"}
	for i, err := range []error{errors.New("first"), errors.New("second")} {
		if err := a.Failing(ctx, "search", int64(i+1), err); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Failing(ctx, "search", 1, errors.New("elsewhere")); err != nil {
		t.Fatal(err)
	}
	var msg string
	var n int64
	var since, last time.Time
	if err := pool.QueryRow(ctx, `SELECT error, failures, since, last_failed_at FROM projection_failures WHERE projection = 'search' AND instance = 'a'`).Scan(&msg, &n, &since, &last); err != nil {
		t.Fatal(err)
	}
	if msg != "second" || n != 2 || last.Before(since) {
		t.Fatalf("row of a: %q %d %v %v", msg, n, since, last)
	}
	if err := a.Recovered(ctx, "search"); err != nil {
		t.Fatal(err)
	}
	var left []string
	rows, err := pool.Query(ctx, `SELECT instance FROM projection_failures`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		left = append(left, s)
	}
	if len(left) != 1 || left[0] != "b" {
		t.Fatalf("rows after a recovered: %v", left)
	}
}
