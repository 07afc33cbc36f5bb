package readmodel

import (
	"context"
	"errors"
	"fmt"

	"github.com/chorus-chat/chorus/projections/checkpoint"
	"github.com/jackc/pgx/v5/pgconn"
)

// ApplyBatch applies recs to the read model and advances projection's checkpoints past them, in
// one transaction: either all of a batch's effects and its checkpoint are stored, or none.
// Records below the stored checkpoint of their partition (already applied by an earlier batch)
// are skipped, so redelivery after a crash has no effect twice. Records of one partition must
// come in offset order, as the log delivers them.
//
// Every effect is also idempotent on its own (upserts that keep the first write, counters moved
// only by rows actually inserted or deleted), so a rebuild that replays events over rows that
// survived gives the same state.
//
// All statements of a batch go to Postgres in one pipelined round trip; together with the
// checkpoint lock before it and the commit, a batch of any size costs three round trips.
func (s *Store) ApplyBatch(ctx context.Context, projection string, recs []Record) error {
	return s.applyBatch(ctx, "", projection, recs, false)
}

// ApplyBatchIn is ApplyBatch into the read-model tables of another Postgres schema (a new
// generation of the read model being rebuilt beside the live one): the batch's statements run
// with search_path = schema, public, so the read-model tables resolve to schema's and
// projection_checkpoints (which exists only in public) to the shared one. projection should be
// the generation's own checkpoint name, not Projection.
//
// Messages go in by COPY (see bulk), unless one of them is there already: then the batch is
// applied again the way ApplyBatch applies it.
func (s *Store) ApplyBatchIn(ctx context.Context, schema, projection string, recs []Record) error {
	if schema == "" {
		return fmt.Errorf("apply batch: no schema given")
	}
	err := s.applyBatch(ctx, schema, projection, recs, true)
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "23505" {
		return s.applyBatch(ctx, schema, projection, recs, false)
	}
	return err
}

// applyBatch is ApplyBatch into schema ("": the default search_path, the live tables).
func (s *Store) applyBatch(ctx context.Context, schema, projection string, recs []Record, copyMessages bool) error {
	b := newBulk(copyMessages)
	applied, err := checkpoint.Apply(ctx, s.pool, schema, projection, recs, b.add, b.finish)
	if err != nil {
		return fmt.Errorf("apply batch: %w", err)
	}
	if applied != nil && projection == Projection && schema == "" {
		s.AdvanceAll(applied)
	}
	return nil
}

// Checkpoints returns the next offsets stored for projection: topic → partition → offset of
// the first record not yet applied.
func (s *Store) Checkpoints(ctx context.Context, projection string) (map[string]map[int32]int64, error) {
	return checkpoint.Load(ctx, s.pool, projection)
}
