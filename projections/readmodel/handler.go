package readmodel

import (
	"context"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/chorus-chat/chorus/projections/checkpoint"
)

// Definition is the read model's row in the table of projections.
var Definition = checkpoint.Definition{
	Name: Projection,
	// Not the accounts tables (user state), the checkpoints, nor other projections' tables.
	Tables: []string{"users", "rooms", "room_members", "room_bans", "room_invitations", "messages", "room_message_changes", "user_proxies"},
	// Every write finds its rows by a primary key (a join's read marker too: see events.go).
	DeferIndexes: true,
	ApplyIn: func(ctx context.Context, pool *pgxpool.Pool, schema, projection string, recs []checkpoint.Record) error {
		return NewStore(pool).ApplyBatchIn(ctx, schema, projection, recs)
	},
}

// Handler projects events into the Postgres read model, checkpoint in the same transaction. A
// record it cannot project is dead-lettered by its projector and skipped (Skip).
type Handler struct {
	store *Store
	dead  checkpoint.DeadLetters
}

// NewHandler projects into store (the one the process's queries read, so that a batch applied
// wakes the readers waiting for it at once) and counts dead letters in dead.
func NewHandler(store *Store, dead checkpoint.DeadLetters) *Handler {
	return &Handler{store: store, dead: dead}
}

// Checkpoints are the read model's.
func (h *Handler) Checkpoints(ctx context.Context) (map[string]map[int32]int64, error) {
	return h.store.Checkpoints(ctx, Projection)
}

// Handle applies a batch.
func (h *Handler) Handle(ctx context.Context, recs []Record) error {
	return checkpoint.StoreError(h.store.ApplyBatch(ctx, Projection, recs))
}

// Skip moves the read model past a dead-lettered record.
func (h *Handler) Skip(ctx context.Context, rec Record, cause error) error {
	return h.dead.Skip(ctx, Projection, rec, cause)
}
