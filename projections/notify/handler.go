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

// Handler projects events into notifications, checkpoint in the same transaction. A record it
// cannot project is dead-lettered by its projector and skipped (Skip), like the read model's:
// without Skip one such record stopped the notifications of its whole partition, the projector
// retrying it for ever.
type Handler struct {
	store *Store
	dead  checkpoint.DeadLetters
}

// NewHandler projects into store (the one the process's queries and relay read) and counts dead
// letters in dead.
func NewHandler(store *Store, dead checkpoint.DeadLetters) *Handler {
	return &Handler{store: store, dead: dead}
}

// Checkpoints are the notifications'.
func (h *Handler) Checkpoints(ctx context.Context) (map[string]map[int32]int64, error) {
	return h.store.Checkpoints(ctx)
}

// Handle applies a batch.
func (h *Handler) Handle(ctx context.Context, recs []Record) error {
	return checkpoint.StoreError(h.store.ApplyBatch(ctx, recs))
}

// Skip moves the notifications' checkpoint past a dead-lettered record.
func (h *Handler) Skip(ctx context.Context, rec Record, cause error) error {
	return h.dead.Skip(ctx, Projection, rec, cause)
}
