package postgres_test

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/chorus-chat/chorus/adapters/postgres"
	"github.com/chorus-chat/chorus/adapters/postgres/pgtest"
)

// A database that cannot be reached is `unavailable`; a statement it refuses is not.
func TestIsUnavailable(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	// Nothing listens on this port.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	pool, err := pgxpool.New(ctx, "postgres://postgres@"+addr+"/chorus?sslmode=disable&connect_timeout=2")
	if err != nil {
		t.Fatal(err)
	}
	_, err = pool.Exec(ctx, "SELECT 1")
	pool.Close()
	if !postgres.IsUnavailable(err) {
		t.Errorf("no server: IsUnavailable(%v) = false", err)
	}

	// A server that answers, refusing a statement.
	live, err := postgres.Open(ctx, pgtest.URL(t))
	if err != nil {
		t.Fatal(err)
	}
	defer live.Close()
	_, err = live.Exec(ctx, "SELECT * FROM no_such_table")
	var pg *pgconn.PgError
	if !errors.As(err, &pg) || postgres.IsUnavailable(err) {
		t.Errorf("undefined table: IsUnavailable(%v) = true", err)
	}
	_, err = live.Exec(ctx, "SELECT 1/0")
	if postgres.IsUnavailable(err) {
		t.Errorf("division by zero: IsUnavailable(%v) = true", err)
	}
	if postgres.IsUnavailable(nil) || postgres.IsUnavailable(errors.New("something else")) {
		t.Error("nil or an unrelated error counted as unavailable")
	}
}
