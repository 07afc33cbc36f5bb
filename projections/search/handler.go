package search

import (
	"context"
	"log/slog"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/chorus-chat/chorus/projections/checkpoint"
)

// Definition is the search index's row in the table of projections.
var Definition = checkpoint.Definition{
	Name:   Projection,
	Tables: []string{"search_rooms", "search_members", "search_messages"},
	ApplyIn: func(ctx context.Context, pool *pgxpool.Pool, schema, projection string, recs []checkpoint.Record) error {
		return NewStore(pool).ApplyBatchIn(ctx, schema, projection, recs)
	},
}

// Handler applies chat events to the search index, checkpoint in the same transaction. A record
// the index cannot store (after its projector's attempts) is dead-lettered like the read
// model's, so that one bad record does not stop search for its whole partition.
type Handler struct {
	store *Store
	dead  checkpoint.DeadLetters
	log   *slog.Logger
}

// NewHandler applies to store (the one the process's searches read, so that a batch applied
// wakes the searches waiting for it at once) and counts dead letters in dead.
func NewHandler(store *Store, dead checkpoint.DeadLetters, log *slog.Logger) *Handler {
	return &Handler{store: store, dead: dead, log: log}
}

// Checkpoints are the index's.
func (h *Handler) Checkpoints(ctx context.Context) (map[string]map[int32]int64, error) {
	return h.store.Checkpoints(ctx)
}

// Undecodable: a record that is not an event the domain knows holds nothing the index could
// show, so it only advances the checkpoint (with a warning): the read model, which reads the
// same records, dead-letters and counts it already.
func (h *Handler) Undecodable(r Record, err error) {
	h.log.Warn("search index skips an undecodable record", "topic", r.Topic, "partition", r.Partition, "offset", r.Offset, "err", err)
}

// Handle applies a batch.
func (h *Handler) Handle(ctx context.Context, recs []Record) error {
	return checkpoint.StoreError(h.store.ApplyBatch(ctx, recs))
}

// Skip moves the search checkpoint past a record that keeps failing and counts it.
func (h *Handler) Skip(ctx context.Context, rec Record, cause error) error {
	return h.dead.Skip(ctx, Projection, rec, cause)
}
