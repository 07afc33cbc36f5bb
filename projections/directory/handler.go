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

// NewHandler applies organization events to store (the one the process's queries read, so that
// a batch applied wakes the queries waiting for it at once), checkpoint in the same transaction.
// It is not lenient: the directory is the only reader of org-events besides the command
// processors, so a record it cannot decode is a bug to dead-letter and count in dead, not to
// step over quietly.
func NewHandler(store *Store, dead checkpoint.DeadLetters) checkpoint.StoreHandler {
	return checkpoint.StoreHandler{Projection: Projection, Store: store, Dead: dead}
}
