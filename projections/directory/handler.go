package directory

import (
	"context"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/chorus-chat/chorus/projections/checkpoint"
)

// Tables are the directory's tables: all of them derived from the log, so a rebuild replaces
// them all.
var Tables = []string{"organizations", "org_members", "org_invitations", "org_departments", "org_department_members",
	"org_positions", "org_position_assignments", "org_roles", "org_role_grants", "org_department_rooms",
	"org_broadcasts", "org_audit"}

// Definition is the directory's row in the table of projections.
var Definition = checkpoint.Definition{
	Name:   Projection,
	Tables: Tables,
	ApplyIn: func(ctx context.Context, pool *pgxpool.Pool, schema, projection string, recs []checkpoint.Record) error {
		return NewStore(pool).ApplyBatchIn(ctx, schema, projection, recs)
	},
}

// Handler applies organization events to the directory, checkpoint in the same transaction. It
// is not lenient: the directory is the only reader of org-events besides the command
// processors, so a record it cannot decode is a bug to dead-letter and count (Skip), not to
// step over quietly.
type Handler struct {
	store *Store
	dead  checkpoint.DeadLetters
}

// NewHandler applies to store (the one the process's queries read, so that a batch applied
// wakes the queries waiting for it at once) and counts dead letters in dead.
func NewHandler(store *Store, dead checkpoint.DeadLetters) *Handler {
	return &Handler{store: store, dead: dead}
}

// Checkpoints are the directory's.
func (h *Handler) Checkpoints(ctx context.Context) (map[string]map[int32]int64, error) {
	return h.store.Checkpoints(ctx)
}

// Handle applies a batch.
func (h *Handler) Handle(ctx context.Context, recs []Record) error {
	return checkpoint.StoreError(h.store.ApplyBatch(ctx, recs))
}

// Skip moves the directory's checkpoint past a dead-lettered record and counts it.
func (h *Handler) Skip(ctx context.Context, rec Record, cause error) error {
	return h.dead.Skip(ctx, Projection, rec, cause)
}
