// Package benchdb holds what the benchmark commands that work on a database of their own share:
// creating, migrating and dropping it, and the percentiles they print.
package benchdb

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/chorus-chat/chorus/adapters/postgres"
)

// Pct is the p-quantile (0 to 1) of sorted durations d.
func Pct(d []time.Duration, p float64) time.Duration {
	return d[min(len(d)-1, int(float64(len(d))*p))]
}

// Ms formats d in milliseconds to a tenth.
func Ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d.Microseconds())/1000) }

// Open creates a database of its own on the server of base (a postgres://…/<database>?… URL),
// named prefix_<random>, migrates it and opens a pool on it. drop removes it (or, when keep,
// prints its name); it is also safe to call after an error.
func Open(ctx context.Context, base, prefix string, keep bool) (*pgxpool.Pool, func(), error) {
	cfg, err := pgx.ParseConfig(base)
	if err != nil {
		return nil, func() {}, fmt.Errorf("database url: %w", err)
	}
	name := prefix + "_" + strings.ReplaceAll(uuid.NewString()[:8], "-", "")
	url := strings.Replace(base, "/"+cfg.Database+"?", "/"+name+"?", 1)
	if url == base {
		return nil, func() {}, fmt.Errorf("database url %q: want postgres://…/<database>?…", base)
	}
	drop := func() {
		if keep {
			fmt.Println("kept database", name)
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		conn, err := pgx.ConnectConfig(ctx, cfg)
		if err != nil {
			fmt.Fprintln(os.Stderr, "drop database:", err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
			fmt.Fprintln(os.Stderr, "drop database:", err)
		}
	}
	pool, err := postgres.Open(ctx, url)
	if err != nil {
		drop()
		return nil, func() {}, err
	}
	return pool, drop, nil
}
