package notify

import (
	"context"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/chorus-chat/chorus/projections/checkpoint"
)

// Definition is the notifications' row in the table of projections.
var Definition = checkpoint.Definition{
	Name: Projection,
	// notification_reads is user state (what users marked read), kept by the swap: the rebuilt
	// notifications have the ids they had (a function of source event and recipient) and find
	// their read flags again.
	Tables: []string{"notifications", "notify_rooms", "notify_members", "notify_org_members"},
	// Every notification the rebuild makes was announced when the live projection first made
	// it: the generation queues them in an outbox of its own, dropped with it, and the live
	// outbox (with what the relay has not announced yet) stays where it is.
	Private: []string{`CREATE TABLE IF NOT EXISTS %[1]s.notification_outbox (seq bigserial PRIMARY KEY, notification_id uuid NOT NULL)`},
	ApplyIn: func(ctx context.Context, pool *pgxpool.Pool, schema, projection string, recs []checkpoint.Record) error {
		return NewStore(pool).ApplyBatchIn(ctx, schema, projection, recs)
	},
}

// NewHandler projects events into notifications in store (the one the process's queries and
// relay read), checkpoint in the same transaction. A record it cannot project is dead-lettered by
// its projector, counted in dead and skipped, like the read model's: without that one such
// record stopped the notifications of its whole partition, the projector retrying it for ever.
func NewHandler(store *Store, dead checkpoint.DeadLetters) checkpoint.StoreHandler {
	return checkpoint.StoreHandler{Projection: Projection, Store: store, Dead: dead}
}
