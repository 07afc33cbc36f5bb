// Package postgres opens Chorus's Postgres database (creating and migrating it as needed) and
// keeps the accounts data that must never enter the event log: password hashes and sessions.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"io/fs"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"

	"github.com/chorus-chat/chorus/migrations"
)

// DefaultURL is the database used when none is configured: the local server's "chorus" database.
const DefaultURL = "postgres://postgres@127.0.0.1:5432/chorus?sslmode=disable"

// SQLSTATE codes Open reacts to.
const (
	codeInvalidCatalogName = "3D000" // the database does not exist
	codeDuplicateDatabase  = "42P04"
	codeUniqueViolation    = "23505" // a concurrent CREATE DATABASE can surface as this instead
)

// Open connects to the database at url, creating the database if it does not exist yet and
// applying any pending migrations. Several processes may call Open on the same database at
// once: database creation tolerates a concurrent creator, and migrations run under a
// Postgres advisory lock, so exactly one process applies each migration.
func Open(ctx context.Context, url string) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("postgres: parse url: %w", err)
	}
	if err := ensureDatabase(ctx, cfg.ConnConfig); err != nil {
		return nil, err
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: open pool: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres: ping %s: %w", cfg.ConnConfig.Database, err)
	}
	if err := migrate(ctx, pool, migrations.FS); err != nil {
		pool.Close()
		return nil, err
	}
	return pool, nil
}

// ensureDatabase creates the database cfg names unless it exists. It tries the database itself
// first, so the common case (it exists) needs no access to the maintenance database.
func ensureDatabase(ctx context.Context, cfg *pgx.ConnConfig) error {
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err == nil {
		return conn.Close(ctx)
	}
	if !hasCode(err, codeInvalidCatalogName) {
		return fmt.Errorf("postgres: connect to %s: %w", cfg.Database, err)
	}

	admin := cfg.Copy()
	admin.Database = "postgres"
	conn, err = pgx.ConnectConfig(ctx, admin)
	if err != nil {
		return fmt.Errorf("postgres: connect to maintenance database to create %s: %w", cfg.Database, err)
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{cfg.Database}.Sanitize())
	if err != nil && !hasCode(err, codeDuplicateDatabase, codeUniqueViolation) {
		return fmt.Errorf("postgres: create database %s: %w", cfg.Database, err)
	}
	return nil
}

// migrate applies pending migrations from fsys. goose's session locker holds a Postgres advisory
// lock for the whole run, so processes starting together queue up instead of racing on DDL;
// the ones that come second find nothing pending.
func migrate(ctx context.Context, pool *pgxpool.Pool, fsys fs.FS) error {
	// Retry the lock every second (goose's default is every 5 s) for up to 5 minutes: the
	// migrations are short, and waiting processes should not sit idle for long after them.
	locker, err := lock.NewPostgresSessionLocker(lock.WithLockTimeout(1, 300))
	if err != nil {
		return fmt.Errorf("postgres: migration lock: %w", err)
	}
	db := stdlib.OpenDBFromPool(pool) // closing db leaves the pool open
	defer db.Close()
	provider, err := goose.NewProvider(goose.DialectPostgres, db, fsys, goose.WithSessionLocker(locker))
	if err != nil {
		return fmt.Errorf("postgres: migrations: %w", err)
	}
	if _, err := provider.Up(ctx); err != nil {
		return fmt.Errorf("postgres: migrate: %w", err)
	}
	return nil
}

// hasCode tells whether err carries a Postgres error with one of the SQLSTATE codes.
func hasCode(err error, codes ...string) bool {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		return false
	}
	for _, c := range codes {
		if pgErr.Code == c {
			return true
		}
	}
	return false
}
