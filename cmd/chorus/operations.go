package main

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/chorus-chat/chorus/adapters/gateway"
	"github.com/chorus-chat/chorus/adapters/kafka"
	"github.com/chorus-chat/chorus/adapters/ops"
)

// opsMaxConns is the connections the admin operations may hold: a rebuild holds one for its
// lock and applies batches on two more (then swaps on one).
const opsMaxConns = 4

// setupOperations serves the admin operations (event replay and stats; projection status,
// rebuild and verify) from the gateway, with a Kafka client and a database pool of their own
// (connected only when used), so that a rebuild never takes the connections the gateway answers
// with. It still shares the process's CPU with the gateway's traffic: chorusctl runs the same
// operations from anywhere else (docs/operations.md).
func setupOperations(ctx context.Context, databaseURL string, kcfg kafka.Config, deps *gateway.Deps, cleanups *[]func()) error {
	pcfg, err := pgxpool.ParseConfig(databaseURL)
	if err != nil {
		return fmt.Errorf("CHORUS_DATABASE_URL: %w", err)
	}
	pcfg.MaxConns, pcfg.MinConns = opsMaxConns, 0
	pool, err := pgxpool.NewWithConfig(ctx, pcfg)
	if err != nil {
		return err
	}
	*cleanups = append(*cleanups, pool.Close)
	client, err := kafka.NewReadClient(kcfg)
	if err != nil {
		return err
	}
	*cleanups = append(*cleanups, func() { _ = client.Close() })
	deps.Operations = ops.NewAdmin(ops.Runner{Deps: ops.Deps{Pool: pool, Client: client, Topics: kcfg.Topics}, Kafka: kcfg})
	return nil
}
